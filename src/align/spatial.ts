/**
 * Spatial alignment: sensor payloads -> vehicle frame at the tick time. Extrinsics first, then the
 * ego motion between each measurement's instant and the tick (radar, camera, LiDAR sweep deskew).
 * Points stay in typed arrays; per-point work is plain arithmetic, no allocation.
 */
import type { PackedArray, SensorPayload } from "../msg/types.ts";
import type { CameraObservation, ObjectMotion } from "./types.ts";
import { matMul, type Planar, type Rigid, rpyToMat, type Vec3 } from "./geometry.ts";
import type { Float32Pool } from "../util/float-pool.ts";

/** Ego motion provider: "vehicle at toNs from vehicle at fromNs" (planar). */
export interface MotionSource {
  relativeMotion(fromNs: number, toNs: number): Planar;
}

/** Ego body velocity at the tick: forward speed (m/s, signed) and yaw rate (rad/s). */
export interface BodyRates {
  v: number;
  w: number;
}

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
  /** Full scale of the intensity field as declared by the source (nuScenes 255); absent = 1. */
  intensityMax?: number;
}

/** Number of time bins across a sweep for the deskew motion table (linear in between). */
const DESKEW_BINS = 16;

/**
 * A LiDAR sweep with its extrinsic already applied: the part of the LiDAR work that needs no ego
 * state, done when the sweep arrives (`prepareLidar`) rather than when its tick is emitted. What
 * remains at emission is the deskew (`deskewLidar`), which needs the ego motion up to the tick.
 */
export interface PreparedLidar {
  /** Sensor points in the vehicle frame at their own capture instants: x, y, z, intensity (stride 4). */
  xyzi: Float32Array;
  count: number;
  /** Corrected sweep end stamp, ns. */
  stampNs: number;
  /** Per-point time source (the input's `t` field, s relative to the stamp, <= 0), or null. */
  t: { data: Float32Array | Float64Array; stride: number; index: number } | null;
  /** Sweep duration covered by the motion table, s (0: whole-sweep compensation). */
  spanS: number;
  /**
   * true when `xyzi` may be deskewed in place and handed out as a tick's output: the sweep belongs
   * to exactly one tick (the reference of a pending tick).
   */
  owned: boolean;
  /** Set once `xyzi` was handed out (it then holds that tick's points); any further use throws. */
  handedOut: boolean;
}

/**
 * Apply the extrinsic to a sweep and find its time span (no ego state needed). An owned sweep's
 * points go into a buffer from `pool` when one is given (live vehicles: the tick's consumer gives
 * it back once fused, src/runtime/vehicle.ts).
 */
export function prepareLidar(s: LidarInput, owned = false, pool?: Float32Pool): PreparedLidar {
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
  const n = p.count;
  const out = owned && pool ? pool.take(n * 4) : new Float32Array(n * 4);
  const hasI = ii !== undefined;
  // Intensity to 0..1 by the full scale the source declared (nuScenes 255), never guessed.
  const iScale = s.intensityMax && s.intensityMax > 0 ? 1 / s.intensityMax : 1;
  const iIdx = ii ?? 0;
  let spanS = 0;
  const itIdx = it ?? 0;
  const hasT = it !== undefined;
  for (let k = 0, b = 0, o = 0; k < n; k++, b += st, o += 4) {
    const x = d[b + ix]!;
    const y = d[b + iy]!;
    const z = d[b + iz]!;
    out[o] = r0 * x + r1 * y + r2 * z + tx;
    out[o + 1] = r3 * x + r4 * y + r5 * z + ty;
    out[o + 2] = r6 * x + r7 * y + r8 * z + tz;
    out[o + 3] = hasI ? d[b + iIdx]! * iScale : 0;
    if (hasT) {
      const v = -d[b + itIdx]!;
      if (v > spanS) spanS = v;
    }
  }
  spanS = Math.min(spanS, 1); // a sweep never lasts more than a second
  return {
    xyzi: out,
    count: n,
    stampNs: s.stampNs,
    t: hasT && spanS > 0 ? { data: d, stride: st, index: itIdx } : null,
    spanS,
    owned,
    handedOut: false,
  };
}

/**
 * Merge prepared sweeps into one vehicle-frame cloud at tick time `tickNs` (fields x, y, z,
 * intensity): each point is moved by the planar ego motion between its capture instant and the
 * tick, through a 16-bin motion table across the sweep (no trigonometry per point). A single owned
 * sweep is deskewed in place and its array becomes the output (no allocation at emission).
 */
export function deskewLidar(
  sweeps: readonly PreparedLidar[],
  tickNs: number,
  motion: MotionSource | null,
): PackedArray {
  let total = 0;
  for (const s of sweeps) {
    // The array now belongs to an emitted tick, which downstream may still be reading.
    if (s.handedOut) throw new Error("deskewLidar: prepared sweep already handed out to a tick");
    total += s.count;
  }
  const inPlace = sweeps.length === 1 && sweeps[0]!.owned;
  let out: Float32Array;
  if (inPlace) {
    out = sweeps[0]!.xyzi;
    sweeps[0]!.handedOut = true;
  } else {
    out = new Float32Array(total * 4);
    let o = 0;
    for (const s of sweeps) {
      out.set(s.xyzi.subarray(0, s.count * 4), o);
      o += s.count * 4;
    }
  }
  if (!motion) return { stride: 4, count: total, fields: LIDAR_FIELD_MAP, data: out };
  // Motion table: per bin (dx, dy, cos dyaw, sin dyaw) over [stamp - span, stamp], stored as the
  // bin's base values and the step to the next bin, so a point costs one multiply-add each.
  // Interpolating cos/sin linearly between bins is exact to ~1e-6 for the yaw change of one bin.
  const tab = new Float64Array((DESKEW_BINS + 1) * 4);
  const step = new Float64Array(DESKEW_BINS * 8);
  let o = 0;
  for (const s of sweeps) {
    const spanS = s.t ? s.spanS : 0;
    for (let b = 0; b <= DESKEW_BINS; b++) {
      const ago = spanS * (b / DESKEW_BINS);
      const m = motion.relativeMotion(s.stampNs - ago * 1e9, tickNs);
      tab[b * 4] = m.dx;
      tab[b * 4 + 1] = m.dy;
      tab[b * 4 + 2] = Math.cos(m.dyaw);
      tab[b * 4 + 3] = Math.sin(m.dyaw);
    }
    for (let b = 0; b < DESKEW_BINS; b++)
      for (let q = 0; q < 4; q++) {
        step[b * 8 + q] = tab[b * 4 + q]!;
        step[b * 8 + 4 + q] = tab[(b + 1) * 4 + q]! - tab[b * 4 + q]!;
      }
    const n = s.count;
    const end = o + n * 4;
    if (s.t) {
      const td = s.t.data;
      const tst = s.t.stride;
      const binsPerS = DESKEW_BINS / spanS;
      for (let b = s.t.index; o < end; o += 4, b += tst) {
        let f = -td[b]! * binsPerS;
        if (f < 0) f = 0;
        else if (f >= DESKEW_BINS) f = DESKEW_BINS - 1e-9;
        const lo = f | 0;
        const w = f - lo;
        const j = lo * 8;
        const dx = step[j]! + w * step[j + 4]!;
        const dy = step[j + 1]! + w * step[j + 5]!;
        const c = step[j + 2]! + w * step[j + 6]!;
        const sn = step[j + 3]! + w * step[j + 7]!;
        const vx = out[o]!;
        const vy = out[o + 1]!;
        out[o] = c * vx - sn * vy + dx;
        out[o + 1] = sn * vx + c * vy + dy;
      }
    } else {
      // No per-point time: the whole sweep moves with the motion at its stamp.
      const dx = tab[0]!;
      const dy = tab[1]!;
      const c = tab[2]!;
      const sn = tab[3]!;
      for (; o < end; o += 4) {
        const vx = out[o]!;
        const vy = out[o + 1]!;
        out[o] = c * vx - sn * vy + dx;
        out[o + 1] = sn * vx + c * vy + dy;
      }
    }
  }
  return { stride: 4, count: total, fields: LIDAR_FIELD_MAP, data: out };
}

/**
 * Merge LiDAR sweeps into one vehicle-frame cloud at tick time `tickNs` (fields x, y, z, intensity):
 * `prepareLidar` then `deskewLidar` in one call. Per-point time: the optional `t` field (s, relative
 * to the sweep stamp, <= 0). Without it every point takes the sweep stamp (whole-sweep compensation).
 */
export function buildLidar(
  inputs: readonly LidarInput[],
  tickNs: number,
  motion: MotionSource | null,
): PackedArray {
  const prepared = inputs.map((s) => prepareLidar(s, inputs.length === 1));
  return deskewLidar(prepared, tickNs, motion);
}

/**
 * Tracked objects carried to the tick: per object (stride 8) centre x, y, cos yaw, sin yaw, half
 * length and half width (margin included), velocity over ground vx, vy, in the vehicle frame at the
 * tick. `vrGate` is the largest radial-velocity disagreement (m/s) for a return to belong to one.
 */
export interface TrackBoxes {
  count: number;
  data: Float64Array;
  vrGate: number;
}

/**
 * Fed-back objects (vehicle frame at `m.stampNs`) predicted to the tick with their own velocity
 * (constant velocity over ground) and moved into the vehicle frame at the tick by the ego motion.
 */
export function trackBoxesAt(
  m: ObjectMotion,
  tickNs: number,
  motion: MotionSource,
  marginM: number,
  vrGate: number,
): TrackBoxes {
  const rel = motion.relativeMotion(m.stampNs, tickNs);
  const c = Math.cos(rel.dyaw);
  const s = Math.sin(rel.dyaw);
  const dt = (tickNs - m.stampNs) / 1e9;
  const n = m.objects.length;
  const data = new Float64Array(n * 8);
  for (let k = 0; k < n; k++) {
    const o = m.objects[k]!;
    const px = o.x + o.vx * dt;
    const py = o.y + o.vy * dt;
    const yaw = o.yaw + rel.dyaw;
    const j = k * 8;
    data[j] = c * px - s * py + rel.dx;
    data[j + 1] = s * px + c * py + rel.dy;
    data[j + 2] = Math.cos(yaw);
    data[j + 3] = Math.sin(yaw);
    data[j + 4] = o.length / 2 + marginM;
    data[j + 5] = o.width / 2 + marginM;
    data[j + 6] = c * o.vx - s * o.vy;
    data[j + 7] = s * o.vx + c * o.vy;
  }
  return { count: n, data, vrGate };
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
 * line of sight by vr times the time from its stamp to the tick. With `tracks` (objects fed back from
 * the fused output), a return inside a track's box whose vr agrees with the track's radial velocity
 * also moves by the track velocity across its line of sight over the same time: the radar measures
 * the radial part, the track supplies the tangential part it cannot see.
 */
export function buildRadar(
  inputs: readonly RadarInput[],
  tickNs: number,
  motion: MotionSource | null,
  rates: BodyRates,
  targetMotion: boolean,
  tracks: TrackBoxes | null = null,
): PackedArray {
  const nTracks = motion && tracks ? tracks.count : 0;
  const tb = tracks?.data;
  const vrGate = tracks?.vrGate ?? 0;
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
    const dtTrackS = motion ? (tickNs - s.stampNs) / 1e9 : 0;
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
      let qx = c * px - sn * py + m.dx;
      let qy = sn * px + c * py + m.dy;
      const ox = c * ux - sn * uy;
      const oy = sn * ux + c * uy;
      if (nTracks > 0 && tb) {
        // The first track whose box holds the return and whose radial velocity agrees with it.
        for (let j = 0; j < nTracks * 8; j += 8) {
          const ex = qx - tb[j]!;
          const ey = qy - tb[j + 1]!;
          const lx = tb[j + 2]! * ex + tb[j + 3]! * ey;
          const ly = -tb[j + 3]! * ex + tb[j + 2]! * ey;
          if (Math.abs(lx) > tb[j + 4]! || Math.abs(ly) > tb[j + 5]!) continue;
          const tvx = tb[j + 6]!;
          const tvy = tb[j + 7]!;
          // The track's velocity along the line of sight (what the radar measured, already applied
          // above) and the rest of it, across the line of sight.
          const radial = tvx * ox + tvy * oy;
          if (Math.abs(radial - vr) > vrGate) continue;
          qx += (tvx - radial * ox) * dtTrackS;
          qy += (tvy - radial * oy) * dtTrackS;
          break;
        }
      }
      out[o] = qx;
      out[o + 1] = qy;
      out[o + 2] = pz;
      out[o + 3] = vr;
      out[o + 4] = d[b + ic]!;
      out[o + 5] = ox;
      out[o + 6] = oy;
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
