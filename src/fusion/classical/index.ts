/**
 * Classical fusion engine (`fusion serve --fusion classical`): the hand-built baseline the learned
 * model must beat. Per tick: ClassicalDetector (LiDAR candidates from the shared LiDAR library,
 * gated radar and camera association, radar/camera fallbacks, inverse-variance fusion; one file per
 * stage, see detect.ts) then the multi-object tracker, per vehicle.
 * See docs/fusion-classical.md.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { PerceptionModality } from "../../health/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import { MultiTracker } from "../tracker/index.ts";
import { calibratedScore, LIDAR_SUPPORT_RADIUS_M } from "../calibration.ts";
import type { FusionEngine, FusionInputs, FusionResult } from "../types.ts";
import { type ClassicalConfigInput, classicalConfigSchema } from "./config.ts";
import { type DetectStats, emptyStats } from "./candidate.ts";
import { ClassicalDetector } from "./detect.ts";

export { type ClassicalConfig, type ClassicalConfigInput, classicalConfigSchema } from "./config.ts";

export interface ClassicalEngine extends FusionEngine {
  readonly mode: "classical";
  /** Detector counters of the last fused tick (diagnostics). */
  readonly lastStats: DetectStats;
  /** The engine's tracker (per-vehicle stats, drop). */
  readonly tracker: MultiTracker;
  /** Synchronous form of fuse(), for benchmarks and tests. */
  fuseSync(tick: AlignedTick, inputs: FusionInputs): FusionResult;
}

/** Create the classical engine for a rig. `opts` overrides the defaults of classicalConfigSchema. */
export function createClassicalEngine(rig: RigConfig, opts: ClassicalConfigInput = {}): ClassicalEngine {
  const cfg = classicalConfigSchema.parse(opts);
  const detector = new ClassicalDetector(rig, cfg);
  // The tracker's time constants start from the reference sensor's rate (the tick rate; a log of
  // keyframes says 2 Hz) and follow the observed tick interval.
  const refHz = rig.sensors.find((s) => s.id === rig.reference)?.rate_hz;
  const tracker = new MultiTracker(cfg.tracker, refHz ? 1 / refHz : null);
  let closed = false;
  let lastStats: DetectStats = emptyStats();

  const fuseSync = (tick: AlignedTick, inputs: FusionInputs): FusionResult => {
    if (tick.reset) tracker.vehicle(tick.vehicle)?.reset();
    const use = detector.used(tick, inputs.mask);
    const hints = tracker.predict(tick.vehicle, tick.stampNs, tick.ego);
    const { detections, stats } = detector.detect(tick, use, hints);
    lastStats = stats;
    const objects = tracker.update(tick.vehicle, tick.stampNs, tick.ego, detections);
    const w = cfg.score_calibration;
    if (w) {
      // Ages in ticks of the tracker's reference interval (the weights were fitted at 10 Hz), and
      // the LiDAR's support for each object where this tick used LiDAR.
      const ageScale = tracker.vehicle(tick.vehicle)?.constants.k ?? 1;
      for (const o of objects) {
        const lidarPoints = use.lidar ? detector.lidarPointsNear(o.x, o.y, LIDAR_SUPPORT_RADIUS_M) : null;
        o.score = calibratedScore(o, w, { ageScale, lidarPoints });
      }
    }
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
      return lastStats;
    },
    fuseSync,
    async fuse(tick, inputs) {
      if (closed) throw new Error("classical engine is closed");
      return fuseSync(tick, inputs);
    },
    release(vehicle) {
      tracker.drop(vehicle);
    },
    async close() {
      closed = true;
    },
  };
}
