/**
 * Per-tick input statistics of each perception modality, as a learned model sees them (inside its
 * BEV grid, non-ground LiDAR as the rasterizer counts it). One definition for the out-of-distribution
 * guard (live, per vehicle), the statistics a model file carries of its training inputs
 * (train/ood-stats.ts) and the sim-to-real gap report (src/eval/gap.ts).
 *
 * Hot path: one pass over the typed arrays, a reused cell bitmap, no per-point objects.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { PerceptionModality } from "../../health/types.ts";
import { type BevGrid, DEFAULT_GRID } from "../bev/grid.ts";

/** Feature names per modality, in a fixed order (the model metadata keys them by name). */
export const INPUT_FEATURES = Object.freeze({
  lidar: ["lidar_cells", "lidar_points", "lidar_intensity", "lidar_cell_top_m"],
  radar: ["radar_returns", "radar_cells", "radar_rcs_dbsm", "radar_moving_frac"],
  camera: ["camera_detections"],
} as const satisfies Record<PerceptionModality, readonly string[]>);

export type InputFeature = (typeof INPUT_FEATURES)[PerceptionModality][number];

/** Features of one tick; a modality that is masked or absent has none (null). */
export type TickFeatures = Record<PerceptionModality, Record<string, number> | null>;

export interface FeatureOptions {
  grid: BevGrid;
  /** Non-ground LiDAR: z (vehicle frame) in [groundZM, maxZM] (the rasterizer's rule). */
  groundZM: number;
  maxZM: number;
  /** A radar return moves when its ego-compensated radial speed exceeds this, m/s. */
  movingMps: number;
}

export const DEFAULT_FEATURE_OPTIONS: FeatureOptions = Object.freeze({
  grid: DEFAULT_GRID,
  groundZM: 0.3,
  maxZM: 4,
  movingMps: 1,
});

/** Computes TickFeatures; keeps its scratch cell maps between calls (one per engine or tool). */
export class InputFeatureExtractor {
  private readonly occ: Uint32Array;
  private readonly top: Float32Array;
  private gen = 0;

  constructor(readonly opts: FeatureOptions = DEFAULT_FEATURE_OPTIONS) {
    const n = opts.grid.rows * opts.grid.cols;
    this.occ = new Uint32Array(n);
    this.top = new Float32Array(n);
  }

  private nextGen(): number {
    this.gen++;
    if (this.gen >= 0xffffffff) {
      this.occ.fill(0);
      this.gen = 1;
    }
    return this.gen;
  }

  private cell(x: number, y: number): number {
    const g = this.opts.grid;
    const r = Math.floor((x - g.xMinM) / g.cellM);
    const c = Math.floor((y - g.yMinM) / g.cellM);
    if (r < 0 || r >= g.rows || c < 0 || c >= g.cols) return -1;
    return r * g.cols + c;
  }

  /** Features of the modalities `use` allows and the tick carries. */
  extract(tick: AlignedTick, use: Record<PerceptionModality, boolean>): TickFeatures {
    return {
      lidar: use.lidar && tick.lidar ? this.lidar(tick) : null,
      radar: use.radar && tick.radar ? this.radar(tick) : null,
      camera: use.camera && tick.cameras.length > 0 ? this.camera(tick) : null,
    };
  }

  private lidar(tick: AlignedTick): Record<string, number> {
    const L = tick.lidar!;
    const fx = L.fields["x"]!;
    const fy = L.fields["y"]!;
    const fz = L.fields["z"]!;
    const fi = L.fields["intensity"];
    const { groundZM, maxZM } = this.opts;
    const gen = this.nextGen();
    let cells = 0;
    let points = 0;
    let inten = 0;
    const d = L.data;
    for (let p = 0, o = 0; p < L.count; p++, o += L.stride) {
      const z = d[o + fz]!;
      if (!(z >= groundZM && z <= maxZM)) continue;
      const k = this.cell(d[o + fx]!, d[o + fy]!);
      if (k < 0) continue;
      points++;
      if (fi !== undefined) inten += d[o + fi]!;
      if (this.occ[k] !== gen) {
        this.occ[k] = gen;
        this.top[k] = z;
        cells++;
      } else if (z > this.top[k]!) this.top[k] = z;
    }
    let topSum = 0;
    for (let k = 0; k < this.occ.length; k++) if (this.occ[k] === gen) topSum += this.top[k]!;
    return {
      lidar_cells: cells,
      lidar_points: points,
      lidar_intensity: points > 0 ? inten / points : 0,
      lidar_cell_top_m: cells > 0 ? topSum / cells : 0,
    };
  }

  private radar(tick: AlignedTick): Record<string, number> {
    const R = tick.radar!;
    const fx = R.fields["x"]!;
    const fy = R.fields["y"]!;
    const fvr = R.fields["vr"];
    const frcs = R.fields["rcs"];
    const gen = this.nextGen();
    let n = 0;
    let cells = 0;
    let rcs = 0;
    let moving = 0;
    const d = R.data;
    for (let p = 0, o = 0; p < R.count; p++, o += R.stride) {
      const k = this.cell(d[o + fx]!, d[o + fy]!);
      if (k < 0) continue;
      n++;
      if (frcs !== undefined) rcs += d[o + frcs]!;
      if (fvr !== undefined && Math.abs(d[o + fvr]!) > this.opts.movingMps) moving++;
      if (this.occ[k] !== gen) {
        this.occ[k] = gen;
        cells++;
      }
    }
    return {
      radar_returns: n,
      radar_cells: cells,
      radar_rcs_dbsm: n > 0 ? rcs / n : 0,
      radar_moving_frac: n > 0 ? moving / n : 0,
    };
  }

  private camera(tick: AlignedTick): Record<string, number> {
    let n = 0;
    for (const c of tick.cameras) n += c.detections.length;
    return { camera_detections: n };
  }
}
