/**
 * LiDAR object proposals (shared by both engines): ground segmentation (ground.ts), a BEV occupancy
 * grid of the remaining points, connected components, and an oriented box per component (L-shape
 * fit, shape.ts `fitOrientation`, on the occupied cells; extents from the points).
 *
 * Hot path: points stay in the PackedArray; the grid, the per-point bands and the per-point cells
 * are typed arrays reused across ticks (one clusterer per engine; ticks of different vehicles share
 * it sequentially).
 */
import type { PackedArray } from "../../msg/types.ts";
import type { LidarClusterOptions } from "./config.ts";
import { OVERHEAD, segmentGround, GROUND } from "./ground.ts";
import { fitOrientation, wrapHalfPi } from "./shape.ts";

export interface LidarCluster {
  /** Box centre of the measured extents, vehicle frame, m. */
  cx: number;
  cy: number;
  /** Measured footprint extents (length >= width), m, and the yaw of the length axis, rad. */
  length: number;
  width: number;
  yaw: number;
  /** Highest and lowest point above the ground, m. */
  zMax: number;
  zMin: number;
  points: number;
  /** Vertical spacing of the beams at the cluster's range, m: the top may be this much higher. */
  vertResM: number;
}

export class LidarClusterer {
  private readonly n: number;
  private readonly cell: number;
  private readonly half: number;
  /** Per cell: tick generation that last touched it (avoids clearing the grid). */
  private readonly mark: Uint32Array;
  /** Per cell: component label (valid where mark === gen). */
  private readonly label: Int32Array;
  /** Per cell: generation of the last tick that saw a point above max_height_m in it. */
  private readonly tall: Uint32Array;
  /** Per cell: sum of point x, y and count (mean point position feeds the orientation fit). */
  private readonly sumX: Float32Array;
  private readonly sumY: Float32Array;
  private readonly num: Uint16Array;
  /** Per cell: highest point, m. */
  private readonly top: Float32Array;
  private gen = 0;
  private occupied: Int32Array = new Int32Array(4096);
  private pointCell: Int32Array = new Int32Array(65536);
  /** Per point: height band of the ground segmentation. */
  private band: Uint8Array = new Uint8Array(65536);
  /** Per point: ground height under it (0 for the flat plane). */
  private groundZ: Float32Array = new Float32Array(65536);
  private stack: Int32Array = new Int32Array(4096);

  /**
   * @param sensor LiDAR origin in the vehicle frame (m) and the elevation step between its beams
   *   (rad): the vertical spacing of returns at range r is about r * elevStepRad.
   */
  constructor(
    private readonly cfg: LidarClusterOptions,
    private readonly sensor: { x: number; y: number; elevStepRad: number } = { x: 0, y: 0, elevStepRad: 0 },
  ) {
    this.cell = cfg.cell_m;
    this.half = cfg.grid_half_size_m;
    this.n = Math.ceil((2 * this.half) / this.cell);
    this.mark = new Uint32Array(this.n * this.n);
    this.label = new Int32Array(this.n * this.n);
    this.tall = new Uint32Array(this.n * this.n);
    this.sumX = new Float32Array(this.n * this.n);
    this.sumY = new Float32Array(this.n * this.n);
    this.num = new Uint16Array(this.n * this.n);
    this.top = new Float32Array(this.n * this.n);
  }

  cluster(pc: PackedArray): LidarCluster[] {
    const cfg = this.cfg;
    const fx = pc.fields["x"];
    const fy = pc.fields["y"];
    const fz = pc.fields["z"];
    if (fx === undefined || fy === undefined || fz === undefined) return [];
    const { data, stride, count } = pc;
    const n = this.n;
    const inv = 1 / this.cell;
    const half = this.half;
    const [exMin, exMax, eyMin, eyMax] = cfg.ego_box_m;
    if (++this.gen === 0xffffffff) {
      this.mark.fill(0);
      this.tall.fill(0);
      this.gen = 1;
    }
    const gen = this.gen;
    if (this.pointCell.length < count) {
      this.pointCell = new Int32Array(count * 2);
      this.band = new Uint8Array(count * 2);
      this.groundZ = new Float32Array(count * 2);
    }
    const pointCell = this.pointCell;
    const band = this.band;
    // heights above the ground: the local ground's when ground_local, else z itself (flat plane)
    const gz = cfg.ground_local ? this.groundZ : null;
    segmentGround(pc, cfg, band, gz ?? undefined);
    const mark = this.mark;
    const label = this.label;
    const tall = this.tall;
    const sumX = this.sumX;
    const sumY = this.sumY;
    const num = this.num;
    const top = this.top;

    // Pass 1: non-ground points into the grid.
    let nOcc = 0;
    for (let i = 0, o = 0; i < count; i++, o += stride) {
      pointCell[i] = -1;
      const b = band[i]!;
      if (b === GROUND) continue;
      const z = gz ? data[o + fz]! - gz[i]! : data[o + fz]!;
      const x = data[o + fx]!;
      const y = data[o + fy]!;
      if (x > exMin && x < exMax && y > eyMin && y < eyMax) continue;
      const gx = Math.floor((x + half) * inv);
      const gy = Math.floor((y + half) * inv);
      if (!(gx >= 0 && gy >= 0 && gx < n && gy < n)) continue; // also drops NaN
      const c = gy * n + gx;
      if (b === OVERHEAD) {
        // Above every object class: marks the cell as part of a tall structure.
        tall[c] = gen;
        continue;
      }
      pointCell[i] = c;
      if (mark[c] !== gen) {
        mark[c] = gen;
        label[c] = -1;
        sumX[c] = 0;
        sumY[c] = 0;
        num[c] = 0;
        top[c] = z;
        if (nOcc === this.occupied.length) this.occupied = grow(this.occupied);
        this.occupied[nOcc++] = c;
      }
      sumX[c]! += x;
      sumY[c]! += y;
      if (z > top[c]!) top[c] = z;
      if (num[c]! < 65535) num[c]!++;
    }

    // Pass 2: connected components over occupied cells: cells within `rNear` cells of each other
    // join (`rFar` beyond cluster_far_range_m, where returns are sparser).
    const farR2 = (cfg.cluster_far_range_m * inv) ** 2;
    const rNear = Math.max(1, Math.round(cfg.cluster_link_m * inv));
    const rFar = Math.max(rNear, Math.round(cfg.cluster_link_far_m * inv));
    const ctr = half * inv;
    // Cells whose top is lower than cluster_min_top_m (kerbs, barriers, guard rails) take no part:
    // they would chain the objects beside them into one long cluster.
    // Far away the beams are too sparse to see an object's top: lower the bar by the beam spacing.
    // Near the sensor a real surface fills a cell with many returns; a lone return or two there is
    // rain or fog backscatter.
    const minTop = cfg.cluster_min_top_m;
    const step = this.sensor.elevStepRad;
    const nearR = cfg.near_range_m;
    const nearMin = cfg.near_min_cell_points;
    for (let k = 0; k < nOcc; k++) {
      const c = this.occupied[k]!;
      const low = top[c]! < minTop;
      const few = num[c]! < nearMin;
      if (!low && !few) continue;
      const gx = c % n;
      const r = Math.hypot(
        (gx + 0.5) * this.cell - half - this.sensor.x,
        ((c - gx) / n + 0.5) * this.cell - half - this.sensor.y,
      );
      if ((few && r < nearR) || (low && top[c]! < minTop - r * step)) label[c] = -2;
    }
    // Flood fill from `seed` over cells labelled `free`; returns the bounding-box diagonal, m.
    const flood = (seed: number, lab: number, free: number, tight: boolean): number => {
      label[seed] = lab;
      let sp = 0;
      this.stack[sp++] = seed;
      let x0 = n;
      let x1 = -1;
      let y0 = n;
      let y1 = -1;
      while (sp > 0) {
        const c = this.stack[--sp]!;
        const gx = c % n;
        const gy = (c - gx) / n;
        if (gx < x0) x0 = gx;
        if (gx > x1) x1 = gx;
        if (gy < y0) y0 = gy;
        if (gy > y1) y1 = gy;
        const r = tight ? 1 : (gx - ctr) ** 2 + (gy - ctr) ** 2 > farR2 ? rFar : rNear;
        for (let dy = -r; dy <= r; dy++) {
          const yy = gy + dy;
          if (yy < 0 || yy >= n) continue;
          for (let dx = -r; dx <= r; dx++) {
            const xx = gx + dx;
            if (xx < 0 || xx >= n) continue;
            const nc = yy * n + xx;
            if (mark[nc] !== gen || label[nc] !== free) continue;
            label[nc] = lab;
            if (sp === this.stack.length) this.stack = grow(this.stack);
            this.stack[sp++] = nc;
          }
        }
      }
      return Math.hypot(x1 - x0 + 1, y1 - y0 + 1) * this.cell;
    };
    let nLab = 0;
    const long: number[] = [];
    for (let k = 0; k < nOcc; k++) {
      const seed = this.occupied[k]!;
      if (label[seed] !== -1) continue;
      const lab = nLab++;
      if (flood(seed, lab, -1, false) > cfg.max_object_length_m) long.push(lab);
    }
    // Components too long for any object (a truck beside a car in the next lane, a car against a
    // wall) are split again with the tightest link; what is still too long is structure.
    // Only those as wide as vehicles abreast: a wall is thin, a building corner wide or tall.
    if (long.length) {
      const isLong = new Uint8Array(nLab);
      for (const l of long) isLong[l] = 1;
      const m = long.length;
      const idx = new Int32Array(nLab).fill(-1);
      long.forEach((l, i) => {
        idx[l] = i;
      });
      const st = new Float64Array(m * 7); // n, sx, sy, sxx, sxy, syy, tall
      for (let k = 0; k < nOcc; k++) {
        const c = this.occupied[k]!;
        const l = label[c]!;
        if (l < 0 || !isLong[l]) continue;
        const o = idx[l]! * 7;
        const gx = c % n;
        const x = gx * this.cell;
        const y = ((c - gx) / n) * this.cell;
        st[o]! += 1;
        st[o + 1]! += x;
        st[o + 2]! += y;
        st[o + 3]! += x * x;
        st[o + 4]! += x * y;
        st[o + 5]! += y * y;
        if (tall[c] === gen) st[o + 6]! += 1;
      }
      for (let i = 0; i < m; i++) {
        const o = i * 7;
        const cn = st[o]!;
        const mx = st[o + 1]! / cn;
        const my = st[o + 2]! / cn;
        const a = st[o + 3]! / cn - mx * mx;
        const b = st[o + 4]! / cn - mx * my;
        const d = st[o + 5]! / cn - my * my;
        const lmin = (a + d) / 2 - Math.sqrt(((a - d) / 2) ** 2 + b * b);
        const width = Math.sqrt(12 * Math.max(lmin, 0));
        const split = width >= 2.5 && width <= 5.5 && st[o + 6]! <= cfg.max_tall_cell_fraction * cn;
        if (!split) isLong[long[i]!] = 0;
      }
      for (let k = 0; k < nOcc; k++) {
        const c = this.occupied[k]!;
        if (label[c]! >= 0 && isLong[label[c]!]) label[c] = -3;
      }
      for (let k = 0; k < nOcc; k++) {
        const seed = this.occupied[k]!;
        if (label[seed] === -3) flood(seed, nLab++, -3, true);
      }
    }
    if (nLab === 0) return [];

    // Pass 3: per-component point counts and height range.
    const cnt = new Int32Array(nLab);
    const zMax = new Float32Array(nLab).fill(Number.NEGATIVE_INFINITY);
    const zMin = new Float32Array(nLab).fill(Number.POSITIVE_INFINITY);
    const cellCnt = new Int32Array(nLab);
    const tallCnt = new Int32Array(nLab);
    for (let k = 0; k < nOcc; k++) {
      const c = this.occupied[k]!;
      const l = label[c]!;
      if (l < 0) continue;
      cellCnt[l]!++;
      if (tall[c] === gen) tallCnt[l]!++;
    }
    for (let i = 0, o = 0; i < count; i++, o += stride) {
      const c = pointCell[i]!;
      if (c < 0) continue;
      const l = label[c]!;
      if (l < 0) continue;
      cnt[l]!++;
      const z = gz ? data[o + fz]! - gz[i]! : data[o + fz]!;
      if (z > zMax[l]!) zMax[l] = z;
      if (z < zMin[l]!) zMin[l] = z;
    }

    // Cells grouped by component (counting sort) for the orientation search.
    const cellStart = new Int32Array(nLab + 1);
    for (let l = 0; l < nLab; l++) cellStart[l + 1] = cellStart[l]! + cellCnt[l]!;
    const fill = cellStart.slice(0, nLab);
    const cellsByLab = new Int32Array(nOcc);
    for (let k = 0; k < nOcc; k++) {
      const c = this.occupied[k]!;
      const l = label[c]!;
      if (l >= 0) cellsByLab[fill[l]!++] = c;
    }

    const keep = new Int32Array(nLab).fill(-1);
    const out: LidarCluster[] = [];
    const cxs: number[] = [];
    const cys: number[] = [];
    for (let l = 0; l < nLab; l++) {
      if (cnt[l]! < cfg.min_cluster_points) continue;
      // Mostly under something taller than any object: a building, a tree, a sign gantry.
      if (tallCnt[l]! > cfg.max_tall_cell_fraction * cellCnt[l]!) continue;
      // Mean point position of each cell of this component.
      cxs.length = 0;
      cys.length = 0;
      for (let k = cellStart[l]!; k < cellStart[l + 1]!; k++) {
        const c = cellsByLab[k]!;
        cxs.push(sumX[c]! / num[c]!);
        cys.push(sumY[c]! / num[c]!);
      }
      const theta = fitOrientation(cxs, cys, this.cell);
      keep[l] = out.length;
      out.push({
        cx: 0,
        cy: 0,
        length: 0,
        width: 0,
        yaw: theta,
        zMax: zMax[l]!,
        zMin: zMin[l]!,
        points: cnt[l]!,
        vertResM: 0,
      });
    }
    if (out.length === 0) return out;

    // Pass 4: extents of the points along each component's axes.
    const m = out.length;
    const lo1 = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
    const hi1 = new Float64Array(m).fill(Number.NEGATIVE_INFINITY);
    const lo2 = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
    const hi2 = new Float64Array(m).fill(Number.NEGATIVE_INFINITY);
    const cs = new Float64Array(m);
    const sn = new Float64Array(m);
    for (let q = 0; q < m; q++) {
      cs[q] = Math.cos(out[q]!.yaw);
      sn[q] = Math.sin(out[q]!.yaw);
    }
    for (let i = 0, o = 0; i < count; i++, o += stride) {
      const c = pointCell[i]!;
      if (c < 0) continue;
      const l = label[c]!;
      if (l < 0) continue;
      const q = keep[l]!;
      if (q < 0) continue;
      const x = data[o + fx]!;
      const y = data[o + fy]!;
      const a = cs[q]! * x + sn[q]! * y;
      const b = -sn[q]! * x + cs[q]! * y;
      if (a < lo1[q]!) lo1[q] = a;
      if (a > hi1[q]!) hi1[q] = a;
      if (b < lo2[q]!) lo2[q] = b;
      if (b > hi2[q]!) hi2[q] = b;
    }
    for (let q = 0; q < m; q++) {
      const cl = out[q]!;
      let l1 = hi1[q]! - lo1[q]!;
      let l2 = hi2[q]! - lo2[q]!;
      const a = (hi1[q]! + lo1[q]!) / 2;
      const b = (hi2[q]! + lo2[q]!) / 2;
      cl.cx = cs[q]! * a - sn[q]! * b;
      cl.cy = sn[q]! * a + cs[q]! * b;
      if (l2 > l1) {
        [l1, l2] = [l2, l1];
        cl.yaw += Math.PI / 2;
      }
      cl.length = l1;
      cl.width = l2;
      cl.vertResM = Math.hypot(cl.cx - this.sensor.x, cl.cy - this.sensor.y) * this.sensor.elevStepRad;
      cl.yaw = wrapHalfPi(cl.yaw);
    }
    return out;
  }

  /**
   * Points of the last clustered sweep in the grid (above the ground, under the overhead band,
   * outside the ego box) in cells whose centre lies within `r` of (x, y) (vehicle frame, m): the
   * LiDAR's support for an object placed there. Cells at the `cluster` call's state; O(cells in r).
   */
  pointsNear(x: number, y: number, r: number): number {
    const n = this.n;
    const inv = 1 / this.cell;
    const gx0 = Math.floor((x + this.half) * inv);
    const gy0 = Math.floor((y + this.half) * inv);
    const k = Math.ceil(r * inv);
    const r2 = r * r;
    let total = 0;
    for (let gy = Math.max(0, gy0 - k); gy <= Math.min(n - 1, gy0 + k); gy++)
      for (let gx = Math.max(0, gx0 - k); gx <= Math.min(n - 1, gx0 + k); gx++) {
        const c = gy * n + gx;
        if (this.mark[c] !== this.gen) continue;
        const dx = (gx + 0.5) * this.cell - this.half - x;
        const dy = (gy + 0.5) * this.cell - this.half - y;
        if (dx * dx + dy * dy <= r2) total += this.num[c]!;
      }
    return total;
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
