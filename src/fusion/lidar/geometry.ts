/**
 * The rig's reference LiDAR as the fusion engines see it: where it sits, how far apart its beams
 * are, and when a spinning sweep saw a point. Shared by the classical detector and the learned
 * engine (its time convention and its refinement stage).
 */
import type { RigConfig, SensorConfig } from "../../rig/schema.ts";

/** The rig's reference sensor when it is a LiDAR, else its first LiDAR. */
export function referenceLidar(rig: RigConfig): SensorConfig | undefined {
  return (
    rig.sensors.find((s) => s.id === rig.reference && s.kind === "lidar") ??
    rig.sensors.find((s) => s.kind === "lidar")
  );
}

/** Origin in the vehicle frame (m) and elevation step between beams (rad) of a LiDAR; zeros without one. */
export function lidarMount(l: SensorConfig | undefined): { x: number; y: number; elevStepRad: number } {
  const lm = l?.lidar;
  return {
    x: l?.extrinsic.translation_m[0] ?? 0,
    y: l?.extrinsic.translation_m[1] ?? 0,
    elevStepRad:
      lm && lm.beams > 1
        ? (((lm.vertical_fov_deg[1] - lm.vertical_fov_deg[0]) / (lm.beams - 1)) * Math.PI) / 180
        : 0,
  };
}

export interface SweepTiming {
  /** LiDAR origin in the vehicle frame, m, and its yaw, rad. */
  x: number;
  y: number;
  yaw: number;
  /** Sweep period, s. */
  periodS: number;
  /** Spin seen from above; the sweep starts at `startAzimuthRad` (LiDAR frame) and ends at the stamp. */
  rotation: "cw" | "ccw";
  startAzimuthRad: number;
}

/** Sweep timing of a spinning LiDAR from its rig entry (mount, yaw, rate); null without one. */
export function sweepTimingOf(
  l: SensorConfig | undefined,
  rotation: "cw" | "ccw",
  startAzimuthRad: number,
): SweepTiming | null {
  if (!l || !(l.rate_hz > 0)) return null;
  return {
    x: l.extrinsic.translation_m[0],
    y: l.extrinsic.translation_m[1],
    yaw: l.extrinsic.rotation_rpy_rad[2],
    periodS: l.lidar?.sweep_period_s ?? 1 / l.rate_hz,
    rotation,
    startAzimuthRad,
  };
}

/**
 * When the LiDAR saw the point (x, y) of the vehicle frame, relative to the sweep's stamp, s (<= 0):
 * a point at azimuth a was swept `period * (1 - swept fraction)` before the end of the sweep.
 */
export function sweepTimeOffset(t: SweepTiming, x: number, y: number): number {
  const az = Math.atan2(y - t.y, x - t.x) - t.yaw;
  const swept = t.rotation === "cw" ? t.startAzimuthRad - az : az - t.startAzimuthRad;
  const frac = (((swept / (2 * Math.PI)) % 1) + 1) % 1;
  return -t.periodS * (1 - frac);
}
