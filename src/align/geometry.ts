/**
 * Reusable rigid-body geometry for the align stage (and anyone else: fusion, replay readers).
 * Rotations are row-major 3x3 matrices in a Float64Array(9); a rigid transform maps a point p in
 * frame B to frame A as `R p + t` ("A from B").
 *
 * Conventions (docs/DECISIONS.md D5): every body frame is x forward, y left, z up; roll/pitch/yaw
 * are applied Z-Y-X, i.e. R = Rz(yaw) * Ry(pitch) * Rx(roll).
 */
import type { PackedArray } from "../msg/types.ts";

export type Vec3 = [number, number, number];
export type Mat3 = Float64Array;

export interface Rigid {
  /** Rotation, row-major 3x3. */
  R: Mat3;
  /** Translation, m. */
  t: Vec3;
}

export const identity3 = (): Mat3 => new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);

/** Rotation from roll, pitch, yaw (rad), applied Z-Y-X: R = Rz(yaw) Ry(pitch) Rx(roll). */
export function rpyToMat(roll: number, pitch: number, yaw: number): Mat3 {
  const cr = Math.cos(roll);
  const sr = Math.sin(roll);
  const cp = Math.cos(pitch);
  const sp = Math.sin(pitch);
  const cy = Math.cos(yaw);
  const sy = Math.sin(yaw);
  return new Float64Array([
    cy * cp,
    cy * sp * sr - sy * cr,
    cy * sp * cr + sy * sr,
    sy * cp,
    sy * sp * sr + cy * cr,
    sy * sp * cr - cy * sr,
    -sp,
    cp * sr,
    cp * cr,
  ]);
}

/** Inverse of rpyToMat: roll, pitch, yaw (rad) of a rotation matrix. */
export function matToRpy(R: ArrayLike<number>): Vec3 {
  const sp = -Math.max(-1, Math.min(1, R[6]!));
  const pitch = Math.asin(sp);
  if (Math.abs(sp) > 1 - 1e-9) {
    // Gimbal lock: roll and yaw are coupled; put it all into yaw.
    return [0, pitch, Math.atan2(-R[1]!, R[4]!)];
  }
  return [Math.atan2(R[7]!, R[8]!), pitch, Math.atan2(R[3]!, R[0]!)];
}

/** Rotation matrix of a unit quaternion (w, x, y, z), as in nuScenes records. */
export function quatToMat(w: number, x: number, y: number, z: number): Mat3 {
  const n = Math.hypot(w, x, y, z) || 1;
  w /= n;
  x /= n;
  y /= n;
  z /= n;
  return new Float64Array([
    1 - 2 * (y * y + z * z),
    2 * (x * y - w * z),
    2 * (x * z + w * y),
    2 * (x * y + w * z),
    1 - 2 * (x * x + z * z),
    2 * (y * z - w * x),
    2 * (x * z - w * y),
    2 * (y * z + w * x),
    1 - 2 * (x * x + y * y),
  ]);
}

export function matMul(A: ArrayLike<number>, B: ArrayLike<number>): Mat3 {
  const C = new Float64Array(9);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++)
      C[i * 3 + j] = A[i * 3]! * B[j]! + A[i * 3 + 1]! * B[3 + j]! + A[i * 3 + 2]! * B[6 + j]!;
  return C;
}

export function transpose(A: ArrayLike<number>): Mat3 {
  return new Float64Array([A[0]!, A[3]!, A[6]!, A[1]!, A[4]!, A[7]!, A[2]!, A[5]!, A[8]!]);
}

export function matVec(R: ArrayLike<number>, v: ArrayLike<number>): Vec3 {
  return [
    R[0]! * v[0]! + R[1]! * v[1]! + R[2]! * v[2]!,
    R[3]! * v[0]! + R[4]! * v[1]! + R[5]! * v[2]!,
    R[6]! * v[0]! + R[7]! * v[1]! + R[8]! * v[2]!,
  ];
}

/** A from C = (A from B) * (B from C). */
export function compose(ab: Rigid, bc: Rigid): Rigid {
  const t = matVec(ab.R, bc.t);
  return { R: matMul(ab.R, bc.R), t: [t[0] + ab.t[0], t[1] + ab.t[1], t[2] + ab.t[2]] };
}

/** B from A, given A from B. */
export function invert(ab: Rigid): Rigid {
  const Rt = transpose(ab.R);
  const t = matVec(Rt, ab.t);
  return { R: Rt, t: [-t[0], -t[1], -t[2]] };
}

/** Rigid transform of an extrinsic block of the rig (vehicle from sensor). */
export function extrinsicToRigid(e: { translation_m: Vec3; rotation_rpy_rad: Vec3 }): Rigid {
  const [r, p, y] = e.rotation_rpy_rad;
  return { R: rpyToMat(r, p, y), t: [...e.translation_m] as Vec3 };
}

/** Extrinsic block (translation + rpy) of a rigid transform. */
export function rigidToExtrinsic(T: Rigid): { translation_m: Vec3; rotation_rpy_rad: Vec3 } {
  return { translation_m: [...T.t] as Vec3, rotation_rpy_rad: matToRpy(T.R) };
}

/**
 * Planar (SE2) rigid motion: rotate by `dyaw` about z, then translate by (dx, dy). Used for ego
 * motion between two instants: "vehicle at tick from vehicle at stamp".
 */
export interface Planar {
  dx: number;
  dy: number;
  dyaw: number;
}

/** Camera optical frame (z forward, x right, y down) from body frame (x forward, y left, z up). */
export const OPTICAL_FROM_BODY: Mat3 = new Float64Array([0, -1, 0, 0, 0, -1, 1, 0, 0]);
/** Body frame from camera optical frame. */
export const BODY_FROM_OPTICAL: Mat3 = transpose(OPTICAL_FROM_BODY);

/**
 * Transform the x, y, z fields of a packed array in place or into `out` (a packed array with at
 * least `src.count` records; its own x, y, z indices are used). Points stay in typed arrays.
 */
export function transformPacked(src: PackedArray, T: Rigid, out: PackedArray = src): void {
  const { R, t } = T;
  const si = src.fields;
  const sx = si["x"]!;
  const sy = si["y"]!;
  const sz = si["z"]!;
  const ox = out.fields["x"]!;
  const oy = out.fields["y"]!;
  const oz = out.fields["z"]!;
  const a = src.data;
  const b = out.data;
  const ss = src.stride;
  const os = out.stride;
  const r0 = R[0]!;
  const r1 = R[1]!;
  const r2 = R[2]!;
  const r3 = R[3]!;
  const r4 = R[4]!;
  const r5 = R[5]!;
  const r6 = R[6]!;
  const r7 = R[7]!;
  const r8 = R[8]!;
  for (let i = 0, j = 0; i < src.count; i++, j += os) {
    const k = i * ss;
    const x = a[k + sx]!;
    const y = a[k + sy]!;
    const z = a[k + sz]!;
    b[j + ox] = r0 * x + r1 * y + r2 * z + t[0];
    b[j + oy] = r3 * x + r4 * y + r5 * z + t[1];
    b[j + oz] = r6 * x + r7 * y + r8 * z + t[2];
  }
}

/** Wrap an angle to (-pi, pi]. */
export function wrapAngle(a: number): number {
  const twoPi = 2 * Math.PI;
  let r = a % twoPi;
  if (r <= -Math.PI) r += twoPi;
  else if (r > Math.PI) r -= twoPi;
  return r;
}
