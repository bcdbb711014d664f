/**
 * BEV raster layout shared by dataset export, training and live inference. The exported ONNX
 * model carries this layout in its metadata (`bev_grid`, `channels`); the engine refuses a model
 * whose layout differs from the one this rasterizer produces.
 *
 * Frame: vehicle frame (x forward, y left, z up). Cell (i, j) covers
 * x in [xMinM + i*cellM, xMinM + (i+1)*cellM), y in [yMinM + j*cellM, ...). Rasters are
 * channel-major float32: index = (c * rows + i) * cols + j.
 */
import type { PerceptionModality } from "../../health/types.ts";

export interface BevGrid {
  /** Lower x edge of the grid, m (vehicle frame). */
  xMinM: number;
  /** Lower y edge of the grid, m (vehicle frame). */
  yMinM: number;
  /** Cell edge, m. */
  cellM: number;
  /** Cells along x. */
  rows: number;
  /** Cells along y. */
  cols: number;
}

/** Default grid: 64 m x 64 m at 1 m, biased forward (8 m behind, 56 m ahead). */
export const DEFAULT_GRID: BevGrid = Object.freeze({
  xMinM: -8,
  yMinM: -32,
  cellM: 1,
  rows: 64,
  cols: 64,
});

/** Channel names per modality, in raster order. Changing them changes the model contract. */
export const CHANNELS: Readonly<Record<PerceptionModality, readonly string[]>> = Object.freeze({
  lidar: ["log_count", "max_z", "mean_dx", "mean_intensity", "prev_log_count", "mean_dy"],
  radar: ["log_count", "mean_dx", "mean_vr_ux", "mean_vr_uy", "mean_dy", "mean_rcs"],
  camera: ["ray_car", "ray_truck", "ray_pedestrian", "ray_cyclist", "depth_splat", "fov"],
});

/** Global inputs: ego speed / 20 m/s and yaw rate / 0.5 rad/s. */
export const EGO_FEATURES = ["speed_20mps", "yaw_rate_0p5radps"] as const;

/** Per-modality health vector fed to the gates: mask flag, then HealthSnapshot.features. */
export const HEALTH_FEATURES = ["mask", "present", "freshness", "rate_ratio", "content_ok"] as const;

/** Version of the raster contract; bump when any channel's meaning or scaling changes. */
export const BEV_VERSION = 4;

export function gridContains(g: BevGrid, x: number, y: number): boolean {
  return x >= g.xMinM && x < g.xMinM + g.rows * g.cellM && y >= g.yMinM && y < g.yMinM + g.cols * g.cellM;
}

export function gridEquals(a: BevGrid, b: BevGrid): boolean {
  return (
    a.xMinM === b.xMinM &&
    a.yMinM === b.yMinM &&
    a.cellM === b.cellM &&
    a.rows === b.rows &&
    a.cols === b.cols
  );
}
