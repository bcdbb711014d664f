/**
 * Which file of a model is served (src/fusion/learned/precision.ts), and the shipped int8 model
 * against its float model on simulated ticks: the same objects, where a broken quantization (wrong
 * scales, a swapped zero point) moves or loses them.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createLearnedEngine, defaultModelPath } from "../../../src/fusion/learned/index.ts";
import { int8Mismatch, int8PathOf, servedModel } from "../../../src/fusion/learned/precision.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { replayTicks } from "../../../src/runtime/offline.ts";
import { simulateEnvelopes } from "../../../sim/runs.ts";
import { setOnnxMetadata } from "../../../train/onnx-meta.ts";

const float = defaultModelPath("intermediate");
const q8 = int8PathOf(float);
const dir = mkdtempSync(join(tmpdir(), "precision-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("served model file", () => {
  test("the shipped int8 file was quantized from the shipped float model", () => {
    assert.equal(int8Mismatch(float, q8), null);
  });

  test("auto serves int8 on the CPU provider, float on a GPU provider; fp32 and int8 as asked", () => {
    assert.deepEqual(servedModel(float, "auto", true), { path: q8, precision: "int8" });
    assert.equal(servedModel(float, "auto", false).path, float);
    assert.equal(servedModel(float, "fp32", true).path, float);
    assert.equal(servedModel(float, "int8", false).path, q8);
    // an int8 file named directly is served as it is
    assert.deepEqual(servedModel(q8, "fp32", true), { path: q8, precision: "int8" });
  });

  test("a float model without an int8 file: auto serves float, int8 is an error", () => {
    const p = join(dir, "fusion-late.onnx");
    copyFileSync(float, p);
    const s = servedModel(p, "auto", true);
    assert.equal(s.path, p);
    assert.equal(s.precision, "fp32");
    assert.match(s.note ?? "", /npm run quantize/);
    assert.throws(() => servedModel(p, "int8", true), /model precision int8: no .*fusion-late\.int8\.onnx/);
  });

  test("an int8 file quantized from another float model is not served", () => {
    // a retrained float model: other bytes, same int8 file beside it
    const p = join(dir, "fusion-intermediate.onnx");
    writeFileSync(p, setOnnxMetadata(readFileSync(float), "retrained", "yes"));
    copyFileSync(q8, int8PathOf(p));
    const s = servedModel(p, "auto", true);
    assert.equal(s.precision, "fp32");
    assert.match(s.note ?? "", /another float model/);
    assert.throws(() => servedModel(p, "int8", true), /sha256 differs/);
  });
});

describe("int8 model against float on simulated ticks", () => {
  test("finds the float model's objects at the same places", async () => {
    const rig = loadRig("sim");
    const { envs } = simulateEnvelopes(rig, { seed: 4242, scenario: "urban", conditions: "clear" }, 4);
    const frames = (await replayTicks(rig, envs)).slice(10, 30);
    const make = (precision: "fp32" | "int8") =>
      createLearnedEngine(rig, {
        mode: "intermediate",
        modelPath: float,
        precision,
        ep: "cpu",
        calibration: null,
      });
    const [e32, e8] = [await make("fp32"), await make("int8")];
    try {
      assert.equal(e32.served.precision, "fp32");
      assert.equal(e8.served.precision, "int8");
      let strong = 0;
      let matched = 0;
      let gateDiff = 0;
      for (const f of frames) {
        const [r32, r8] = [await e32.fuse(f.tick, f.fusion), await e8.fuse(f.tick, f.fusion)];
        for (const m of ["lidar", "radar", "camera"] as const)
          gateDiff = Math.max(gateDiff, Math.abs(r32.gates[m] - r8.gates[m]));
        const d8 = e8.lastDetections(f.tick.vehicle);
        for (const d of e32.lastDetections(f.tick.vehicle)) {
          if (d.peak < 0.4) continue;
          strong++;
          if (d8.some((o) => o.cls === d.cls && Math.hypot(o.x - d.x, o.y - d.y) < 0.5)) matched++;
        }
      }
      assert.ok(strong >= 20, `float detections with peak >= 0.4: ${strong}`);
      assert.ok(
        matched / strong >= 0.9,
        `int8 matched ${matched} of ${strong} float detections within 0.5 m`,
      );
      assert.ok(gateDiff < 0.05, `largest gate difference ${gateDiff}`);
    } finally {
      await e32.close();
      await e8.close();
    }
  });
});
