/**
 * Classical fusion engine (`fusion serve --fusion classical`): the hand-built baseline the learned
 * model must beat. Per tick: ClassicalDetector (LiDAR clusters + gated radar/camera association +
 * inverse-variance fusion, radar/camera fallbacks) then the multi-object tracker, per vehicle.
 * See docs/fusion-classical.md.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { HealthSnapshot, PerceptionModality } from "../../health/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import { MultiTracker } from "../tracker/index.ts";
import type { FusionEngine, FusionResult } from "../types.ts";
import { calibratedScore } from "./calibration.ts";
import { type ClassicalConfigInput, classicalConfigSchema } from "./config.ts";
import { ClassicalDetector, type DetectStats } from "./detect.ts";

export { type ClassicalConfig, type ClassicalConfigInput, classicalConfigSchema } from "./config.ts";

export interface ClassicalEngine extends FusionEngine {
  readonly mode: "classical";
  /** Detector counters of the last fused tick (diagnostics). */
  readonly lastStats: DetectStats;
  /** The engine's tracker (per-vehicle stats, drop). */
  readonly tracker: MultiTracker;
  /** Synchronous form of fuse(), for benchmarks and tests. */
  fuseSync(tick: AlignedTick, health: HealthSnapshot): FusionResult;
}

/** Create the classical engine for a rig. `opts` overrides the defaults of classicalConfigSchema. */
export function createClassicalEngine(rig: RigConfig, opts: ClassicalConfigInput = {}): ClassicalEngine {
  const cfg = classicalConfigSchema.parse(opts);
  const detector = new ClassicalDetector(rig, cfg);
  const tracker = new MultiTracker(cfg.tracker);
  let closed = false;

  const fuseSync = (tick: AlignedTick, health: HealthSnapshot): FusionResult => {
    if (tick.reset) tracker.vehicle(tick.vehicle)?.reset();
    const use = detector.used(tick, health.mask);
    const hints = tracker.predict(tick.vehicle, tick.stampNs, tick.ego);
    const dets = detector.detect(tick, use, hints);
    const objects = tracker.update(tick.vehicle, tick.stampNs, tick.ego, dets);
    const w = cfg.score_calibration;
    if (w) for (const o of objects) o.score = calibratedScore(o, w);
    const gates: Record<PerceptionModality, number> = {
      lidar: use.lidar ? 1 : 0,
      radar: use.radar ? 1 : 0,
      camera: use.camera ? 1 : 0,
    };
    return { objects, gates };
  };

  return {
    mode: "classical",
    tracker,
    get lastStats() {
      return detector.lastStats;
    },
    fuseSync,
    async fuse(tick, health) {
      if (closed) throw new Error("classical engine is closed");
      return fuseSync(tick, health);
    },
    release(vehicle) {
      tracker.drop(vehicle);
    },
    async close() {
      closed = true;
    },
  };
}
