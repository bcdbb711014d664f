/**
 * The learned engine end to end on a freshly exported (untrained) model: worker-thread inference,
 * batching of ticks that arrive together, mask handling and gates, model-contract and provider
 * errors. Quality is not asserted here (see npm run eval).
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import { loadModelContract, readOnnxMetadata } from "../../../src/fusion/learned/contract.ts";
import { createLearnedEngine, type LearnedEngine } from "../../../src/fusion/learned/index.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { healthOf, syntheticTick } from "./_fixtures.ts";
import { REPO, runPython, torchMissing } from "./_python.ts";

const skip = torchMissing();
const rig = loadRig("sim");
const dir = mkdtempSync(join(tmpdir(), "engine-"));
let model = "";

describe("learned engine", { skip: skip ?? false }, () => {
  let eng: LearnedEngine;
  before(async () => {
    runPython([join(REPO, "train/parity.py"), join(dir, "m"), "--mode", "intermediate"]);
    model = join(dir, "m", "model.onnx");
    // the parity export is named "parity" with mode intermediate: a valid contract
    eng = await createLearnedEngine(rig, { mode: "intermediate", modelPath: model, ep: "cpu" });
  });
  after(async () => {
    await eng?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("runs in a worker on CPU and returns gates per modality", async () => {
    assert.equal(eng.provider, "cpu");
    const r = await eng.fuse(syntheticTick("a", 0), healthOf());
    assert.ok(Array.isArray(r.objects));
    for (const m of ["lidar", "radar", "camera"] as const)
      assert.ok(r.gates[m] > 0 && r.gates[m] <= 1, `${m} gate`);
  });

  test("a masked modality gets gate 0", async () => {
    const r = await eng.fuse(syntheticTick("a", 1), healthOf({ radar: false }));
    assert.equal(r.gates.radar, 0);
    assert.ok(r.gates.lidar > 0);
  });

  test("ticks of several vehicles that arrive together share one run", async () => {
    // prepared on the main thread, the five ticks reach the batcher in one turn of the event loop
    const e = await createLearnedEngine(rig, {
      mode: "intermediate",
      modelPath: model,
      ep: "cpu",
      prepWorker: false,
    });
    try {
      const runs0 = e.stats.runs;
      const vs = ["a", "b", "c", "d", "e"];
      const rs = await Promise.all(vs.map((v, i) => e.fuse(syntheticTick(v, 2 + i), healthOf())));
      assert.equal(rs.length, 5);
      assert.equal(e.stats.runs - runs0, 1, "one batched run");
      assert.ok(e.stats.maxBatchSeen >= 5);
    } finally {
      await e.close();
    }
  });

  test("the preparation worker gives every tick the inputs the main thread gives it", async () => {
    // Two vehicles, six ticks each (the previous sweep channel needs the vehicle's memory), one
    // masked modality: gates and raw detections equal with and without the worker.
    const main = await createLearnedEngine(rig, {
      mode: "intermediate",
      modelPath: model,
      ep: "cpu",
      prepWorker: false,
    });
    try {
      let nonEmpty = 0;
      for (let i = 0; i < 12; i++) {
        const v = `w${i % 2}`;
        const tick = syntheticTick(v, i, 10 + 2 * i, -5 + i);
        const h = healthOf({ radar: i % 4 !== 1 });
        const a = await eng.fuse(tick, h);
        const b = await main.fuse(tick, h);
        assert.deepEqual(a.gates, b.gates, `gates of tick ${i}`);
        assert.deepEqual(eng.lastDetections(v), main.lastDetections(v), `detections of tick ${i}`);
        if (eng.lastDetections(v).length) nonEmpty++;
      }
      assert.ok(nonEmpty > 0, "the ticks have detections to compare");
    } finally {
      await main.close();
    }
  });

  test("batches over several input sets give each tick its own outputs, as fused one at a time", async () => {
    // maxBatch 3: 10 ticks that arrive together fill three input sets and a backlog; runs return
    // while the next set is already running. Every tick must get exactly the outputs it gets alone.
    const e = await createLearnedEngine(rig, {
      mode: "intermediate",
      modelPath: model,
      ep: "cpu",
      maxBatch: 3,
    });
    try {
      const pos = (i: number) => [12 + 3 * i, -8 + 1.7 * i] as const;
      const alone: { gates: unknown; dets: unknown }[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await e.fuse(syntheticTick(`alone${i}`, i, ...pos(i)), healthOf({ radar: i % 3 !== 0 }));
        alone.push({ gates: r.gates, dets: e.lastDetections(`alone${i}`) });
      }
      const runs0 = e.stats.runs;
      const rs = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          e.fuse(syntheticTick(`batch${i}`, i, ...pos(i)), healthOf({ radar: i % 3 !== 0 })),
        ),
      );
      assert.ok(e.stats.runs - runs0 >= 4, `runs of at most 3 (${e.stats.runs - runs0})`);
      for (let i = 0; i < 10; i++) {
        assert.deepEqual(rs[i]!.gates, alone[i]!.gates, `gates of tick ${i}`);
        assert.deepEqual(e.lastDetections(`batch${i}`), alone[i]!.dets, `detections of tick ${i}`);
      }
      assert.ok((e.lastDetections("batch4").length ?? 0) > 0, "the ticks have detections to compare");
      const t = e.times.summary();
      for (const s of ["prepare", "wait", "run", "model", "post", "total"])
        assert.ok(t[s] && t[s]!.n >= 10 && t[s]!.p50 >= 0, `stage ${s} timed`);
    } finally {
      await e.close();
    }
  });

  test("a full queue sheds its oldest ticks, counted, with a clear error; the rest are served", async () => {
    const e = await createLearnedEngine(rig, {
      mode: "intermediate",
      modelPath: model,
      ep: "cpu",
      maxQueue: 2,
      prepWorker: false, // the batcher's shedding: ticks reach it in one turn
    });
    try {
      const rs = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => e.fuse(syntheticTick("q", i), healthOf())),
      );
      assert.deepEqual(
        rs.map((r) => r.status),
        ["rejected", "rejected", "rejected", "fulfilled", "fulfilled"],
      );
      assert.match(String((rs[0] as PromiseRejectedResult).reason), /queue full: tick dropped/);
      assert.equal(e.stats.dropped, 3);
      // the shed ticks' slots were refilled: the served ones still get their own outputs
      const r = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) =>
          e.fuse(syntheticTick(`s${i}`, i, 10 + 4 * i, 5 - 2 * i), healthOf()),
        ),
      );
      for (const i of [3, 4]) {
        const mine = e.lastDetections(`s${i}`);
        const alone = await e.fuse(syntheticTick(`t${i}`, i, 10 + 4 * i, 5 - 2 * i), healthOf());
        assert.equal(r[i]!.status, "fulfilled");
        assert.deepEqual((r[i] as PromiseFulfilledResult<typeof alone>).value.gates, alone.gates);
        assert.deepEqual(mine, e.lastDetections(`t${i}`), `detections of tick ${i}`);
      }
    } finally {
      await e.close();
    }
  });

  test("the event loop keeps turning while the model runs", async () => {
    let turns = 0;
    const iv = setInterval(() => turns++, 0);
    await Promise.all(Array.from({ length: 16 }, (_, i) => eng.fuse(syntheticTick(`v${i}`, 10), healthOf())));
    await eng.fuse(syntheticTick("a", 20), healthOf());
    clearInterval(iv);
    assert.ok(turns >= 1, `timer callbacks ran during inference (${turns})`);
  });

  test("model contract: metadata is read, and a mismatch fails with the field named", () => {
    const meta = readOnnxMetadata(readFileSync(model));
    assert.equal(meta["format"], "fusion-bev-centerpoint");
    assert.throws(() => loadModelContract(model, { ...DEFAULT_GRID, cellM: 0.5 }), /bev_grid/);
    const bad = join(dir, "bad.onnx");
    const buf = Buffer.from(readFileSync(model));
    const at = buf.indexOf(Buffer.from('"ray_car"'));
    assert.ok(at > 0);
    buf.write('"ray_cax"', at);
    writeFileSync(bad, buf);
    assert.throws(() => loadModelContract(bad, DEFAULT_GRID), /channels\.camera/);
    copyFileSync(join(REPO, "package.json"), join(dir, "not.onnx"));
    assert.throws(() => loadModelContract(join(dir, "not.onnx"), DEFAULT_GRID), /model .*not\.onnx/);
  });

  test("an unavailable provider fails clearly; auto falls back to CPU", async () => {
    try {
      const e = await createLearnedEngine(rig, { mode: "intermediate", modelPath: model, ep: "webgpu" });
      await e.close(); // a machine with a Vulkan GPU: fine
    } catch (e) {
      assert.match((e as Error).message, /execution provider 'webgpu' is not available: .*Vulkan/);
    }
    const warnings: string[] = [];
    const e = await createLearnedEngine(rig, {
      mode: "intermediate",
      modelPath: model,
      ep: "auto",
      onWarning: (l) => warnings.push(l),
    });
    assert.ok(["cpu", "webgpu", "cuda"].includes(e.provider));
    await e.close();
  });

  test("mode mismatch is refused", async () => {
    await assert.rejects(createLearnedEngine(rig, { mode: "late", modelPath: model, ep: "cpu" }), /mode/);
  });
});
