/**
 * Stage 1 of the classical detector: LiDAR clusters (shared LiDAR library, src/fusion/lidar/) that
 * look like objects become candidates, classed by size with the motion heading of the track that
 * covers them, and dated by when the spinning LiDAR saw them.
 */
import type { LidarCluster } from "../lidar/cluster.ts";
import { classifyBySize } from "../lidar/shape.ts";
import { motionHeading, nearestHint } from "../tracker/hints.ts";
import type { TrackPrediction } from "../tracker/index.ts";
import { type Candidate, emptyCandidate } from "./candidate.ts";
import type { ClassicalConfig } from "./config.ts";

export interface LidarCandidateOptions {
  cfg: Pick<
    ClassicalConfig,
    "motion_min_speed_mps" | "sparse_beam_spacing_m" | "max_object_length_m" | "max_bottom_height_m"
  >;
  /** When the LiDAR saw a point at (x, y), relative to the sweep's end stamp, s (<= 0). */
  timeOffset: (x: number, y: number) => number;
}

/**
 * Candidates of the tick's clusters. `hints`: the tracker's tracks predicted to this tick (their
 * motion headings tell a car's back from a bicycle's side and which way a box is long).
 */
export function lidarCandidates(
  clusters: readonly LidarCluster[],
  hints: readonly TrackPrediction[],
  o: LidarCandidateOptions,
): Candidate[] {
  const cfg = o.cfg;
  const cands: Candidate[] = [];
  for (const cl of clusters) {
    const hint = nearestHint(hints, cl.cx, cl.cy, cl.length);
    const heading = motionHeading(hint, cfg.motion_min_speed_mps);
    // Far away, the top seen may be a whole beam spacing under the real one: a low cluster
    // there is `unknown` (kept for radar or camera to name) rather than rejected.
    const sparse = cl.vertResM > cfg.sparse_beam_spacing_m;
    const top = sparse ? Math.max(cl.zMax, 0.5) : cl.zMax;
    const sc = classifyBySize(
      { length: cl.length, width: cl.width, height: top, bottom: cl.zMin },
      { maxLengthM: cfg.max_object_length_m, maxBottomM: cfg.max_bottom_height_m },
      heading === null ? null : { yaw: cl.yaw, heading, speed: Math.hypot(hint!.vx, hint!.vy) },
    );
    if (!sc.object) continue;
    const c = emptyCandidate(cl.cx, cl.cy);
    c.lidar = {
      cx: cl.cx,
      cy: cl.cy,
      length: cl.length,
      width: cl.width,
      yaw: cl.yaw,
      height: Math.max(cl.zMax, 0.5),
      points: cl.points,
      cls: sc.cls,
      conf: sc.conf,
      heading,
      vx: hint?.vx ?? 0,
      vy: hint?.vy ?? 0,
      dtS: o.timeOffset(cl.cx, cl.cy),
    };
    cands.push(c);
  }
  return cands;
}
