/**
 * Class from box size, class size priors, and completion of partially seen boxes.
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

/**
 * Class from the measured footprint (length >= width) and top height above the ground, m.
 * LiDAR alone separates these classes poorly when only one face is seen; the confidence says so.
 */
export function classifyBySize(length: number, width: number, height: number, maxLengthM: number): SizeClass {
  if (length > maxLengthM || height > 4.6) return { cls: ObjectClass.UNKNOWN, conf: 0, object: false };
  if (height < 0.5) return { cls: ObjectClass.UNKNOWN, conf: 0, object: false };
  if (height >= 2.4) {
    if (length < 1.0) return { cls: ObjectClass.UNKNOWN, conf: 0, object: false }; // pole, tree trunk
    return { cls: ObjectClass.TRUCK, conf: length > 3 ? 0.6 : 0.4, object: true };
  }
  if (height < 1.0) return { cls: ObjectClass.UNKNOWN, conf: 0.2, object: true };
  if (length <= 1.1 && width <= 1.1) return { cls: ObjectClass.PEDESTRIAN, conf: 0.5, object: true };
  if (length <= 2.3 && width <= 0.9 && length < 1.5)
    return { cls: ObjectClass.CYCLIST, conf: 0.35, object: true };
  if (length > 6.8) return { cls: ObjectClass.TRUCK, conf: 0.45, object: true };
  return { cls: ObjectClass.CAR, conf: length > 2.5 && width > 1.2 ? 0.6 : 0.4, object: true };
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
export function completeBox(m: Box2D, cls: ObjectClass, sx: number, sy: number): Box2D {
  const [Lp, Wp] = CLASS_PRIOR_DIMS[cls];
  if (cls === ObjectClass.UNKNOWN) return { ...m };
  let yaw = m.yaw;
  let L = m.length; // extent along yaw
  let W = m.width;
  if (m.length <= Wp * 1.3 && m.width < 0.5 * Wp && Lp > Wp * 1.5) {
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
  const along = c * rx + s * ry >= 0 ? 1 : -1;
  const across = -s * rx + c * ry >= 0 ? 1 : -1;
  const dL = ((tL - L) / 2) * along;
  const dW = ((tW - W) / 2) * across;
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
