/**
 * The one BEV rasterizer: turns an AlignedTick (+ modality mask) into the model's input tensors.
 * Used by dataset export (train/export-dataset.ts) and by live inference (src/fusion/learned), so
 * training and serving see identical inputs.
 *
 * Per modality 6 channels on the grid of ./grid.ts (see CHANNELS there):
 * - LiDAR: non-ground point count (log), max height, mean sub-cell x offset, mean intensity,
 *   the previous sweep's non-ground point count (log; its points moved into this tick's vehicle
 *   frame by the ego motion between the two ticks: what moved shows as a displaced pair, what stands
 *   still as an overlap), mean sub-cell y offset (offsets of the points from their cell's centre, in
 *   half cells: -1..1; they carry the surface's position below the 1 m cell size).
 * - Radar: return count (log), mean sub-cell x offset, mean ego-compensated radial velocity times the
 *   line of sight's x and y components, mean sub-cell y offset (offsets in half cells, as for LiDAR),
 *   mean RCS.
 * - Camera: each 2D detection's centre ray marched over the grid per class (max score), a Gaussian
 *   splat at the detection's estimated ground position (flat-ground intersection of the box's
 *   bottom centre, or a class height prior), and the static field-of-view coverage of the rig.
 * A masked (or absent) modality is all zeros, exactly as modality dropout does in training.
 *
 * Hot path: points stay in typed arrays; accumulators are preallocated per rasterizer.
 */
import type { AlignedTick } from "../../align/types.ts";

/** What the rasterizer reads of a tick (the preparation worker rebuilds exactly this). */
export type RasterTick = Pick<
  AlignedTick,
  "vehicle" | "stampNs" | "reset" | "ego" | "inputs" | "lidar" | "radar" | "cameras"
>;
import type { HealthSnapshot, PerceptionModality } from "../../health/types.ts";
import type { PackedArray } from "../../msg/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import { type CameraModel, cameraModelOf, pixelToGround, depthFromHeight, pixelAtDepth } from "../camera.ts";
import {
  type BevGrid,
  CHANNELS,
  DEFAULT_GRID,
  EGO_FEATURES,
  HEALTH_FEATURES,
  RASTER_MODALITIES,
} from "./grid.ts";

export interface RasterOptions {
  /** Points below this height (vehicle frame) count as ground, m. */
  groundZM: number;
  /** Points above this height are ignored (overhangs, vegetation), m. */
  maxZM: number;
  /** Height of the ground plane in the vehicle frame, used for camera ray-ground intersection, m. */
  groundPlaneZM: number;
  /** Typical object height per class (car, truck, pedestrian, cyclist), m, for camera depth. */
  classHeightM: readonly [number, number, number, number];
  /** The previous sweep counts only when it is at most this much older than the tick, s. */
  prevMaxAgeS: number;
}

export const DEFAULT_RASTER_OPTIONS: RasterOptions = Object.freeze({
  groundZM: 0.3,
  maxZM: 4,
  groundPlaneZM: 0,
  classHeightM: [1.6, 3.2, 1.75, 1.7] as const,
  prevMaxAgeS: 0.25,
});

/** Most vehicles whose previous sweep is kept; beyond it the memory is cleared (bounded). */
const MAX_HISTORY_VEHICLES = 256;
/** Previous-sweep points are kept this far beyond the grid (the ego moves between ticks), m. */
const HISTORY_MARGIN_M = 10;

/**
 * One vehicle's last LiDAR sweep: non-ground points (x, y pairs, vehicle frame) and the ego pose.
 * The tick being rasterized writes its points into `spare` in the same pass that rasterizes them,
 * while `xy` still holds the previous sweep; the two swap afterwards.
 */
interface SweepMemory {
  stampNs: number;
  valid: boolean;
  x: number;
  y: number;
  yaw: number;
  xy: Float32Array;
  n: number;
  spare: Float32Array;
}

/** Model inputs for one frame (or a batch, when the arrays hold several frames back to back). */
export interface BevFrame {
  lidar: Float32Array;
  radar: Float32Array;
  camera: Float32Array;
  ego: Float32Array;
  health: Float32Array;
}

/** Channels per modality raster (the contract's lists are equally long, model-contract.ts checks it). */
export const CH_PER_MODALITY = CHANNELS.lidar.length;
/** Per-modality health vector length (mask flag + the four HealthSnapshot features). */
const NH = HEALTH_FEATURES.length;
const LN_COUNT_L = Math.log1p(32);
const LN_COUNT_R = Math.log1p(8);

export type ModalityMask = Record<PerceptionModality, boolean>;
export const ALL_ON: ModalityMask = Object.freeze({ lidar: true, radar: true, camera: true });

function field(arr: PackedArray, name: string): number {
  const f = arr.fields[name];
  if (f === undefined) throw new Error(`packed array lacks field '${name}'`);
  return f;
}

export class BevRasterizer {
  readonly grid: BevGrid;
  readonly opts: RasterOptions;
  readonly cellsPerChannel: number;
  readonly planeSize: number;
  private readonly cams = new Map<string, CameraModel>();
  private readonly fov: Float32Array;
  // accumulators, one slot per cell
  private readonly cnt: Float32Array;
  private readonly s1: Float32Array;
  private readonly s2: Float32Array;
  private readonly s3: Float32Array;
  private readonly mx: Float32Array;
  private readonly mn: Float32Array;
  private readonly history = new Map<string, SweepMemory>();

  /** Forget a vehicle's previous sweep (the vehicle was evicted or its pipeline restarted). */
  forget(vehicle: string): void {
    this.history.delete(vehicle);
  }
  /** LiDAR plane that observe() rasterizes into and discards. */
  private scratch: Float32Array | null = null;

  constructor(rig: RigConfig, grid: BevGrid = DEFAULT_GRID, opts: RasterOptions = DEFAULT_RASTER_OPTIONS) {
    this.grid = grid;
    this.opts = opts;
    const n = grid.rows * grid.cols;
    this.cellsPerChannel = n;
    this.planeSize = CH_PER_MODALITY * n;
    this.cnt = new Float32Array(n);
    this.s1 = new Float32Array(n);
    this.s2 = new Float32Array(n);
    this.s3 = new Float32Array(n);
    this.mx = new Float32Array(n);
    this.mn = new Float32Array(n);
    for (const s of rig.sensors) {
      const cam = cameraModelOf(s);
      if (cam) this.cams.set(cam.id, cam);
    }
    this.fov = this.fovMask();
  }

  /** Allocate a frame (or a batch of `batch` frames). */
  alloc(batch = 1): BevFrame {
    return {
      lidar: new Float32Array(batch * this.planeSize),
      radar: new Float32Array(batch * this.planeSize),
      camera: new Float32Array(batch * this.planeSize),
      ego: new Float32Array(batch * EGO_FEATURES.length),
      health: new Float32Array(batch * RASTER_MODALITIES.length * NH),
    };
  }

  /**
   * Rasterize `tick` into slot `b` of `out`. Masked modalities are written as zeros and their
   * health vector as zeros (flag 0). `health` supplies the four health features per modality;
   * when absent, features are derived from the tick itself (see tickHealthFeatures).
   */
  rasterize(
    tick: RasterTick,
    mask: ModalityMask,
    health: HealthSnapshot["features"] | null,
    out: BevFrame,
    b = 0,
  ): void {
    const P = this.planeSize;
    const lid = out.lidar.subarray(b * P, (b + 1) * P);
    const rad = out.radar.subarray(b * P, (b + 1) * P);
    const cam = out.camera.subarray(b * P, (b + 1) * P);
    lid.fill(0);
    rad.fill(0);
    cam.fill(0);
    const useL = mask.lidar && tick.lidar !== null;
    const useR = mask.radar && tick.radar !== null;
    const useC = mask.camera && tick.cameras.length > 0;
    const mem = this.memoryFor(tick, mask);
    if (useL) {
      const kept = this.lidarInto(tick.lidar!, lid, mem?.spare ?? null);
      this.previousInto(tick, lid.subarray(4 * this.cellsPerChannel, 5 * this.cellsPerChannel));
      if (mem) this.remember(mem, tick, kept);
    }
    if (useR) this.radarInto(tick.radar!, rad);
    if (useC) this.cameraInto(tick, cam);
    const e = out.ego;
    e[b * 2] = (tick.ego.valid ? tick.ego.speed : 0) / 20;
    e[b * 2 + 1] = (tick.ego.valid ? tick.ego.yawRate : 0) / 0.5;
    const feats = health ?? tickHealthFeatures(tick);
    const h = out.health;
    const mods = RASTER_MODALITIES;
    // flag = modality used this tick: masked or absent modalities read exactly like dropout
    const used = [useL, useR, useC];
    for (let m = 0; m < mods.length; m++) {
      const o = (b * mods.length + m) * NH;
      const on = used[m]!;
      const f = feats[mods[m]!];
      h[o] = on ? 1 : 0;
      for (let k = 0; k < NH - 1; k++) h[o + 1 + k] = on ? f[k]! : 0;
    }
  }

  /**
   * Remember the tick's LiDAR sweep (non-ground points and ego pose) as its vehicle's previous
   * sweep. rasterize() calls it; call it for ticks that are not rasterized (dataset export keeps
   * every n-th tick) so the next raster's previous sweep is the one just before it. A masked or
   * absent LiDAR forgets the vehicle's sweep; a reset tick does not use the one before it.
   */
  observe(tick: RasterTick, mask: ModalityMask = ALL_ON): void {
    const mem = this.memoryFor(tick, mask);
    if (!mem) return;
    this.scratch ??= new Float32Array(this.planeSize);
    this.remember(mem, tick, this.lidarInto(tick.lidar!, this.scratch, mem.spare));
  }

  /** The vehicle's sweep memory with room for this tick's points; null (and forgotten) without LiDAR. */
  private memoryFor(tick: RasterTick, mask: ModalityMask): SweepMemory | null {
    const pts = tick.lidar;
    if (!mask.lidar || !pts || pts.count === 0) {
      this.history.delete(tick.vehicle);
      return null;
    }
    let m = this.history.get(tick.vehicle);
    if (!m) {
      if (this.history.size >= MAX_HISTORY_VEHICLES) this.history.clear();
      m = {
        stampNs: 0,
        valid: false,
        x: 0,
        y: 0,
        yaw: 0,
        xy: new Float32Array(0),
        n: 0,
        spare: new Float32Array(0),
      };
      this.history.set(tick.vehicle, m);
    }
    if (m.spare.length < 2 * pts.count) m.spare = new Float32Array(2 * pts.count);
    return m;
  }

  /** This tick's points (`kept` pairs in `m.spare`) become the vehicle's previous sweep. */
  private remember(m: SweepMemory, tick: RasterTick, kept: number): void {
    const xy = m.xy;
    m.xy = m.spare;
    m.spare = xy;
    m.n = kept;
    m.stampNs = tick.stampNs;
    m.valid = tick.ego.valid;
    m.x = tick.ego.x;
    m.y = tick.ego.y;
    m.yaw = tick.ego.yaw;
  }

  /** The vehicle's previous sweep, moved into this tick's vehicle frame, as log counts into `out`. */
  private previousInto(tick: RasterTick, out: Float32Array): void {
    const m = this.history.get(tick.vehicle);
    if (!m?.valid || !tick.ego.valid || tick.reset) return;
    const age = (tick.stampNs - m.stampNs) / 1e9;
    if (!(age > 0 && age <= this.opts.prevMaxAgeS)) return;
    // previous vehicle frame -> world -> this vehicle frame: p' = R(-yaw) (R(yaw0) p + t0 - t)
    const dyaw = m.yaw - tick.ego.yaw;
    const c = Math.cos(dyaw);
    const s = Math.sin(dyaw);
    const cy = Math.cos(tick.ego.yaw);
    const sy = Math.sin(tick.ego.yaw);
    const wx = m.x - tick.ego.x;
    const wy = m.y - tick.ego.y;
    const tx = cy * wx + sy * wy;
    const ty = -sy * wx + cy * wy;
    const cnt = this.cnt; // free again after lidarInto
    cnt.fill(0);
    const xy = m.xy;
    for (let p = 0; p < m.n; p++) {
      const x = xy[2 * p]!;
      const y = xy[2 * p + 1]!;
      const k = this.cellOf(c * x - s * y + tx, s * x + c * y + ty);
      if (k >= 0) cnt[k]! += 1;
    }
    for (let k = 0; k < out.length; k++) {
      const v = cnt[k]!;
      if (v > 0) out[k] = Math.log1p(v) / LN_COUNT_L;
    }
  }

  private cellOf(x: number, y: number): number {
    const g = this.grid;
    const i = Math.floor((x - g.xMinM) / g.cellM);
    const j = Math.floor((y - g.yMinM) / g.cellM);
    if (i < 0 || j < 0 || i >= g.rows || j >= g.cols) return -1;
    return i * g.cols + j;
  }

  private resetAcc(): void {
    this.cnt.fill(0);
    this.s1.fill(0);
    this.s2.fill(0);
    this.s3.fill(0);
    this.mx.fill(Number.NEGATIVE_INFINITY);
    this.mn.fill(Number.POSITIVE_INFINITY);
  }

  /**
   * LiDAR channels of `pts` into `out`. With `keep`, the same pass also copies the non-ground points
   * within HISTORY_MARGIN_M of the grid into it (x, y pairs) for the next tick's previous-sweep
   * channel; returns how many.
   */
  private lidarInto(pts: PackedArray, out: Float32Array, keep: Float32Array | null): number {
    const fx = field(pts, "x");
    const fy = field(pts, "y");
    const fz = field(pts, "z");
    const fi = pts.fields["intensity"];
    const { groundZM, maxZM } = this.opts;
    const g = this.grid;
    const N = this.cellsPerChannel;
    this.resetAcc();
    const d = pts.data;
    const st = pts.stride;
    const sx = this.mn; // reused: sum of the points' x offsets from their cell's centre, cells
    sx.fill(0);
    const kx0 = g.xMinM - HISTORY_MARGIN_M;
    const kx1 = g.xMinM + g.rows * g.cellM + HISTORY_MARGIN_M;
    const ky0 = g.yMinM - HISTORY_MARGIN_M;
    const ky1 = g.yMinM + g.cols * g.cellM + HISTORY_MARGIN_M;
    let kept = 0;
    for (let p = 0, o = 0; p < pts.count; p++, o += st) {
      const z = d[o + fz]!;
      if (!(z <= maxZM) || z < groundZM) continue; // also drops NaN
      const x = d[o + fx]!;
      const y = d[o + fy]!;
      if (keep && x >= kx0 && x < kx1 && y >= ky0 && y < ky1) {
        keep[2 * kept] = x;
        keep[2 * kept + 1] = y;
        kept++;
      }
      const c = this.cellOf(x, y);
      if (c < 0) continue;
      this.cnt[c]! += 1;
      // sub-cell position: where in its 1 m cell the object's surface is
      const u = (x - g.xMinM) / g.cellM;
      const v = (y - g.yMinM) / g.cellM;
      sx[c]! += u - Math.floor(u) - 0.5;
      this.s1[c]! += v - Math.floor(v) - 0.5;
      let it = fi === undefined ? 0 : d[o + fi]!;
      if (it > 1.5) it /= 255;
      this.s2[c]! += it;
      if (z > this.mx[c]!) this.mx[c] = z;
    }
    for (let c = 0; c < N; c++) {
      const n = this.cnt[c]!;
      if (n === 0) continue;
      out[c] = Math.log1p(n) / LN_COUNT_L;
      out[N + c] = this.mx[c]! / maxZM;
      out[2 * N + c] = (2 * sx[c]!) / n;
      out[3 * N + c] = this.s2[c]! / n;
      out[5 * N + c] = (2 * this.s1[c]!) / n;
    }
    return kept;
  }

  private radarInto(ret: PackedArray, out: Float32Array): void {
    const fx = field(ret, "x");
    const fy = field(ret, "y");
    const fvr = field(ret, "vr");
    const frcs = field(ret, "rcs");
    const fux = field(ret, "ux");
    const fuy = field(ret, "uy");
    const g = this.grid;
    const N = this.cellsPerChannel;
    this.resetAcc();
    const sy = this.mx; // reused: sum of the returns' y offsets from their cell's centre, cells
    sy.fill(0);
    const d = ret.data;
    const st = ret.stride;
    for (let p = 0, o = 0; p < ret.count; p++, o += st) {
      const x = d[o + fx]!;
      const y = d[o + fy]!;
      const c = this.cellOf(x, y);
      if (c < 0) continue;
      const vr = d[o + fvr]!;
      const rcs = (d[o + frcs]! + 10) / 40;
      if (!Number.isFinite(vr) || !Number.isFinite(rcs)) continue;
      this.cnt[c]! += 1;
      // sub-cell position, as for LiDAR: a return's range is good to a few decimetres
      const u = (x - g.xMinM) / g.cellM;
      const v = (y - g.yMinM) / g.cellM;
      this.s1[c]! += u - Math.floor(u) - 0.5;
      sy[c]! += v - Math.floor(v) - 0.5;
      this.s2[c]! += vr * d[o + fux]!;
      this.s3[c]! += vr * d[o + fuy]!;
      this.mn[c] = Number.isFinite(this.mn[c]!) ? this.mn[c]! + rcs : rcs; // sum of rcs
    }
    for (let c = 0; c < N; c++) {
      const n = this.cnt[c]!;
      if (n === 0) continue;
      out[c] = Math.min(1.5, Math.log1p(n) / LN_COUNT_R);
      out[N + c] = (2 * this.s1[c]!) / n;
      out[2 * N + c] = this.s2[c]! / n / 20;
      out[3 * N + c] = this.s3[c]! / n / 20;
      out[4 * N + c] = (2 * sy[c]!) / n;
      out[5 * N + c] = this.mn[c]! / n;
    }
  }

  private cameraInto(tick: RasterTick, out: Float32Array): void {
    const g = this.grid;
    const N = this.cellsPerChannel;
    const step = g.cellM * 0.5;
    let any = false;
    for (const obs of tick.cameras) {
      const cam = this.cams.get(obs.sensorId);
      if (!cam) continue;
      any = true;
      const sx = obs.width > 0 ? cam.width / obs.width : 1; // detections may come at another resolution
      const sy = obs.height > 0 ? cam.height / obs.height : 1;
      for (const det of obs.detections) {
        const score = det.score;
        if (!(score > 0)) continue;
        const u = ((det.xMin + det.xMax) / 2) * sx;
        const vBottom = det.yMax * sy;
        const hPx = (det.yMax - det.yMin) * sy;
        const k = det.cls >= 1 && det.cls <= 4 ? det.cls - 1 : -1;
        // centre ray in the ground plane: direction of the pixel column at the horizon row
        const far = pixelAtDepth(cam, u, cam.cy, 1);
        let dx = far[0] - cam.t[0]!;
        let dy = far[1] - cam.t[1]!;
        const dn = Math.hypot(dx, dy);
        if (dn < 1e-9) continue;
        dx /= dn;
        dy /= dn;
        if (k >= 0) {
          const base = k * N;
          let last = -1;
          for (let s = 0.5; s < cam.maxRangeM; s += step) {
            const c = this.cellOf(cam.t[0]! + s * dx, cam.t[1]! + s * dy);
            if (c < 0 || c === last) continue;
            last = c;
            if (score > out[base + c]!) out[base + c] = score;
          }
        }
        // estimated position: flat-ground intersection of the bottom centre, else height prior
        let px: number;
        let py: number;
        const gp = pixelToGround(cam, u, vBottom, this.opts.groundPlaneZM);
        const hPrior = this.opts.classHeightM[Math.max(k, 0)]!;
        if (gp && Math.hypot(gp[0] - cam.t[0]!, gp[1] - cam.t[1]!) < cam.maxRangeM * 1.5) {
          px = gp[0];
          py = gp[1];
        } else {
          const depth = depthFromHeight(cam, hPrior, hPx);
          if (!Number.isFinite(depth)) continue;
          const p = pixelAtDepth(cam, u, cam.cy, depth);
          px = p[0];
          py = p[1];
        }
        this.splat(
          out,
          4 * N,
          px,
          py,
          Math.max(0.75, 0.06 * Math.hypot(px - cam.t[0]!, py - cam.t[1]!)),
          score,
        );
      }
    }
    if (any) out.set(this.fov, 5 * N);
  }

  private splat(out: Float32Array, base: number, x: number, y: number, sigmaM: number, peak: number): void {
    const g = this.grid;
    const ci = (x - g.xMinM) / g.cellM - 0.5;
    const cj = (y - g.yMinM) / g.cellM - 0.5;
    const rad = Math.ceil((2.5 * sigmaM) / g.cellM);
    const i0 = Math.max(0, Math.floor(ci) - rad);
    const i1 = Math.min(g.rows - 1, Math.ceil(ci) + rad);
    const j0 = Math.max(0, Math.floor(cj) - rad);
    const j1 = Math.min(g.cols - 1, Math.ceil(cj) + rad);
    const inv = (g.cellM * g.cellM) / (2 * sigmaM * sigmaM);
    for (let i = i0; i <= i1; i++) {
      for (let j = j0; j <= j1; j++) {
        const v = peak * Math.exp(-((i - ci) ** 2 + (j - cj) ** 2) * inv);
        const c = base + i * g.cols + j;
        if (v > out[c]!) out[c] = v;
      }
    }
  }

  /** 1 where at least one camera of the rig sees the cell centre (within its max range). */
  private fovMask(): Float32Array {
    const g = this.grid;
    const m = new Float32Array(this.cellsPerChannel);
    const tmp = new Float64Array(3);
    for (const cam of this.cams.values()) {
      const halfW = Math.atan2(cam.width / 2, cam.fx);
      for (let i = 0; i < g.rows; i++) {
        for (let j = 0; j < g.cols; j++) {
          const x = g.xMinM + (i + 0.5) * g.cellM;
          const y = g.yMinM + (j + 0.5) * g.cellM;
          const R = cam.R;
          const dx = x - cam.t[0]!;
          const dy = y - cam.t[1]!;
          const dz = this.opts.groundPlaneZM + 0.8 - cam.t[2]!;
          tmp[0] = R[0]! * dx + R[3]! * dy + R[6]! * dz;
          tmp[1] = R[1]! * dx + R[4]! * dy + R[7]! * dz;
          if (tmp[0] <= 0.5) continue;
          const az = Math.atan2(tmp[1], tmp[0]);
          if (Math.abs(az) <= halfW && Math.hypot(tmp[0], tmp[1]) <= cam.maxRangeM) m[i * g.cols + j] = 1;
        }
      }
    }
    return m;
  }
}

/**
 * Health features derived from the tick alone, for dataset export (no health monitor offline):
 * [present fraction of the modality's sensors, freshness, rate ratio, content ok]. The live
 * service uses the health monitor's snapshot instead; training jitters these to cover both.
 */
export function tickHealthFeatures(tick: RasterTick): HealthSnapshot["features"] {
  const out = {} as HealthSnapshot["features"];
  for (const m of ["lidar", "radar", "camera"] as const) {
    const ins = tick.inputs.filter((x) => x.kind === m);
    const present = ins.filter((x) => x.status === "present").length;
    const frac = ins.length ? present / ins.length : 0;
    let fresh = 0;
    for (const x of ins) {
      if (x.stampNs === null) continue;
      const ageMs = Math.abs(tick.stampNs - x.stampNs) / 1e6;
      fresh += Math.max(0, 1 - ageMs / 300);
    }
    fresh = ins.length ? fresh / ins.length : 0;
    const content =
      m === "lidar"
        ? Number(tick.lidar !== null && tick.lidar.count > 0)
        : m === "radar"
          ? Number(tick.radar !== null)
          : Number(tick.cameras.length > 0);
    out[m] = [frac > 0 ? 1 : 0, fresh, frac, content];
  }
  return out;
}

export { CHANNELS };
