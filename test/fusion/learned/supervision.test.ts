/**
 * Inference worker supervision (src/fusion/learned/session.ts): a worker that crashes is restarted
 * and the runs it held fail; a run that takes too long fails that batch only and the worker is
 * replaced. Real onnxruntime worker, shipped model.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import { loadModelContract } from "../../../src/fusion/learned/contract.ts";
import { defaultModelPath } from "../../../src/fusion/learned/index.ts";
import { InferenceSessionWorker } from "../../../src/fusion/learned/session.ts";

const path = defaultModelPath("intermediate");
const contract = loadModelContract(path, DEFAULT_GRID);
const zeros = () =>
  Object.fromEntries(
    contract.inputs.map((i) => [i.name, new Float32Array(i.shape.slice(1).reduce((a, b) => a * b, 1))]),
  );
const until = async (pred: () => boolean, ms: number) => {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("inference worker supervision", () => {
  test("a crashed worker is restarted; the run it held fails, the next one succeeds", async () => {
    const warnings: string[] = [];
    const s = await InferenceSessionWorker.start({
      modelPath: path,
      ep: "cpu",
      inputs: contract.inputs,
      onWarning: (l) => warnings.push(l),
    });
    try {
      const first = await s.run(1, zeros());
      assert.ok(first.heatmap, "the model ran");
      // the thread dies before it gets to this run: the run is held by a dead worker
      s.crashForTest();
      const held = s.run(1, zeros());
      await assert.rejects(held, /worker/);
      await until(() => s.stats.restarts === 1, 20_000);
      const out = await s.run(1, zeros());
      assert.ok(Object.keys(out).length > 0);
      assert.ok(
        warnings.some((w) => /restarting it/.test(w)),
        warnings.join("\n"),
      );
      assert.ok(s.stats.crashed >= 1);
    } finally {
      await s.close();
    }
  });

  test("a run over its time limit fails that batch only; the worker is replaced and serves again", async () => {
    const s = await InferenceSessionWorker.start({
      modelPath: path,
      ep: "cpu",
      inputs: contract.inputs,
      runTimeoutMs: 1,
      onWarning: () => {},
    });
    try {
      await assert.rejects(s.run(1, zeros()), /timed out after 1 ms/);
      assert.equal(s.stats.timeouts, 1);
      await until(() => s.stats.restarts === 1, 20_000);
    } finally {
      await s.close();
    }
  });
});
