/**
 * Evaluation of the fusion engines on held-out runs (`npm run eval`), through the fleet runtime:
 * the live pipeline in replay mode (event time, no shedding), with the live health monitor.
 *
 * Per seed x scenario: one clear run (conditions all, no_lidar, no_radar, no_camera: the removed
 * modality's sensors send nothing, so the health monitor masks it as it would live) and one run each
 * in rain, fog and night. The streams of a run go through one fleet as separate vehicles, so the
 * learned engines batch them. Truth: objects on the BEV grid with at least one LiDAR point or radar
 * return in the raw data of the clear run (nuScenes keeps boxes with points only). Predictions are
 * the engines' tracked objects (with the tracker's scores) on the same region.
 *
 * The runs come from an `EvalSource` that the CLI wires (simulated runs: sim/runs.ts); this module
 * imports no simulator.
 */
import type { AlignedTick } from "../align/types.ts";
import { DEFAULT_GRID, gridContains } from "../fusion/bev/grid.ts";
import type { Decoded } from "../fusion/learned/decode.ts";
import type { FusionEngine } from "../fusion/types.ts";
import { PERCEPTION_MODALITIES, type PerceptionModality } from "../health/types.ts";
import { kindOfModality } from "../msg/kinds.ts";
import type { FusedFrame, GroundTruth, SensorEnvelope } from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import { fleetReplay } from "../runtime/fleet.ts";
import { replayTicks } from "../runtime/offline.ts";
import { createLogger } from "../util/log.ts";
import { type GuardFigures, GuardTally } from "./guard-tally.ts";
import { type DetectionMetrics, detectionMetrics, type FrameEval } from "./metrics.ts";
import { pairTruth, type RunSpec, type SimFrame, type TruthBox, truthInVehicle } from "./truth.ts";

/** Where evaluation runs come from (simulated seeds, or a replayed log). */
export interface EvalSource {
  /** Scenario names a plan may ask for. */
  scenarios: readonly string[];
  /** The scenario of a seed when the plan names none. */
  scenarioOf(seed: number): string;
  /** Decoded sensor envelopes (arrival = send time) and the ground truth of one run. */
  run(rig: RigConfig, spec: RunSpec): { envs: SensorEnvelope[]; truths: GroundTruth[] };
}

type Conditions = "clear" | "rain" | "fog" | "night";

export const EVAL_CONDITIONS = ["all", "no_lidar", "no_radar", "no_camera", "rain", "fog", "night"] as const;
export type EvalCondition = (typeof EVAL_CONDITIONS)[number];
/** `auto`: the intermediate model behind its OOD guard, served with classical where the guard falls back. */
export const EVAL_MODELS = ["classical", "lidar_only", "intermediate", "late", "auto"] as const;
export type EvalModel = (typeof EVAL_MODELS)[number];

const WEATHER: Partial<Record<EvalCondition, Conditions>> = { rain: "rain", fog: "fog", night: "night" };
const REMOVED: Partial<Record<EvalCondition, PerceptionModality>> = {
  no_lidar: "lidar",
  no_radar: "radar",
  no_camera: "camera",
};

export interface EvalPlan {
  seeds: number[];
  /** null: each seed's own scenario (the source's rotation by seed). */
  scenarios: string[] | null;
  conditions: EvalCondition[];
  models: EvalModel[];
  durationS: number;
  warmupS: number;
  /** Also score the learned engines' raw detections (before the tracker) as "<model>:raw". */
  raw?: boolean;
}

export interface ConditionResult extends DetectionMetrics, Partial<GuardFigures> {
  /** Mean gate per modality (learned engines). */
  gates?: Record<PerceptionModality, number>;
}

export type EvalResults = Record<string, Record<string, ConditionResult>>;

export type EngineFactory = (model: EvalModel) => Promise<FusionEngine>;

function evalTruth(truth: TruthBox[]): TruthBox[] {
  return truth.filter(
    (b) => b.cls >= 1 && b.cls <= 4 && b.nLidar + b.nRadar > 0 && gridContains(DEFAULT_GRID, b.x, b.y),
  );
}

/** Index of the element of `xs` (sorted by key) nearest to `t`, or -1. */
function nearest<T>(xs: readonly T[], key: (x: T) => number, t: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(xs[mid]!) < t) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(key(xs[lo - 1]!) - t) <= Math.abs(key(xs[lo]!) - t)) lo--;
  return lo;
}

/** A run of one weather: its envelopes, its truth, and its own aligned frames (for point counts). */
export interface WeatherRun {
  envs: SensorEnvelope[];
  truths: GroundTruth[];
  /** Ticks of the full run paired with truth: the raw data that decides which boxes count. */
  ref: SimFrame[];
}

/**
 * The evaluation truth of a tick of a condition stream: boxes at the tick's time, counted against the
 * full run's raw data (a removed modality does not remove objects from the truth).
 */
export function truthAt(run: WeatherRun, tick: AlignedTick): TruthBox[] | null {
  const boxes = truthBoxesAt(run, tick);
  return boxes ? evalTruth(boxes) : null;
}

/** All truth boxes at a tick (no filter), with the full run's point counts; null when no truth is near. */
export function truthBoxesAt(run: WeatherRun, tick: AlignedTick): TruthBox[] | null {
  const gi = nearest(run.truths, (g) => g.stampNs, tick.stampNs);
  const g = run.truths[gi];
  if (!g || Math.abs(g.stampNs - tick.stampNs) > 20e6) return null;
  const boxes = truthInVehicle(g, (tick.stampNs - g.stampNs) / 1e9, tick);
  const ri = nearest(run.ref, (f) => f.tick.stampNs, tick.stampNs);
  const ref = run.ref[ri];
  if (ref && Math.abs(ref.tick.stampNs - tick.stampNs) <= 20e6) {
    const byId = new Map(ref.truth.map((b) => [b.id, b]));
    for (const b of boxes) {
      const r = byId.get(b.id);
      if (r) {
        b.nLidar = r.nLidar;
        b.nRadar = r.nRadar;
      }
    }
  }
  return boxes;
}

/** One run from the source, with its own aligned frames (through the runtime) for the truth counts. */
export async function prepareRun(source: EvalSource, rig: RigConfig, spec: RunSpec): Promise<WeatherRun> {
  const { envs, truths } = source.run(rig, spec);
  const ref = pairTruth(
    (await replayTicks(rig, envs)).map((f) => f.tick),
    truths,
  );
  return { envs, truths, ref };
}

/** The envelopes of one condition stream: its vehicle id, the removed modality's sensors left out. */
export function streamOf(
  run: WeatherRun,
  rig: RigConfig,
  condition: EvalCondition,
  vehicle: string,
): SensorEnvelope[] {
  const removed = REMOVED[condition];
  const gone = new Set(rig.sensors.filter((s) => s.kind === removed).map((s) => s.id));
  const out: SensorEnvelope[] = [];
  for (const e of run.envs) {
    if (gone.has(e.msg.header.sensorId)) continue;
    out.push({ ...e, msg: { ...e.msg, header: { ...e.msg.header, vehicle } } });
  }
  return out;
}

/** Gate of each perception modality in a frame (the largest of its sensors; masked = 0). */
function gatesOf(frame: FusedFrame): Record<PerceptionModality, number> {
  const g = { lidar: 0, radar: 0, camera: 0 };
  for (const s of frame.sensors) {
    const k = kindOfModality(s.modality);
    if (k === "lidar" || k === "radar" || k === "camera") g[k] = Math.max(g[k], s.gateWeight);
  }
  return g;
}

/** Run the plan; `log` gets one line per run. */
export async function runEvaluation(
  rig: RigConfig,
  plan: EvalPlan,
  makeEngine: EngineFactory,
  source: EvalSource,
  log: (line: string) => void = () => {},
): Promise<EvalResults> {
  const perModel = new Map<string, Map<string, FrameEval[]>>();
  const gateSums = new Map<string, { n: number; g: Record<PerceptionModality, number> }>();
  const guards = new Map<string, GuardTally>();
  for (const m of plan.models) {
    perModel.set(m, new Map(plan.conditions.map((c) => [c, []])));
    if (plan.raw && m !== "classical") perModel.set(`${m}:raw`, new Map(plan.conditions.map((c) => [c, []])));
  }
  const engines = new Map<EvalModel, FusionEngine>();
  for (const m of plan.models) engines.set(m, await makeEngine(m));
  const quiet = createLogger({ level: "error" });
  try {
    let runIdx = 0;
    for (const seed of plan.seeds) {
      const scenarios = plan.scenarios ?? [null];
      for (const sc of scenarios) {
        runIdx++;
        const t0 = performance.now();
        const scenario = sc ?? source.scenarioOf(seed);
        const weatherRuns = new Map<Conditions, WeatherRun>();
        const runOf = async (cond: Conditions): Promise<WeatherRun> => {
          let r = weatherRuns.get(cond);
          if (!r) {
            r = await prepareRun(source, rig, {
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
        // one vehicle per condition stream; fresh tracker state per run (the id carries the run)
        const streams: { condition: EvalCondition; vehicle: string; run: WeatherRun }[] = [];
        for (const c of plan.conditions)
          streams.push({
            condition: c,
            vehicle: `${c}-${seed}-${runIdx}`,
            run: await runOf(WEATHER[c] ?? "clear"),
          });
        const byVehicle = new Map(streams.map((s) => [s.vehicle, s]));
        const inputs = streams
          .flatMap((s) => streamOf(s.run, rig, s.condition, s.vehicle))
          .sort((a, b) => a.arrivalNs - b.arrivalNs);
        const tSim = performance.now() - t0;
        const counts = new Map<string, number>();
        for (const [model, eng] of engines) {
          const firstNs = new Map<string, number>();
          const last = (eng as { lastDetections?: (v: string) => Decoded[] }).lastDetections;
          const raw = perModel.get(`${model}:raw`);
          const events$ = fleetReplay(inputs, {
            rig,
            engine: eng,
            logger: quiet,
            idleEvictMs: 0,
            maxVehicles: streams.length,
            // several streams' ticks in flight: the learned engines batch them
            maxPendingTicks: 2 * streams.length,
          });
          await new Promise<void>((resolve, reject) =>
            events$.subscribe({
              error: reject,
              complete: resolve,
              next: (ev) => {
                if (ev.type !== "frame") return;
                const s = byVehicle.get(ev.vehicle)!;
                const t = ev.tick;
                const gk = `${model}/${s.condition}`;
                if (!guards.has(gk)) guards.set(gk, new GuardTally());
                guards.get(gk)!.add(ev.vehicle, t.stampNs, ev.frame.guard);
                const first = firstNs.get(ev.vehicle) ?? t.stampNs;
                firstNs.set(ev.vehicle, first);
                if ((t.stampNs - first) / 1e9 < plan.warmupS) return;
                const truth = truthAt(s.run, t);
                if (!truth) return;
                const preds = ev.frame.objects
                  .filter((o) => gridContains(DEFAULT_GRID, o.x, o.y))
                  .map((o) => ({ cls: o.cls, x: o.x, y: o.y, vx: o.vx, vy: o.vy, score: o.score }));
                perModel.get(model)!.get(s.condition)!.push({ pred: preds, truth });
                if (model === plan.models[0]) counts.set(s.condition, (counts.get(s.condition) ?? 0) + 1);
                if (raw && last) {
                  const dets = last(ev.vehicle)
                    .filter((o) => gridContains(DEFAULT_GRID, o.x, o.y))
                    .map((o) => ({
                      cls: o.cls,
                      x: o.x,
                      y: o.y,
                      vx: o.vel?.vx ?? 0,
                      vy: o.vel?.vy ?? 0,
                      score: o.score,
                    }));
                  raw.get(s.condition)!.push({ pred: dets, truth });
                }
                if (model !== "classical") {
                  const key = `${model}/${s.condition}`;
                  const gs = gateSums.get(key) ?? { n: 0, g: { lidar: 0, radar: 0, camera: 0 } };
                  gs.n++;
                  const g = gatesOf(ev.frame);
                  for (const m of PERCEPTION_MODALITIES) gs.g[m] += g[m];
                  gateSums.set(key, gs);
                }
              },
            }),
          );
        }
        log(
          `seed ${seed}${sc ? ` ${sc}` : ""}: ${streams.map((s) => `${s.condition} ${counts.get(s.condition) ?? 0}`).join(", ")} frames; ` +
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
      const gf = guards.get(`${model}/${cond}`)?.figures();
      if (gf) Object.assign(r, gf);
      out[model]![cond] = r;
    }
  }
  return out;
}
