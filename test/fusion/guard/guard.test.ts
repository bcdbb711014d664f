/**
 * The out-of-distribution guard: input features, the distance and its hysteresis, the guarded engine
 * on the shipped model and the real classical engine (fallback serves classical's objects), the
 * guard in the published FusedFrame, and the model-file metadata writer.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createClassicalEngine } from "../../../src/fusion/classical/index.ts";
import { createGuardedEngine } from "../../../src/fusion/guard/engine.ts";
import { InputFeatureExtractor, INPUT_FEATURES } from "../../../src/fusion/guard/features.ts";
import {
  DEFAULT_THRESHOLDS,
  type OodReference,
  parseOodReference,
  transformFeature,
  VehicleGuard,
} from "../../../src/fusion/guard/ood.ts";
import { selectGuarded } from "../../../src/fusion/guard/select.ts";
import { readOnnxMetadata } from "../../../src/fusion/learned/contract.ts";
import { createLearnedEngine, defaultModelPath } from "../../../src/fusion/learned/index.ts";
import { decodeFusedFrame, encodeFusedFrame } from "../../../src/msg/codec.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { buildFrame } from "../../../src/runtime/frame.ts";
import { setOnnxMetadata } from "../../../train/onnx-meta.ts";
import { healthOf, packedOf, syntheticTick } from "../learned/_fixtures.ts";

const rig = loadRig("sim");
const served = { model: "intermediate", fallback: "classical" };

/** A reference centred on the synthetic tick's own features (std 0.1, range +-0.2). */
function referenceAround(): OodReference {
  const f = new InputFeatureExtractor().extract(syntheticTick("r", 0), {
    lidar: true,
    radar: true,
    camera: true,
  });
  const features: OodReference["features"] = {};
  for (const m of ["lidar", "radar", "camera"] as const)
    for (const n of INPUT_FEATURES[m]) {
      const v = transformFeature(n, f[m]![n]!);
      features[n] = { lo: v - 0.2, hi: v + 0.2, mean: v, std: 0.1 };
    }
  return {
    version: 1,
    source: "test",
    rig: "sim",
    samples: 1,
    features,
    thresholds: { ...DEFAULT_THRESHOLDS },
  };
}

/** The synthetic tick with `n` extra radar returns spread over the grid (a real-like radar density). */
function radarHeavy(vehicle: string, seq: number, n = 400) {
  const t = syntheticTick(vehicle, seq);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push([2 + (i % 50), -30 + ((i * 7) % 60), 0.5, 0, 0, 1, 0]);
  t.radar = packedOf(["x", "y", "z", "vr", "rcs", "ux", "uy"], rows);
  return t;
}

describe("input features", () => {
  test("count non-ground LiDAR points and cells in the grid, radar returns, camera boxes", () => {
    const t = syntheticTick("a", 0);
    const f = new InputFeatureExtractor().extract(t, { lidar: true, radar: true, camera: true });
    // 17 x 7 points at z 1.2 in a 4 m x 1.8 m patch; the ground return (z 0.05) is not counted
    assert.equal(f.lidar!["lidar_points"], 17 * 7);
    assert.ok(f.lidar!["lidar_cells"]! >= 8 && f.lidar!["lidar_cells"]! <= 15);
    assert.ok(Math.abs(f.lidar!["lidar_cell_top_m"]! - 1.2) < 1e-6);
    assert.equal(f.radar!["radar_returns"], 1);
    assert.equal(f.radar!["radar_moving_frac"], 1);
    assert.equal(f.camera!["camera_detections"], 1);
    const masked = new InputFeatureExtractor().extract(t, { lidar: true, radar: false, camera: true });
    assert.equal(masked.radar, null);
  });
});

describe("guard hysteresis", () => {
  test("in distribution: model; out for enter_s: fallback with the trigger; back after exit_s", () => {
    const ref = referenceAround();
    const g = new VehicleGuard(ref, { ...ref.thresholds, window_s: 0.25, enter_s: 0.5, exit_s: 1 });
    const ex = new InputFeatureExtractor();
    const all = { lidar: true, radar: true, camera: true };
    let seq = 0;
    const step = (heavy: boolean) => {
      const t = heavy ? radarHeavy("v", seq) : syntheticTick("v", seq);
      seq++;
      return g.update(t.stampNs, ex.extract(t, all), served);
    };
    for (let i = 0; i < 5; i++) assert.equal(step(false).state, "model");
    // out of distribution (ticks 0.1 s apart): not yet at 0.4 s, fallback from 0.5 s
    const outs = Array.from({ length: 8 }, () => step(true));
    assert.equal(outs[3]!.state, "model", "before enter_s");
    assert.equal(outs[5]!.state, "fallback");
    assert.equal(outs[5]!.served, "classical");
    assert.equal(outs[5]!.trigger?.modality, "radar");
    assert.ok(outs[5]!.trigger!.distance > ref.thresholds.on, "the distance that triggered it");
    assert.equal(outs[5]!.fallbacks, 1);
    // back in distribution: held for exit_s (1 s), then the model again
    const ins = Array.from({ length: 16 }, () => step(false));
    assert.equal(ins[5]!.state, "fallback", "hysteresis holds the fallback");
    assert.equal(ins[15]!.state, "model");
    assert.equal(ins[15]!.trigger, undefined);
  });

  test("a masked modality is not measured: a radar flood while radar is masked does not switch", () => {
    const ref = referenceAround();
    const g = new VehicleGuard(ref);
    const ex = new InputFeatureExtractor();
    for (let i = 0; i < 20; i++) {
      const t = radarHeavy("v", i);
      const s = g.update(t.stampNs, ex.extract(t, { lidar: true, radar: false, camera: true }), served);
      assert.equal(s.state, "model");
      assert.equal(s.distances.radar, undefined);
    }
  });

  test("a malformed reference in a model file is an error, an absent one is null", () => {
    assert.equal(parseOodReference({}), null);
    assert.throws(
      () => parseOodReference({ ood_stats: JSON.stringify({ version: 1, features: { a: { lo: "x" } } }) }),
      /feature 'a'/,
    );
  });
});

describe("guarded engine on the shipped model", () => {
  const dir = mkdtempSync(join(tmpdir(), "guard-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("serves the model in distribution and the classical engine's objects in fallback, said in the frame", async () => {
    const learned = await createLearnedEngine(rig, { mode: "intermediate", ep: "cpu" });
    const classical = createClassicalEngine(rig);
    const twin = createClassicalEngine(rig); // the ticks the guarded one's classical sees, to compare
    const eng = createGuardedEngine({
      learned,
      modelModalities: ["lidar", "radar", "camera"],
      reference: referenceAround(),
      classical,
      serve: "fallback",
      mode: "auto",
      thresholds: { enter_s: 0.2, window_s: 0.05 },
    });
    try {
      const h = healthOf();
      // in distribution the classical engine does not run; from the first tick past `off` it does
      const first = await eng.fuse(syntheticTick("v", 0), h);
      assert.equal(first.guard?.state, "model");
      assert.equal(first.guard?.served, "intermediate");
      let last = first;
      for (let i = 1; i <= 6; i++) {
        last = await eng.fuse(radarHeavy("v", i), h);
        const c = await twin.fuse(radarHeavy("v", i), h);
        if (last.guard?.state === "fallback")
          assert.deepEqual(last.objects, c.objects, "classical's objects");
      }
      assert.equal(last.guard?.state, "fallback");
      assert.equal(last.guard?.served, "classical");
      assert.equal(eng.mode, "auto");
      // the published frame carries the guard, with the distance that triggered it
      const frame = buildFrame({
        rig,
        tick: radarHeavy("v", 7),
        health: h,
        result: last,
        fusion: eng.mode,
        latency: [],
      });
      const back = decodeFusedFrame(encodeFusedFrame(frame));
      assert.ok(back.ok);
      const g = back.ok ? back.value.guard : undefined;
      assert.equal(g?.state, "fallback");
      assert.equal(g?.served, "classical");
      assert.equal(g?.triggerModality, "radar");
      assert.ok((g?.triggerDistance ?? 0) > 4);
      assert.ok((g?.distances?.["radar"] ?? 0) > 4);
    } finally {
      await eng.close();
      await twin.close();
    }
  });

  test("auto: a model not trained on the rig, or without statistics, is not served (said why)", async () => {
    const bare = join(dir, "fusion-bare.onnx");
    writeFileSync(bare, setOnnxMetadata(readFileSync(defaultModelPath("intermediate")), "ood_stats", null));
    assert.equal(readOnnxMetadata(readFileSync(bare))["ood_stats"], undefined);
    const noStats = await selectGuarded(
      "auto",
      rig,
      bare,
      () => createLearnedEngine(rig, { mode: "intermediate", modelPath: bare, ep: "cpu" }),
      () => createClassicalEngine(rig),
    );
    const r0 = await noStats.engine.fuse(syntheticTick("v", 0), healthOf());
    await noStats.engine.close();
    assert.equal(r0.guard?.served, "classical");
    assert.match(r0.guard?.reason ?? "", /no training statistics/);
    // an explicit learned mode still serves it, but every frame says it is unguarded
    const explicit = await selectGuarded(
      "intermediate",
      rig,
      bare,
      () => createLearnedEngine(rig, { mode: "intermediate", modelPath: bare, ep: "cpu", calibration: null }),
      () => createClassicalEngine(rig),
    );
    const r1 = await explicit.engine.fuse(syntheticTick("v", 0), healthOf());
    await explicit.engine.close();
    assert.equal(r1.guard?.state, "unguarded");
    assert.match(explicit.summary, /UNGUARDED/);
    const nuscenes = loadRig("nuscenes");
    const sel = await selectGuarded(
      "auto",
      nuscenes,
      defaultModelPath("intermediate"),
      () => createLearnedEngine(nuscenes, { mode: "intermediate", ep: "cpu" }),
      () => createClassicalEngine(nuscenes),
    );
    try {
      const r = await sel.engine.fuse(syntheticTick("v", 0), healthOf());
      assert.equal(r.guard?.served, "classical");
      assert.match(r.guard?.reason ?? "", /rig 'nuscenes'/);
    } finally {
      await sel.engine.close();
    }
  });
});

describe("model metadata writer", () => {
  test("adds or replaces one key and keeps every other entry", () => {
    const buf = readFileSync(defaultModelPath("late"));
    const before = readOnnxMetadata(buf);
    const once = setOnnxMetadata(buf, "ood_test", "1");
    assert.equal(readOnnxMetadata(setOnnxMetadata(once, "ood_test", null))["ood_test"], undefined, "removed");
    const twice = setOnnxMetadata(once, "ood_test", "2");
    const after_ = readOnnxMetadata(twice);
    assert.equal(after_["ood_test"], "2");
    for (const [k, v] of Object.entries(before)) if (k !== "ood_test") assert.equal(after_[k], v, k);
    assert.equal(twice.length, once.length, "replaced, not appended twice");
  });
});
