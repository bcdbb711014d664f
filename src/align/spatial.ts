/**
 * Spatial alignment: sensor payloads -> vehicle frame at the tick time. Extrinsics first, then the
 * ego motion between each measurement's instant and the tick (radar, camera, LiDAR sweep deskew).
 * Points stay in typed arrays; per-point work is plain arithmetic, no allocation.
 */
import type { PackedArray, SensorPayload } from "../msg/types.ts";
import type { CameraObservation } from "./types.ts";
import { matMul, type Planar, type Rigid, rpyToMat, type Vec3 } from "./geometry.ts";

/** Ego motion provider: "vehicle at toNs from vehicle at fromNs" (planar). */
export interface MotionSource {
  relativeMotion(fromNs: number, toNs: number): Planar;
}

/** Ego body velocity at the tick: forward speed (m/s, signed) and yaw rate (rad/s). */
export interface BodyRates {
  v: number;
  w: number;
}

const NO_MOTION: MotionSource = { relativeMotion: () => ({ dx: 0, dy: 0, dyaw: 0 }) };

export const LIDAR_FIELDS = ["x", "y", "z", "intensity"] as const;
export const RADAR_FIELDS = ["x", "y", "z", "vr", "rcs", "ux", "uy"] as const;

function fieldMap(names: readonly string[]): Record<string, number> {
  const f: Record<string, number> = {};
  names.forEach((n, i) => {
    f[n] = i;
  });
  return f;
}
const LIDAR_FIELD_MAP = Object.freeze(fieldMap(LIDAR_FIELDS));
const RADAR_FIELD_MAP = Object.freeze(fieldMap(RADAR_FIELDS));

export interface LidarInput {
  points: PackedArray;
  /** Corrected sweep end stamp (header stamp minus clock offset), ns. */
  stampNs: number;
  /** Corrected sweep start, ns; 0 when unknown. */
  sweepStartNs: number;
  extrinsic: Rigid;
}

/** Number of time bins across a sweep for the deskew motion table (linear in between). */
const DESKEW_BINS = 16;

/**
 * Merge LiDAR sweeps into one vehicle-frame cloud at tick time `tickNs` (fields x, y, z, intensity).
 * Per-point time: the optional `t` field (s, relative to the sweep stamp, <= 0). Without it every
 * point takes the sweep stamp (whole-sweep compensation only).
 */
export function buildLidar(
  inputs: readonly LidarInput[],
  tickNs: number,
  motion: MotionSource | null,
): PackedArray {
  let total = 0;
  for (const s of inputs) total += s.points.count;
  const out = new Float32Array(total * 4);
  const mo = motion ?? NO_MOTION;
  let o = 0;
  // Motion table reused across sweeps: per bin (dx, dy, cos dyaw, sin dyaw) over [stamp - span, stamp].
  // Interpolating cos/sin linearly between bins is exact to ~1e-6 for the yaw change of one bin.
  const tab = new Float64Array((DESKEW_BINS + 1) * 4);
  const step = new Float64Array(DESKEW_BINS * 8);
  for (const s of inputs) {
    const p = s.points;
    const d = p.data;
    const st = p.stride;
    const ix = p.fields["x"]!;
    const iy = p.fields["y"]!;
    const iz = p.fields["z"]!;
    const ii = p.fields["intensity"] ?? p.fields["reflectance"] ?? p.fields["i"];
    const it = p.fields["t"];
    const R = s.extrinsic.R;
    const [tx, ty, tz] = s.extrinsic.t;
    const r0 = R[0]!;
    const r1 = R[1]!;
    const r2 = R[2]!;
    const r3 = R[3]!;
    const r4 = R[4]!;
    const r5 = R[5]!;
    const r6 = R[6]!;
    const r7 = R[7]!;
    const r8 = R[8]!;
    // Time span of the sweep for the table, seconds before the stamp.
    let spanS = 0;
    if (it !== undefined && motion) {
      for (let k = 0; k < p.count; k++) {
        const v = -d[k * st + it]!;
        if (v > spanS) spanS = v;
      }
      spanS = Math.min(spanS, 1); // a sweep never lasts more than a second
    }
    for (let b = 0; b <= DESKEW_BINS; b++) {
      const ago = spanS * (b / DESKEW_BINS);
      const m = mo.relativeMotion(s.stampNs - ago * 1e9, tickNs);
      tab[b * 4] = m.dx;
      tab[b * 4 + 1] = m.dy;
      tab[b * 4 + 2] = Math.cos(m.dyaw);
      tab[b * 4 + 3] = Math.sin(m.dyaw);
    }
    const perPoint = it !== undefined && spanS > 0;
    const binsPerS = perPoint ? DESKEW_BINS / spanS : 0;
    const itIdx = it ?? 0;
    const hasI = ii !== undefined;
    const iIdx = ii ?? 0;
    // Per bin: base values and the step to the next bin, so a point costs one multiply-add each.
    for (let b = 0; b < DESKEW_BINS; b++) for (let q = 0; q < 4; q++) step[b * 8 + q] = tab[b * 4 + q]!;
    for (let b = 0; b < DESKEW_BINS; b++)
      for (let q = 0; q < 4; q++) step[b * 8 + 4 + q] = tab[(b + 1) * 4 + q]! - tab[b * 4 + q]!;
    const dx0 = tab[0]!;
    const dy0 = tab[1]!;
    const c0 = tab[2]!;
    const s0 = tab[3]!;
    const n = p.count;
    for (let k = 0, b = 0; k < n; k++, b += st, o += 4) {
      const x = d[b + ix]!;
      const y = d[b + iy]!;
      const z = d[b + iz]!;
      const vx = r0 * x + r1 * y + r2 * z + tx;
      const vy = r3 * x + r4 * y + r5 * z + ty;
      let dx = dx0;
      let dy = dy0;
      let c = c0;
      let sn = s0;
      if (perPoint) {
        let f = -d[b + itIdx]! * binsPerS;
        if (f < 0) f = 0;
        else if (f >= DESKEW_BINS) f = DESKEW_BINS - 1e-9;
        const lo = f | 0;
        const w = f - lo;
        const j = lo * 8;
        dx = step[j]! + w * step[j + 4]!;
        dy = step[j + 1]! + w * step[j + 5]!;
        c = step[j + 2]! + w * step[j + 6]!;
        sn = step[j + 3]! + w * step[j + 7]!;
      }
      out[o] = c * vx - sn * vy + dx;
      out[o + 1] = sn * vx + c * vy + dy;
      out[o + 2] = r6 * x + r7 * y + r8 * z + tz;
      out[o + 3] = hasI ? d[b + iIdx]! : 0;
    }
  }
  return { stride: 4, count: total, fields: LIDAR_FIELD_MAP, data: out };
}

export interface RadarInput {
  returns: PackedArray;
  /** Corrected stamp, ns. */
  stampNs: number;
  extrinsic: Rigid;
}

/**
 * Merge radar scans into vehicle-frame returns at the tick (fields x, y, z, vr, rcs, ux, uy).
 * vr: the target's own radial velocity (measured radial velocity plus the sensor's velocity along
 * the line of sight; positive = moving away). With `targetMotion`, each return also moves along its
 * line of sight by vr times the time from its stamp to the tick.
 */
export function buildRadar(
  inputs: readonly RadarInput[],
  tickNs: number,
  motion: MotionSource | null,
  rates: BodyRates,
  targetMotion: boolean,
): PackedArray {
  let total = 0;
  for (const s of inputs) total += s.returns.count;
  const out = new Float32Array(total * 7);
  let o = 0;
  for (const s of inputs) {
    const p = s.returns;
    const d = p.data;
    const st = p.stride;
    const ir = p.fields["range"]!;
    const ia = p.fields["azimuth"]!;
    const iv = p.fields["radial_velocity"]!;
    const ic = p.fields["rcs"]!;
    const ie = p.fields["elevation"];
    const R = s.extrinsic.R;
    const [tx, ty, tz] = s.extrinsic.t;
    // Sensor velocity in the vehicle frame: v_body + w x r.
    const svx = motion ? rates.v - rates.w * ty : 0;
    const svy = motion ? rates.w * tx : 0;
    const m = motion ? motion.relativeMotion(s.stampNs, tickNs) : { dx: 0, dy: 0, dyaw: 0 };
    const c = Math.cos(m.dyaw);
    const sn = Math.sin(m.dyaw);
    const dtS = motion && targetMotion ? (tickNs - s.stampNs) / 1e9 : 0;
    for (let k = 0; k < p.count; k++) {
      const b = k * st;
      const r = d[b + ir]!;
      const az = d[b + ia]!;
      const el = ie !== undefined ? d[b + ie]! : 0;
      const ce = Math.cos(el);
      // Unit line of sight in the sensor frame, then the vehicle frame (at the stamp).
      const lx = ce * Math.cos(az);
      const ly = ce * Math.sin(az);
      const lz = Math.sin(el);
      const ux = R[0]! * lx + R[1]! * ly + R[2]! * lz;
      const uy = R[3]! * lx + R[4]! * ly + R[5]! * lz;
      const uz = R[6]! * lx + R[7]! * ly + R[8]! * lz;
      const vr = d[b + iv]! + svx * ux + svy * uy;
      const px = tx + r * ux + ux * vr * dtS;
      const py = ty + r * uy + uy * vr * dtS;
      const pz = tz + r * uz + uz * vr * dtS;
      out[o] = c * px - sn * py + m.dx;
      out[o + 1] = sn * px + c * py + m.dy;
      out[o + 2] = pz;
      out[o + 3] = vr;
      out[o + 4] = d[b + ic]!;
      out[o + 5] = c * ux - sn * uy;
      out[o + 6] = sn * ux + c * uy;
      o += 7;
    }
  }
  return { stride: 7, count: total, fields: RADAR_FIELD_MAP, data: out };
}

export interface CameraInput {
  sensorId: string;
  payload: Extract<SensorPayload, { kind: "camera_detections" | "camera_image" }>;
  stampNs: number;
  status: "present" | "late";
  extrinsic: Rigid;
  intrinsics: { fx: number; fy: number; cx: number; cy: number };
}

/** Camera observation with its extrinsic carried to the tick time. */
export function buildCamera(c: CameraInput, tickNs: number, motion: MotionSource | null): CameraObservation {
  const m = motion ? motion.relativeMotion(c.stampNs, tickNs) : { dx: 0, dy: 0, dyaw: 0 };
  const Rm = rpyToMat(0, 0, m.dyaw);
  const R = matMul(Rm, c.extrinsic.R);
  const t = c.extrinsic.t;
  const co = Math.cos(m.dyaw);
  const sn = Math.sin(m.dyaw);
  const tt: Vec3 = [co * t[0] - sn * t[1] + m.dx, sn * t[0] + co * t[1] + m.dy, t[2]];
  const p = c.payload;
  const obs: CameraObservation = {
    sensorId: c.sensorId,
    stampNs: c.stampNs,
    status: c.status,
    width: p.width,
    height: p.height,
    detections: p.kind === "camera_detections" ? p.detections : [],
    intrinsics: c.intrinsics,
    vehicleFromCamera: { R: Array.from(R), t: tt },
  };
  if (p.kind === "camera_image") obs.image = { encoding: p.encoding, data: p.data };
  return obs;
}
