/** The shared score calibration's features: track age counted in the tracker's reference ticks. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { calibratedScore, calibrationFeatures } from "../../src/fusion/calibration.ts";
import { type FusedObject, Modality, ObjectClass } from "../../src/msg/types.ts";

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
  const at2 = calibrationFeatures(obj(4), new Float64Array(13), 5);
  assert.deepEqual([...at2], [...at10]);
  assert.equal(at2[2], 1, "age feature saturated");
  assert.equal(at2[3], 0, "not young");
  const young = calibrationFeatures(obj(2), new Float64Array(13), 1);
  assert.equal(young[3], 1);
  // the age weight is positive in the shipped classical weights: a scaled age ranks higher
  const w = Object.fromEntries(
    [
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
    ].map((k) => [k, k === "age" ? 1 : 0]),
  ) as Parameters<typeof calibratedScore>[1];
  assert.ok(calibratedScore(obj(2), w, 5) > calibratedScore(obj(2), w, 1));
});
