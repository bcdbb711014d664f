/** The shared score calibration's features: track age in the tracker's reference ticks, LiDAR support. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CALIBRATION_FEATURES,
  type CalibrationWeights,
  calibratedScore,
  calibrationFeatures,
  OPTIONAL_CALIBRATION_FEATURES,
} from "../../src/fusion/calibration.ts";
import { classicalConfigSchema } from "../../src/fusion/classical/config.ts";
import { type FusedObject, Modality, ObjectClass } from "../../src/msg/types.ts";

const weights = (w: Partial<CalibrationWeights>): CalibrationWeights =>
  Object.fromEntries(CALIBRATION_FEATURES.map((k) => [k, w[k] ?? 0])) as CalibrationWeights;

const obj = (age: number): FusedObject => ({
  id: 1,
  cls: ObjectClass.CAR,
  x: 20,
  y: 0,
  z: 0.8,
  length: 4.6,
  width: 1.9,
  height: 1.6,
  yaw: 0,
  vx: 0,
  vy: 0,
  score: 0.7,
  modalities: [Modality.LIDAR],
  age,
});

test("calibration: age counts reference ticks (a 2 Hz track 4 ticks old = a 10 Hz one 20 ticks old)", () => {
  const at10 = calibrationFeatures(obj(20));
  const at2 = calibrationFeatures(obj(4), undefined, { ageScale: 5 });
  assert.deepEqual([...at2], [...at10]);
  assert.equal(at2[CALIBRATION_FEATURES.indexOf("age")], 1, "age feature saturated");
  assert.equal(at2[CALIBRATION_FEATURES.indexOf("young")], 0, "not young");
  assert.equal(calibrationFeatures(obj(2))[CALIBRATION_FEATURES.indexOf("young")], 1);
  const w = weights({ age: 1 });
  assert.ok(calibratedScore(obj(2), w, { ageScale: 5 }) > calibratedScore(obj(2), w));
});

test("calibration: no LiDAR return near an object where the tick used LiDAR lowers its score", () => {
  const k = CALIBRATION_FEATURES.indexOf("no_lidar_support");
  assert.equal(calibrationFeatures(obj(5), undefined, { lidarPoints: 0 })[k], 1);
  assert.equal(calibrationFeatures(obj(5), undefined, { lidarPoints: 12 })[k], 0);
  assert.equal(
    calibrationFeatures(obj(5), undefined, { lidarPoints: null })[k],
    0,
    "no LiDAR this tick: no evidence",
  );
  assert.equal(calibrationFeatures(obj(5))[k], 0);
  const w = weights({ bias: 1, no_lidar_support: -2 });
  assert.ok(calibratedScore(obj(5), w, { lidarPoints: 0 }) < calibratedScore(obj(5), w, { lidarPoints: 3 }));
});

test("calibration: weights written before no_lidar_support read it as 0 (classical config)", () => {
  const old = weights({ bias: 0.5 }) as Record<string, number>;
  delete old.no_lidar_support;
  const cfg = classicalConfigSchema.parse({ score_calibration: old });
  assert.equal(cfg.score_calibration?.no_lidar_support, 0);
  assert.ok(OPTIONAL_CALIBRATION_FEATURES.includes("no_lidar_support"));
  assert.throws(
    () => classicalConfigSchema.parse({ score_calibration: { bias: 1 } }),
    "the original features stay required",
  );
});
