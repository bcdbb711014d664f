/**
 * The ego velocity as the radar sees it. The aligner compensates each return's radial velocity
 * with the ego filter's velocity; when that velocity is off by e (a GNSS outage, a wrong wheel
 * speed, a pose-derived velocity with lag), every static return reads e . u instead of 0, and at
 * real clutter densities (hundreds of returns a frame) the classical engine makes dozens of
 * radar-only "moving" objects from walls and parked cars. Most returns are static, so e is the
 * robust least-squares fit of vr_i = e . u_i over the tick's returns (Cauchy-weighted IRLS from
 * e = 0, a ridge towards 0 where the lines of sight span one direction only); the stage then
 * reads vr_i - e . u_i. DECISIONS C11.
 */
import type { PackedArray } from "../../msg/types.ts";

export interface RadarEgoOptions {
  /** Fit only with at least this many returns. */
  minReturns: number;
  /** Cauchy scale of the residuals, m/s. */
  scaleMps: number;
  /** Ridge towards e = 0, in returns' worth of weight. */
  ridge: number;
  /** A fit larger than this is not trusted (not applied), m/s. */
  maxMps: number;
  /** A fit smaller than this is noise (not applied), m/s. */
  minMps: number;
  iterations: number;
}

export const RADAR_EGO_DEFAULTS: RadarEgoOptions = Object.freeze({
  minReturns: 8,
  scaleMps: 0.5,
  ridge: 2,
  maxMps: 5,
  minMps: 0.3,
  iterations: 12,
});

/** The residual ego velocity e (vehicle frame, m/s) seen by the returns, or null (too few returns, below
 *  `minMps` (noise: nothing to correct) or beyond `maxMps` (not trusted)). */
export function radarEgoResidual(
  pa: PackedArray,
  o: RadarEgoOptions = RADAR_EGO_DEFAULTS,
): { ex: number; ey: number; n: number } | null {
  const f = pa.fields;
  const fx = f["x"];
  const fy = f["y"];
  const fvr = f["vr"];
  if (fx === undefined || fy === undefined || fvr === undefined || pa.count < o.minReturns) return null;
  const fux = f["ux"];
  const fuy = f["uy"];
  const n = pa.count;
  const ux = new Float64Array(n);
  const uy = new Float64Array(n);
  const vr = new Float64Array(n);
  let m = 0;
  for (let i = 0, p = 0; i < n; i++, p += pa.stride) {
    const x = pa.data[p + fx]!;
    const y = pa.data[p + fy]!;
    const v = pa.data[p + fvr]!;
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(v)) continue;
    let a = fux !== undefined ? pa.data[p + fux]! : x;
    let b = fuy !== undefined ? pa.data[p + fuy]! : y;
    const l = Math.hypot(a, b);
    if (!(l > 1e-6)) continue;
    a /= l;
    b /= l;
    ux[m] = a;
    uy[m] = b;
    vr[m] = v;
    m++;
  }
  if (m < o.minReturns) return null;
  let ex = 0;
  let ey = 0;
  const c2 = o.scaleMps ** 2;
  for (let it = 0; it < o.iterations; it++) {
    let sxx = o.ridge;
    let sxy = 0;
    let syy = o.ridge;
    let bx = 0;
    let by = 0;
    for (let i = 0; i < m; i++) {
      const r = vr[i]! - (ex * ux[i]! + ey * uy[i]!);
      const w = 1 / (1 + (r * r) / c2);
      sxx += w * ux[i]! * ux[i]!;
      sxy += w * ux[i]! * uy[i]!;
      syy += w * uy[i]! * uy[i]!;
      bx += w * ux[i]! * vr[i]!;
      by += w * uy[i]! * vr[i]!;
    }
    const det = sxx * syy - sxy * sxy;
    if (!(det > 1e-9)) return null;
    const nx = (syy * bx - sxy * by) / det;
    const ny = (sxx * by - sxy * bx) / det;
    const done = Math.hypot(nx - ex, ny - ey) < 1e-3;
    ex = nx;
    ey = ny;
    if (done) break;
  }
  const norm = Math.hypot(ex, ey);
  if (!(norm <= o.maxMps) || norm < o.minMps) return null;
  return { ex, ey, n: m };
}

/** A copy of the returns with each radial velocity corrected by the residual: vr - e . u. */
export function correctRadarEgo(pa: PackedArray, e: { ex: number; ey: number }): PackedArray {
  const data = pa.data.slice();
  const f = pa.fields;
  const fx = f["x"]!;
  const fy = f["y"]!;
  const fvr = f["vr"]!;
  const fux = f["ux"];
  const fuy = f["uy"];
  for (let i = 0, p = 0; i < pa.count; i++, p += pa.stride) {
    let a = fux !== undefined ? data[p + fux]! : data[p + fx]!;
    let b = fuy !== undefined ? data[p + fuy]! : data[p + fy]!;
    const l = Math.hypot(a, b);
    if (!(l > 1e-6)) continue;
    a /= l;
    b /= l;
    data[p + fvr] = data[p + fvr]! - (e.ex * a + e.ey * b);
  }
  return { ...pa, data };
}
