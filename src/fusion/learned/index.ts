/**
 * Learned fusion engine (intermediate or late mode): BEV rasters -> gated fusion transformer (ONNX,
 * in a worker thread) -> peak decoding -> tracker. See docs/fusion-learned.md.
 *
 * Split in two (./batcher.ts): fuse() prepares the tick at once (rasterizes it into shared memory
 * and clusters its LiDAR for the refinement) and hands it to the batcher, which runs the ticks of
 * every vehicle through the worker in batches; each tick's outputs are then post-processed
 * (`postProcess`: decode, refinement, Doppler, tracker) in an event-loop task of its own.
 * The queue is bounded (`maxQueue`): beyond it the oldest waiting tick is rejected and counted.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { AlignedTick } from "../../align/types.ts";
import type { PerceptionModality } from "../../health/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import { type BevGrid, DEFAULT_GRID, HEALTH_FEATURES, RASTER_MODALITIES } from "../bev/grid.ts";
import { type BevFrame, BevRasterizer, type ModalityMask } from "../bev/rasterize.ts";
import {
  CALIBRATION_FEATURES,
  type CalibrationWeights,
  calibratedScore,
  OPTIONAL_CALIBRATION_FEATURES,
} from "../calibration.ts";
import { referenceLidar, sweepTimeOffset, sweepTimingOf } from "../lidar/geometry.ts";
import { createTracker, type MultiTracker, type TrackerConfigInput } from "../tracker/index.ts";
import type { FusionEngine, FusionInputs, FusionResult } from "../types.ts";
import { BOX_CHANNELS, loadModelContract, type ModelContract } from "./contract.ts";
import { DEFAULT_DECODE, type DecodeOptions, type Decoded, decodeFrame } from "./decode.ts";
import type { LidarCluster } from "../lidar/cluster.ts";
import { type EngineStage, InferenceBatcher, type StageTimes } from "./batcher.ts";
import { applyDoppler } from "./doppler.ts";
import { DEFAULT_REFINE, LEARNED_TRACKER_DEFAULTS, type RefineOptions } from "./config.ts";
import { PrepClient } from "./prep-client.ts";
import { prepareTick } from "./prep.ts";
import { type ModelPrecision, type ServedModel, servedModel } from "./precision.ts";
import { LidarRefiner } from "./refine.ts";
import {
  autoProviders,
  type ExecutionProvider,
  InferenceSessionWorker,
  type RunOutputs,
  type SessionStats,
} from "./session.ts";

export { ModelContractError } from "./contract.ts";
export { ProviderError, type ExecutionProvider } from "./session.ts";
export { LEARNED_TRACKER_DEFAULTS } from "./config.ts";

export interface LearnedEngineOptions {
  mode: "intermediate" | "late";
  /** ONNX model file. Default: defaultModelPath(mode, rig name): models/<rig>/fusion-<mode>.onnx
   *  of this repository where it exists, else models/fusion-<mode>.onnx. */
  modelPath?: string;
  /** Execution provider; `auto` tries cuda where installed and falls back to CPU. Default auto. */
  ep?: ExecutionProvider;
  /**
   * Float model, or its int8 sibling `fusion-<mode>.int8.onnx` (./precision.ts). Default auto: int8
   * on the CPU provider when that file was quantized from this model, else float.
   */
  precision?: ModelPrecision;
  /** Most ticks in one run. Default 16. */
  maxBatch?: number;
  /** Most ticks waiting for the worker; the oldest beyond it is rejected and counted. Default 64. */
  maxQueue?: number;
  /**
   * Once the worker is idle, wait this long for more ticks to join a batch, ms. Default 0: only the
   * ticks that arrived in the same turn of the event loop (on CPU a batch costs the same per frame
   * as single frames; see ./batcher.ts).
   */
  batchWindowMs?: number;
  decode?: Partial<DecodeOptions>;
  /** LiDAR refinement stage (used when `decode.refine_lidar`). */
  refine?: Partial<RefineOptions>;
  tracker?: TrackerConfigInput;
  /** One-line notices (provider fallback). Default: stderr. */
  onWarning?: (line: string) => void;
  /**
   * Score calibration of the tracked objects (the classical engine's logistic model, fitted for this
   * model by train/calibrate.ts). Default: the model's `fusion-<name>.calibration.json` beside it
   * when present and written for this model file (sha256), else none (scores are track scores).
   * null: none.
   */
  calibration?: CalibrationWeights | null;
  /**
   * Rasterize ticks and cluster their LiDAR in a worker thread of their own (./prep-client.ts)
   * instead of on the main thread. Same inputs either way. Default true.
   */
  prepWorker?: boolean;
}

export interface LearnedEngineStats {
  runs: number;
  frames: number;
  /** Ticks rejected because the queue was full. */
  dropped: number;
  /** Last run's inference time in the worker, ms. */
  lastRunMs: number;
  maxBatchSeen: number;
}

export interface LearnedEngine extends FusionEngine {
  readonly contract: ModelContract;
  /** The model file served and its precision (./precision.ts). */
  readonly served: ServedModel;
  readonly provider: "cpu" | "webgpu" | "cuda";
  readonly stats: LearnedEngineStats;
  /** Worker supervision: restarts after a crash or a timeout, timed-out and crashed runs. */
  readonly inference: SessionStats;
  /** Raw decoded detections of the last tick of each vehicle (before tracking), for evaluation. */
  lastDetections(vehicle: string): Decoded[];
  /** Where a tick's time goes in the engine (recent p50/p99 per stage, ms; ./batcher.ts EngineStage). */
  readonly times: StageTimes<EngineStage>;
}

/** Rig names that may name a per-rig model folder (no path separators, no dots). */
const RIG_FOLDER = /^[A-Za-z0-9_-]+$/;

/**
 * The repository's model file of a model name for a rig: `models/<rig>/fusion-<name>.onnx` where
 * that file exists (models trained on that rig's simulation, e.g. models/nuscenes/), else
 * `models/fusion-<name>.onnx` (the models trained on the default `sim` rig; on another rig their
 * OOD guard sees the rig mismatch). A rig's `fusion.learned.models_dir` overrides both.
 */
export function defaultModelPath(name: string, rigName?: string): string {
  if (rigName !== undefined && rigName !== "sim" && RIG_FOLDER.test(rigName)) {
    const own = fileURLToPath(new URL(`../../../models/${rigName}/fusion-${name}.onnx`, import.meta.url));
    if (existsSync(own)) return own;
  }
  return fileURLToPath(new URL(`../../../models/fusion-${name}.onnx`, import.meta.url));
}

interface Pending {
  tick: AlignedTick;
  mask: ModalityMask;
  features: FusionInputs["features"];
  /** The tick's LiDAR clusters (refinement), made when the tick is prepared. */
  clusters: LidarCluster[] | null;
  /** Staging slot of the preparation worker holding the tick's model inputs, until they join a batch. */
  staged: number | null;
  resolve: (r: FusionResult) => void;
  reject: (e: Error) => void;
}

const MODS: readonly PerceptionModality[] = RASTER_MODALITIES;
/** Channels of the box output per cell. */
const NB = BOX_CHANNELS.length;

export async function createLearnedEngine(
  rig: RigConfig,
  opts: LearnedEngineOptions,
): Promise<LearnedEngine> {
  const ep = opts.ep ?? "auto";
  const served = servedModel(
    opts.modelPath ?? defaultModelPath(opts.mode, rig.name),
    opts.precision ?? "auto",
    ep === "cpu" || (ep === "auto" && autoProviders()[0] === "cpu"),
  );
  const modelPath = served.path;
  const grid: BevGrid = DEFAULT_GRID;
  const contract = loadModelContract(modelPath, grid);
  if (contract.mode !== opts.mode)
    throw new Error(
      `model ${modelPath}: metadata 'mode' is '${contract.mode}', the engine was asked for '${opts.mode}'`,
    );
  const warn = opts.onWarning ?? ((l: string) => process.stderr.write(`fusion learned: ${l}\n`));
  const trainedRig = trainingRigOf(contract);
  if (trainedRig && trainedRig !== rig.name)
    warn(
      `model ${contract.name} was trained on rig '${trainedRig}', running on rig '${rig.name}': expect lower quality`,
    );
  const maxBatch = opts.maxBatch ?? 16;
  const maxQueue = opts.maxQueue ?? 64;
  const session = await InferenceSessionWorker.start({
    modelPath,
    ep,
    inputs: contract.inputs,
    warmupBatches: [1],
    onWarning: warn,
  });
  const raster = new BevRasterizer(rig, grid);
  const lidarDtS = lidarTimeOffset(rig, contract.targetTime);
  const tracker: MultiTracker = createTracker({ ...LEARNED_TRACKER_DEFAULTS, ...opts.tracker });
  const decodeOpts: DecodeOptions = { ...DEFAULT_DECODE, ...opts.decode };
  const refiner = decodeOpts.refine_lidar
    ? new LidarRefiner(rig, { ...DEFAULT_REFINE, ...opts.refine })
    : null;
  const calibration = opts.calibration === undefined ? loadCalibration(modelPath, warn) : opts.calibration;
  const lastDets = new Map<string, Decoded[]>();
  const inputNames = new Set(contract.inputs.map((i) => i.name));
  const one = raster.alloc(1);
  const perFrame = {
    lidar: one.lidar.length,
    radar: one.radar.length,
    camera: one.camera.length,
    ego: one.ego.length,
    health: one.health.length,
  };
  const prep =
    (opts.prepWorker ?? true)
      ? new PrepClient({
          rig,
          grid,
          refine: refiner ? { ...DEFAULT_REFINE, ...opts.refine } : null,
          perFrame,
          // ticks wait here until they join the batcher, which sheds beyond maxQueue
          maxSlots: maxQueue + maxBatch,
        })
      : null;
  try {
    await prep?.start();
  } catch (e) {
    await session.close();
    throw e;
  }

  const maskOf = (inputs: Pick<FusionInputs, "mask">): ModalityMask => ({
    lidar: inputs.mask.lidar && contract.modalities.includes("lidar"),
    radar: inputs.mask.radar && contract.modalities.includes("radar"),
    camera: inputs.mask.camera && contract.modalities.includes("camera"),
  });

  /** Per-frame post-processing of one tick's outputs (batch index and input slot `b`). */
  const postProcess = (job: Pending, out: RunOutputs, frame: BevFrame, b: number): void => {
    const { tick, mask } = job;
    const heat = out["heatmap"]!;
    const box = out["box"]!;
    const gates = out["gates"]!.data;
    const [, K, R, C] = heat.dims as [number, number, number, number];
    const P = raster.planeSize;
    const h = frame.health;
    const used = (m: number) => h[(b * RASTER_MODALITIES.length + m) * HEALTH_FEATURES.length]! > 0;
    const dets = decodeFrame(
      {
        heat: heat.data.subarray(b * K * R * C, (b + 1) * K * R * C),
        box: box.data.subarray(b * NB * R * C, (b + 1) * NB * R * C),
        K,
        R,
        C,
      },
      grid,
      contract.outStride,
      {
        lidar: used(0) ? frame.lidar.subarray(b * P, b * P + raster.cellsPerChannel) : null,
        radar: used(1) ? frame.radar.subarray(b * P, b * P + raster.cellsPerChannel) : null,
        camera: used(2) ? frame.camera.subarray(b * P, (b + 1) * P) : null,
      },
      decodeOpts,
      lidarDtS,
    );
    if (tick.reset) tracker.vehicle(tick.vehicle)?.reset();
    const e = tick.ego;
    const pose = { valid: e.valid, x: e.x, y: e.y, yaw: e.yaw };
    if (refiner && job.clusters)
      refiner.refine(dets, job.clusters, tracker.predict(tick.vehicle, tick.stampNs, pose));
    if (decodeOpts.doppler) applyDoppler(dets, mask.radar ? tick.radar : null, decodeOpts);
    if (lastDets.size >= 4096 && !lastDets.has(tick.vehicle)) lastDets.clear(); // bounded
    lastDets.set(tick.vehicle, dets);
    const objects = tracker.update(tick.vehicle, tick.stampNs, pose, dets);
    if (calibration) for (const o of objects) o.score = calibratedScore(o, calibration);
    const g = {} as Record<PerceptionModality, number>;
    MODS.forEach((m, i) => {
      g[m] = mask[m] ? gates[b * MODS.length + i]! : 0;
    });
    job.resolve({ objects, gates: g });
  };

  /** The staged inputs of a tick prepared in the worker into slot `b` of `frame`; frees the slot. */
  const unstage = (job: Pending, frame: BevFrame, b: number) => {
    const s = prep!.frameOf(job.staged!);
    for (const k of ["lidar", "radar", "camera", "ego", "health"] as const)
      frame[k].set(s[k], b * perFrame[k]);
    prep!.free(job.staged!);
    job.staged = null;
  };
  const batcher = new InferenceBatcher<Pending>(
    session,
    perFrame,
    {
      prepare(job, frame, b) {
        if (job.staged !== null) unstage(job, frame, b);
        else job.clusters = prepareTick(raster, refiner, job.tick, job.mask, job.features, frame, b);
      },
      finish: postProcess,
      fail(job, err) {
        if (job.staged !== null) prep!.free(job.staged);
        job.reject(err);
      },
      shed(job, prepared) {
        // the oldest waiting tick: its sweep is still the next one's previous sweep (the worker's
        // rasterizer has remembered it already)
        if (job.staged !== null) prep!.free(job.staged);
        else if (!prepared) raster.observe(job.tick, job.mask);
        job.reject(new Error("learned fusion queue full: tick dropped"));
      },
    },
    { maxBatch, maxQueue, inputNames, windowMs: opts.batchWindowMs ?? 0 },
  );
  let closed = false;

  return {
    mode: opts.mode,
    contract,
    served,
    provider: session.provider,
    stats: batcher.stats,
    inference: session.stats,
    times: batcher.times,
    lastDetections: (v) => lastDets.get(v) ?? [],
    async fuse(tick, inputs) {
      if (closed) throw new Error("engine closed");
      const mask = maskOf(inputs);
      const t0 = performance.now();
      const staged = prep ? await prep.prepare(tick, mask, inputs.features) : null;
      if (staged) batcher.times.add("prep", performance.now() - t0);
      if (closed) {
        if (staged) prep!.free(staged.slot);
        throw new Error("engine closed");
      }
      return new Promise<FusionResult>((resolve, reject) => {
        batcher.submit({
          tick,
          mask,
          features: inputs.features,
          clusters: staged?.clusters ?? null,
          staged: staged?.slot ?? null,
          resolve,
          reject,
        });
      });
    },
    release(vehicle) {
      tracker.drop(vehicle);
      lastDets.delete(vehicle);
      raster.forget(vehicle);
      prep?.forget(vehicle);
    },
    async close() {
      closed = true;
      batcher.close();
      await Promise.all([session.close(), prep?.close()]);
    },
  };
}

export { MODS as LEARNED_MODALITIES };

/** Rig name of the model's training data (metadata `training.dataset.rig`), or null. */
function trainingRigOf(c: ModelContract): string | null {
  try {
    const t = JSON.parse(c.meta["training"] ?? "null") as { dataset?: { rig?: string } } | null;
    return t?.dataset?.rig ?? null;
  } catch {
    return null;
  }
}

/**
 * Sweep time offset (s, <= 0) at which the rig's reference LiDAR saw a point at (x, y) of the
 * vehicle frame: a spinning LiDAR's sweep ends at the stamp, so a point at azimuth a was swept
 * `period * (1 - swept fraction)` earlier. Null when the model places objects at the tick time
 * or the rig has no LiDAR.
 */
export function lidarTimeOffset(
  rig: RigConfig,
  tt: ModelContract["targetTime"],
): ((x: number, y: number) => number) | null {
  if (tt.convention !== "lidar_observation") return null;
  const timing = sweepTimingOf(referenceLidar(rig), tt.rotation, tt.sweep_start_azimuth_rad);
  if (!timing) return null;
  return (x, y) => sweepTimeOffset(timing, x, y);
}

/** `models/fusion-x.onnx` -> `models/fusion-x.calibration.json`. */
export function calibrationPathOf(modelPath: string): string {
  return modelPath.replace(/\.onnx$/, "") + ".calibration.json";
}

export function sha256Of(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** The calibration file written for this model file, or null (absent, or for another model: warned). */
export function loadCalibration(modelPath: string, warn: (l: string) => void): CalibrationWeights | null {
  const p = calibrationPathOf(modelPath);
  if (!existsSync(p)) return null;
  try {
    const doc = JSON.parse(readFileSync(p, "utf8")) as {
      model_sha256?: string;
      weights?: Record<string, unknown>;
    };
    if (doc.model_sha256 !== sha256Of(modelPath)) {
      warn(`${p} was fitted for another model file (sha256 differs): scores stay uncalibrated`);
      return null;
    }
    const w = doc.weights ?? {};
    for (const k of CALIBRATION_FEATURES) {
      if (w[k] === undefined && OPTIONAL_CALIBRATION_FEATURES.includes(k)) w[k] = 0;
      if (typeof w[k] !== "number" || !Number.isFinite(w[k])) throw new Error(`weight '${k}' missing`);
    }
    return w as CalibrationWeights;
  } catch (e) {
    warn(`${p}: ${(e as Error).message}; scores stay uncalibrated`);
    return null;
  }
}
