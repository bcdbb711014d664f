/**
 * nuScenes-style detection metrics on BEV centre distance:
 * - AP per class and distance threshold (0.5, 1, 2, 4 m): greedy matching by descending score to the
 *   nearest unmatched truth within the threshold; precision interpolated at 101 recall points,
 *   recall and precision below 0.1 ignored (nuScenes min_recall = min_precision = 0.1); mAP is the
 *   mean over classes present in the truth and thresholds.
 * - ATE / AVE: mean centre-distance and velocity error of the true positives at 2 m, per class,
 *   then averaged over classes (nuScenes uses the 2 m threshold for TP errors too).
 * - ECE: expected calibration error of scores against "is a true positive at 2 m", 10 equal bins.
 */
import type { ObjectClass } from "../msg/types.ts";

export const DIST_THRESHOLDS_M = [0.5, 1, 2, 4] as const;
export const EVAL_CLASSES: ObjectClass[] = [1, 2, 3, 4];
const TP_THRESHOLD_M = 2;

export interface EvalBox {
  cls: ObjectClass;
  x: number;
  y: number;
  vx: number;
  vy: number;
}
export interface EvalPred extends EvalBox {
  score: number;
}

export interface FrameEval {
  pred: EvalPred[];
  truth: EvalBox[];
}

export interface DetectionMetrics {
  mAP: number;
  ATE: number;
  AVE: number;
  ECE: number;
  /** AP per class name, averaged over thresholds. */
  AP: Record<string, number>;
  /** AP per distance threshold (m), averaged over classes. */
  AP_by_threshold_m: Record<string, number>;
  /** AP per class name and distance threshold (m), and the number of truths per class. */
  AP_by_class: Record<string, { thresholds_m: Record<string, number>; truths: number }>;
  frames: number;
  truths: number;
  predictions: number;
}

const CLASS_NAME: Record<number, string> = { 1: "car", 2: "truck", 3: "pedestrian", 4: "cyclist" };

interface Matched {
  score: number;
  tp: boolean;
  dist: number;
  velErr: number;
}

function matchClass(frames: FrameEval[], cls: ObjectClass, th: number): { m: Matched[]; nGt: number } {
  const m: Matched[] = [];
  let nGt = 0;
  for (const f of frames) {
    const gts = f.truth.filter((g) => g.cls === cls);
    nGt += gts.length;
    const used = new Uint8Array(gts.length);
    const preds = f.pred.filter((p) => p.cls === cls).sort((a, b) => b.score - a.score);
    for (const p of preds) {
      let best = -1;
      let bestD = th;
      for (let i = 0; i < gts.length; i++) {
        if (used[i]) continue;
        const d = Math.hypot(gts[i]!.x - p.x, gts[i]!.y - p.y);
        if (d <= bestD) {
          bestD = d;
          best = i;
        }
      }
      if (best >= 0) {
        used[best] = 1;
        const g = gts[best]!;
        m.push({ score: p.score, tp: true, dist: bestD, velErr: Math.hypot(g.vx - p.vx, g.vy - p.vy) });
      } else m.push({ score: p.score, tp: false, dist: Number.NaN, velErr: Number.NaN });
    }
  }
  return { m, nGt };
}

/** nuScenes AP from matched detections (any order) and the number of truths. */
export function averagePrecision(m: Matched[], nGt: number): number {
  if (nGt === 0) return Number.NaN;
  const s = m.slice().sort((a, b) => b.score - a.score);
  const prec: number[] = [];
  const rec: number[] = [];
  let tp = 0;
  s.forEach((d, i) => {
    if (d.tp) tp++;
    prec.push(tp / (i + 1));
    rec.push(tp / nGt);
  });
  // precision envelope (max precision at recall >= r)
  for (let i = prec.length - 2; i >= 0; i--) prec[i] = Math.max(prec[i]!, prec[i + 1]!);
  let area = 0;
  let n = 0;
  let j = 0;
  for (let k = 10; k <= 100; k++) {
    const r = k / 100;
    while (j < rec.length && rec[j]! < r) j++;
    const p = j < rec.length ? prec[j]! : 0;
    area += Math.max(0, p - 0.1) / 0.9;
    n++;
  }
  return area / n;
}

export function detectionMetrics(
  frames: FrameEval[],
  classes: ObjectClass[] = EVAL_CLASSES,
): DetectionMetrics {
  let apSum = 0;
  let apN = 0;
  let ateSum = 0;
  let aveSum = 0;
  let errN = 0;
  const AP: Record<string, number> = {};
  const calib: { score: number; tp: boolean }[] = [];
  const byTh: Record<string, { s: number; n: number }> = {};
  const byClass: DetectionMetrics["AP_by_class"] = {};
  for (const cls of classes) {
    const name = CLASS_NAME[cls] ?? String(cls);
    let clsAp = 0;
    let clsN = 0;
    for (const th of DIST_THRESHOLDS_M) {
      const { m, nGt } = matchClass(frames, cls, th);
      if (th === TP_THRESHOLD_M) {
        for (const d of m) calib.push({ score: d.score, tp: d.tp });
        const tps = m.filter((d) => d.tp);
        if (tps.length && nGt) {
          ateSum += tps.reduce((a, d) => a + d.dist, 0) / tps.length;
          aveSum += tps.reduce((a, d) => a + d.velErr, 0) / tps.length;
          errN++;
        }
      }
      if (nGt === 0) continue;
      const ap = averagePrecision(m, nGt);
      const c = (byClass[name] ??= { thresholds_m: {}, truths: nGt });
      c.thresholds_m[String(th)] = ap;
      const t = (byTh[String(th)] ??= { s: 0, n: 0 });
      t.s += ap;
      t.n++;
      clsAp += ap;
      clsN++;
      apSum += ap;
      apN++;
    }
    if (clsN) AP[name] = clsAp / clsN;
  }
  return {
    mAP: apN ? apSum / apN : Number.NaN,
    ATE: errN ? ateSum / errN : Number.NaN,
    AVE: errN ? aveSum / errN : Number.NaN,
    ECE: expectedCalibrationError(calib),
    AP,
    AP_by_threshold_m: Object.fromEntries(Object.entries(byTh).map(([k, v]) => [k, v.s / v.n])),
    AP_by_class: byClass,
    frames: frames.length,
    truths: frames.reduce((a, f) => a + f.truth.length, 0),
    predictions: frames.reduce((a, f) => a + f.pred.length, 0),
  };
}

/** ECE with `bins` equal-width score bins: sum over bins of (n_b / N) |accuracy_b - mean score_b|. */
export function expectedCalibrationError(d: { score: number; tp: boolean }[], bins = 10): number {
  if (d.length === 0) return Number.NaN;
  const n = new Float64Array(bins);
  const acc = new Float64Array(bins);
  const conf = new Float64Array(bins);
  for (const x of d) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(x.score * bins)));
    n[b]! += 1;
    acc[b]! += x.tp ? 1 : 0;
    conf[b]! += x.score;
  }
  let e = 0;
  for (let b = 0; b < bins; b++)
    if (n[b]! > 0) e += (n[b]! / d.length) * Math.abs(acc[b]! / n[b]! - conf[b]! / n[b]!);
  return e;
}
