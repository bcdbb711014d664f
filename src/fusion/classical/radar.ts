/**
 * Stage 2 of the classical detector: radar returns go to the nearest LiDAR box (gated, and only the
 * returns that agree on the radial velocity), the rest are clustered into radar-only objects, which
 * are kept when they move (radar alone cannot tell a parked car from a wall).
 */
import type { PackedArray } from "../../msg/types.ts";
import { distToBox } from "../lidar/shape.ts";
import { type Candidate, type DetectStats, emptyCandidate } from "./candidate.ts";
import type { ClassicalConfig } from "./config.ts";

export type RadarOptions = Pick<
  ClassicalConfig,
  | "radar_vr_std_mps"
  | "radar_gate_m"
  | "radar_azimuth_std_rad"
  | "radar_range_std_m"
  | "radar_vr_consistency_mps"
  | "radar_cluster_m"
  | "radar_min_returns"
  | "radar_moving_mps"
  | "lidar_trusted_range_m"
>;

export interface RadarStage {
  /** The tick's radar returns (all radars merged, vehicle frame). */
  radar: PackedArray;
  /** The tick's candidates; the first `nLidar` are the LiDAR ones. Radar-only objects are appended. */
  cands: Candidate[];
  nLidar: number;
  /** LiDAR is used this tick (radar-only objects then only beyond `lidar_trusted_range_m`). */
  lidarUsed: boolean;
  /** When the radar-only objects were measured, relative to the tick, s. */
  dtS: number;
  stats: DetectStats;
}

/**
 * The returns as this stage reads them: the packed array's fields and the per-return noise model
 * (one object per tick, not per return).
 */
interface RadarView {
  data: Float32Array;
  fx: number;
  fy: number;
  fvr: number;
  fux: number | undefined;
  fuy: number | undefined;
  frcs: number | undefined;
  /** Radial velocity variance, (m/s)^2. */
  vrVar: number;
  rangeStdM: number;
  azimuthStdRad: number;
}

/** Associate the tick's radar returns to the LiDAR candidates and append radar-only objects. */
export function associateRadar(s: RadarStage, cfg: RadarOptions): void {
  const { radar: pa, cands, nLidar, stats } = s;
  const f = pa.fields;
  const fx = f["x"];
  const fy = f["y"];
  const fvr = f["vr"];
  if (fx === undefined || fy === undefined || fvr === undefined) return;
  const { data, stride, count } = pa;
  const view: RadarView = {
    data,
    fx,
    fy,
    fvr,
    fux: f["ux"],
    fuy: f["uy"],
    frcs: f["rcs"],
    vrVar: cfg.radar_vr_std_mps ** 2,
    rangeStdM: cfg.radar_range_std_m,
    azimuthStdRad: cfg.radar_azimuth_std_rad,
  };
  const left: number[] = [];
  // LiDAR boxes moved to the tick time (a spinning LiDAR saw them up to a sweep earlier).
  const bx = new Float64Array(nLidar);
  const by = new Float64Array(nLidar);
  for (let k = 0; k < nLidar; k++) {
    const L = cands[k]!.lidar!;
    bx[k] = L.cx - L.vx * L.dtS;
    by[k] = L.cy - L.vy * L.dtS;
  }
  const byCand: number[][] = Array.from({ length: nLidar }, () => []);
  for (let i = 0, o = 0; i < count; i++, o += stride) {
    const x = data[o + fx]!;
    const y = data[o + fy]!;
    const vr = data[o + fvr]!;
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(vr)) continue;
    const r = Math.hypot(x, y);
    const gate = cfg.radar_gate_m + 2 * r * cfg.radar_azimuth_std_rad;
    let best = -1;
    let bestD = gate;
    for (let k = 0; k < nLidar; k++) {
      const L = cands[k]!.lidar!;
      const d = distToBox(x, y, bx[k]!, by[k]!, L.length, L.width, L.yaw);
      if (d <= bestD) {
        bestD = d;
        best = k;
      }
    }
    if (best >= 0) byCand[best]!.push(o);
    else left.push(o);
  }
  // Per object, keep the returns that agree on the radial velocity (a return of the wall behind
  // a car, or of the car beside it, would bias the velocity).
  for (let k = 0; k < nLidar; k++) {
    const offs = byCand[k]!;
    if (offs.length === 0) continue;
    const ref = offs.length >= 2 ? medianOf(offs.map((o) => data[o + fvr]!)) : null;
    for (const o of offs) {
      if (ref !== null && Math.abs(data[o + fvr]! - ref) > cfg.radar_vr_consistency_mps) {
        stats.radarRejected++;
        continue;
      }
      addReturn(cands[k]!, view, o);
      stats.radarAssociated++;
    }
  }
  stats.radarUnassociated = left.length;
  if (left.length === 0) return;

  // Single-linkage clustering of the leftover returns (few per tick: O(n^2) is fine).
  const m = left.length;
  const lab = new Int32Array(m).fill(-1);
  const r2 = cfg.radar_cluster_m ** 2;
  let nl = 0;
  const queue: number[] = [];
  for (let a = 0; a < m; a++) {
    if (lab[a] !== -1) continue;
    lab[a] = nl;
    queue.length = 0;
    queue.push(a);
    while (queue.length) {
      const p = queue.pop()!;
      const op = left[p]!;
      for (let b = 0; b < m; b++) {
        if (lab[b] !== -1) continue;
        const ob = left[b]!;
        const dx = data[op + fx]! - data[ob + fx]!;
        const dy = data[op + fy]! - data[ob + fy]!;
        if (dx * dx + dy * dy <= r2) {
          lab[b] = nl;
          queue.push(b);
        }
      }
    }
    nl++;
  }
  const groups: Candidate[] = [];
  for (let g = 0; g < nl; g++) groups.push(emptyCandidate(0, 0));
  for (let a = 0; a < m; a++) addReturn(groups[lab[a]!]!, view, left[a]!);
  for (const g of groups) {
    g.ax = g.rPx / g.rW;
    g.ay = g.rPy / g.rW;
    g.dtS = s.dtS;
    // Radar cannot tell a parked car from a wall or a guard rail: alone, it reports movers only.
    if (g.radarN < cfg.radar_min_returns || g.maxAbsVr < cfg.radar_moving_mps) continue;
    if (s.lidarUsed && Math.hypot(g.ax, g.ay) < cfg.lidar_trusted_range_m) continue;
    cands.push(g);
  }
}

/** Add the return at data offset `o` to a candidate's radar sums. */
function addReturn(c: Candidate, v: RadarView, o: number): void {
  const { data } = v;
  const x = data[o + v.fx]!;
  const y = data[o + v.fy]!;
  const vr = data[o + v.fvr]!;
  const r = Math.hypot(x, y);
  let ux = v.fux !== undefined ? data[o + v.fux]! : x / (r || 1);
  let uy = v.fuy !== undefined ? data[o + v.fuy]! : y / (r || 1);
  const un = Math.hypot(ux, uy);
  if (!(un > 1e-3)) {
    ux = x / (r || 1);
    uy = y / (r || 1);
  } else {
    ux /= un;
    uy /= un;
  }
  const vrVar = v.vrVar;
  // Position weight: the larger of range and cross-range variance (isotropic, conservative).
  const pv = Math.max(v.rangeStdM ** 2, (r * v.azimuthStdRad) ** 2);
  c.rPx += x / pv;
  c.rPy += y / pv;
  c.rW += 1 / pv;
  c.vIxx += (ux * ux) / vrVar;
  c.vIxy += (ux * uy) / vrVar;
  c.vIyy += (uy * uy) / vrVar;
  c.vbx += (ux * vr) / vrVar;
  c.vby += (uy * vr) / vrVar;
  if (Math.abs(vr) > c.maxAbsVr) c.maxAbsVr = Math.abs(vr);
  if (v.frcs !== undefined) {
    const rcs = data[o + v.frcs]!;
    if (rcs > c.maxRcs) c.maxRcs = rcs;
  }
  c.radarN++;
}

function medianOf(xs: number[]): number {
  xs.sort((a, b) => a - b);
  const m = xs.length >> 1;
  return xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
}
