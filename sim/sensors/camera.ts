/**
 * Camera: 2D detections (box, class, score) from projecting every object's 3D box through the
 * intrinsics, as a detector running on the camera would report them. Body-frame convention of
 * docs/DECISIONS.md D5: u = cx - fx*y/x, v = cy - fy*z/x.
 * Realism: occlusion by nearer objects (image-box overlap) and by scenery (sight lines), misses that rise with distance, occlusion,
 * night and fog, false positives, class confusion and box noise. With camera frames on, a small
 * JPEG (<= 320 px wide) rendering the scene is published too (before the detections, same stamp).
 */
import { ImageEncoding, ObjectClass, type Detection2D, type SensorPayload } from "../../src/msg/types.ts";
import { encodeJpeg } from "../jpeg.ts";
import { type Mount, mountOf, newPose, type SensorPose, segmentHitsBox, sensorPose } from "../frames.ts";
import type { Rng } from "../rng.ts";
import type { EgoKinematics } from "../world.ts";
import { newEgoKinematics } from "../world.ts";
import type { CaptureContext, Conditions, ModelDeps, SensorModel } from "./types.ts";

const WEATHER: Record<Conditions, { pd: number; rangeM: number; confusion: number; fp: number }> = {
  clear: { pd: 1, rangeM: Number.POSITIVE_INFINITY, confusion: 1, fp: 1 },
  rain: { pd: 0.9, rangeM: 120, confusion: 1.5, fp: 1.5 },
  fog: { pd: 0.85, rangeM: 35, confusion: 2, fp: 1.5 },
  night: { pd: 0.65, rangeM: 60, confusion: 2.5, fp: 2.5 },
};
const CONFUSE: Record<number, ObjectClass> = {
  [ObjectClass.CAR]: ObjectClass.TRUCK,
  [ObjectClass.TRUCK]: ObjectClass.CAR,
  [ObjectClass.PEDESTRIAN]: ObjectClass.CYCLIST,
  [ObjectClass.CYCLIST]: ObjectClass.PEDESTRIAN,
  [ObjectClass.UNKNOWN]: ObjectClass.UNKNOWN,
};
const COLORS: Record<number, [number, number, number]> = {
  [ObjectClass.UNKNOWN]: [120, 110, 100],
  [ObjectClass.CAR]: [40, 70, 160],
  [ObjectClass.TRUCK]: [170, 60, 40],
  [ObjectClass.PEDESTRIAN]: [220, 180, 60],
  [ObjectClass.CYCLIST]: [60, 170, 80],
};

interface Proj {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  depth: number;
  cls: ObjectClass;
  dynamic: boolean;
  /** Fraction of the box inside the image. */
  inImage: number;
  /** Index in the world's box arrays, and the box centre (world, at the capture time). */
  index: number;
  wx: number;
  wy: number;
}

export class CameraModel implements SensorModel {
  readonly sensor: ModelDeps["sensor"];
  private readonly rng: Rng;
  private readonly m: NonNullable<ModelDeps["sensor"]["camera"]>;
  private readonly mount: Mount;
  private readonly weather: (typeof WEATHER)[Conditions];
  private readonly conditions: Conditions;
  private readonly pose: SensorPose = newPose();
  private readonly ego: EgoKinematics = newEgoKinematics();
  private readonly corners = new Float64Array(24);

  constructor(
    d: ModelDeps,
    private readonly frames: boolean,
  ) {
    this.sensor = d.sensor;
    this.rng = d.rng;
    this.m = d.sensor.camera!;
    this.mount = mountOf(d.sensor);
    this.weather = WEATHER[d.conditions];
    this.conditions = d.conditions;
  }

  /** Project every box in view; nearest first. */
  private project(ctx: CaptureContext): Proj[] {
    const { world, tNs } = ctx;
    const B = world.boxes;
    const m = this.m;
    const p = sensorPose(world.egoAt(tNs, this.ego), this.mount, this.pose);
    const R = p.R;
    const dt = (tNs - world.tNs) / 1e9;
    const out: Proj[] = [];
    const cc = this.corners;
    for (let i = 0; i < B.count; i++) {
      const bx = B.x[i]! + B.vx[i]! * dt;
      const by = B.y[i]! + B.vy[i]! * dt;
      const dx = bx - p.ox;
      const dy = by - p.oy;
      const dist = Math.hypot(dx, dy);
      if (dist > m.max_range_m * 1.5 + 30) continue;
      // Quick reject: box centre well behind the camera.
      if (R[0]! * dx + R[3]! * dy < -Math.hypot(B.hl[i]!, B.hw[i]!)) continue;
      const c = Math.cos(B.yaw[i]!);
      const s = Math.sin(B.yaw[i]!);
      let behind = false;
      let x0 = Number.POSITIVE_INFINITY;
      let y0 = Number.POSITIVE_INFINITY;
      let x1 = Number.NEGATIVE_INFINITY;
      let y1 = Number.NEGATIVE_INFINITY;
      let depth = Number.POSITIVE_INFINITY;
      for (let k = 0; k < 8; k++) {
        const ax = (k & 1 ? 1 : -1) * B.hl[i]!;
        const ay = (k & 2 ? 1 : -1) * B.hw[i]!;
        const az = (k & 4 ? 1 : -1) * B.hh[i]!;
        const wx = bx + c * ax - s * ay - p.ox;
        const wy = by + s * ax + c * ay - p.oy;
        const wz = B.z[i]! + az - p.oz;
        const sx = R[0]! * wx + R[3]! * wy + R[6]! * wz;
        const sy = R[1]! * wx + R[4]! * wy + R[7]! * wz;
        const sz = R[2]! * wx + R[5]! * wy + R[8]! * wz;
        if (sx < 0.5) {
          behind = true;
          break;
        }
        const u = m.cx - (m.fx * sy) / sx;
        const v = m.cy - (m.fy * sz) / sx;
        cc[k * 3] = u;
        if (u < x0) x0 = u;
        if (u > x1) x1 = u;
        if (v < y0) y0 = v;
        if (v > y1) y1 = v;
        if (sx < depth) depth = sx;
      }
      if (behind) continue;
      const cx0 = Math.max(0, x0);
      const cy0 = Math.max(0, y0);
      const cx1 = Math.min(m.width, x1);
      const cy1 = Math.min(m.height, y1);
      if (cx1 <= cx0 || cy1 <= cy0) continue;
      const full = (x1 - x0) * (y1 - y0);
      out.push({
        x0: cx0,
        y0: cy0,
        x1: cx1,
        y1: cy1,
        depth,
        cls: B.cls[i] as ObjectClass,
        dynamic: B.dynamic[i] === 1,
        inImage: ((cx1 - cx0) * (cy1 - cy0)) / full,
        index: i,
        wx: bx,
        wy: by,
      });
    }
    out.sort((a, b) => a.depth - b.depth);
    return out;
  }

  /** Fraction of 5 sight lines (centre and corners at mid-height) not blocked by scenery. */
  private sightLinesClear(ctx: CaptureContext, q: Proj, projs: Proj[]): number {
    const B = ctx.world.boxes;
    const p = this.pose;
    const i = q.index;
    const c = Math.cos(B.yaw[i]!);
    const s = Math.sin(B.yaw[i]!);
    const z = B.z[i]!;
    let clear = 0;
    for (let k = 0; k < 5; k++) {
      const ax = k === 0 ? 0 : (k & 1 ? 1 : -1) * B.hl[i]! * 0.9;
      const ay = k === 0 ? 0 : (k & 2 ? 1 : -1) * B.hw[i]! * 0.9;
      const px = q.wx + c * ax - s * ay;
      const py = q.wy + s * ax + c * ay;
      let blocked = false;
      for (const o of projs) {
        if (o.dynamic || o.depth >= q.depth + 60) continue;
        if (o.x1 < q.x0 || o.x0 > q.x1 || o.y1 < q.y0 || o.y0 > q.y1) continue;
        const j = o.index;
        if (
          segmentHitsBox(
            p.ox,
            p.oy,
            p.oz,
            px,
            py,
            z,
            o.wx,
            o.wy,
            B.z[j]!,
            B.yaw[j]!,
            B.hl[j]!,
            B.hw[j]!,
            B.hh[j]!,
          )
        ) {
          blocked = true;
          break;
        }
      }
      if (!blocked) clear++;
    }
    return clear / 5;
  }

  capture(ctx: CaptureContext): SensorPayload[] {
    const rng = this.rng;
    const m = this.m;
    const w = this.weather;
    const projs = this.project(ctx);
    const dets: Detection2D[] = [];
    for (let i = 0; i < projs.length; i++) {
      const q = projs[i]!;
      if (!q.dynamic || q.depth > m.max_range_m) continue;
      // Occlusion by nearer objects: fraction of the box covered by their boxes (capped at 1).
      const area = (q.x1 - q.x0) * (q.y1 - q.y0);
      let covered = 0;
      for (let j = 0; j < i; j++) {
        const o = projs[j]!;
        if (!o.dynamic) continue;
        const ix = Math.min(q.x1, o.x1) - Math.max(q.x0, o.x0);
        const iy = Math.min(q.y1, o.y1) - Math.max(q.y0, o.y0);
        if (ix > 0 && iy > 0) covered += ix * iy;
      }
      // Occlusion by scenery (large boxes: their image rectangle says little): sight lines from the
      // camera to the centre and the four corners of the object, at mid-height.
      const seen = this.sightLinesClear(ctx, q, projs);
      const visible = Math.max(0, 1 - covered / area) * q.inImage * seen;
      const hPx = q.y1 - q.y0;
      if (visible < 0.3 || hPx < 6) continue;
      const sizeF = Math.min(1, hPx / 40);
      const rangeF = Number.isFinite(w.rangeM) ? Math.exp(-q.depth / w.rangeM) : 1;
      const pd = m.p_detect * w.pd * (0.5 + 0.5 * sizeF) * (0.4 + 0.6 * visible) * rangeF;
      if (rng.next() >= pd) continue;
      const bw = q.x1 - q.x0;
      const sigma = m.box_noise_frac * ctx.noise;
      let x0 = q.x0 + sigma * bw * rng.gauss();
      let x1 = q.x1 + sigma * bw * rng.gauss();
      let y0 = q.y0 + sigma * hPx * rng.gauss();
      let y1 = q.y1 + sigma * hPx * rng.gauss();
      if (x1 < x0) [x0, x1] = [x1, x0];
      if (y1 < y0) [y0, y1] = [y1, y0];
      const cls = rng.next() < m.p_class_confusion * w.confusion ? CONFUSE[q.cls]! : q.cls;
      const score = Math.max(
        0.05,
        Math.min(0.99, 0.45 + 0.35 * visible * sizeF + 0.15 * rangeF + 0.08 * rng.gauss()),
      );
      dets.push({
        xMin: clamp(x0, 0, m.width),
        yMin: clamp(y0, 0, m.height),
        xMax: clamp(x1, 0, m.width),
        yMax: clamp(y1, 0, m.height),
        cls,
        score,
      });
    }
    const nFp = rng.poisson(m.false_positives_per_frame * w.fp);
    for (let k = 0; k < nFp; k++) {
      const bh = rng.uniform(15, 120);
      const bw = bh * rng.uniform(0.4, 2);
      const x0 = rng.uniform(0, m.width - bw);
      const y0 = rng.uniform(m.cy - bh, Math.min(m.height - bh, m.cy + bh * 0.5));
      const cls = rng.pick([ObjectClass.CAR, ObjectClass.PEDESTRIAN, ObjectClass.CYCLIST, ObjectClass.TRUCK]);
      dets.push({
        xMin: clamp(x0, 0, m.width),
        yMin: clamp(y0, 0, m.height),
        xMax: clamp(x0 + bw, 0, m.width),
        yMax: clamp(y0 + bh, 0, m.height),
        cls,
        score: rng.uniform(0.2, 0.55),
      });
    }
    const out: SensorPayload[] = [];
    if (this.frames) out.push(this.render(projs));
    out.push({ kind: "camera_detections", width: m.width, height: m.height, detections: dets });
    return out;
  }

  /** A small JPEG of the scene: sky, ground, and the projected boxes painted far to near. */
  private render(projs: Proj[]): SensorPayload {
    const m = this.m;
    const W = Math.min(m.frame_width_px, m.width);
    const scale = W / m.width;
    const H = Math.max(8, Math.round(m.height * scale));
    const rgba = new Uint8Array(W * H * 4);
    const night = this.conditions === "night";
    const fog = this.conditions === "fog";
    const horizon = m.cy * scale;
    const rng = this.rng;
    for (let y = 0; y < H; y++) {
      const sky = y < horizon;
      const base: [number, number, number] = sky
        ? night
          ? [10, 12, 25]
          : fog
            ? [200, 200, 205]
            : [135, 170, 215]
        : night
          ? [25, 25, 28]
          : fog
            ? [150, 150, 150]
            : [90, 90, 95];
      for (let x = 0; x < W; x++) {
        const o = (y * W + x) * 4;
        const n = (rng.u32() & 15) - 8;
        rgba[o] = base[0] + n;
        rgba[o + 1] = base[1] + n;
        rgba[o + 2] = base[2] + n;
        rgba[o + 3] = 255;
      }
    }
    for (let i = projs.length - 1; i >= 0; i--) {
      const q = projs[i]!;
      const col = q.dynamic ? COLORS[q.cls]! : [150, 140, 130];
      const dim = night ? 0.3 : fog ? Math.max(0.2, Math.exp(-q.depth / 35)) : 1;
      const x0 = Math.max(0, Math.floor(q.x0 * scale));
      const x1 = Math.min(W, Math.ceil(q.x1 * scale));
      const y0 = Math.max(0, Math.floor(q.y0 * scale));
      const y1 = Math.min(H, Math.ceil(q.y1 * scale));
      for (let y = y0; y < y1; y++)
        for (let x = x0; x < x1; x++) {
          const o = (y * W + x) * 4;
          rgba[o] = col[0]! * dim + rgba[o]! * (1 - dim);
          rgba[o + 1] = col[1]! * dim + rgba[o + 1]! * (1 - dim);
          rgba[o + 2] = col[2]! * dim + rgba[o + 2]! * (1 - dim);
        }
    }
    return {
      kind: "camera_image",
      width: W,
      height: H,
      encoding: ImageEncoding.JPEG,
      data: encodeJpeg(rgba, W, H, 60),
    };
  }
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
