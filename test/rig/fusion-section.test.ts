import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { createEngine } from "../../src/fusion/index.ts";
import {
  DEFAULT_REFINE,
  LEARNED_TRACKER_DEFAULTS,
  learnedEngineOptionsOf,
} from "../../src/fusion/learned/config.ts";
import { DEFAULT_DECODE } from "../../src/fusion/learned/decode.ts";
import { trackerConfigSchema } from "../../src/fusion/tracker/config.ts";
import { loadRig, parseRig } from "../../src/rig/load.ts";

test("rig: the fusion.classical section has defaults and validates with the field named", () => {
  const rig = loadRig("sim");
  assert.ok(rig.fusion.classical.tracker, "tracker defaults filled in");
  const raw = { name: "x", reference: "l", sensors: [{ id: "l", kind: "lidar", rate_hz: 10 }] };
  assert.throws(
    () => parseRig({ ...raw, fusion: { classical: { bogus: 1 } } }, "r.yaml"),
    /r\.yaml: fusion\.classical/,
  );
  assert.throws(() => parseRig({ ...raw, fusion: { bogus: {} } }, "r.yaml"), /r\.yaml: fusion/);
});

test("rig: the fusion.learned section defaults to what the learned engine used without it", () => {
  const c = loadRig("sim").fusion.learned;
  assert.deepEqual(c.decode, {
    ...DEFAULT_DECODE,
    nms_radius_m: [...DEFAULT_DECODE.nms_radius_m],
    pos_std_m: [...DEFAULT_DECODE.pos_std_m],
  });
  assert.deepEqual(c.refine, { ...DEFAULT_REFINE, refine_gate_m: [...DEFAULT_REFINE.refine_gate_m] });
  assert.deepEqual(c.tracker, trackerConfigSchema.parse(LEARNED_TRACKER_DEFAULTS));
  assert.equal(c.max_batch, 16);
  assert.equal(c.max_queue, 64);
  assert.equal(c.calibration, "auto");
  assert.equal(c.models_dir, null);
  const o = learnedEngineOptionsOf(c, "late");
  assert.equal(o.modelPath, undefined, "no models_dir: the engine's default model path");
  assert.equal("calibration" in o, false, "auto: the engine looks for the model's calibration file");
});

test("rig: fusion.learned validates with the field named; a partial tracker keeps the learned defaults", () => {
  const raw = { name: "x", reference: "l", sensors: [{ id: "l", kind: "lidar", rate_hz: 10 }] };
  const rig = parseRig(
    { ...raw, fusion: { learned: { max_batch: 4, tracker: { gate_chi2: 9 } } } },
    "r.yaml",
  );
  assert.equal(rig.fusion.learned.max_batch, 4);
  assert.equal(rig.fusion.learned.tracker.gate_chi2, 9);
  assert.equal(rig.fusion.learned.tracker.emit_tentative, true);
  assert.equal(rig.fusion.learned.tracker.max_coast_ms, 900);
  assert.equal(rig.fusion.classical.tracker.max_coast_ms, 900);
  for (const [learned, field] of [
    [{ decode: { score_threshold: 2 } }, /r\.yaml: fusion\.learned\.decode\.score_threshold/],
    [{ refine: { refine_gate_m: [1, 1, 1] } }, /r\.yaml: fusion\.learned\.refine\.refine_gate_m/],
    [{ max_batch: 0 }, /r\.yaml: fusion\.learned\.max_batch/],
    [{ calibration: "maybe" }, /r\.yaml: fusion\.learned\.calibration/],
    [{ bogus: 1 }, /r\.yaml: fusion\.learned/],
  ] as const)
    assert.throws(() => parseRig({ ...raw, fusion: { learned } }, "r.yaml"), field);
  const none = parseRig({ ...raw, fusion: { learned: { calibration: "none" } } }, "r.yaml").fusion.learned;
  assert.equal(learnedEngineOptionsOf(none, "intermediate").calibration, null);
});

test("rig: fusion.learned.models_dir is relative to the rig file, and serve's engine loads the model from there", async () => {
  const dir = mkdtempSync(join(tmpdir(), "learned-cfg-"));
  try {
    const sim = YAML.parse(
      readFileSync(fileURLToPath(new URL("../../config/rigs/sim.yaml", import.meta.url)), "utf8"),
    );
    const file = join(dir, "rig.yaml");
    writeFileSync(file, YAML.stringify({ ...sim, fusion: { learned: { models_dir: "my-models" } } }));
    const rig = loadRig(file);
    assert.equal(rig.fusion.learned.models_dir, join(dir, "my-models"));
    // no model there: the engine says which file it tried
    await assert.rejects(createEngine("late", rig, { ep: "cpu" }), (e: Error) =>
      e.message.includes(join(dir, "my-models", "fusion-late.onnx")),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
