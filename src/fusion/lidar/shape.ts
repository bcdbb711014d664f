/**
 * Shape of LiDAR objects (shared by both engines): orientation fit of a cluster (L-shape), class
 * from box size, class size priors, completion of partially seen boxes, and box geometry.
 *
 * A LiDAR cluster shows only the faces turned to the sensor, so its measured box is too small and
 * its centre is biased towards the sensor. Once the class is known, the box is grown to the class
 * prior away from the sensor along each axis.
 */
import { ObjectClass } from "../../msg/types.ts";

/** Typical [length, width, height] per class, m (nuScenes-like means). */
export const CLASS_PRIOR_DIMS: Record<ObjectClass, [number, number, number]> = {
  [ObjectClass.UNKNOWN]: [1, 1, 1],
  [ObjectClass.CAR]: [4.6, 1.9, 1.6],
  [ObjectClass.TRUCK]: [9.5, 2.5, 3.4],
  [ObjectClass.PEDESTRIAN]: [0.6, 0.6, 1.75],
  [ObjectClass.CYCLIST]: [1.8, 0.6, 1.7],
};

export interface SizeClass {
  cls: ObjectClass;
  /** Confidence of the class, 0..1. */
  conf: number;
  /** false: not an object (ground clutter, pole, wall). */
  object: boolean;
}

/** Measured footprint (length >= width), top and bottom above the ground, m. */
export interface MeasuredSize {
  length: number;
  width: number;
  height: number;
  bottom?: number;
}

/** Longest footprint of an object, and highest bottom (a higher one floats: a roof), m. */
export interface SizeLimits {
  maxLengthM: number;
  maxBottomM?: number;
}

/**
 * Class from the measured footprint (length >= width, yaw of the length axis), top and bottom
 * height above the ground, m, and (when a moving track covers the cluster) the motion heading in
 * the same frame. Measured heights run up to ~0.5 m under the true ones (beam spacing).
 * LiDAR alone separates these classes poorly when only one face is seen; the confidence says so.
 * Without motion, a short thin face is called a car (rear or front): cars outnumber cyclists.
 */
export function classifyBySize(
  box: MeasuredSize,
  limits: SizeLimits,
  motion: { yaw: number; heading: number; speed: number } | null = null,
): SizeClass {
  const { length, width, height } = box;
  const bottom = box.bottom ?? 0;
  const maxLengthM = limits.maxLengthM;
  const maxBottomM = limits.maxBottomM ?? Number.POSITIVE_INFINITY;
  const no = { cls: ObjectClass.UNKNOWN, conf: 0, object: false };
  if (length > maxLengthM || height < 0.5 || bottom > maxBottomM) return no;
  if (height >= 2.3) {
    if (length < 1.0 && width < 1.0) return no; // pole, trunk, sign post
    return { cls: ObjectClass.TRUCK, conf: length > 3 ? 0.6 : 0.4, object: true };
  }
  if (height < 1.15) return { cls: ObjectClass.UNKNOWN, conf: 0.2, object: true };
  if (length <= 1.0 && width <= 1.0) {
    // A bicycle seen end-on is as small as a walker, but faster; a far car's few returns faster still.
    if (motion && motion.speed > 3 && motion.speed < 9)
      return { cls: ObjectClass.CYCLIST, conf: 0.45, object: true };
    if (motion && motion.speed >= 9) return { cls: ObjectClass.CAR, conf: 0.35, object: true };
    return { cls: ObjectClass.PEDESTRIAN, conf: 0.5, object: true };
  }
  if (length > 6.8) return { cls: ObjectClass.TRUCK, conf: 0.45, object: true };
  if (length <= 2.3 && width <= 1.0) {
    if (motion) {
      const across = Math.abs(Math.sin(motion.heading - motion.yaw));
      if (across < 0.5) return { cls: ObjectClass.CYCLIST, conf: 0.5, object: true }; // side of a bike
      if (across > 0.7) return { cls: ObjectClass.CAR, conf: 0.5, object: true }; // back of a car
    }
    return { cls: ObjectClass.CAR, conf: 0.3, object: true };
  }
  return { cls: ObjectClass.CAR, conf: length > 2.5 && width > 1.2 ? 0.6 : 0.45, object: true };
}

export interface Box2D {
  cx: number;
  cy: number;
  length: number;
  width: number;
  yaw: number;
}

/**
 * Grow a measured box to the class prior away from the sensor at (sx, sy). Decides which measured
 * axis is the object's length axis: a single face about as wide as the class is the front or back.
 */
export function completeBox(
  m: Box2D,
  cls: ObjectClass,
  sx: number,
  sy: number,
  heading: number | null = null,
): Box2D {
  const [Lp, Wp] = CLASS_PRIOR_DIMS[cls];
  if (cls === ObjectClass.UNKNOWN) return { ...m };
  let yaw = m.yaw;
  let L = m.length; // extent along yaw
  let W = m.width;
  // Which measured axis is the object's length axis: the one it moves along, else by shape.
  const across =
    heading === null
      ? m.length <= Wp * 1.3 && m.width < 0.5 * Wp && Lp > Wp * 1.5
      : Math.abs(Math.sin(heading - m.yaw)) > Math.SQRT1_2;
  if (across) {
    // Only the front or back face is seen: the length axis is across it.
    yaw += Math.PI / 2;
    [L, W] = [W, L];
  }
  const tL = Math.max(L, Lp);
  const tW = Math.max(W, Wp);
  const c = Math.cos(yaw);
  const s = Math.sin(yaw);
  const rx = m.cx - sx;
  const ry = m.cy - sy;
  const sideL = c * rx + s * ry >= 0 ? 1 : -1;
  const sideW = -s * rx + c * ry >= 0 ? 1 : -1;
  const dL = ((tL - L) / 2) * sideL;
  const dW = ((tW - W) / 2) * sideW;
  return {
    cx: m.cx + c * dL - s * dW,
    cy: m.cy + s * dL + c * dW,
    length: tL,
    width: tW,
    yaw: wrapPi(yaw),
  };
}

export function wrapPi(a: number): number {
  return a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));
}

/** Wrap to [-pi/2, pi/2): box yaw is pi-ambiguous. */
export function wrapHalfPi(a: number): number {
  return a - Math.PI * Math.floor((a + Math.PI / 2) / Math.PI);
}

const ANGLE_COARSE_STEPS = 18; // 5 deg over 90 deg
const ANGLE_FINE_STEPS = 5; // +-2 deg around the best coarse angle

/**
 * Yaw in [0, pi/2) of the rectangle that best hugs the points, by the closeness criterion:
 * each point scores 1 / max(d, d0) where d is its distance to the nearer rectangle edge of
 * each axis. Coarse search every 5 deg, then a fine search around the best.
 */
export function fitOrientation(xs: number[], ys: number[], cell: number): number {
  const np = xs.length;
  if (np < 3) return 0;
  const d0 = Math.max(0.02, cell / 10);
  const score = (th: number): number => {
    const c = Math.cos(th);
    const s = Math.sin(th);
    let lo1 = Number.POSITIVE_INFINITY;
    let hi1 = Number.NEGATIVE_INFINITY;
    let lo2 = Number.POSITIVE_INFINITY;
    let hi2 = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < np; i++) {
      const a = c * xs[i]! + s * ys[i]!;
      const b = -s * xs[i]! + c * ys[i]!;
      if (a < lo1) lo1 = a;
      if (a > hi1) hi1 = a;
      if (b < lo2) lo2 = b;
      if (b > hi2) hi2 = b;
    }
    let sc = 0;
    for (let i = 0; i < np; i++) {
      const a = c * xs[i]! + s * ys[i]!;
      const b = -s * xs[i]! + c * ys[i]!;
      const da = Math.min(a - lo1, hi1 - a);
      const db = Math.min(b - lo2, hi2 - b);
      sc += 1 / Math.max(Math.min(da, db), d0);
    }
    return sc;
  };
  const step = Math.PI / 2 / ANGLE_COARSE_STEPS;
  let best = 0;
  let bestS = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < ANGLE_COARSE_STEPS; k++) {
    const sc = score(k * step);
    if (sc > bestS) {
      bestS = sc;
      best = k * step;
    }
  }
  const fine = step / (ANGLE_FINE_STEPS + 1);
  const base = best;
  for (let k = -ANGLE_FINE_STEPS; k <= ANGLE_FINE_STEPS; k++) {
    if (k === 0) continue;
    const th = base + k * fine;
    const sc = score(th);
    if (sc > bestS) {
      bestS = sc;
      best = th;
    }
  }
  return best;
}

/**
 * Distance from the centre of an ego-aligned box (length along the vehicle x axis) to its outline
 * along a ray of vehicle-frame bearing `bearing`: how far behind the first surface hit the centre is.
 */
export function surfaceToCentre(length: number, width: number, bearing: number): number {
  const c = Math.abs(Math.cos(bearing));
  const s = Math.abs(Math.sin(bearing));
  return Math.min(
    c > 1e-6 ? length / 2 / c : Number.POSITIVE_INFINITY,
    s > 1e-6 ? width / 2 / s : Number.POSITIVE_INFINITY,
  );
}

/** Distance from (x, y) to an oriented rectangle's footprint (0 inside). */
export function distToBox(
  x: number,
  y: number,
  cx: number,
  cy: number,
  length: number,
  width: number,
  yaw: number,
): number {
  const c = Math.cos(yaw);
  const s = Math.sin(yaw);
  const dx = x - cx;
  const dy = y - cy;
  const a = Math.abs(c * dx + s * dy) - length / 2;
  const b = Math.abs(-s * dx + c * dy) - width / 2;
  return Math.hypot(Math.max(a, 0), Math.max(b, 0));
}
