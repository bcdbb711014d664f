/**
 * Dataset export from real logs with annotations (`npm run dataset -- --data nuscenes:<dataroot>[#scene]
 * --split val`): the log through the fleet runtime in replay mode, exactly as `fusion eval --data`
 * runs it (health monitor, aligner on event time, the classical engine's tracked objects fed back)
 * -> the one BEV rasterizer -> the same files as the simulator export (train/data.py layout).
 *
 * A tick is exported when it is the first within half a reference period of an annotated instant
 * of the chosen split (src/eval/real.ts TruthIndex: `val` = the first half of each log's instants,
 * `test` = the second half, held out). Boxes are the annotations moved to the tick, in the vehicle
 * frame of the logged ego pose; classes the project does not model are left out; a box counts as
 * seen when the dataset's LiDAR + radar point count is above 0 (nuScenes num_lidar_pts +
 * num_radar_pts), else when a LiDAR point of the tick lies in it.
 *
 * Both `train/` and `val/` of the output get the split's samples: train.py reports its validation
 * loss on `val/`, and nothing of the other split may be looked at while fine-tuning.
 */
import { basename, join } from "node:path";
import type { AlignedTick } from "../src/align/types.ts";
import { createClassicalEngine } from "../src/fusion/classical/index.ts";
import { ALL_ON, BevRasterizer } from "../src/fusion/bev/rasterize.ts";
import type { FusionEngine } from "../src/fusion/types.ts";
import { openLogs } from "../src/eval/real-command.ts";
import {
  pointsInBox,
  type RealSplit,
  replayLog,
  toVehicle,
  type TruthAtTick,
  TruthIndex,
} from "../src/eval/real.ts";
import type { TruthBox } from "../src/eval/truth.ts";
import { SplitWriter, trainableTruth } from "./dataset.ts";

export interface RealDatasetOptions {
  /** nuscenes:<dataroot>[#scene] or kitti:<path>, as `fusion eval --data`. */
  data: string;
  /** Which annotated instants become samples (default val: never export held-out data by accident). */
  split: RealSplit;
  outDir: string;
  /** The nuScenes devkit's default radar filters (`--radar-filter`). */
  radarFilter?: boolean;
  /** KITTI raw: the folder with calib_*.txt (default: beside the drive). */
  kittiCalib?: string;
  log?: (line: string) => void;
}

/** Annotations at a tick as training boxes (vehicle frame; unmodelled classes left out). */
export function truthBoxesAt(tick: AlignedTick, t: TruthAtTick): TruthBox[] {
  const tv = toVehicle(t.truth);
  const out: TruthBox[] = [];
  t.truth.objects.forEach((o, i) => {
    const e = t.extra[i];
    if (!e?.modelled) return;
    const v = tv(o.x, o.y, o.vx, o.vy);
    const box = {
      id: o.id,
      cls: o.cls,
      x: v.x,
      y: v.y,
      z: o.z - t.truth.ego.z,
      length: o.length,
      width: o.width,
      height: o.height,
      yaw: o.yaw - t.truth.ego.yaw,
      vx: v.vx,
      vy: v.vy,
    };
    const seen = e.numPoints ?? pointsInBox(tick, box);
    out.push({ ...box, nLidar: seen, nRadar: 0 });
  });
  return trainableTruth(out);
}

export async function exportRealDataset(o: RealDatasetOptions): Promise<Record<string, unknown>> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const writers = [new SplitWriter(join(o.outDir, "train")), new SplitWriter(join(o.outDir, "val"))];
  const logs = openLogs(o.data, "derived", o.kittiCalib, {}, o.radarFilter ?? false);
  const perLog: Record<string, { instants: number; samples: number; boxes: number; camera: string }> = {};
  for (const run of logs) {
    const index = new TruthIndex(run.rig, run.items);
    const wanted = new Set(
      index
        .instants()
        .filter((t) => o.split === "all" || t.split === o.split)
        .map((t) => t.tNs),
    );
    const raster = new BevRasterizer(run.rig);
    const frame = raster.alloc(1);
    const classical = createClassicalEngine(run.rig, run.rig.fusion.classical);
    let samples = 0;
    let boxes = 0;
    const engine: FusionEngine = {
      mode: classical.mode,
      fuse(tick, inputs) {
        const t = index.at(tick.stampNs);
        if (t && wanted.has(t.tNs)) {
          wanted.delete(t.tNs);
          raster.rasterize(tick, ALL_ON, null, frame, 0);
          const truth = truthBoxesAt(tick, t);
          for (const w of writers)
            w.add([frame.lidar, frame.radar, frame.camera], frame.ego, frame.health, truth, {
              log: run.name,
              split: o.split,
              stampNs: tick.stampNs,
              camera: run.cameraInput,
            });
          samples++;
          boxes += truth.length;
        } else raster.observe(tick); // the next exported tick's previous sweep
        return classical.fuse(tick, inputs);
      },
      release: (v) => classical.release?.(v),
      close: () => classical.close(),
    };
    await replayLog(run.rig, run.items, engine, {}, () => {});
    await engine.close();
    perLog[run.name] = { instants: samples + wanted.size, samples, boxes, camera: run.cameraInput };
    log(
      `${run.name}: ${samples} samples (${boxes} boxes) from the ${o.split} split; ${wanted.size} annotated instants without a tick; camera ${run.cameraInput}`,
    );
  }
  const summary = {
    // the data set's folder name, not this machine's path (the summary goes into model metadata)
    source: o.data.replace(/^(\w+:)(.*?)(#.*)?$/, (_m, kind: string, path: string, scene?: string) => {
      return kind + basename(path.replace(/\/+$/, "")) + (scene ?? "");
    }),
    split: o.split,
    radarFilter: o.radarFilter ?? false,
    logs: perLog,
    samples: Object.values(perLog).reduce((n, l) => n + l.samples, 0),
    rig: logs[0]?.rig.name ?? null,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  writers[0]!.finish({ ...summary, role: "train" });
  writers[1]!.finish({ ...summary, role: "val (the same samples: the other split stays unseen)" });
  return summary;
}
