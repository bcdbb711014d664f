/**
 * Training-input statistics for the out-of-distribution guard (src/fusion/guard), stored in each
 * model file's metadata (`ood_stats`). A development tool, not used at run time:
 *
 *   node --import tsx train/ood-stats.ts [--rig sim] [--train-seeds 100-279] [--val-seeds 6001-6008]
 *        [--models-dir models] [--write] [--out reference.json] [--reference reference.json]
 *        [--check-seeds 9001-9009]
 *
 * 1. Reference: the training dataset's runs re-simulated with the exporter's recipe (train/dataset.ts
 *    runSpecOf: the same seeds, scenarios, weathers and drop-outs, 12 s, every 3rd tick after 1.5 s),
 *    through the live aligner; per tick the guard's input features (src/fusion/guard/features.ts);
 *    per feature p0.5 / p99.5 / mean / std on the guard's scale. (The exported dataset itself is not
 *    kept: ~160 MB under data/, git-ignored; the runs are deterministic, so these are its ticks.)
 *    `--reference FILE` takes the features of an earlier `--out` instead (step 2 onwards only);
 *    with `--keep-thresholds` also its thresholds (step 2 skipped: e.g. writing an earlier run's
 *    reference into models trained after it).
 * 2. Thresholds, on validation seeds below 9000 only: every tick of each seed's own scenario in
 *    clear, rain, fog and night (20 s, as the evaluation runs), plus each modality removed, through
 *    the guard; `on` = max(3, 2 x the largest distance seen), `off` = on / 2.
 * 3. --write: the reference goes into every fusion-*.onnx of --models-dir (metadata only; the graph
 *    is untouched) and each calibration file written for the old bytes gets the new sha256.
 * 4. --check-seeds (reporting only, after the thresholds are fixed): the number of fallbacks the
 *    guard would make on those seeds (the evaluation's: the target is zero).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SCENARIOS } from "../sim/index.ts";
import { simulatedRun } from "../sim/runs.ts";
import type { AlignedTick } from "../src/align/types.ts";
import { FIRST_EVAL_SEED } from "../src/eval/seeds.ts";
import { INPUT_FEATURES, InputFeatureExtractor } from "../src/fusion/guard/features.ts";
import {
  DEFAULT_THRESHOLDS,
  type FeatureReference,
  OOD_META_KEY,
  type OodReference,
  transformFeature,
  VehicleGuard,
} from "../src/fusion/guard/ood.ts";
import { calibrationPathOf, sha256Of } from "../src/fusion/learned/index.ts";
import type { FusionInputs } from "../src/fusion/types.ts";
import type { PerceptionModality } from "../src/health/types.ts";
import { loadRig } from "../src/rig/load.ts";
import type { RigConfig } from "../src/rig/schema.ts";
import { replayTicks } from "../src/runtime/offline.ts";
import { runSpecOf } from "./dataset.ts";
import { setOnnxMetadata } from "./onnx-meta.ts";

const { values } = parseArgs({
  options: {
    rig: { type: "string", default: "sim" },
    "train-seeds": { type: "string", default: "100-279" },
    "val-seeds": { type: "string", default: "6001-6008" },
    "check-seeds": { type: "string" },
    "models-dir": { type: "string", default: "models" },
    write: { type: "boolean", default: false },
    out: { type: "string" },
    reference: { type: "string" },
    "keep-thresholds": { type: "boolean", default: false },
  },
});

function seedsOf(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(",")) {
    const [a, b] = part.split("-").map(Number);
    for (let s = a!; s <= (b ?? a!); s++) out.push(s);
  }
  return out;
}

const MODS: PerceptionModality[] = ["lidar", "radar", "camera"];
const ALL = { lidar: true, radar: true, camera: true };
const log = (l: string) => process.stdout.write(`${l}\n`);

async function ticksOf(
  rig: RigConfig,
  seed: number,
  scenario: string,
  conditions: string,
  faults: string,
  durationS: number,
) {
  const { envs } = simulatedRun(rig, { seed, scenario, conditions, faults, durationS });
  return replayTicks(rig, envs);
}

function quantile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(p * sorted.length)))]!;
}

/** Largest guard distance over a tick stream, and the fallbacks the guard makes on it. */
function runGuard(
  ref: OodReference,
  ticks: { tick: AlignedTick; fusion: FusionInputs }[],
  removed: PerceptionModality | null,
) {
  const g = new VehicleGuard(ref, { ...ref.thresholds });
  const ex = new InputFeatureExtractor();
  let max = 0;
  let where = "";
  let fallbacks = 0;
  for (const { tick, fusion: health } of ticks) {
    const use = {
      lidar: health.mask.lidar && removed !== "lidar",
      radar: health.mask.radar && removed !== "radar",
      camera: health.mask.camera && removed !== "camera",
    };
    const st = g.update(tick.stampNs, ex.extract(tick, use), { model: "model", fallback: "classical" });
    if (st.distance > max) {
      max = st.distance;
      where = `${st.modality}/${st.feature}`;
    }
    fallbacks = st.fallbacks;
  }
  return { max, where, fallbacks };
}

async function reference(rig: RigConfig, trainSeeds: number[]): Promise<OodReference> {
  const names = MODS.flatMap((m) => [...INPUT_FEATURES[m]]);
  const vals = new Map<string, number[]>(names.map((n) => [n, []]));
  const ex = new InputFeatureExtractor();
  let samples = 0;
  const t0 = performance.now();
  for (const [i, seed] of trainSeeds.entries()) {
    const spec = runSpecOf(seed, 12);
    const ticks = await ticksOf(rig, seed, spec.scenario, spec.conditions, spec.faults, 12);
    const first = ticks[0]?.tick.stampNs ?? 0;
    ticks.forEach(({ tick }, k) => {
      if ((tick.stampNs - first) / 1e9 < 1.5 || k % 3 !== 0) return;
      samples++;
      const f = ex.extract(tick, ALL);
      for (const m of MODS) {
        const fm = f[m];
        if (!fm) continue;
        for (const n of INPUT_FEATURES[m]) vals.get(n)!.push(transformFeature(n, fm[n]!));
      }
    });
    if ((i + 1) % 20 === 0)
      log(`train runs ${i + 1}/${trainSeeds.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const features: Record<string, FeatureReference> = {};
  for (const n of names) {
    const s = Float64Array.from(vals.get(n)!).sort();
    let sum = 0;
    let sq = 0;
    for (const v of s) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / s.length;
    const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
    features[n] = {
      lo: r4(quantile(s, 0.005)),
      hi: r4(quantile(s, 0.995)),
      mean: r4(mean),
      std: r4(Math.sqrt(Math.max(0, sq / s.length - mean * mean))),
    };
  }
  return {
    version: 1,
    source: `training dataset recipe (train/dataset.ts runSpecOf) re-simulated: rig ${rig.name}, seeds ${values["train-seeds"]}, 12 s, every 3rd tick after 1.5 s`,
    rig: rig.name,
    samples,
    features,
    thresholds: { ...DEFAULT_THRESHOLDS },
  };
}

/** 2. Thresholds on validation seeds: `on` = max(3, 2 x the largest distance seen), `off` = on / 2. */
async function chooseThresholds(ref: OodReference, rig: RigConfig, valSeeds: number[]): Promise<void> {
  let valMax = 0;
  let valWhere = "";
  for (const seed of valSeeds) {
    const scenario = SCENARIOS[seed % SCENARIOS.length]!;
    for (const cond of ["clear", "rain", "fog", "night"]) {
      const ticks = await ticksOf(rig, seed, scenario, cond, "", 20);
      for (const removed of cond === "clear" ? [null, ...MODS] : [null]) {
        const r = runGuard(ref, ticks, removed);
        if (r.max > valMax) {
          valMax = r.max;
          valWhere = `seed ${seed} ${scenario} ${cond}${removed ? ` no_${removed}` : ""} ${r.where}`;
        }
      }
    }
  }
  const on = Math.max(3, Math.ceil(2 * valMax * 10) / 10);
  ref.thresholds = { ...DEFAULT_THRESHOLDS, on, off: on / 2 };
  ref.chosen_on = `validation seeds ${values["val-seeds"]} (own scenario; clear, rain, fog, night; clear with each modality removed; 20 s): largest distance ${valMax.toFixed(2)} (${valWhere}); on = max(3, 2 x that), off = on / 2`;
  log(`thresholds: on ${on} off ${on / 2} (${ref.chosen_on})`);
}

async function main() {
  const rig = loadRig(values.rig);
  const trainSeeds = seedsOf(values["train-seeds"]);
  const valSeeds = seedsOf(values["val-seeds"]);
  for (const s of [...trainSeeds, ...valSeeds])
    if (s >= FIRST_EVAL_SEED)
      throw new Error(`seed ${s}: seeds >= ${FIRST_EVAL_SEED} are for evaluation only`);
  // 1. reference
  let ref: OodReference;
  if (values.reference) ref = JSON.parse(readFileSync(values.reference, "utf8")) as OodReference;
  else ref = await reference(rig, trainSeeds);
  log(`reference: ${ref.samples} ticks`);
  for (const [n, f] of Object.entries(ref.features))
    log(`  ${n.padEnd(20)} lo ${f.lo} hi ${f.hi} mean ${f.mean} std ${f.std}`);
  if (values["keep-thresholds"]) {
    if (!values.reference || !ref.chosen_on)
      throw new Error("--keep-thresholds needs a --reference written by --out");
    log(
      `thresholds kept from ${values.reference}: on ${ref.thresholds.on} off ${ref.thresholds.off} (${ref.chosen_on})`,
    );
  } else await chooseThresholds(ref, rig, valSeeds);
  const on = ref.thresholds.on;
  // 4. check (reporting only)
  if (values["check-seeds"]) {
    let total = 0;
    let worst = 0;
    for (const seed of seedsOf(values["check-seeds"])) {
      const scenario = SCENARIOS[seed % SCENARIOS.length]!;
      for (const cond of ["clear", "rain", "fog", "night"]) {
        const ticks = await ticksOf(rig, seed, scenario, cond, "", 20);
        for (const removed of cond === "clear" ? [null, ...MODS] : [null]) {
          const r = runGuard(ref, ticks, removed);
          total += r.fallbacks;
          worst = Math.max(worst, r.max);
          if (r.fallbacks > 0)
            log(
              `  check seed ${seed} ${cond} ${removed ?? ""}: ${r.fallbacks} fallbacks (max ${r.max.toFixed(2)} ${r.where})`,
            );
        }
      }
    }
    log(
      `check seeds ${values["check-seeds"]}: ${total} fallbacks, largest distance ${worst.toFixed(2)} (threshold ${on})`,
    );
  }
  if (values.out) writeFileSync(values.out, `${JSON.stringify(ref, null, 2)}\n`);
  // 3. write
  if (values.write) {
    const dir = values["models-dir"];
    for (const f of readdirSync(dir).filter((x) => /^fusion-.*\.onnx$/.test(x))) {
      const path = join(dir, f);
      const before = sha256Of(path);
      writeFileSync(path, setOnnxMetadata(readFileSync(path), OOD_META_KEY, JSON.stringify(ref)));
      const cal = calibrationPathOf(path);
      if (existsSync(cal)) {
        const doc = JSON.parse(readFileSync(cal, "utf8")) as { model_sha256?: string };
        if (doc.model_sha256 === before) {
          doc.model_sha256 = sha256Of(path);
          writeFileSync(cal, `${JSON.stringify(doc, null, 2)}\n`);
        } else log(`  ${cal}: written for other bytes than ${f}; left as is`);
      }
      log(`wrote ${OOD_META_KEY} into ${path}`);
    }
  }
}

await main();
