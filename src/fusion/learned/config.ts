/**
 * The learned engines' section of the rig file (`fusion.learned`): which model files, batching,
 * score calibration, and the decoder, refinement and tracker parameters. The engine's defaults live
 * where the code that uses them is (DEFAULT_DECODE in decode.ts, DEFAULT_DOPPLER in doppler.ts,
 * DEFAULT_REFINE and LEARNED_TRACKER_DEFAULTS here); this schema reads them, so a rig
 * without the section behaves as before. The model contract (raster sizes, channels, classes) is not
 * configuration: it is src/fusion/model-contract.json. Execution provider: `--ep` (a property of the
 * machine, not of the rig).
 */
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { type TrackerConfigInput, trackerConfigSchema } from "../tracker/config.ts";
import { DEFAULT_DECODE, type DecodeOptions } from "./decode.ts";

/**
 * Tracker settings of the learned engine that differ from the tracker's defaults, chosen on
 * validation seeds 5000-5002 (docs/DECISIONS.md L14): tentative tracks are emitted (with their
 * calibrated, lower scores) and confirmed tracks coast up to 0.9 s, as the classical engine's do.
 */
export const LEARNED_TRACKER_DEFAULTS: TrackerConfigInput = Object.freeze({
  emit_tentative: true,
  max_coast_ms: 900,
});

const D = DEFAULT_DECODE;
const pos = () => z.number().positive();
const nonneg = () => z.number().min(0);

/** Decoder (peaks, NMS, support, tracker noise) and Doppler stage: `DecodeOptions`. */
export const learnedDecodeSchema = z
  .object({
    score_threshold: z.number().min(0).max(1).default(D.score_threshold),
    max_objects: z.number().int().min(1).default(D.max_objects),
    /** Per class: car, truck, pedestrian, cyclist. */
    nms_radius_m: z.tuple([nonneg(), nonneg(), nonneg(), nonneg()]).default([...D.nms_radius_m]),
    support_radius_m: nonneg().default(D.support_radius_m),
    /** Negative: off. */
    support_box_margin_m: z.number().default(D.support_box_margin_m),
    vel_std_radar_mps: pos().default(D.vel_std_radar_mps),
    /** 0: no velocity measurement without radar. */
    vel_std_no_radar_mps: nonneg().default(D.vel_std_no_radar_mps),
    /** With LiDAR support, with radar but no LiDAR, others. */
    pos_std_m: z.tuple([pos(), pos(), pos()]).default([...D.pos_std_m]),
    refine_lidar: z.boolean().default(D.refine_lidar),
    doppler: z.boolean().default(D.doppler),
    doppler_margin_m: nonneg().default(D.doppler_margin_m),
    doppler_std_mps: pos().default(D.doppler_std_mps),
    doppler_tangential_std_mps: pos().default(D.doppler_tangential_std_mps),
    doppler_lidar_gate_mps: pos().default(D.doppler_lidar_gate_mps),
  })
  .strict();

export interface RefineOptions {
  /** Largest distance from a detection's centre to a cluster's completed box, m (per class). */
  refine_gate_m: readonly [number, number, number, number];
  /** Position std handed to the tracker for a refined detection, m. */
  refined_pos_std_m: number;
  /**
   * Which side of a cluster is the object's length: the motion heading of a moving track at the
   * detection (`motion_min_speed_mps`), else the network's orientation when its (sin 2yaw,
   * cos 2yaw) vector is at least this long (`Decoded.yawConf`), else the cluster's shape.
   */
  min_yaw_conf: number;
  /** A track faster than this (with a settled velocity) lends its motion heading, m/s. */
  motion_min_speed_mps: number;
  /**
   * A cluster wider than the class's width by more than this holds more than the object (a
   * truck's side with whatever stands beside it): it refines nothing, m.
   */
  max_extra_width_m: number;
}

export const DEFAULT_REFINE: RefineOptions = Object.freeze({
  refine_gate_m: [1.2, 1.5, 0.6, 0.8] as const,
  refined_pos_std_m: 0.15,
  min_yaw_conf: 0.5,
  motion_min_speed_mps: 1.5,
  max_extra_width_m: 0.5,
});

const R = DEFAULT_REFINE;
/** LiDAR refinement stage (refine.ts): `RefineOptions`. */
export const learnedRefineSchema = z
  .object({
    /** Per class: car, truck, pedestrian, cyclist. */
    refine_gate_m: z.tuple([pos(), pos(), pos(), pos()]).default([...R.refine_gate_m]),
    refined_pos_std_m: pos().default(R.refined_pos_std_m),
    min_yaw_conf: z.number().min(0).max(1).default(R.min_yaw_conf),
    motion_min_speed_mps: nonneg().default(R.motion_min_speed_mps),
    max_extra_width_m: nonneg().default(R.max_extra_width_m),
  })
  .strict();

export const learnedConfigSchema = z
  .object({
    /**
     * Folder of the model files `fusion-<mode>.onnx` (and their `fusion-<mode>.calibration.json`);
     * relative to the rig file. null: the repository's models/.
     */
    models_dir: z.string().min(1).nullable().default(null),
    /**
     * `fp32`: the float model; `int8`: its int8 sibling `fusion-<mode>.int8.onnx` (npm run quantize);
     * `auto`: int8 on the CPU provider when that file was quantized from the float model, else float.
     */
    precision: z.enum(["auto", "fp32", "int8"]).default("auto"),
    /** Most ticks (of several vehicles) in one inference run. */
    max_batch: z.number().int().min(1).max(256).default(16),
    /** Most ticks waiting for the worker; the oldest beyond it is rejected and counted. */
    max_queue: z.number().int().min(1).max(65536).default(64),
    /** Score calibration: `auto` = the model's calibration file when written for that model file. */
    calibration: z.enum(["auto", "none"]).default("auto"),
    decode: learnedDecodeSchema.default(learnedDecodeSchema.parse({})),
    refine: learnedRefineSchema.default(learnedRefineSchema.parse({})),
    /** The shared tracker's parameters; unset keys take LEARNED_TRACKER_DEFAULTS, then the tracker's. */
    tracker: z.preprocess(
      (v) =>
        v === undefined
          ? { ...LEARNED_TRACKER_DEFAULTS }
          : v && typeof v === "object" && !Array.isArray(v)
            ? { ...LEARNED_TRACKER_DEFAULTS, ...v }
            : v,
      trackerConfigSchema,
    ),
  })
  .strict();

export type LearnedConfig = z.infer<typeof learnedConfigSchema>;
export type LearnedConfigInput = z.input<typeof learnedConfigSchema>;

/** The section's defaults (a rig file without `fusion.learned`). */
export const LEARNED_CONFIG_DEFAULTS: LearnedConfig = learnedConfigSchema.parse({});

/** What a rig's section gives `createLearnedEngine` for one mode. */
export function learnedEngineOptionsOf(
  c: LearnedConfig,
  mode: "intermediate" | "late",
): {
  modelPath?: string;
  precision: "auto" | "fp32" | "int8";
  maxBatch: number;
  maxQueue: number;
  decode: DecodeOptions;
  refine: RefineOptions;
  tracker: TrackerConfigInput;
  calibration?: null;
} {
  return {
    ...(c.models_dir ? { modelPath: join(c.models_dir, `fusion-${mode}.onnx`) } : {}),
    precision: c.precision,
    maxBatch: c.max_batch,
    maxQueue: c.max_queue,
    decode: c.decode,
    refine: c.refine,
    tracker: c.tracker,
    ...(c.calibration === "none" ? { calibration: null } : {}),
  };
}

/** `models_dir` of a rig file resolved against the file's folder. */
export function resolveModelsDir(c: LearnedConfig, rigDir: string): LearnedConfig {
  return c.models_dir && !isAbsolute(c.models_dir) ? { ...c, models_dir: join(rigDir, c.models_dir) } : c;
}
