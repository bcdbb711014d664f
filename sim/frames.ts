/**
 * Rigid transforms used by the sensor models. Frames: world = local ENU (origin = the rig's GNSS
 * origin), vehicle = x forward, y left, z up at ground level under the rear axle, sensor body =
 * x forward, y left, z up (docs/DECISIONS.md D5). Matrices are row-major 3x3 Float64Arrays.
 */
import type { SensorConfig } from "../src/rig/schema.ts";
import type { EgoKinematics } from "./world.ts";

/** Rotation from roll, pitch, yaw (applied Z-Y-X): R = Rz(yaw) Ry(pitch) Rx(roll). */
export function rpyToMat(
  roll: number,
  pitch: number,
  yaw: number,
  out: Float64Array = new Float64Array(9),
): Float64Array {
  const cr = Math.cos(roll);
  const sr = Math.sin(roll);
  const cp = Math.cos(pitch);
  const sp = Math.sin(pitch);
  const cy = Math.cos(yaw);
  const sy = Math.sin(yaw);
  out[0] = cy * cp;
  out[1] = cy * sp * sr - sy * cr;
  out[2] = cy * sp * cr + sy * sr;
  out[3] = sy * cp;
  out[4] = sy * sp * sr + cy * cr;
  out[5] = sy * sp * cr - cy * sr;
  out[6] = -sp;
  out[7] = cp * sr;
  out[8] = cp * cr;
  return out;
}

/** out = A B. */
export function matMul(
  a: Float64Array,
  b: Float64Array,
  out: Float64Array = new Float64Array(9),
): Float64Array {
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 3; c++)
      out[r * 3 + c] = a[r * 3]! * b[c]! + a[r * 3 + 1]! * b[3 + c]! + a[r * 3 + 2]! * b[6 + c]!;
  return out;
}

/** Pose of a sensor in the world: origin and rotation (sensor body -> world). */
export interface SensorPose {
  ox: number;
  oy: number;
  oz: number;
  R: Float64Array;
}

/** The fixed mounting of a sensor on the vehicle. */
export interface Mount {
  t: [number, number, number];
  /** Sensor body -> vehicle rotation. */
  R: Float64Array;
}

export function mountOf(s: SensorConfig): Mount {
  const [r, p, y] = s.extrinsic.rotation_rpy_rad;
  return { t: [...s.extrinsic.translation_m], R: rpyToMat(r, p, y) };
}

/** Sensor pose at an ego pose (flat ground: the vehicle has no roll or pitch). */
export function sensorPose(ego: EgoKinematics, m: Mount, out: SensorPose): SensorPose {
  const c = Math.cos(ego.yaw);
  const s = Math.sin(ego.yaw);
  out.ox = ego.x + c * m.t[0] - s * m.t[1];
  out.oy = ego.y + s * m.t[0] + c * m.t[1];
  out.oz = ego.z + m.t[2];
  const Rz = rpyToMat(0, 0, ego.yaw, scratch);
  matMul(Rz, m.R, out.R);
  return out;
}
const scratch = new Float64Array(9);

export const newPose = (): SensorPose => ({ ox: 0, oy: 0, oz: 0, R: new Float64Array(9) });

/** Does the segment from o to p (world) pass through the box? Slab test in the box frame. */
export function segmentHitsBox(
  ox: number,
  oy: number,
  oz: number,
  px: number,
  py: number,
  pz: number,
  bx: number,
  by: number,
  bz: number,
  yaw: number,
  hl: number,
  hw: number,
  hh: number,
): boolean {
  const c = Math.cos(yaw);
  const s = Math.sin(yaw);
  const ax = c * (ox - bx) + s * (oy - by);
  const ay = -s * (ox - bx) + c * (oy - by);
  const az = oz - bz;
  const dx = c * (px - ox) + s * (py - oy);
  const dy = -s * (px - ox) + c * (py - oy);
  const dz = pz - oz;
  // Slab test on t in [0, 1], axis by axis (no arrays: this runs per sight line).
  let t0 = 0;
  let t1 = 1;
  for (let k = 0; k < 3; k++) {
    const o = k === 0 ? ax : k === 1 ? ay : az;
    const d = k === 0 ? dx : k === 1 ? dy : dz;
    const h = k === 0 ? hl : k === 1 ? hw : hh;
    if (Math.abs(d) < 1e-12) {
      if (Math.abs(o) > h) return false;
      continue;
    }
    let ta = (-h - o) / d;
    let tb = (h - o) / d;
    if (ta > tb) {
      const tt = ta;
      ta = tb;
      tb = tt;
    }
    if (ta > t0) t0 = ta;
    if (tb < t1) t1 = tb;
    if (t0 > t1) return false;
  }
  return true;
}
