/**
 * Ground segmentation of a LiDAR sweep (vehicle frame): every point gets a height band, written into
 * a caller-owned Uint8Array (one byte per point, no per-point objects). The model is a flat ground
 * plane at z = 0: a point no higher than `ground_height_m` is ground, one at or above `max_height_m`
 * is overhead structure (buildings, trees, gantries), the rest may belong to an object. A point
 * without a finite height is ground (never clustered).
 *
 * The clusterer (cluster.ts) reads the bands; a better ground model (a local ground height per
 * cell, for sloped or kerbed real streets) replaces this function without touching the clusterer.
 * The learned engine's rasterizer keeps its own height band (src/fusion/bev/rasterize.ts): it is
 * part of the model contract, and changing it changes the rasters the models were trained on.
 */
import type { PackedArray } from "../../msg/types.ts";
import type { GroundOptions } from "./config.ts";

/** Height bands of a point. */
export const GROUND = 0;
export const OBJECT = 1;
export const OVERHEAD = 2;
export type HeightBand = typeof GROUND | typeof OBJECT | typeof OVERHEAD;

/**
 * Band of every point of `pc` into `out[0..count)` (`out` at least `pc.count` long); returns the
 * number of OBJECT points. Without a z field every point is ground.
 */
export function segmentGround(
  pc: PackedArray,
  opts: GroundOptions,
  out: Uint8Array,
  /**
   * Optional, written by the local ground only (`ground_local`): each point's ground height. With the
   * flat plane the ground is z = 0 and it is left alone.
   */
  groundZ?: Float32Array,
): number {
  const { data, stride, count } = pc;
  const fz = pc.fields["z"];
  if (fz === undefined) {
    out.fill(GROUND, 0, count);
    return 0;
  }
  if (opts.ground_local) return segmentLocal(pc, opts, out, groundZ);
  const zLo = opts.ground_height_m;
  const zHi = opts.max_height_m;
  let objects = 0;
  for (let i = 0, o = fz; i < count; i++, o += stride) {
    const z = data[o]!;
    if (!(z > zLo)) out[i] = GROUND;
    else if (!(z < zHi)) out[i] = OVERHEAD;
    else {
      out[i] = OBJECT;
      objects++;
    }
  }
  return objects;
}

/** Local ground grid: 128 m square around the vehicle (beyond it, the flat plane). */
const LOCAL_HALF_M = 64;
let scratch: { n: number; lo: Float32Array; g: Float32Array } | null = null;

/**
 * Heights relative to a local ground: per `ground_cell_m` cell the lowest point (a point lower than
 * 3 m below the plane is a reflection, not ground), then each cell's ground limited to
 * `ground_max_step_m` above its lowest neighbour's (a cell filled by a car or a wall does not lift
 * the ground to its bottom), and within -3 m..5 m; cells without points take z = 0.
 */
function segmentLocal(pc: PackedArray, opts: GroundOptions, out: Uint8Array, groundZ?: Float32Array): number {
  const { data, stride, count } = pc;
  const fx = pc.fields["x"];
  const fy = pc.fields["y"];
  const fz = pc.fields["z"]!;
  if (fx === undefined || fy === undefined) {
    groundZ?.fill(0, 0, count); // the flat plane, for a caller that reads heights from groundZ
    return segmentGround(pc, { ...opts, ground_local: false }, out);
  }
  const cm = opts.ground_cell_m;
  const n = Math.ceil((2 * LOCAL_HALF_M) / cm);
  if (!scratch || scratch.n !== n) scratch = { n, lo: new Float32Array(n * n), g: new Float32Array(n * n) };
  const { lo, g } = scratch;
  lo.fill(Number.POSITIVE_INFINITY);
  const cellOf = (x: number, y: number) => {
    const r = Math.floor((x + LOCAL_HALF_M) / cm);
    const c = Math.floor((y + LOCAL_HALF_M) / cm);
    return r < 0 || r >= n || c < 0 || c >= n ? -1 : r * n + c;
  };
  for (let i = 0, o = 0; i < count; i++, o += stride) {
    const z = data[o + fz]!;
    if (!(z > -3)) continue;
    const k = cellOf(data[o + fx]!, data[o + fy]!);
    if (k >= 0 && z < lo[k]!) lo[k] = z;
  }
  const step = opts.ground_max_step_m;
  for (let r = 0; r < n; r++)
    for (let c = 0; c < n; c++) {
      const k = r * n + c;
      let v = lo[k]!;
      let nb = Number.POSITIVE_INFINITY;
      for (let dr = -1; dr <= 1; dr++)
        for (let dc = -1; dc <= 1; dc++) {
          if (!dr && !dc) continue;
          const rr = r + dr;
          const cc = c + dc;
          if (rr < 0 || rr >= n || cc < 0 || cc >= n) continue;
          const w = lo[rr * n + cc]!;
          if (w < nb) nb = w;
        }
      if (Number.isFinite(nb)) v = Math.min(v, nb + step);
      g[k] = Number.isFinite(v) ? Math.max(-3, Math.min(5, v)) : 0;
    }
  const zLo = opts.ground_height_m;
  const zHi = opts.max_height_m;
  let objects = 0;
  for (let i = 0, o = 0; i < count; i++, o += stride) {
    const z = data[o + fz]!;
    const k = cellOf(data[o + fx]!, data[o + fy]!);
    const gz = k >= 0 ? g[k]! : 0;
    if (groundZ) groundZ[i] = gz;
    const h = z - gz;
    if (!(h > zLo)) out[i] = GROUND;
    else if (!(h < zHi)) out[i] = OVERHEAD;
    else {
      out[i] = OBJECT;
      objects++;
    }
  }
  return objects;
}
