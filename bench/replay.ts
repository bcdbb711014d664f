/**
 * replay: real-time factor of `fusion replay … --rate 0` (as fast as the broker takes it, every
 * publish awaited, nothing dropped) into a real mosquitto with a subscriber reading everything.
 * The factor is the player's own (log seconds / wall seconds of playing, from its summary line),
 * median of repeated runs of the CLI as a user runs it.
 *  - nuscenes_rtf: nuScenes scene-0523 from ../shared/realdata (40 keyframes x 12 channels, ego
 *    poses at 20 Hz, derived camera boxes, truth; 19.6 s of log).
 *  - kitti_rtf: a 10 s synced drive at 10 Hz written to a temp folder in the raw layout, its
 *    Velodyne frames the three genuine KITTI object scans (115k-127k points) in turn, OXTS packets
 *    at 10 Hz (the genuine raw extract has no Velodyne files: they are Git LFS pointers upstream).
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchOptions } from "../src/cli/bench.ts";
import { BIN, REPO } from "../harness/cli.ts";
import { startMosquitto } from "../harness/mosquitto.ts";
import { Collector } from "../harness/mqtt-collect.ts";
import { median } from "./_stats.ts";

const REAL = fileURLToPath(new URL("../../shared/realdata/", import.meta.url));
const NUSC = `${REAL}nuscenes/Dororo99__nuScenes-Minimal-Visualization/data`;
const KOBJ = `${REAL}kitti_object/kuixu__kitti_object_vis/data/object/training/`;
const FIX_CALIB = fileURLToPath(new URL("../test/fixtures/kitti_raw/2011_01_01/", import.meta.url));

function kittiDrive(dir: string, frames: number): string {
  const drive = join(dir, "2011_01_01", "2011_01_01_drive_0001_sync");
  for (const f of ["calib_cam_to_cam.txt", "calib_imu_to_velo.txt", "calib_velo_to_cam.txt"]) {
    mkdirSync(join(dir, "2011_01_01"), { recursive: true });
    copyFileSync(join(FIX_CALIB, f), join(dir, "2011_01_01", f));
  }
  mkdirSync(join(drive, "velodyne_points", "data"), { recursive: true });
  mkdirSync(join(drive, "oxts", "data"), { recursive: true });
  const ts: string[] = [];
  const oxts = readFileSync(
    join(FIX_CALIB, "2011_01_01_drive_0001_sync", "oxts", "data", "0000000000.txt"),
    "utf8",
  );
  for (let i = 0; i < frames; i++) {
    const s = i / 10;
    ts.push(
      `2011-01-01 10:00:${String(Math.floor(s)).padStart(2, "0")}.${String(Math.round((s % 1) * 1000)).padStart(3, "0")}000000`,
    );
    const name = `${String(i).padStart(10, "0")}`;
    copyFileSync(`${KOBJ}velodyne/00000${i % 3}.bin`, join(drive, "velodyne_points", "data", `${name}.bin`));
    writeFileSync(join(drive, "oxts", "data", `${name}.txt`), oxts);
  }
  writeFileSync(join(drive, "velodyne_points", "timestamps.txt"), `${ts.join("\n")}\n`);
  writeFileSync(join(drive, "oxts", "timestamps.txt"), `${ts.join("\n")}\n`);
  return drive;
}

function replayOnce(args: string[]): { rtf: number; messages: number; mb: number; logS: number } {
  const r = spawnSync(process.execPath, [BIN, "replay", ...args, "--rate", "0", "--quiet"], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 300_000,
  });
  const m = /(\d+) messages, ([\d.]+) MB, ([\d.]+) s of log in ([\d.]+) s \(real-time factor ([\d.]+)\)/.exec(
    r.stderr,
  );
  if (r.status !== 0 || !m) throw new Error(`replay failed (${r.status}): ${r.stderr.slice(-500)}`);
  return { messages: Number(m[1]), mb: Number(m[2]), logS: Number(m[3]), rtf: Number(m[5]) };
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  if (!existsSync(NUSC) || !existsSync(KOBJ))
    return { nuscenes_rtf: null, kitti_rtf: null, note: "../shared/realdata absent: nothing to replay" };
  const reps = opts.quick ? 1 : 5;
  const broker = await startMosquitto();
  const sink = await Collector.connect(broker.url, ["fusion/#"]);
  const dir = mkdtempSync(join(tmpdir(), "bench-replay-"));
  try {
    const drive = kittiDrive(dir, 100);
    const runs = (args: string[]) => {
      const out: ReturnType<typeof replayOnce>[] = [];
      for (let i = 0; i < reps; i++) {
        out.push(replayOnce([...args, "--broker", broker.url]));
        sink.messages.length = 0;
      }
      return out;
    };
    const ns = runs(["nuscenes", NUSC, "--scene", "scene-0523", "--vehicle", "bench-ns"]);
    const kt = runs(["kitti", drive, "--vehicle", "bench-kitti"]);
    const res = {
      nuscenes_rtf: median(ns.map((r) => r.rtf)),
      kitti_rtf: median(kt.map((r) => r.rtf)),
      nuscenes_rtf_runs: ns.map((r) => Math.round(r.rtf * 10) / 10),
      kitti_rtf_runs: kt.map((r) => Math.round(r.rtf * 10) / 10),
      nuscenes_messages: ns[0]!.messages,
      nuscenes_mb: ns[0]!.mb,
      nuscenes_log_s: ns[0]!.logS,
      kitti_messages: kt[0]!.messages,
      kitti_mb: kt[0]!.mb,
      kitti_log_s: kt[0]!.logS,
      broker: "mosquitto",
      repeats: reps,
    };
    return res;
  } finally {
    await sink.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
