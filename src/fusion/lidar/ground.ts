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
export function segmentGround(pc: PackedArray, opts: GroundOptions, out: Uint8Array): number {
  const { data, stride, count } = pc;
  const fz = pc.fields["z"];
  if (fz === undefined) {
    out.fill(GROUND, 0, count);
    return 0;
  }
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
