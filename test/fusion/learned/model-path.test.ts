/**
 * Per-rig model files (issue 16, point 3): `defaultModelPath(name, rig)` gives a rig's own file in
 * models/<rig>/ where that file exists, else the `sim` rig's models/fusion-<name>.onnx; the `sim`
 * rig, rigs without a folder and names that are not plain folder names always get models/.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { defaultModelPath } from "../../../src/fusion/learned/index.ts";

const MODELS = fileURLToPath(new URL("../../../models", import.meta.url));
const rig = `test-rig-${process.pid}`;
const own = join(MODELS, rig);
after(() => rmSync(own, { recursive: true, force: true }));

test("defaultModelPath: the rig's own folder where its file exists, else the sim models", () => {
  const sim = (n: string) => join(MODELS, `fusion-${n}.onnx`);
  assert.equal(defaultModelPath("intermediate"), sim("intermediate"));
  assert.equal(defaultModelPath("intermediate", "sim"), sim("intermediate"));
  assert.equal(defaultModelPath("intermediate", rig), sim("intermediate"), "no folder yet");
  mkdirSync(own, { recursive: true });
  writeFileSync(join(own, "fusion-intermediate.onnx"), "");
  assert.equal(defaultModelPath("intermediate", rig), join(own, "fusion-intermediate.onnx"));
  assert.equal(defaultModelPath("late", rig), sim("late"), "a model the folder lacks: the sim model");
  assert.equal(defaultModelPath("intermediate", `../models/${rig}`), sim("intermediate"), "never a path");
  assert.equal(defaultModelPath("intermediate", `${rig}.`), sim("intermediate"));
});
