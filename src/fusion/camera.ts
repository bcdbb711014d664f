/**
 * Camera projection helpers (pinhole, no distortion), shared by the fusion engines.
 *
 * Frames (docs/DECISIONS.md D5): every sensor body frame is x forward, y left, z up, cameras too.
 * A camera's extrinsic places its body frame in the vehicle frame (p_vehicle = R p_body + t, R from
 * roll-pitch-yaw applied Z-Y-X). Pixel coordinates: u to the right, v down, so in the body frame
 * `u = cx - fx * y/x`, `v = cy - fy * z/x`, and the body ray of pixel (u, v) is (1, (cx-u)/fx, (cy-v)/fy).
 */
import type { SensorConfig } from "../rig/schema.ts";
import { rpyToMat } from "../align/geometry.ts";

export interface CameraModel {
  id: string;
  width: number;
  height: number;
  fx: number;
  fy: number;
  cx: number;
  cy: number;
  /** Body -> vehicle rotation, row-major 3x3. */
  R: Float64Array;
  /** Camera origin in the vehicle frame, m. */
  t: Float64Array;
  /** Maximum useful range of the camera's detector, m. */
  maxRangeM: number;
}

/** Build the camera model of a rig sensor; null when the sensor is not a camera. */
export function cameraModelOf(sensor: SensorConfig): CameraModel | null {
  if (sensor.kind !== "camera" || !sensor.camera) return null;
  const c = sensor.camera;
  const [roll, pitch, yaw] = sensor.extrinsic.rotation_rpy_rad;
  return {
    id: sensor.id,
    width: c.width,
    height: c.height,
    fx: c.fx,
    fy: c.fy,
    cx: c.cx,
    cy: c.cy,
    R: rpyToMat(roll, pitch, yaw),
    t: Float64Array.from(sensor.extrinsic.translation_m),
    maxRangeM: c.max_range_m,
  };
}

/** Vehicle-frame point -> camera body frame, written into `out` (x forward, y left, z up). */
export function vehicleToBody(cam: CameraModel, x: number, y: number, z: number, out: Float64Array): void {
  const R = cam.R;
  const dx = x - cam.t[0]!;
  const dy = y - cam.t[1]!;
  const dz = z - cam.t[2]!;
  // R^T (p - t)
  out[0] = R[0]! * dx + R[3]! * dy + R[6]! * dz;
  out[1] = R[1]! * dx + R[4]! * dy + R[7]! * dz;
  out[2] = R[2]! * dx + R[5]! * dy + R[8]! * dz;
}

export interface Pixel {
  u: number;
  v: number;
  /** Depth along the optical axis (body x), m. */
  depth: number;
}

const scratch = new Float64Array(3);

/** Project a vehicle-frame point into pixel coordinates; null when behind the camera (depth < min). */
export function projectToPixel(
  cam: CameraModel,
  x: number,
  y: number,
  z: number,
  minDepthM = 0.1,
): Pixel | null {
  vehicleToBody(cam, x, y, z, scratch);
  const d = scratch[0]!;
  if (d < minDepthM) return null;
  return { u: cam.cx - (cam.fx * scratch[1]!) / d, v: cam.cy - (cam.fy * scratch[2]!) / d, depth: d };
}

/** Azimuth (rad, CCW from the optical axis, in the camera body frame) of a pixel column. */
export function pixelAzimuth(cam: CameraModel, u: number): number {
  return Math.atan2((cam.cx - u) / cam.fx, 1);
}

/** Azimuth (rad) of a vehicle-frame point as seen from the camera, and its horizontal body range. */
export function bodyAzimuth(
  cam: CameraModel,
  x: number,
  y: number,
  z: number,
): { az: number; range: number } {
  vehicleToBody(cam, x, y, z, scratch);
  return { az: Math.atan2(scratch[1]!, scratch[0]!), range: Math.hypot(scratch[0]!, scratch[1]!) };
}

/** Unit ray of a pixel in the vehicle frame (direction only; it starts at `cam.t`). */
export function pixelRay(cam: CameraModel, u: number, v: number): [number, number, number] {
  const bx = 1;
  const by = (cam.cx - u) / cam.fx;
  const bz = (cam.cy - v) / cam.fy;
  const n = Math.hypot(bx, by, bz);
  const R = cam.R;
  return [
    (R[0]! * bx + R[1]! * by + R[2]! * bz) / n,
    (R[3]! * bx + R[4]! * by + R[5]! * bz) / n,
    (R[6]! * bx + R[7]! * by + R[8]! * bz) / n,
  ];
}

/**
 * Intersect the ray of pixel (u, v) with the horizontal plane z = planeZ (vehicle frame).
 * Returns the vehicle-frame point, or null when the ray does not go down to the plane.
 */
export function pixelToGround(
  cam: CameraModel,
  u: number,
  v: number,
  planeZ = 0,
): [number, number, number] | null {
  const [rx, ry, rz] = pixelRay(cam, u, v);
  const h = cam.t[2]! - planeZ;
  if (rz >= -1e-6 || h <= 0) return null;
  const s = h / -rz;
  return [cam.t[0]! + s * rx, cam.t[1]! + s * ry, planeZ];
}

/**
 * Depth along the optical axis of an upright object of known height filling `pixelHeight` rows:
 * depth = fy * heightM / pixelHeight (exact for a camera with zero pitch and roll).
 */
export function depthFromHeight(cam: CameraModel, heightM: number, pixelHeight: number): number {
  return pixelHeight > 0 ? (cam.fy * heightM) / pixelHeight : Number.POSITIVE_INFINITY;
}

/** Vehicle-frame point at `depth` along the optical axis on the ray of pixel (u, v). */
export function pixelAtDepth(
  cam: CameraModel,
  u: number,
  v: number,
  depth: number,
): [number, number, number] {
  const bx = depth;
  const by = (depth * (cam.cx - u)) / cam.fx;
  const bz = (depth * (cam.cy - v)) / cam.fy;
  const R = cam.R;
  return [
    cam.t[0]! + R[0]! * bx + R[1]! * by + R[2]! * bz,
    cam.t[1]! + R[3]! * bx + R[4]! * by + R[5]! * bz,
    cam.t[2]! + R[6]! * bx + R[7]! * by + R[8]! * bz,
  ];
}
