/**
 * Fits a fusion engine's score calibration (src/fusion/calibration.ts: a logistic model
 * of the raw track score, track age, coasting, modalities, class and range) on simulated runs.
 * A development tool, not used at run time:
 *
 *   node --import tsx train/calibrate.ts [--engine classical|intermediate|late|lidar_only]
 *        [--seeds 101,102,103,104] [--duration-s 15] [--rig sim] [--models-dir models]
 *        [--precision fp32|int8] [--write]
 *
 * classical: prints the weights for `classicalConfigSchema.score_calibration`. Learned engines:
 * prints them and, with --write, stores them beside the model as `fusion-<name>.calibration.json`
 * (with the model's sha256; the engine ignores a file written for another model). `--precision int8`
 * fits the int8 file `fusion-<name>.int8.onnx` (train/quantize.ts) and writes its own calibration.
 *
 * Runs: every scenario x seed in clear weather with all modalities and with each one masked, and in
 * rain, fog and night. Label: a true positive at 2 m (same class, greedy by descending raw score,
 * truth with at least one LiDAR point or radar return within 50 m), as in the evaluation's ECE.
 * Use seeds disjoint from the evaluation seeds (>= 9000).
 *
 * Real logs (classical only): `--data nuscenes:<dataroot>[#scene] [--split val]` fits on the
 * annotated instants of the log's validation half (the evaluation's TruthIndex split; `--split test`
 * is refused: it is held out), conditions all, no_lidar, no_radar and no_camera, the scoring rules
 * of `fusion eval --data` (50 m, ignore regions, boxes with a LiDAR point or radar return). The
 * features get the engine's context: track age in reference ticks and the LiDAR support.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Conditions, SCENARIOS } from "../sim/index.ts";
import { SIM_EVAL_SOURCE } from "../sim/runs.ts";
import type { AlignedTick } from "../src/align/types.ts";
import { openLogs } from "../src/eval/real-command.ts";
import { REAL_CONDITIONS, replayLog, scoreFrame, TruthIndex } from "../src/eval/real.ts";
import { prepareRun, streamOf, truthBoxesAt } from "../src/eval/run.ts";
import {
  CALIBRATION_FEATURES,
  calibrationFeatures,
  fitLogistic,
  LIDAR_SUPPORT_RADIUS_M,
} from "../src/fusion/calibration.ts";
import { LidarClusterer } from "../src/fusion/lidar/cluster.ts";
import { lidarMount, referenceLidar } from "../src/fusion/lidar/geometry.ts";
import { createClassicalEngine } from "../src/fusion/classical/index.ts";
import { calibrationPathOf, createLearnedEngine, sha256Of } from "../src/fusion/learned/index.ts";
import type { FusionEngine } from "../src/fusion/types.ts";
import type { PerceptionModality } from "../src/health/types.ts";
import type { FusedObject } from "../src/msg/types.ts";
import { replayFrames } from "../src/runtime/offline.ts";
import { loadRig } from "../src/rig/load.ts";

const { values } = parseArgs({
  options: {
    engine: { type: "string", default: "classical" },
    seeds: { type: "string", default: "101,102,103,104" },
    "duration-s": { type: "string", default: "15" },
    rig: { type: "string", default: "sim" },
    "models-dir": { type: "string", default: "models" },
    precision: { type: "string", default: "fp32" },
    write: { type: "boolean", default: false },
    data: { type: "string" },
    split: { type: "string", default: "val" },
  },
});
const engineName = values.engine!;
if (!["classical", "intermediate", "late", "lidar_only"].includes(engineName))
  throw new Error("--engine: classical, intermediate, late or lidar_only");
const seeds = values.seeds!.split(",").map(Number);
if (seeds.some((s) => !Number.isInteger(s) || s >= 9000)) throw new Error("--seeds: integers below 9000");
const rig = loadRig(values.rig!);
const durationS = Number(values["duration-s"]);
if (!["fp32", "int8"].includes(values.precision!)) throw new Error("--precision: fp32 or int8");
// the file fitted (and the calibration written beside it): the float model or its int8 sibling
const modelPath = join(
  values["models-dir"]!,
  `fusion-${engineName}${values.precision === "int8" ? ".int8" : ""}.onnx`,
);

async function makeEngine(): Promise<FusionEngine> {
  if (engineName === "classical") return createClassicalEngine(rig, { score_calibration: null });
  return createLearnedEngine(rig, {
    mode: engineName === "late" ? "late" : "intermediate",
    modelPath,
    precision: "fp32", // exactly the file named (an .int8.onnx path is served as it is)
    ep: "cpu",
    calibration: null, // fit on raw scores
    onWarning: () => {},
  });
}

const D = CALIBRATION_FEATURES.length;
const xs: number[] = [];
const ys: number[] = [];

/** Label the objects of one frame: a true positive at 2 m, same class, greedy by descending raw score. */
function label(
  objs: readonly FusedObject[],
  truth: readonly { cls: number; x: number; y: number }[],
  features: (o: FusedObject) => Float64Array,
): void {
  const used = new Set<number>();
  for (const o of objs.slice().sort((a, b) => b.score - a.score)) {
    let best = -1;
    let bestD = 2;
    truth.forEach((g, k) => {
      const d = Math.hypot(g.x - o.x, g.y - o.y);
      if (!used.has(k) && g.cls === o.cls && d < bestD) {
        bestD = d;
        best = k;
      }
    });
    if (best >= 0) used.add(best);
    xs.push(...features(o));
    ys.push(best >= 0 ? 1 : 0);
  }
}

if (values.data !== undefined) {
  if (engineName !== "classical") throw new Error("--data: the classical engine only");
  if (values.split !== "val" && values.split !== "all")
    throw new Error("--split: val (or all); the test half is held out");
  const f = new Float64Array(D);
  for (const log of openLogs(values.data, "derived")) {
    const index = new TruthIndex(log.rig, log.items);
    const split = new Map(index.instants().map((t) => [t.tNs, t.split]));
    const clusterer = new LidarClusterer(log.rig.fusion.classical, lidarMount(referenceLidar(log.rig)));
    for (const cond of REAL_CONDITIONS) {
      const engine = createClassicalEngine(log.rig, { ...log.rig.fusion.classical, score_calibration: null });
      const vehicle = `cal-${cond}`;
      await replayLog(
        log.rig,
        log.items,
        engine,
        { removed: cond === "all" ? null : cond.slice(3), vehicle },
        (tick, frame) => {
          const t = index.at(tick.stampNs);
          if (!t || (values.split === "val" && split.get(t.tNs) !== "val")) return;
          const scored = scoreFrame(tick, t.truth, t.extra, frame.objects, 50);
          // the objects the evaluation scores (in range, outside ignore regions)
          const kept = new Set(scored.frame.pred.map((p) => `${p.x},${p.y}`));
          const objs = frame.objects.filter((o) => kept.has(`${o.x},${o.y}`));
          const lidar = cond !== "no_lidar" && tick.lidar !== null && tick.lidar.count > 0;
          if (lidar) clusterer.cluster(tick.lidar!);
          const ageScale = engine.tracker.vehicle(vehicle)?.constants.k ?? 1;
          label(objs, scored.frame.truth, (o) =>
            calibrationFeatures(o, f, {
              ageScale,
              lidarPoints: lidar ? clusterer.pointsNear(o.x, o.y, LIDAR_SUPPORT_RADIUS_M) : null,
            }),
          );
        },
      );
      await engine.close();
      process.stderr.write(`${log.name} ${cond} (${values.split}): ${ys.length} samples\n`);
    }
  }
  const w = fitLogistic(Float64Array.from(xs), Uint8Array.from(ys), D);
  const weights = Object.fromEntries(
    CALIBRATION_FEATURES.map((k, i) => [k, Math.round(w[i]! * 1000) / 1000]),
  );
  process.stdout.write(`${JSON.stringify(weights)}\n`);
  process.stderr.write(`samples ${ys.length}, positives ${ys.filter((y) => y === 1).length}\n`);
  process.exit(0);
}
const runs: { conditions: Conditions; masked: PerceptionModality | null }[] = [
  { conditions: "clear", masked: null },
  { conditions: "clear", masked: "lidar" },
  { conditions: "clear", masked: "radar" },
  { conditions: "clear", masked: "camera" },
  { conditions: "rain", masked: null },
  { conditions: "fog", masked: null },
  { conditions: "night", masked: null },
];
const f = new Float64Array(D);
for (const seed of seeds)
  for (const scenario of SCENARIOS)
    for (const conditions of ["clear", "rain", "fog", "night"] as const) {
      const run = await prepareRun(SIM_EVAL_SOURCE, rig, {
        seed,
        scenario,
        conditions,
        faults: "",
        durationS,
      });
      for (const r of runs.filter((x) => x.conditions === conditions)) {
        const engine = await makeEngine();
        // the live pipeline in replay mode: a masked modality's sensors send nothing, and the health
        // monitor masks it as it would live
        const condition = r.masked ? (`no_${r.masked}` as const) : ("all" as const);
        const inputs = streamOf(run, rig, condition, `cal-${seed}-${scenario}-${condition}`);
        const frames: { objs: FusedObject[]; tick: AlignedTick }[] = [];
        await replayFrames(rig, engine, inputs, (tick, frame) => frames.push({ objs: frame.objects, tick }));
        for (let i = 0; i < frames.length; i++) {
          const { objs, tick } = frames[i]!;
          if (i < 10) continue;
          const boxes = truthBoxesAt(run, tick);
          if (!boxes) continue;
          const truth = boxes.filter((g) => (g.nLidar > 0 || g.nRadar > 0) && Math.hypot(g.x, g.y) <= 50);
          label(
            objs.filter((o) => Math.hypot(o.x, o.y) <= 50),
            truth,
            (o) => calibrationFeatures(o, f),
          );
        }
        await engine.close();
      }
      process.stderr.write(`seed ${seed} ${scenario} ${conditions}: ${ys.length} samples\n`);
    }
const w = fitLogistic(Float64Array.from(xs), Uint8Array.from(ys), D);
const weights = Object.fromEntries(CALIBRATION_FEATURES.map((k, i) => [k, Math.round(w[i]! * 1000) / 1000]));
process.stdout.write(`${JSON.stringify(weights)}\n`);
if (values.write && engineName !== "classical") {
  const out = calibrationPathOf(modelPath);
  const doc = {
    model_sha256: sha256Of(modelPath),
    weights,
    fitted_on: {
      seeds,
      durationS,
      rig: rig.name,
      samples: ys.length,
      positives: ys.filter((y) => y === 1).length,
    },
    command: `node --import tsx train/calibrate.ts ${process.argv.slice(2).join(" ")}`,
  };
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  process.stderr.write(`wrote ${out}\n`);
}
