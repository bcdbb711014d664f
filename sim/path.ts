/**
 * Road paths: polylines with rounded corners, sampled every ~0.5 m and parametrised by arc length.
 * Agents move along a path by arc length `s`; a lateral offset (m, + = left) selects the lane.
 * Open paths wrap too: an agent that reaches the end reappears at the start (far from the ego).
 */

export interface PathPose {
  x: number;
  y: number;
  /** Heading of the path tangent, rad CCW from east. */
  heading: number;
  /** Signed curvature, 1/m (+ = turning left). */
  curvature: number;
}

const STEP_M = 0.5;

export class Path {
  readonly xs: Float64Array;
  readonly ys: Float64Array;
  readonly hs: Float64Array;
  readonly ks: Float64Array;
  readonly length: number;
  private readonly n: number;

  /** `pts` in metres; `closed` joins the last point to the first. */
  constructor(
    pts: ReadonlyArray<readonly [number, number]>,
    readonly closed: boolean,
    cornerRadiusM = 0,
  ) {
    const dense = densify(pts, closed, cornerRadiusM);
    const n = dense.length;
    this.n = n;
    this.xs = new Float64Array(n);
    this.ys = new Float64Array(n);
    this.hs = new Float64Array(n);
    this.ks = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.xs[i] = dense[i]![0];
      this.ys[i] = dense[i]![1];
    }
    // Samples are exactly STEP_M apart, so index = s / STEP_M.
    this.length = (closed ? n : n - 1) * STEP_M;
    for (let i = 0; i < n; i++) {
      const j = i + 1 < n ? i + 1 : closed ? 0 : i;
      const k = j === i ? i - 1 : i;
      const jj = j === i ? i : j;
      this.hs[i] = Math.atan2(this.ys[jj]! - this.ys[k]!, this.xs[jj]! - this.xs[k]!);
    }
    for (let i = 0; i < n; i++) {
      const a = i > 0 ? i - 1 : closed ? n - 1 : 0;
      const b = i + 1 < n ? i + 1 : closed ? 0 : n - 1;
      if (a === b) continue;
      const dh = wrapAngle(this.hs[b]! - this.hs[a]!);
      this.ks[i] = dh / ((b - a + n) % n || 1) / STEP_M;
    }
  }

  /** Arc length of the sample nearest to (x, y). */
  nearestS(x: number, y: number): number {
    let best = 0;
    let bestD = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.n; i++) {
      const d = (this.xs[i]! - x) ** 2 + (this.ys[i]! - y) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best * STEP_M;
  }

  /** Pose at arc length `s` (wrapped into [0, length)), `offsetM` to the left of the path. */
  at(s: number, offsetM: number, out: PathPose): PathPose {
    const L = this.length;
    let u = s % L;
    if (u < 0) u += L;
    const f = u / STEP_M;
    let i = Math.floor(f);
    const n = this.closed ? this.n : this.n - 1;
    if (i >= n) i = n - 1;
    const t = f - i;
    const j = (i + 1) % this.n;
    const x = this.xs[i]! + (this.xs[j]! - this.xs[i]!) * t;
    const y = this.ys[i]! + (this.ys[j]! - this.ys[i]!) * t;
    const h = this.hs[i]! + wrapAngle(this.hs[j]! - this.hs[i]!) * t;
    out.heading = h;
    out.x = x - Math.sin(h) * offsetM;
    out.y = y + Math.cos(h) * offsetM;
    out.curvature = this.ks[i]!;
    return out;
  }
}

export function wrapAngle(a: number): number {
  let r = a;
  while (r > Math.PI) r -= 2 * Math.PI;
  while (r < -Math.PI) r += 2 * Math.PI;
  return r;
}

/** Resample a polyline every STEP_M metres (exactly, so that index = s / STEP_M), rounding corners. */
function densify(
  pts: ReadonlyArray<readonly [number, number]>,
  closed: boolean,
  r: number,
): [number, number][] {
  // 1. Build a fine polyline with circular fillets at interior corners.
  const fine: [number, number][] = [];
  const n = pts.length;
  for (let i = 0; i < n; i++) {
    const p = pts[i]!;
    const isEnd = !closed && (i === 0 || i === n - 1);
    if (isEnd || r <= 0) {
      fine.push([p[0], p[1]]);
      continue;
    }
    const a = pts[(i - 1 + n) % n]!;
    const b = pts[(i + 1) % n]!;
    const d1x = p[0] - a[0];
    const d1y = p[1] - a[1];
    const d2x = b[0] - p[0];
    const d2y = b[1] - p[1];
    const l1 = Math.hypot(d1x, d1y);
    const l2 = Math.hypot(d2x, d2y);
    const h1 = Math.atan2(d1y, d1x);
    const turn = wrapAngle(Math.atan2(d2y, d2x) - h1);
    if (Math.abs(turn) < 1e-3) {
      fine.push([p[0], p[1]]);
      continue;
    }
    const tan = Math.min(r * Math.tan(Math.abs(turn) / 2), l1 / 2, l2 / 2);
    const rr = tan / Math.tan(Math.abs(turn) / 2);
    const sx = p[0] - (d1x / l1) * tan;
    const sy = p[1] - (d1y / l1) * tan;
    const sign = Math.sign(turn);
    const cx = sx - Math.sin(h1) * rr * sign;
    const cy = sy + Math.cos(h1) * rr * sign;
    const steps = Math.max(4, Math.ceil((Math.abs(turn) * rr) / 0.25));
    for (let k = 0; k <= steps; k++) {
      const ang = h1 - (sign * Math.PI) / 2 + (turn * k) / steps;
      fine.push([cx + Math.cos(ang) * rr, cy + Math.sin(ang) * rr]);
    }
  }
  if (closed) fine.push([fine[0]![0], fine[0]![1]]);
  // 2. Resample at exact arc-length steps.
  const out: [number, number][] = [[fine[0]![0], fine[0]![1]]];
  let carry = 0;
  for (let i = 0; i + 1 < fine.length; i++) {
    const [x0, y0] = fine[i]!;
    const [x1, y1] = fine[i + 1]!;
    const len = Math.hypot(x1 - x0, y1 - y0);
    if (len === 0) continue;
    let d = STEP_M - carry;
    while (d <= len) {
      out.push([x0 + ((x1 - x0) * d) / len, y0 + ((y1 - y0) * d) / len]);
      d += STEP_M;
    }
    carry = len - (d - STEP_M);
  }
  if (closed) {
    const last = out[out.length - 1]!;
    if (Math.hypot(last[0] - out[0]![0], last[1] - out[0]![1]) < STEP_M * 0.5) out.pop();
  }
  return out;
}
