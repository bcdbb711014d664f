/**
 * BEV raster layout shared by dataset export, training and live inference. The exported ONNX
 * model carries this layout in its metadata (`bev_grid`, `channels`); the engine refuses a model
 * whose layout differs from the one this rasterizer produces. The constants come from
 * src/fusion/model-contract.json (read by train/contract.py too).
 *
 * Frame: vehicle frame (x forward, y left, z up). Cell (i, j) covers
 * x in [xMinM + i*cellM, xMinM + (i+1)*cellM), y in [yMinM + j*cellM, ...). Rasters are
 * channel-major float32: index = (c * rows + i) * cols + j.
 */
import type { PerceptionModality } from "../../health/types.ts";
import { MODEL_CONTRACT } from "../model-contract.ts";

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

/** Default grid (contract `grid`): 64 m x 64 m at 1 m, biased forward (8 m behind, 56 m ahead). */
export const DEFAULT_GRID: BevGrid = MODEL_CONTRACT.grid;

/**
 * Channel names per modality, in raster order (contract `channels`). Changing them changes the
 * model contract, and the rasterizer (./rasterize.ts) writes them in this order.
 */
export const CHANNELS: Readonly<Record<PerceptionModality, readonly string[]>> = MODEL_CONTRACT.channels;

/** Perception modalities in raster and health-vector order (contract `modalities`). */
export const RASTER_MODALITIES: readonly PerceptionModality[] = MODEL_CONTRACT.modalities;

/** Global inputs (contract `ego_features`): ego speed / 20 m/s and yaw rate / 0.5 rad/s. */
export const EGO_FEATURES: readonly string[] = MODEL_CONTRACT.ego_features;

/** Per-modality health vector fed to the gates (contract `health_features`): mask flag, then
 *  HealthSnapshot.features. */
export const HEALTH_FEATURES: readonly string[] = MODEL_CONTRACT.health_features;

/** Version of the raster contract (contract `bev_version`); bump when any channel's meaning or
 *  scaling changes. */
export const BEV_VERSION: number = MODEL_CONTRACT.bev_version;

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
