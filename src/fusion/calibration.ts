/**
 * Score calibration of tracked objects (Platt-style logistic model), shared by both engines: the
 * classical engine's weights are in its config, each learned model's in
 * `fusion-<name>.calibration.json` beside it (both fitted by train/calibrate.ts).
 *
 * The raw track score (smoothed independent-evidence combination of the modalities) ranks objects
 * sensibly but is not a probability: LiDAR-only trucks (often building fragments) are far less
 * reliable than their evidence suggests, established tracks far more. The calibrated score is
 * sigmoid(w . features), the probability that the object is a true positive at 2 m, fitted by
 * `calibrate.ts` on simulated runs whose seeds are disjoint from the evaluation seeds.
 */
import { Modality, type FusedObject, ObjectClass } from "../msg/types.ts";

/** Names of the features, in order; the weights object has one entry per name. */
export const CALIBRATION_FEATURES = [
  "bias",
  "logit_score",
  "age",
  "young",
  "coasting",
  "lidar",
  "radar",
  "camera",
  "lidar_camera",
  "truck",
  "pedestrian",
  "cyclist",
  "range",
  "no_lidar_support",
] as const;
export type CalibrationFeature = (typeof CALIBRATION_FEATURES)[number];
export type CalibrationWeights = Record<CalibrationFeature, number>;
/** Features added after weights were first written: absent from a weights file, they weigh 0. */
export const OPTIONAL_CALIBRATION_FEATURES: readonly CalibrationFeature[] = ["no_lidar_support"];

/** Radius within which LiDAR returns support an object, m (the classical engine's `lidarSupport`). */
export const LIDAR_SUPPORT_RADIUS_M = 2;

/** What the engine knows about an object beyond the FusedObject itself. */
export interface CalibrationContext {
  /**
   * The tracker's tick interval over its reference (tick_reference_s, the simulated rig's 10 Hz), so
   * that `age` (in ticks) counts reference ticks: the classical weights were fitted at 10 Hz, and a
   * track 4 ticks old at 2 Hz is as established as one 20 ticks old at 10 Hz. Default 1.
   */
  ageScale?: number;
  /**
   * LiDAR points above the ground within LIDAR_SUPPORT_RADIUS_M of the object this tick; null or
   * absent when the tick used no LiDAR (or the engine does not say). 0 sets `no_lidar_support`: a
   * radar ghost, or a track coasting over empty ground, has nothing there.
   */
  lidarPoints?: number | null;
}

/** Feature vector of one tracked object (vehicle frame); `ctx`: see CalibrationContext. */
export function calibrationFeatures(
  o: FusedObject,
  out: Float64Array = new Float64Array(CALIBRATION_FEATURES.length),
  ctx: CalibrationContext = {},
): Float64Array {
  const age = Math.round(o.age * (ctx.ageScale ?? 1));
  const s = Math.min(1 - 1e-3, Math.max(1e-3, o.score));
  const L = o.modalities.includes(Modality.LIDAR) ? 1 : 0;
  const C = o.modalities.includes(Modality.CAMERA) ? 1 : 0;
  out[0] = 1;
  out[1] = Math.log(s / (1 - s));
  out[2] = Math.min(age, 20) / 20;
  out[3] = age < 3 ? 1 : 0;
  out[4] = o.modalities.length === 0 ? 1 : 0;
  out[5] = L;
  out[6] = o.modalities.includes(Modality.RADAR) ? 1 : 0;
  out[7] = C;
  out[8] = L * C;
  out[9] = o.cls === ObjectClass.TRUCK ? 1 : 0;
  out[10] = o.cls === ObjectClass.PEDESTRIAN ? 1 : 0;
  out[11] = o.cls === ObjectClass.CYCLIST ? 1 : 0;
  out[12] = Math.hypot(o.x, o.y) / 50;
  out[13] = ctx.lidarPoints === 0 ? 1 : 0;
  return out;
}

const scratch = new Float64Array(CALIBRATION_FEATURES.length);

/** Calibrated score in (0, 1). */
export function calibratedScore(o: FusedObject, w: CalibrationWeights, ctx: CalibrationContext = {}): number {
  const f = calibrationFeatures(o, scratch, ctx);
  let z = 0;
  for (let k = 0; k < CALIBRATION_FEATURES.length; k++) z += w[CALIBRATION_FEATURES[k]!] * f[k]!;
  return 1 / (1 + Math.exp(-z));
}

/**
 * Logistic regression by Newton's method with an L2 penalty (features are few, samples many).
 * x: (n, d) row-major; y: (n) in {0, 1}.
 */
export function fitLogistic(x: Float64Array, y: Uint8Array, d: number, l2 = 1e-2, iters = 50): Float64Array {
  const n = y.length;
  const w = new Float64Array(d);
  const g = new Float64Array(d);
  const H = new Float64Array(d * d);
  for (let it = 0; it < iters; it++) {
    g.fill(0);
    H.fill(0);
    for (let i = 0; i < n; i++) {
      let z = 0;
      for (let k = 0; k < d; k++) z += w[k]! * x[i * d + k]!;
      const p = 1 / (1 + Math.exp(-z));
      const r = p - y[i]!;
      const q = p * (1 - p);
      for (let a = 0; a < d; a++) {
        const xa = x[i * d + a]!;
        g[a]! += r * xa;
        for (let b = 0; b <= a; b++) H[a * d + b]! += q * xa * x[i * d + b]!;
      }
    }
    for (let a = 0; a < d; a++) {
      g[a] = g[a]! / n + l2 * w[a]!;
      for (let b = 0; b <= a; b++) {
        H[a * d + b] = H[a * d + b]! / n + (a === b ? l2 : 0);
        H[b * d + a] = H[a * d + b]!;
      }
    }
    const step = solve(H, g, d);
    let maxStep = 0;
    for (let k = 0; k < d; k++) {
      w[k]! -= step[k]!;
      maxStep = Math.max(maxStep, Math.abs(step[k]!));
    }
    if (maxStep < 1e-6) break;
  }
  return w;
}

/** Solve A x = b (A symmetric positive definite, d x d) by Gaussian elimination with pivoting. */
function solve(A0: Float64Array, b0: Float64Array, d: number): Float64Array {
  const A = Float64Array.from(A0);
  const b = Float64Array.from(b0);
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(A[r * d + c]!) > Math.abs(A[p * d + c]!)) p = r;
    if (p !== c) {
      for (let k = 0; k < d; k++) [A[c * d + k], A[p * d + k]] = [A[p * d + k]!, A[c * d + k]!];
      [b[c], b[p]] = [b[p]!, b[c]!];
    }
    const piv = A[c * d + c]!;
    if (Math.abs(piv) < 1e-12) continue;
    for (let r = c + 1; r < d; r++) {
      const f = A[r * d + c]! / piv;
      if (f === 0) continue;
      for (let k = c; k < d; k++) A[r * d + k]! -= f * A[c * d + k]!;
      b[r]! -= f * b[c]!;
    }
  }
  const xs = new Float64Array(d);
  for (let r = d - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < d; k++) s -= A[r * d + k]! * xs[k]!;
    const piv = A[r * d + r]!;
    xs[r] = Math.abs(piv) < 1e-12 ? 0 : s / piv;
  }
  return xs;
}
