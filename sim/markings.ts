/**
 * Road markings for LiDAR intensity: painted lines (solid or dashed) along paths at lateral
 * offsets, and filled patches (crosswalk stripes), rasterised once into a bit grid of 0.2 m cells
 * over the scenario's extent. The LiDAR looks up each ground hit: paint is retro-reflective, so
 * marking returns are several times brighter than asphalt, as in real sweeps.
 */
import type { Path, PathPose } from "./path.ts";

export const MARKING_CELL_M = 0.2;

export interface MarkingLine {
  path: number;
  /** Lateral offset from the path, m (+ = left). */
  offset: number;
  /** Dash pattern (on, off) in m; solid when absent. */
  dash?: [number, number];
  /** No paint within `r` m of these points (intersections). */
  gaps?: { x: number; y: number; r: number }[];
}

/** A filled rectangle: centre, heading, length along the heading, width. */
export interface MarkingPatch {
  x: number;
  y: number;
  heading: number;
  length: number;
  width: number;
}

export class MarkingRaster {
  private readonly x0: number;
  private readonly y0: number;
  private readonly nx: number;
  private readonly ny: number;
  private readonly bits: Uint32Array;

  constructor(paths: Path[], lines: MarkingLine[], patches: MarkingPatch[]) {
    let minX = Number.POSITIVE_INFINITY;
    let minY = Number.POSITIVE_INFINITY;
    let maxX = Number.NEGATIVE_INFINITY;
    let maxY = Number.NEGATIVE_INFINITY;
    for (const p of paths)
      for (let i = 0; i < p.xs.length; i++) {
        minX = Math.min(minX, p.xs[i]!);
        maxX = Math.max(maxX, p.xs[i]!);
        minY = Math.min(minY, p.ys[i]!);
        maxY = Math.max(maxY, p.ys[i]!);
      }
    const margin = 20;
    this.x0 = (Number.isFinite(minX) ? minX : 0) - margin;
    this.y0 = (Number.isFinite(minY) ? minY : 0) - margin;
    this.nx = Math.ceil(((Number.isFinite(maxX) ? maxX : 0) + margin - this.x0) / MARKING_CELL_M);
    this.ny = Math.ceil(((Number.isFinite(maxY) ? maxY : 0) + margin - this.y0) / MARKING_CELL_M);
    this.bits = new Uint32Array(Math.ceil((this.nx * this.ny) / 32));
    const pose: PathPose = { x: 0, y: 0, heading: 0, curvature: 0 };
    const step = MARKING_CELL_M / 2;
    for (const l of lines) {
      const p = paths[l.path]!;
      const period = l.dash ? l.dash[0] + l.dash[1] : 0;
      for (let s = 0; s < p.length; s += step) {
        if (l.dash && s % period > l.dash[0]) continue;
        p.at(s, l.offset, pose);
        if (l.gaps?.some((g) => Math.hypot(pose.x - g.x, pose.y - g.y) < g.r)) continue;
        this.set(pose.x, pose.y);
      }
    }
    for (const q of patches) {
      const c = Math.cos(q.heading);
      const s = Math.sin(q.heading);
      for (let a = -q.length / 2; a <= q.length / 2; a += step)
        for (let b = -q.width / 2; b <= q.width / 2; b += step)
          this.set(q.x + c * a - s * b, q.y + s * a + c * b);
    }
  }

  private set(x: number, y: number): void {
    const i = Math.floor((x - this.x0) / MARKING_CELL_M);
    const j = Math.floor((y - this.y0) / MARKING_CELL_M);
    if (i < 0 || j < 0 || i >= this.nx || j >= this.ny) return;
    const k = j * this.nx + i;
    this.bits[k >>> 5]! |= 1 << (k & 31);
  }

  /** Is there paint at (x, y)? */
  at(x: number, y: number): boolean {
    const i = Math.floor((x - this.x0) / MARKING_CELL_M);
    const j = Math.floor((y - this.y0) / MARKING_CELL_M);
    if (i < 0 || j < 0 || i >= this.nx || j >= this.ny) return false;
    const k = j * this.nx + i;
    return (this.bits[k >>> 5]! & (1 << (k & 31))) !== 0;
  }
}
