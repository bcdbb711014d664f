/**
 * Simulated data through the fleet runtime (replay mode), for the classical engine's end-to-end test
 * and tuning: simulator events -> decode -> the live aligner -> AlignedTick[], plus the ground truth
 * in the vehicle frame at each tick. And a small nuScenes-style matcher (BEV centre distance).
 */
import { simulateAligned as simulateAlignedRaw } from "../../../sim/runs.ts";
import { truthInVehicle } from "../../../src/eval/truth.ts";
import type { AlignedTick } from "../../../src/align/types.ts";
import type { FusedObject, GroundTruth, ObjectClass } from "../../../src/msg/types.ts";
import type { RigConfig } from "../../../src/rig/schema.ts";
import type { SimOptions } from "../../../sim/index.ts";

export interface TruthInVehicle {
  id: number;
  cls: ObjectClass;
  x: number;
  y: number;
  yaw: number;
  vx: number;
  vy: number;
  length: number;
  width: number;
}

export interface SimTicks {
  ticks: AlignedTick[];
  /** Ground truth nearest each tick (by stamp), in that tick's vehicle frame; null when none near. */
  truth: (TruthInVehicle[] | null)[];
}

/** Run `durationS` of simulated data through the aligner of vehicle sim-1. */
export async function simulateAligned(
  rig: RigConfig,
  durationS: number,
  opts: Partial<Omit<SimOptions, "rig">> = {},
): Promise<SimTicks> {
  const { ticks, truths } = await simulateAlignedRaw(rig, opts, durationS);
  // The tick clock is the reference sensor's corrected clock; truth is true time. Pair by nearest.
  const truth = ticks.map((t) => {
    let best: GroundTruth | null = null;
    for (const g of truths)
      if (!best || Math.abs(g.stampNs - t.stampNs) < Math.abs(best.stampNs - t.stampNs)) best = g;
    if (!best || Math.abs(best.stampNs - t.stampNs) > 20e6) return null;
    return truthInVehicle(best, (t.stampNs - best.stampNs) / 1e9, t);
  });
  return { ticks, truth };
}

export interface MatchStats {
  /** Average precision per class at each distance threshold, and their mean (nuScenes style). */
  ap: Record<number, Record<number, number>>;
  mAP: number;
  /** Mean translation / velocity error of true positives at 2 m. */
  ate: number;
  ave: number;
  tp: number;
  fp: number;
  fn: number;
}

/** nuScenes-style detection AP by BEV centre distance, over frames of (predictions, truth). */
export function evaluate(
  frames: { pred: FusedObject[]; truth: TruthInVehicle[] }[],
  classes: ObjectClass[],
  maxRangeM = 50,
): MatchStats {
  const thresholds = [0.5, 1, 2, 4];
  const ap: Record<number, Record<number, number>> = {};
  let sumAp = 0;
  let nAp = 0;
  let ateSum = 0;
  let aveSum = 0;
  let nTp2 = 0;
  let tp2 = 0;
  let fp2 = 0;
  let fn2 = 0;
  for (const cls of classes) {
    ap[cls] = {};
    for (const th of thresholds) {
      const scored: { score: number; tp: boolean }[] = [];
      let nGt = 0;
      for (const f of frames) {
        const gts = f.truth.filter((g) => g.cls === cls && Math.hypot(g.x, g.y) <= maxRangeM);
        nGt += gts.length;
        const used = new Uint8Array(gts.length);
        const preds = f.pred
          .filter((p) => p.cls === cls && Math.hypot(p.x, p.y) <= maxRangeM)
          .sort((a, b) => b.score - a.score);
        for (const p of preds) {
          let best = -1;
          let bestD = th;
          gts.forEach((g, i) => {
            if (used[i]) return;
            const d = Math.hypot(g.x - p.x, g.y - p.y);
            if (d < bestD) {
              bestD = d;
              best = i;
            }
          });
          if (best >= 0) {
            used[best] = 1;
            if (th === 2) {
              const g = gts[best]!;
              ateSum += bestD;
              aveSum += Math.hypot(g.vx - p.vx, g.vy - p.vy);
              nTp2++;
            }
          }
          scored.push({ score: p.score, tp: best >= 0 });
        }
        if (th === 2) {
          const t = used.reduce((a, b) => a + b, 0);
          tp2 += t;
          fn2 += gts.length - t;
          fp2 += preds.length - t;
        }
      }
      scored.sort((a, b) => b.score - a.score);
      // AP: area under the interpolated precision/recall curve over recall 0.1..1 (nuScenes uses
      // min recall/precision 0.1 and 101 points).
      let tp = 0;
      const prec: number[] = [];
      const rec: number[] = [];
      scored.forEach((s, i) => {
        if (s.tp) tp++;
        prec.push(tp / (i + 1));
        rec.push(nGt ? tp / nGt : 0);
      });
      let area = 0;
      const pts = 101;
      for (let k = 0; k < pts; k++) {
        const r = k / (pts - 1);
        if (r < 0.1) continue;
        let pmax = 0;
        for (let i = 0; i < rec.length; i++) if (rec[i]! >= r && prec[i]! > pmax) pmax = prec[i]!;
        area += Math.max(0, pmax - 0.1) / 0.9;
      }
      const a = nGt ? area / (pts - 10) : Number.NaN;
      ap[cls]![th] = a;
      if (nGt) {
        sumAp += a;
        nAp++;
      }
    }
  }
  return {
    ap,
    mAP: nAp ? sumAp / nAp : Number.NaN,
    ate: nTp2 ? ateSum / nTp2 : Number.NaN,
    ave: nTp2 ? aveSum / nTp2 : Number.NaN,
    tp: tp2,
    fp: fp2,
    fn: fn2,
  };
}
