/**
 * Per-kind content checks of one decoded payload: cheap (a fixed-size sample of the data, never
 * per-point objects), I/O-free, state carried in a small per-sensor `ContentState`.
 * Flags are stable reason codes (docs/health.md); stats feed the drift trackers.
 */
import { FixType, ImageEncoding, type SensorPayload } from "../msg/types.ts";
import type { SensorConfig } from "../rig/schema.ts";
import type { HealthConfig } from "./config.ts";

/** Samples taken from a bulk payload for hashing and range/intensity/brightness checks. */
const SAMPLE = 256;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const M_PER_DEG = 111_320;

export interface ContentState {
  lastHash: number;
  /** Consecutive identical payloads so far (1 = the latest differs from the one before). */
  sameRun: number;
  /** Consecutive empty radar scans. */
  emptyRun: number;
  prevFix: { latDeg: number; lonDeg: number; stampNs: number } | null;
  /** Scratch for hashing numbers (8 bytes). */
  readonly scratch: DataView;
}

export function newContentState(): ContentState {
  return { lastHash: -1, sameRun: 0, emptyRun: 0, prevFix: null, scratch: new DataView(new ArrayBuffer(8)) };
}

export interface ContentResult {
  /** Reason codes raised by this payload (DEGRADED severity). */
  flags: string[];
  /** Named per-message statistics for drift tracking. */
  stats: [string, number][];
}

/** Reference medians of drift statistics, NaN while unknown. */
export type RefMedian = (stat: string) => number;

function fnvWord(h: number, w: number): number {
  h = Math.imul(h ^ (w & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((w >>> 8) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((w >>> 16) & 0xff), FNV_PRIME);
  return Math.imul(h ^ (w >>> 24), FNV_PRIME);
}

function hashNumber(h: number, x: number, dv: DataView): number {
  dv.setFloat64(0, x, true);
  return fnvWord(fnvWord(h, dv.getUint32(0, true)), dv.getUint32(4, true));
}

/** Hash `SAMPLE` evenly spaced 32-bit words of a float array, plus its length. */
function hashFloats(data: Float32Array): number {
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let h = fnvWord(FNV_OFFSET, u.length);
  const n = u.length;
  const step = Math.max(1, Math.floor(n / SAMPLE));
  for (let i = 0; i < n; i += step) h = fnvWord(h, u[i]!);
  if (n > 0) h = fnvWord(h, u[n - 1]!);
  return h >>> 0;
}

function hashBytes(data: Uint8Array): number {
  let h = fnvWord(FNV_OFFSET, data.length);
  const n = data.length;
  const step = Math.max(1, Math.floor(n / SAMPLE));
  for (let i = 0; i < n; i += step) h = Math.imul(h ^ data[i]!, FNV_PRIME);
  return h >>> 0;
}

function trackFrozen(st: ContentState, hash: number, frozenCount: number, flags: string[]): void {
  st.sameRun = hash === st.lastHash ? st.sameRun + 1 : 1;
  st.lastHash = hash;
  if (st.sameRun >= frozenCount) flags.push("frozen");
}

const FIX_RANK: Record<HealthConfig["gnss_min_fix"], number> = {
  FIX_2D: FixType.FIX_2D,
  FIX_3D: FixType.FIX_3D,
  DGPS: FixType.DGPS,
  RTK_FLOAT: FixType.RTK_FLOAT,
  RTK_FIXED: FixType.RTK_FIXED,
};

/**
 * Check one payload. `stampNs` is the clock-corrected stamp (GNSS jump speed uses stamp spacing).
 */
export function checkContent(
  p: SensorPayload,
  stampNs: number,
  st: ContentState,
  cfg: HealthConfig,
  sensor: SensorConfig,
  refMedian: RefMedian,
): ContentResult {
  const flags: string[] = [];
  const stats: [string, number][] = [];
  switch (p.kind) {
    case "point_cloud": {
      const { count, stride, fields, data } = p.points;
      stats.push(["points", count]);
      const ref = refMedian("points");
      if (count < cfg.lidar_min_points || (ref > 0 && count < cfg.min_count_ratio * ref))
        flags.push("low_points");
      if (count > 0) {
        const fx = fields["x"] ?? 0;
        const fy = fields["y"] ?? 1;
        const fz = fields["z"] ?? 2;
        const fi = fields["intensity"];
        const maxR = 1.5 * (sensor.lidar?.max_range_m ?? 200);
        const step = Math.max(1, Math.floor(count / SAMPLE));
        let invalid = 0;
        let sampled = 0;
        let isum = 0;
        for (let k = 0; k < count; k += step) {
          const o = k * stride;
          const x = data[o + fx]!;
          const y = data[o + fy]!;
          const z = data[o + fz]!;
          const r2 = x * x + y * y + z * z;
          if (r2 < 0.01 || r2 > maxR * maxR) invalid++;
          if (fi !== undefined) isum += data[o + fi]!;
          sampled++;
        }
        if (invalid / sampled > cfg.max_invalid_ratio) flags.push("invalid_points");
        if (fi !== undefined) stats.push(["intensity", isum / sampled]);
        trackFrozen(st, hashFloats(data), cfg.frozen_count, flags);
      } else {
        st.sameRun = 0;
      }
      break;
    }
    case "radar_scan": {
      const { count, stride, fields, data } = p.returns;
      stats.push(["returns", count]);
      st.emptyRun = count === 0 ? st.emptyRun + 1 : 0;
      if (st.emptyRun >= cfg.radar_empty_scans) flags.push("no_returns");
      const ref = refMedian("returns");
      if (count > 0 && ref >= 4 && count < cfg.min_count_ratio * ref) flags.push("low_returns");
      if (count > 0) {
        const fr = fields["rcs"];
        if (fr !== undefined) {
          const step = Math.max(1, Math.floor(count / SAMPLE));
          let s = 0;
          let n = 0;
          for (let k = 0; k < count; k += step, n++) s += data[k * stride + fr]!;
          stats.push(["rcs", s / n]);
        }
        trackFrozen(st, hashFloats(data), cfg.frozen_count, flags);
      } else {
        st.sameRun = 0;
      }
      break;
    }
    case "camera_detections": {
      const d = p.detections;
      stats.push(["detections", d.length]);
      if (d.length > 0) {
        let h = fnvWord(FNV_OFFSET, d.length);
        let s = 0;
        for (let i = 0; i < d.length; i++) {
          const det = d[i]!;
          s += det.score;
          if (i < 16) {
            h = hashNumber(h, det.xMin, st.scratch);
            h = hashNumber(h, det.yMin, st.scratch);
            h = hashNumber(h, det.xMax, st.scratch);
            h = hashNumber(h, det.score, st.scratch);
          }
        }
        stats.push(["score", s / d.length]);
        trackFrozen(st, h >>> 0, cfg.frozen_count, flags);
      } else {
        st.sameRun = 0;
      }
      break;
    }
    case "camera_image": {
      const { data, encoding } = p;
      if (encoding === ImageEncoding.MONO8 || encoding === ImageEncoding.RGB8) {
        const step = Math.max(1, Math.floor(data.length / (4 * SAMPLE)));
        let s = 0;
        let n = 0;
        for (let i = 0; i < data.length; i += step, n++) s += data[i]!;
        const mean = n ? s / n : 0;
        stats.push(["brightness", mean]);
        if (mean < cfg.camera_black_level) flags.push("black_frame");
      }
      // JPEG: no cheap blackness check without decoding (docs/health.md, known limits).
      if (data.length > 0) trackFrozen(st, hashBytes(data), cfg.frozen_count, flags);
      break;
    }
    case "gnss_fix": {
      if (p.fixType < FIX_RANK[cfg.gnss_min_fix]) flags.push("no_fix");
      const c = p.covariance;
      if (c && c.length >= 5) {
        const std = Math.sqrt(Math.max(0, c[0]!) + Math.max(0, c[4]!));
        if (std > cfg.gnss_max_std_m) flags.push("covariance");
      }
      const prev = st.prevFix;
      if (prev && p.fixType !== FixType.NONE) {
        const dtS = (stampNs - prev.stampNs) / 1e9;
        if (dtS > 0) {
          const dn = (p.latitudeDeg - prev.latDeg) * M_PER_DEG;
          const de = (p.longitudeDeg - prev.lonDeg) * M_PER_DEG * Math.cos((p.latitudeDeg * Math.PI) / 180);
          if (Math.hypot(dn, de) / dtS > cfg.gnss_max_speed_mps) flags.push("jump");
        }
      }
      if (p.fixType !== FixType.NONE) st.prevFix = { latDeg: p.latitudeDeg, lonDeg: p.longitudeDeg, stampNs };
      break;
    }
    case "imu": {
      const { accel, gyro } = p;
      const am = cfg.imu_accel_max_mps2;
      const gm = cfg.imu_gyro_max_radps;
      if (
        Math.abs(accel[0]) >= am ||
        Math.abs(accel[1]) >= am ||
        Math.abs(accel[2]) >= am ||
        Math.abs(gyro[0]) >= gm ||
        Math.abs(gyro[1]) >= gm ||
        Math.abs(gyro[2]) >= gm
      )
        flags.push("saturated");
      let h = FNV_OFFSET;
      for (let i = 0; i < 3; i++) {
        h = hashNumber(h, accel[i]!, st.scratch);
        h = hashNumber(h, gyro[i]!, st.scratch);
      }
      // IMU noise makes exact repeats impossible; a few more samples than for bulk payloads
      trackFrozen(st, h >>> 0, cfg.frozen_count + 2, flags);
      break;
    }
    case "pose": {
      // A localisation output that repeats itself exactly while time goes on is frozen.
      let h = FNV_OFFSET;
      for (const v of p.position) h = hashNumber(h, v, st.scratch);
      for (const v of p.orientation) h = hashNumber(h, v, st.scratch);
      trackFrozen(st, h >>> 0, cfg.frozen_count + 2, flags);
      break;
    }
    default: {
      const never: never = p;
      return never;
    }
  }
  return { flags, stats };
}
