/** The learned engine's score calibration file: found beside the model, refused for another model. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CALIBRATION_FEATURES } from "../../../src/fusion/calibration.ts";
import { calibrationPathOf, loadCalibration, sha256Of } from "../../../src/fusion/learned/index.ts";

const dir = mkdtempSync(join(tmpdir(), "calib-"));
const model = join(dir, "fusion-x.onnx");
writeFileSync(model, "not really a model");
const weights = Object.fromEntries(CALIBRATION_FEATURES.map((k, i) => [k, i / 10]));

describe("learned score calibration file", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("absent: no calibration, no warning", () => {
    const warns: string[] = [];
    assert.equal(
      loadCalibration(model, (l) => warns.push(l)),
      null,
    );
    assert.deepEqual(warns, []);
  });

  test("written for this model file: its weights", () => {
    assert.equal(calibrationPathOf(model), join(dir, "fusion-x.calibration.json"));
    writeFileSync(calibrationPathOf(model), JSON.stringify({ model_sha256: sha256Of(model), weights }));
    const warns: string[] = [];
    assert.deepEqual(
      loadCalibration(model, (l) => warns.push(l)),
      weights,
    );
    assert.deepEqual(warns, []);
  });

  test("written for another model, or incomplete: ignored with one warning", () => {
    writeFileSync(calibrationPathOf(model), JSON.stringify({ model_sha256: "0".repeat(64), weights }));
    const warns: string[] = [];
    assert.equal(
      loadCalibration(model, (l) => warns.push(l)),
      null,
    );
    assert.equal(warns.length, 1);
    assert.match(warns[0]!, /another model file/);
    const partial = { ...weights } as Record<string, number>;
    delete partial["range"];
    writeFileSync(
      calibrationPathOf(model),
      JSON.stringify({ model_sha256: sha256Of(model), weights: partial }),
    );
    assert.equal(
      loadCalibration(model, (l) => warns.push(l)),
      null,
    );
    assert.match(warns[1]!, /weight 'range' missing/);
  });
});
