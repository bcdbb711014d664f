/**
 * Real sweeps through the aligner with the rigs read from their own calibration
 * (../shared/realdata): after the extrinsic, the road must lie at z = 0 of the vehicle frame
 * (KITTI: IMU lowered to the ground; nuScenes: ego frame on the ground).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { firstValueFrom, from } from "rxjs";
import { toArray } from "rxjs/operators";
import { alignVehicle } from "../../src/align/index.ts";
import { packed } from "../../src/msg/codec.ts";
import type { PackedArray, SensorMessage } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import type { RigConfig } from "../../src/rig/schema.ts";

const REAL = fileURLToPath(new URL("../../../shared/realdata/", import.meta.url));
const KITTI_CALIB = `${REAL}kitti_object/kuixu__kitti_object_vis/data/object/training/calib/000000.txt`;
const KITTI_VELO = `${REAL}kitti_object/kuixu__kitti_object_vis/data/object/training/velodyne/000000.bin`;
const NUSC = `${REAL}nuscenes/Dororo99__nuScenes-Minimal-Visualization/data/`;
const skip = existsSync(KITTI_VELO) && existsSync(NUSC) ? false : "../shared/realdata not present";

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer);
}

async function alignOne(rig: RigConfig, points: PackedArray): Promise<PackedArray> {
  const msg: SensorMessage = {
    header: { vehicle: "v", sensorId: rig.reference, frameId: rig.reference, stampNs: 1e18, seq: 0 },
    payload: { kind: "point_cloud", points, sweepStartNs: 0 },
  };
  const ticks = await firstValueFrom(
    from([{ msg, arrivalNs: 1e18 + 5e6, bytes: 0 }]).pipe(
      alignVehicle(rig, { vehicle: "v", clock: "arrival" }),
      toArray(),
    ),
  );
  assert.equal(ticks.length, 1);
  return ticks[0]!.lidar!;
}

/** Most common z (10 cm bins) of the points 5-20 m away horizontally: the road surface. */
function groundZ(p: PackedArray): number {
  const hist = new Map<number, number>();
  for (let i = 0; i < p.count; i++) {
    const x = p.data[i * p.stride]!;
    const y = p.data[i * p.stride + 1]!;
    const z = p.data[i * p.stride + 2]!;
    const r = Math.hypot(x, y);
    if (r < 5 || r > 20) continue;
    const bin = Math.round(z * 10);
    hist.set(bin, (hist.get(bin) ?? 0) + 1);
  }
  let best = 0;
  let bestN = -1;
  for (const [b, n] of hist) if (n > bestN) [best, bestN] = [b, n];
  return best / 10;
}

describe("real sweeps through the aligner", { skip }, () => {
  it("KITTI Velodyne scan: road at z = 0 with the calibration-derived rig", async () => {
    const rig = loadRig(`kitti:${KITTI_CALIB}`);
    const data = readF32(KITTI_VELO);
    const raw = packed(["x", "y", "z", "intensity"], data);
    assert.ok(groundZ(raw) < -1.5, "sensor frame: road ~1.7 m below the Velodyne");
    const out = await alignOne(rig, raw);
    assert.equal(out.count, raw.count);
    const g = groundZ(out);
    assert.ok(Math.abs(g) <= 0.2, `road at z = ${g} m in the vehicle frame`);
  });

  it("nuScenes LIDAR_TOP sweep (native frame): road at z = 0, forward is +x", async () => {
    const rig = loadRig(`nuscenes:${NUSC}v1.0-mini-extract#scene-0523`);
    const dir = `${NUSC}samples/LIDAR_TOP/`;
    const file = readdirSync(dir).filter((f) => f.startsWith("n008"))[0]!;
    const raw = packed(["x", "y", "z", "intensity", "ring"], readF32(dir + file));
    const out = await alignOne(rig, raw);
    const g = groundZ(out);
    assert.ok(Math.abs(g) <= 0.2, `road at z = ${g} m in the ego frame`);
    // The native LiDAR frame has y forward; the ego frame x forward: the sensor's +y points
    // (ahead of the car) must come out with x > 0.
    let agree = 0;
    let n = 0;
    for (let i = 0; i < raw.count; i++) {
      const yNative = raw.data[i * raw.stride + 1]!;
      if (Math.abs(yNative) < 5) continue;
      n++;
      if (Math.sign(out.data[i * 4]! - 0.99) === Math.sign(yNative)) agree++;
    }
    assert.ok(agree / n > 0.99, `forward axis agreement ${agree / n}`);
  });
});
