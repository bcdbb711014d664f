/**
 * The pose input (a localisation module's output, nuScenes ego_pose) in place of GNSS + IMU: the
 * ego filter follows it, and the aligner gives ticks a valid ego state from it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { from, lastValueFrom, toArray } from "rxjs";
import { EgoEkf } from "../../src/align/ego.ts";
import { alignVehicle } from "../../src/align/index.ts";
import { decodeSensorMessage, encodeSensorMessage } from "../../src/msg/codec.ts";
import type { SensorEnvelope } from "../../src/msg/types.ts";
import { NuScenesSource } from "../../src/replay/nuscenes-source.ts";
import { loadRig } from "../../src/rig/load.ts";
import { NUSC_ROOT, NUSC_TABLES, realdataSkip } from "../helpers/realdata.ts";

const NS_FIX = fileURLToPath(new URL("../fixtures/nuscenes", import.meta.url));

function quatYaw(yaw: number): [number, number, number, number] {
  return [Math.cos(yaw / 2), 0, 0, Math.sin(yaw / 2)];
}

async function alignSource(rigSpec: string, root: string, scene?: string) {
  const rig = loadRig(rigSpec);
  const src = new NuScenesSource(root, { vehicle: "v", scene, warn: () => {} });
  const envs: SensorEnvelope[] = [];
  for (const it of src.items())
    if (it.kind === "sensor") envs.push({ msg: it.msg, arrivalNs: it.tNs, bytes: 0 });
  return lastValueFrom(from(envs).pipe(alignVehicle(rig, { vehicle: "v", clock: "arrival" }), toArray()));
}

describe("pose input", () => {
  it("the ego filter follows poses: position, heading, and speed learned from them", () => {
    const ekf = new EgoEkf();
    const yaw = 0.3;
    for (let k = 0; k <= 40; k++) {
      const t = 1e18 + k * 5e7; // 20 Hz
      const d = 8 * k * 0.05; // 8 m/s
      const ok = ekf.processPose(t, {
        position: [500 + d * Math.cos(yaw), 700 + d * Math.sin(yaw), 1],
        orientation: quatYaw(yaw),
        covariance: null,
      });
      assert.ok(ok);
    }
    const s = ekf.stateAt(1e18 + 40 * 5e7);
    assert.ok(s.valid);
    assert.ok(Math.abs(s.x - (500 + 16 * Math.cos(yaw))) < 0.1, `x ${s.x}`);
    assert.ok(Math.abs(s.yaw - yaw) < 0.01);
    assert.ok(Math.abs(s.speed - 8) < 0.3, `speed ${s.speed}`);
    // Older than the filter: refused. A relocalisation jump: the filter starts over there.
    assert.equal(
      ekf.processPose(1e18, { position: [0, 0, 0], orientation: [1, 0, 0, 0], covariance: null }),
      false,
    );
    ekf.processPose(1e18 + 41 * 5e7, { position: [0, 0, 0], orientation: [1, 0, 0, 0], covariance: null });
    assert.ok(Math.hypot(ekf.stateAt(1e18 + 41 * 5e7).x, ekf.stateAt(1e18 + 41 * 5e7).y) < 1e-9);
  });

  it("pose messages survive the wire; a non-unit quaternion is refused", () => {
    const msg = {
      header: { vehicle: "v", sensorId: "EGO_POSE", frameId: "map", stampNs: 5, seq: 0 },
      payload: {
        kind: "pose" as const,
        position: [1, 2, 3] as [number, number, number],
        orientation: quatYaw(1),
        covariance: null,
      },
    };
    const d = decodeSensorMessage(encodeSensorMessage(msg));
    assert.ok(d.ok && d.value.payload.kind === "pose");
    if (d.ok && d.value.payload.kind === "pose") assert.deepEqual(d.value.payload.position, [1, 2, 3]);
    const bad = decodeSensorMessage(
      encodeSensorMessage({ ...msg, payload: { ...msg.payload, orientation: [2, 0, 0, 0] } }),
    );
    assert.ok(!bad.ok && bad.error.code === "E_LAYOUT");
  });

  it("replayed fixture through the aligner: ticks at the LiDAR with a valid ego state from the poses", async () => {
    const ticks = await alignSource(`nuscenes:${NS_FIX}/v1.0-fixture#scene-fixture`, NS_FIX);
    // LiDAR at 0, 0.25, 0.5 s (1.0 s is truncated): three reference ticks, and timer ticks only
    // where the LiDAR is really missing (rate from the data: 3 Hz, not 20 Hz).
    const ref = ticks.filter((t) => t.trigger === "reference");
    assert.equal(ref.length, 3);
    assert.ok(ticks.filter((t) => t.trigger === "timer").length <= 2);
    const last = ref[ref.length - 1]!;
    assert.ok(last.ego.valid);
    assert.ok(Math.abs(last.ego.x - 102.5) < 0.05, `ego x ${last.ego.x}`);
    assert.ok(Math.abs(last.ego.speed - 5) < 1, `speed ${last.ego.speed}`);
    // Intensity normalised by the declared full scale (255 -> 1).
    const I = last.lidar!.fields.intensity!;
    let max = 0;
    for (let i = 0; i < last.lidar!.count; i++)
      max = Math.max(max, last.lidar!.data[i * last.lidar!.stride + I]!);
    assert.ok(max <= 1 && max > 0.9, `max intensity ${max}`);
  });

  it("scene-0523 through the aligner: 40 LiDAR ticks, no timer ticks, ego speed from ego_pose", {
    skip: realdataSkip(),
  }, async () => {
    const ticks = await alignSource(`nuscenes:${NUSC_TABLES}#scene-0523`, NUSC_ROOT, "scene-0523");
    assert.equal(ticks.filter((t) => t.trigger === "reference").length, 40);
    assert.equal(ticks.filter((t) => t.trigger === "timer").length, 0);
    const speeds = ticks.slice(5).map((t) => t.ego.speed);
    assert.ok(
      Math.min(...speeds) > 3 && Math.max(...speeds) < 9.5,
      `speeds ${speeds.map((s) => s.toFixed(1))}`,
    );
    assert.ok(ticks.every((t) => t.radar && t.radar.count > 0 && t.cameras.length === 6));
  });
});
