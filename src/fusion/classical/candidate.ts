/**
 * One object hypothesis while a tick is being fused (vehicle frame), and the detector's per-tick
 * counters. Made by the LiDAR stage (lidar-candidates.ts), added to by the radar (radar.ts) and
 * camera (camera.ts) stages, turned into a TrackDetection by fuse.ts. Candidates and counters live
 * for one tick and are handed from stage to stage; no stage keeps them.
 */
import { ObjectClass } from "../../msg/types.ts";

/** A LiDAR cluster that looks like an object, as a candidate's anchor. */
export interface LidarPart {
  cx: number;
  cy: number;
  length: number;
  width: number;
  yaw: number;
  height: number;
  points: number;
  cls: ObjectClass;
  conf: number;
  /** Motion heading of the moving track covering this cluster, rad; null when none. */
  heading: number | null;
  /** That track's velocity (0 when none), m/s, and when the LiDAR saw the cluster, s (<= 0). */
  vx: number;
  vy: number;
  dtS: number;
}

export interface Candidate {
  /** Anchor position used for association (raw LiDAR box centre, radar centroid or camera estimate). */
  ax: number;
  ay: number;
  lidar: LidarPart | null;
  /** Radar: count, position information sums, velocity information (u u^T / var) and vector. */
  radarN: number;
  rPx: number; // sum of w*x
  rPy: number;
  rW: number; // sum of position weights
  vIxx: number;
  vIxy: number;
  vIyy: number;
  vbx: number;
  vby: number;
  maxAbsVr: number;
  /** Strongest radar cross-section among the returns, dBsm (-Infinity when none). */
  maxRcs: number;
  /** Ground speed of the settled track covering the candidate, m/s; null when none. */
  speedHint: number | null;
  /** Camera: best associated detection. */
  camCls: ObjectClass;
  camScore: number;
  /** When a radar- or camera-only object was measured, relative to the tick, s. */
  dtS: number;
  /** Monocular position estimate and its covariance (camera-only objects). */
  mono: { x: number; y: number; xx: number; xy: number; yy: number } | null;
}

export function emptyCandidate(ax: number, ay: number): Candidate {
  return {
    ax,
    ay,
    lidar: null,
    radarN: 0,
    rPx: 0,
    rPy: 0,
    rW: 0,
    vIxx: 0,
    vIxy: 0,
    vIyy: 0,
    vbx: 0,
    vby: 0,
    maxAbsVr: 0,
    maxRcs: Number.NEGATIVE_INFINITY,
    speedHint: null,
    dtS: 0,
    camCls: ObjectClass.UNKNOWN,
    camScore: 0,
    mono: null,
  };
}

/** Counters of one tick's detection (diagnostics). */
export interface DetectStats {
  lidarClusters: number;
  radarAssociated: number;
  radarUnassociated: number;
  /** Returns near an object whose radial velocity disagreed with the object's other returns. */
  radarRejected: number;
  cameraAssociated: number;
  cameraOnly: number;
  /** Ego-velocity error the radar returns showed this tick (and was corrected), m/s; 0 when not fitted. */
  radarEgoResidualMps: number;
}

export function emptyStats(): DetectStats {
  return {
    lidarClusters: 0,
    radarAssociated: 0,
    radarUnassociated: 0,
    radarRejected: 0,
    cameraAssociated: 0,
    cameraOnly: 0,
    radarEgoResidualMps: 0,
  };
}
