/**
 * Track hints: what the tracker's predictions (`MultiTracker.predict`) tell a detector about the
 * tick being fused. Used by the classical detector (class, box axes, radar speed) and the learned
 * engine's LiDAR refinement (box axes).
 */
import type { TrackPrediction } from "./index.ts";

/**
 * The track nearest to a cluster centre, within its half length + 0.5 m (at least 1.5 m). `dtS`:
 * when (x, y) was seen relative to the tick (<= 0); the tracks are moved back to it.
 */
export function nearestHint(
  hints: readonly TrackPrediction[],
  x: number,
  y: number,
  length: number,
  dtS = 0,
): TrackPrediction | null {
  let best: TrackPrediction | null = null;
  let bestD = Math.max(1.5, length / 2 + 0.5);
  for (const h of hints) {
    const d = Math.hypot(h.x + h.vx * dtS - x, h.y + h.vy * dtS - y);
    if (d < bestD) {
      bestD = d;
      best = h;
    }
  }
  return best;
}

/** Motion heading of a moving track with a settled velocity; null otherwise. */
export function motionHeading(h: TrackPrediction | null, minSpeedMps: number): number | null {
  if (!h || h.velStdMps > 1 || Math.hypot(h.vx, h.vy) < minSpeedMps) return null;
  return Math.atan2(h.vy, h.vx);
}
