/** nuScenes-style detection metrics on hand-built frames: matching, thresholds, per-class AP, ECE. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type FrameEval, detectionMetrics } from "../../src/eval/metrics.ts";
import { ObjectClass } from "../../src/msg/types.ts";

const car = (x: number, y: number) => ({ cls: ObjectClass.CAR, x, y, vx: 0, vy: 0 });
const ped = (x: number, y: number) => ({ cls: ObjectClass.PEDESTRIAN, x, y, vx: 1, vy: 0 });

function frames(n: number, make: (i: number) => FrameEval): FrameEval[] {
  return Array.from({ length: n }, (_, i) => make(i));
}

describe("detectionMetrics", () => {
  test("perfect detections: AP 1 at every threshold, no errors", () => {
    const m = detectionMetrics(
      frames(10, () => ({
        truth: [car(10, 0), ped(5, 2)],
        pred: [
          { ...car(10, 0), score: 0.9 },
          { ...ped(5, 2), score: 0.8 },
        ],
      })),
    );
    assert.equal(m.mAP, 1);
    assert.equal(m.ATE, 0);
    assert.equal(m.AVE, 0);
    assert.deepEqual(Object.keys(m.AP).sort(), ["car", "pedestrian"]);
    assert.equal(m.AP_by_class["car"]!.truths, 10);
    for (const th of ["0.5", "1", "2", "4"]) assert.equal(m.AP_by_class["pedestrian"]!.thresholds_m[th], 1);
  });

  test("a 0.7 m offset misses only the 0.5 m threshold; a wrong class never matches", () => {
    const m = detectionMetrics(
      frames(10, () => ({
        truth: [car(10, 0), ped(5, 2)],
        pred: [
          { ...car(10.7, 0), score: 0.9 },
          { ...ped(5, 2), cls: ObjectClass.CYCLIST, score: 0.8 },
        ],
      })),
    );
    const c = m.AP_by_class["car"]!.thresholds_m;
    assert.equal(c["0.5"], 0);
    assert.equal(c["1"], 1);
    assert.equal(c["4"], 1);
    assert.equal(m.AP["pedestrian"], 0);
    assert.ok(Math.abs(m.mAP - 3 / 8) < 1e-12, `mAP ${m.mAP}`); // (0 + 1 + 1 + 1 + 0 * 4) / 8
    assert.ok(Math.abs(m.ATE - 0.7) < 1e-6);
    assert.equal(m.AP_by_threshold_m["1"], 0.5);
  });

  test("half the truths found: AP follows the precision-recall curve; ECE of overconfident scores", () => {
    const m = detectionMetrics(
      frames(10, (i) => ({
        truth: [car(10, 0), car(20, 5)],
        // one true positive per frame, and a false positive in every other frame, all scored 0.9
        pred: [{ ...car(10, 0), score: 0.9 }, ...(i % 2 ? [{ ...car(30, -5), score: 0.9 }] : [])],
      })),
    );
    assert.ok(m.mAP > 0.2 && m.mAP < 0.5, `mAP ${m.mAP}`);
    // 15 predictions at score 0.9, 10 of them true: |0.667 - 0.9| = 0.233
    assert.ok(Math.abs(m.ECE - (0.9 - 10 / 15)) < 1e-9, `ECE ${m.ECE}`);
    assert.equal(m.predictions, 15);
    assert.equal(m.truths, 20);
  });
});
