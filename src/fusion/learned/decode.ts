/**
 * Decoding of the CenterPoint-style outputs of one frame into tracker detections:
 * 3x3 peak extraction per class, a score threshold, class-agnostic circle NMS, box decoding, and
 * the modalities that supported each object (raster evidence within `support_radius_m` of it).
 */
import { Modality, type ObjectClass } from "../../msg/types.ts";
import type { BevGrid } from "../bev/grid.ts";
import type { Decoded } from "./types.ts";
import { DEFAULT_DOPPLER, type DopplerOptions } from "./doppler.ts";
import { alongVelocity } from "./heading.ts";
import { MODEL_CONTRACT } from "../model-contract.ts";

/** Positions of the box output's channels, by their contract names (model-contract.json `box_channels`). */
const BOX = (() => {
  const names = [
    "dx_cells",
    "dy_cells",
    "z_m",
    "log_l_m",
    "log_w_m",
    "log_h_m",
    "sin_2yaw",
    "cos_2yaw",
    "vx_mps",
    "vy_mps",
  ] as const;
  const at = {} as Record<(typeof names)[number], number>;
  for (const n of names) {
    const i = MODEL_CONTRACT.box_channels.indexOf(n);
    if (i < 0) throw new Error(`model-contract.json: box_channels lacks '${n}', which the decoder reads`);
    at[n] = i;
  }
  return Object.freeze(at);
})();

export interface DecodeOptions extends DopplerOptions {
  /** Minimum heatmap probability of a peak. */
  score_threshold: number;
  /** Most peaks per frame (highest scores kept). */
  max_objects: number;
  /** NMS radius per class (car, truck, pedestrian, cyclist), m. */
  nms_radius_m: readonly [number, number, number, number];
  /** Radius around an object searched for raster evidence of each modality, m. */
  support_radius_m: number;
  /** Also count evidence inside the detection's box grown by this margin, m (negative = off). */
  support_box_margin_m: number;
  /** Velocity std handed to the tracker with the model's velocity, m/s: radar-supported objects,
   *  and the others (the model's learned prior; 0 = no velocity measurement without radar). */
  vel_std_radar_mps: number;
  vel_std_no_radar_mps: number;
  /** Position std handed to the tracker: objects with LiDAR support, with radar but no LiDAR, others, m. */
  pos_std_m: readonly [number, number, number];
  /** Re-measure LiDAR-supported detections from the tick's LiDAR clusters (src/fusion/learned/refine.ts). */
  refine_lidar: boolean;
  /** Correct the velocity's radial component from the radar returns in each box (./doppler.ts). */
  doppler: boolean;
}

export const DEFAULT_DECODE: DecodeOptions = Object.freeze({
  score_threshold: 0.1,
  max_objects: 100,
  nms_radius_m: [1.5, 2.5, 0.6, 0.8] as const,
  support_radius_m: 1.5,
  support_box_margin_m: 1,
  vel_std_radar_mps: 2,
  vel_std_no_radar_mps: 3,
  pos_std_m: [0.25, 0.4, 1.2] as const,
  refine_lidar: true,
  doppler: true,
  ...DEFAULT_DOPPLER,
});

export interface FrameOutputs {
  /** (K, R, C) probabilities. */
  heat: Float32Array;
  /** (box channels, R, C), channels in model-contract.json `box_channels` order. */
  box: Float32Array;
  K: number;
  R: number;
  C: number;
}

/** The raster planes of one frame the support check reads (null = modality not used). */
export interface SupportRasters {
  lidar: Float32Array | null;
  radar: Float32Array | null;
  camera: Float32Array | null;
}

export type { Decoded } from "./types.ts";

/**
 * `lidarDtS(x, y)`: for a model that places LiDAR-seen objects where the LiDAR saw them
 * (contract `target_time` lidar_observation), the sweep time offset (s, <= 0) at (x, y); objects
 * with LiDAR support carry it to the tracker as `dtS`. Null: every object is at the tick time.
 */
export function decodeFrame(
  out: FrameOutputs,
  grid: BevGrid,
  outStride: number,
  support: SupportRasters,
  opts: DecodeOptions = DEFAULT_DECODE,
  lidarDtS: ((x: number, y: number) => number) | null = null,
): Decoded[] {
  const { heat, box, K, R, C } = out;
  const RC = R * C;
  const cands: { k: number; c: number; p: number }[] = [];
  for (let k = 0; k < K; k++) {
    const base = k * RC;
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < C; j++) {
        const p = heat[base + i * C + j]!;
        if (!(p >= opts.score_threshold)) continue;
        let peak = true;
        for (let di = -1; di <= 1 && peak; di++) {
          const ii = i + di;
          if (ii < 0 || ii >= R) continue;
          for (let dj = -1; dj <= 1; dj++) {
            const jj = j + dj;
            if ((di === 0 && dj === 0) || jj < 0 || jj >= C) continue;
            const q = heat[base + ii * C + jj]!;
            // ties: the earlier cell wins
            if (q > p || (q === p && (di < 0 || (di === 0 && dj < 0)))) {
              peak = false;
              break;
            }
          }
        }
        if (peak) cands.push({ k, c: i * C + j, p });
      }
    }
  }
  cands.sort((a, b) => b.p - a.p);
  const cell = grid.cellM * outStride;
  const dets: Decoded[] = [];
  for (const cd of cands) {
    if (dets.length >= opts.max_objects) break;
    const i = Math.floor(cd.c / C);
    const j = cd.c % C;
    const b = (ch: number) => box[ch * RC + cd.c]!;
    const x = grid.xMinM + (i + b(BOX.dx_cells)) * cell;
    const y = grid.yMinM + (j + b(BOX.dy_cells)) * cell;
    const r = opts.nms_radius_m[cd.k]!;
    let dup = false;
    for (const d of dets) {
      const rr = Math.max(r, opts.nms_radius_m[d.cls - 1]!);
      if ((d.x - x) ** 2 + (d.y - y) ** 2 < rr * rr) {
        dup = true;
        break;
      }
    }
    if (dup) continue;
    let psum = 0;
    for (let k = 0; k < K; k++) psum += heat[k * RC + cd.c]!;
    const length = Math.exp(clamp(b(BOX.log_l_m), -2, 3));
    const width = Math.exp(clamp(b(BOX.log_w_m), -2, 3));
    const m = opts.support_box_margin_m;
    // the box's axis is enough for its footprint (which way it points does not matter)
    const foot =
      m >= 0
        ? {
            yaw: 0.5 * Math.atan2(b(BOX.sin_2yaw), b(BOX.cos_2yaw)),
            halfL: length / 2 + m,
            halfW: width / 2 + m,
          }
        : null;
    const mods = supportOf(support, grid, x, y, cd.k, opts.support_radius_m, foot);
    const lidar = mods.includes(Modality.LIDAR);
    const radar = mods.includes(Modality.RADAR);
    const posStd = opts.pos_std_m[lidar ? 0 : radar ? 1 : 2]!;
    const velStd = radar ? opts.vel_std_radar_mps : opts.vel_std_no_radar_mps;
    dets.push({
      x,
      y,
      dtS: lidar && lidarDtS ? lidarDtS(x, y) : 0,
      z: b(BOX.z_m),
      covXX: posStd * posStd,
      covXY: 0,
      covYY: posStd * posStd,
      // a single sweep shows no motion: without radar the model's velocity is a learned prior
      // (traffic direction), handed over with a wider std; the tracker refines it over time
      vel:
        radar || opts.vel_std_no_radar_mps > 0
          ? { vx: b(BOX.vx_mps), vy: b(BOX.vy_mps), covXX: velStd * velStd, covXY: 0, covYY: velStd * velStd }
          : null,
      length,
      width,
      height: Math.exp(clamp(b(BOX.log_h_m), -2, 3)),
      yaw: yawOf(b(BOX.sin_2yaw), b(BOX.cos_2yaw), b(BOX.vx_mps), b(BOX.vy_mps)),
      yawConf: Math.min(1, Math.hypot(b(BOX.sin_2yaw), b(BOX.cos_2yaw))),
      shapeMeasured: lidar,
      cls: (cd.k + 1) as ObjectClass,
      clsConf: psum > 0 ? cd.p / psum : 1,
      score: cd.p,
      peak: cd.p,
      modalities: mods,
    });
  }
  return dets;
}

/**
 * Box yaw from the predicted orientation axis (sin 2yaw, cos 2yaw): the axis is what a single
 * sweep shows; which way along it the object points is the predicted velocity's direction when it
 * is at least `HEADING_MIN_SPEED_MPS` (heading.ts), else the axis's half towards +x (the tracker's motion
 * heading settles it later).
 */
export function yawOf(s2: number, c2: number, vx: number, vy: number): number {
  return alongVelocity(0.5 * Math.atan2(s2, c2), vx, vy); // axis in (-pi/2, pi/2]
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : Math.min(v, hi);
}

/**
 * Modalities with evidence near (x, y): LiDAR non-ground points, radar returns, or a camera
 * detection (its depth splat, or its ray of the object's class). "Near": cells within `radiusM`
 * of (x, y), and, with `box`, cells whose centres lie inside that oriented box (half extents in m):
 * a long truck's radar returns come from its near face, metres from its centre.
 */
export function supportOf(
  s: SupportRasters,
  g: BevGrid,
  x: number,
  y: number,
  k: number,
  radiusM: number,
  box: { yaw: number; halfL: number; halfW: number } | null = null,
): Modality[] {
  const N = g.rows * g.cols;
  const ci = Math.floor((x - g.xMinM) / g.cellM);
  const cj = Math.floor((y - g.yMinM) / g.cellM);
  const rad = Math.max(1, Math.round(radiusM / g.cellM));
  const ext = box ? Math.max(rad, Math.ceil(Math.hypot(box.halfL, box.halfW) / g.cellM)) : rad;
  const bc = box ? Math.cos(box.yaw) : 1;
  const bs = box ? Math.sin(box.yaw) : 0;
  const found = [false, false, false];
  for (let i = Math.max(0, ci - ext); i <= Math.min(g.rows - 1, ci + ext); i++) {
    for (let j = Math.max(0, cj - ext); j <= Math.min(g.cols - 1, cj + ext); j++) {
      if (Math.abs(i - ci) > rad || Math.abs(j - cj) > rad) {
        // outside the radius square: only cells inside the box count
        if (!box) continue;
        const dx = g.xMinM + (i + 0.5) * g.cellM - x;
        const dy = g.yMinM + (j + 0.5) * g.cellM - y;
        if (Math.abs(bc * dx + bs * dy) > box.halfL || Math.abs(-bs * dx + bc * dy) > box.halfW) continue;
      }
      const c = i * g.cols + j;
      if (s.lidar && s.lidar[c]! > 0) found[0] = true;
      if (s.radar && s.radar[c]! > 0) found[1] = true;
      if (s.camera && (s.camera[4 * N + c]! > 0.3 || (k < 4 && s.camera[k * N + c]! > 0.2))) found[2] = true;
    }
  }
  const out: Modality[] = [];
  if (found[0]) out.push(Modality.LIDAR);
  if (found[1]) out.push(Modality.RADAR);
  if (found[2]) out.push(Modality.CAMERA);
  return out;
}
