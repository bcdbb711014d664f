/**
 * Evaluation of the fusion engines on held-out simulated runs (`npm run eval`).
 *
 * Per seed x scenario: one clear run (conditions all, no_lidar, no_radar, no_camera: the removed
 * modality is masked in the HealthSnapshot and its data taken out of the tick) and one run each in
 * rain, fog and night. Every engine sees the same ticks. Truth: objects on the BEV grid with at
 * least one LiDAR point or radar return in the raw data (nuScenes keeps boxes with points only).
 * Predictions are the engines' tracked objects (with the tracker's scores) on the same region.
 * Learned engines get all streams of a run as separate "vehicles", so each tick is one batched run.
 */
import type { AlignedTick } from "../align/types.ts";
import { DEFAULT_GRID, gridContains } from "../fusion/bev/grid.ts";
import { type ModalityMask, tickHealthFeatures } from "../fusion/bev/rasterize.ts";
import type { Decoded } from "../fusion/learned/decode.ts";
import type { FusionEngine } from "../fusion/types.ts";
import type { HealthSnapshot, PerceptionModality } from "../health/types.ts";
import { SystemMode } from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import type { Conditions, ScenarioName } from "../../sim/index.ts";
import { type DetectionMetrics, detectionMetrics, type FrameEval } from "./metrics.ts";
import { type SimFrame, simulateRun, type TruthBox } from "./simdata.ts";

export const EVAL_CONDITIONS = ["all", "no_lidar", "no_radar", "no_camera", "rain", "fog", "night"] as const;
export type EvalCondition = (typeof EVAL_CONDITIONS)[number];
export const EVAL_MODELS = ["classical", "lidar_only", "intermediate", "late"] as const;
export type EvalModel = (typeof EVAL_MODELS)[number];

const WEATHER: Partial<Record<EvalCondition, Conditions>> = { rain: "rain", fog: "fog", night: "night" };
const REMOVED: Partial<Record<EvalCondition, PerceptionModality>> = {
  no_lidar: "lidar",
  no_radar: "radar",
  no_camera: "camera",
};

export interface EvalPlan {
  seeds: number[];
  /** null: each seed's own scenario (sim rotation by seed). */
  scenarios: ScenarioName[] | null;
  conditions: EvalCondition[];
  models: EvalModel[];
  durationS: number;
  warmupS: number;
  /** Also score the learned engines' raw detections (before the tracker) as "<model>:raw". */
  raw?: boolean;
}

export interface ConditionResult extends DetectionMetrics {
  /** Mean gate per modality (learned engines). */
  gates?: Record<PerceptionModality, number>;
}

export type EvalResults = Record<string, Record<string, ConditionResult>>;

/** A stream of one condition: ticks (modality removed where needed), masks and truth. */
interface Stream {
  condition: EvalCondition;
  frames: { tick: AlignedTick; health: HealthSnapshot; truth: TruthBox[] }[];
}

/** The health snapshot of a healthy rig for `tick`: features derived from the tick, masked modalities zeroed. */
export function healthFor(tick: AlignedTick, mask: ModalityMask): HealthSnapshot {
  const f = tickHealthFeatures(tick);
  const off: [number, number, number, number] = [0, 0, 0, 0];
  return {
    vehicle: tick.vehicle,
    nowNs: tick.emittedNs,
    mode: SystemMode.NOMINAL,
    reasons: [],
    sensors: [],
    mask,
    features: {
      lidar: mask.lidar ? f.lidar : off,
      radar: mask.radar ? f.radar : off,
      camera: mask.camera ? f.camera : off,
    },
    changed: false,
    usable: {},
    transitions: [],
    drift: [],
  } as HealthSnapshot;
}

function evalTruth(truth: TruthBox[]): TruthBox[] {
  return truth.filter(
    (b) => b.cls >= 1 && b.cls <= 4 && b.nLidar + b.nRadar > 0 && gridContains(DEFAULT_GRID, b.x, b.y),
  );
}

function streamOf(condition: EvalCondition, frames: SimFrame[], warmupS: number): Stream {
  const removed = REMOVED[condition];
  const mask: ModalityMask = {
    lidar: removed !== "lidar",
    radar: removed !== "radar",
    camera: removed !== "camera",
  };
  const t0 = frames[0]?.tick.stampNs ?? 0;
  return {
    condition,
    frames: frames
      .filter((f) => (f.tick.stampNs - t0) / 1e9 >= warmupS)
      .map((f) => {
        const tick: AlignedTick = {
          ...f.tick,
          vehicle: `eval-${condition}`,
          lidar: mask.lidar ? f.tick.lidar : null,
          radar: mask.radar ? f.tick.radar : null,
          cameras: mask.camera ? f.tick.cameras : [],
        };
        return { tick, health: healthFor(tick, mask), truth: evalTruth(f.truth) };
      }),
  };
}

export type EngineFactory = (model: EvalModel) => Promise<FusionEngine>;

/** Run the plan; `log` gets one line per run. */
export async function runEvaluation(
  rig: RigConfig,
  plan: EvalPlan,
  makeEngine: EngineFactory,
  log: (line: string) => void = () => {},
): Promise<EvalResults> {
  const perModel = new Map<string, Map<string, FrameEval[]>>();
  const gateSums = new Map<string, { n: number; g: Record<PerceptionModality, number> }>();
  for (const m of plan.models) {
    perModel.set(m, new Map(plan.conditions.map((c) => [c, []])));
    if (plan.raw && m !== "classical") perModel.set(`${m}:raw`, new Map(plan.conditions.map((c) => [c, []])));
  }
  const engines = new Map<EvalModel, FusionEngine>();
  for (const m of plan.models) engines.set(m, await makeEngine(m));
  try {
    let runIdx = 0;
    for (const seed of plan.seeds) {
      const scenarios = plan.scenarios ?? [null];
      for (const sc of scenarios) {
        runIdx++;
        const weatherRuns = new Map<Conditions, SimFrame[]>();
        const needClear = plan.conditions.some((c) => !WEATHER[c]);
        const t0 = performance.now();
        const runOf = async (cond: Conditions) => {
          let r = weatherRuns.get(cond);
          if (!r) {
            const scenario = sc ?? (["urban", "highway", "intersection"] as const)[seed % 3]!;
            r = await simulateRun(rig, {
              seed,
              scenario,
              conditions: cond,
              faults: "",
              durationS: plan.durationS,
            });
            weatherRuns.set(cond, r);
          }
          return r;
        };
        const streams: Stream[] = [];
        if (needClear) await runOf("clear");
        for (const c of plan.conditions)
          streams.push(streamOf(c, await runOf(WEATHER[c] ?? "clear"), plan.warmupS));
        const tSim = performance.now() - t0;
        for (const [model, eng] of engines) {
          // fresh tracker state per run: vehicles ids carry the run index
          const vid = (s: Stream) => `${s.condition}-${seed}-${runIdx}`;
          const n = Math.max(...streams.map((s) => s.frames.length));
          for (let i = 0; i < n; i++) {
            const jobs = streams
              .filter((s) => i < s.frames.length)
              .map(async (s) => {
                const f = s.frames[i]!;
                const r = await eng.fuse({ ...f.tick, vehicle: vid(s) }, f.health);
                const preds = r.objects
                  .filter((o) => gridContains(DEFAULT_GRID, o.x, o.y))
                  .map((o) => ({ cls: o.cls, x: o.x, y: o.y, vx: o.vx, vy: o.vy, score: o.score }));
                perModel.get(model)!.get(s.condition)!.push({ pred: preds, truth: f.truth });
                const raw = perModel.get(`${model}:raw`);
                const last = (eng as { lastDetections?: (v: string) => Decoded[] }).lastDetections;
                if (raw && last) {
                  const dets = last(vid(s))
                    .filter((o) => gridContains(DEFAULT_GRID, o.x, o.y))
                    .map((o) => ({
                      cls: o.cls,
                      x: o.x,
                      y: o.y,
                      vx: o.vel?.vx ?? 0,
                      vy: o.vel?.vy ?? 0,
                      score: o.score,
                    }));
                  raw.get(s.condition)!.push({ pred: dets, truth: f.truth });
                }
                if (model !== "classical") {
                  const key = `${model}/${s.condition}`;
                  const gs = gateSums.get(key) ?? { n: 0, g: { lidar: 0, radar: 0, camera: 0 } };
                  gs.n++;
                  for (const m of ["lidar", "radar", "camera"] as const) gs.g[m] += r.gates[m];
                  gateSums.set(key, gs);
                }
              });
            await Promise.all(jobs);
          }
        }
        log(
          `seed ${seed}${sc ? ` ${sc}` : ""}: ${streams.map((s) => `${s.condition} ${s.frames.length}`).join(", ")} frames; ` +
            `sim+align ${(tSim / 1000).toFixed(1)} s, engines ${((performance.now() - t0 - tSim) / 1000).toFixed(1)} s`,
        );
      }
    }
  } finally {
    for (const e of engines.values()) await e.close();
  }
  const out: EvalResults = {};
  for (const [model, byCond] of perModel) {
    out[model] = {};
    for (const [cond, frames] of byCond) {
      const r: ConditionResult = detectionMetrics(frames);
      const gs = gateSums.get(`${model}/${cond}`);
      if (gs) r.gates = { lidar: gs.g.lidar / gs.n, radar: gs.g.radar / gs.n, camera: gs.g.camera / gs.n };
      out[model]![cond] = r;
    }
  }
  return out;
}
