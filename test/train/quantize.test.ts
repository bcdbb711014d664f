/**
 * `npm run quantize` end to end on a copy of the shipped float model: a calibration set from one
 * simulated validation run, the QDQ file written beside the model, self-describing (source sha256,
 * calibration seeds), served by the engine's precision rule, and close to the float model.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readOnnxMetadata } from "../../src/fusion/learned/contract.ts";
import { defaultModelPath } from "../../src/fusion/learned/index.ts";
import { int8Mismatch, servedModel } from "../../src/fusion/learned/precision.ts";
import { PYTHON, REPO, torchMissing } from "../fusion/learned/_python.ts";

const skip = torchMissing();
const dir = mkdtempSync(join(tmpdir(), "quantize-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("npm run quantize writes a self-describing int8 model that the engine serves", {
  skip: skip ?? false,
}, () => {
  const float = join(dir, "fusion-intermediate.onnx");
  copyFileSync(defaultModelPath("intermediate"), float);
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(REPO, "train/quantize.ts"),
      "--models-dir",
      dir,
      "--calib-runs",
      "1",
      "--duration-s",
      "4",
    ],
    { cwd: REPO, encoding: "utf8", timeout: 300_000, env: { ...process.env, PYTHON } },
  );
  assert.equal(r.status, 0, r.stderr);
  const q8 = join(dir, "fusion-intermediate.int8.onnx");
  const meta = JSON.parse(readOnnxMetadata(readFileSync(q8))["quantization"]!);
  assert.equal(meta.source.sha256, createHash("sha256").update(readFileSync(float)).digest("hex"));
  assert.ok(meta.calibration.samples > 0 && meta.calibration.seeds.every((s: number) => s < 9000));
  // the contract entries of the float model travel with it
  assert.equal(readOnnxMetadata(readFileSync(q8))["mode"], "intermediate");
  assert.ok(readOnnxMetadata(readFileSync(q8))["ood_stats"]);
  assert.equal(int8Mismatch(float, q8), null);
  assert.equal(servedModel(float, "auto", true).path, q8);
  // parity on the calibration set, as printed: heatmap probabilities within 0.2 everywhere
  const m = /heatmap mean \|d\| ([0-9.e+-]+), max ([0-9.]+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[1]) < 0.005 && Number(m[2]) < 0.2, m[0]);
  // a quarter of the float file's size or more is gone (int8 weights)
  assert.ok(readFileSync(q8).length < 0.75 * readFileSync(float).length);
});
