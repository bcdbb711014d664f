/** Input contract of the multi-object tracker: per-tick detections in the vehicle frame. */
import type { Modality, ObjectClass } from "../../msg/types.ts";

/**
 * One detected object at the tick time, in the vehicle frame (x forward, y left, z up).
 * Any engine (classical, learned) can feed the tracker with these.
 */
export interface TrackDetection {
  x: number;
  y: number;
  /** Box centre height above the ground, m. */
  z: number;
  /**
   * When the position was measured, relative to the tick, s (usually <= 0; 0 when unknown; values
   * outside [-1, 0.5] are ignored). A spinning
   * LiDAR sees an object ahead half a sweep before the sweep's end stamp: a car at 30 m/s is then
   * 0.75 m behind where it is at the tick.
   */
  dtS?: number;
  /** Position covariance in vehicle axes, m^2. */
  covXX: number;
  covXY: number;
  covYY: number;
  /**
   * Measured velocity over ground in vehicle axes, m/s, with its covariance (m/s)^2; null when the
   * detector measured none. A radial-only (radar) measurement is expressed with a large variance
   * across the line of sight.
   */
  vel: { vx: number; vy: number; covXX: number; covXY: number; covYY: number } | null;
  length: number;
  width: number;
  height: number;
  /** Box yaw in the vehicle frame, rad (pi-ambiguous unless `yawFromMotion`). */
  yaw: number;
  /** true when length/width/yaw were measured (e.g. a LiDAR box), false when they are class priors. */
  shapeMeasured: boolean;
  cls: ObjectClass;
  /** Confidence in `cls`, 0..1. */
  clsConf: number;
  /** Detection confidence, 0..1. */
  score: number;
  modalities: Modality[];
}

/** Ego pose used to carry tracks in the world frame (local ENU). */
export interface EgoPose {
  valid: boolean;
  x: number;
  y: number;
  yaw: number;
}
