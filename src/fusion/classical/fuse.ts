/**
 * Stage 4 of the classical detector: one candidate becomes one TrackDetection. Class from the
 * camera, else the LiDAR size class, else radar cross-section and speed; position by inverse
 * variance over the LiDAR box (completed to the class prior), the radar centroid (without LiDAR)
 * and the monocular estimate; velocity by least squares over the radial velocities; score by
 * independent-evidence combination of the modalities.
 */
import { Modality, ObjectClass } from "../../msg/types.ts";
import { CLASS_PRIOR_DIMS, completeBox, surfaceToCentre } from "../lidar/shape.ts";
import type { TrackDetection } from "../tracker/types.ts";
import type { Candidate } from "./candidate.ts";
import type { ClassicalConfig } from "./config.ts";

/** A LiDAR face at most this long may be a bicycle's side (a cyclist's prior length x 1.3), m. */
const SHORT_FACE_M = 2.3;

/** Velocity prior across the radar line of sight, m/s (1 sigma): radar says nothing there. */
const VEL_PRIOR_STD_MPS = 15;

export interface FuseOptions {
  cfg: Pick<
    ClassicalConfig,
    "lidar_pos_std_m" | "radar_moving_mps" | "radar_car_rcs_dbsm" | "radar_truck_rcs_dbsm"
  >;
  /** The reference LiDAR's origin in the vehicle frame (box completion grows away from it), m. */
  sensorX: number;
  sensorY: number;
}

/** Class of a radar-seen object from its strongest RCS, and speed for the small ones. */
export function classByRcs(c: Candidate, cfg: FuseOptions["cfg"]): ObjectClass {
  if (c.maxRcs >= cfg.radar_truck_rcs_dbsm) return ObjectClass.TRUCK;
  if (c.maxRcs >= cfg.radar_car_rcs_dbsm || !Number.isFinite(c.maxRcs)) return ObjectClass.CAR;
  const speed = Math.max(c.speedHint ?? 0, c.maxAbsVr);
  return speed > 3 ? ObjectClass.CYCLIST : ObjectClass.PEDESTRIAN;
}

/** The detection of one candidate, or null (no class, or no position information). */
export function fuseCandidate(c: Candidate, o: FuseOptions): TrackDetection | null {
  const cfg = o.cfg;
  // Class: the camera's when it saw the object, else the LiDAR size class, else radar's default.
  let cls: ObjectClass = ObjectClass.UNKNOWN;
  let clsConf = 0;
  if (c.camScore > 0 && c.camCls !== ObjectClass.UNKNOWN) {
    cls = c.camCls;
    clsConf = c.camScore;
  } else if (c.lidar && c.lidar.cls !== ObjectClass.UNKNOWN) {
    cls = c.lidar.cls;
    clsConf = c.lidar.conf;
  } else if (c.radarN > 0 && (!c.lidar || c.maxAbsVr >= cfg.radar_moving_mps)) {
    // radar-only objects, and low or sparse LiDAR clusters that radar sees moving: by RCS and speed
    cls = classByRcs(c, cfg);
    clsConf = 0.3;
  }
  // A weakly reflecting object that LiDAR took for a car from a short face (a car's back or a
  // bicycle's side) is a bicycle or a walker. Not a longer face: no bicycle is that long, and real
  // cars' radar cross-sections run low (scene-0523: a quarter of the cars' strongest return is
  // under 1.5 dBsm).
  if (
    cls === ObjectClass.CAR &&
    clsConf <= 0.45 &&
    (!c.lidar || c.lidar.length <= SHORT_FACE_M) &&
    c.camScore === 0 &&
    c.radarN > 0 &&
    c.maxRcs < cfg.radar_car_rcs_dbsm
  ) {
    cls = classByRcs(c, cfg);
    clsConf = 0.35;
  }
  if (cls === ObjectClass.UNKNOWN) return null;
  const [pL, pW, pH] = CLASS_PRIOR_DIMS[cls];

  // Position: information-weighted sum of the available estimates.
  let Ixx = 0;
  let Ixy = 0;
  let Iyy = 0;
  let bx = 0;
  let by = 0;
  const addPos = (x: number, y: number, xx: number, xy: number, yy: number) => {
    const det = xx * yy - xy * xy;
    const ixx = yy / det;
    const ixy = -xy / det;
    const iyy = xx / det;
    Ixx += ixx;
    Ixy += ixy;
    Iyy += iyy;
    bx += ixx * x + ixy * y;
    by += ixy * x + iyy * y;
  };
  let length = pL;
  let width = pW;
  let height = pH;
  let yaw = 0;
  let shapeMeasured = false;
  if (c.lidar) {
    const L = c.lidar;
    const box = completeBox(L, cls, o.sensorX, o.sensorY, L.heading);
    const r = Math.hypot(box.cx, box.cy);
    const sd = cfg.lidar_pos_std_m * Math.max(1, r / 20);
    addPos(box.cx, box.cy, sd * sd, 0, sd * sd);
    length = box.length;
    width = box.width;
    yaw = box.yaw;
    height = Math.max(L.height, 0.5);
    shapeMeasured = true;
  }
  if (c.radarN > 0 && !c.lidar) {
    // Returns come from the near faces: move the centroid from the surface to the centre, assuming
    // the object is aligned with the ego (most traffic is). Not used next to a LiDAR box, whose
    // centre is an order of magnitude better and unbiased: the radar's surface bias would only hurt.
    const x0 = c.rPx / c.rW;
    const y0 = c.rPy / c.rW;
    const r = Math.hypot(x0, y0) || 1;
    const shift = surfaceToCentre(pL, pW, Math.atan2(y0, x0));
    const v = 1 / c.rW + (0.3 * shift) ** 2;
    addPos(x0 + (shift * x0) / r, y0 + (shift * y0) / r, v, 0, v);
  }
  if (c.mono) addPos(c.mono.x, c.mono.y, c.mono.xx, c.mono.xy, c.mono.yy);
  const detI = Ixx * Iyy - Ixy * Ixy;
  if (!(detI > 0)) return null;
  const covXX = Iyy / detI;
  const covXY = -Ixy / detI;
  const covYY = Ixx / detI;
  const x = covXX * bx + covXY * by;
  const y = covXY * bx + covYY * by;

  // Velocity: least squares over the radial velocities with a weak zero prior across them.
  let vel: TrackDetection["vel"] = null;
  if (c.radarN > 0) {
    const p0 = 1 / VEL_PRIOR_STD_MPS ** 2;
    const a = c.vIxx + p0;
    const b = c.vIxy;
    const d = c.vIyy + p0;
    const det = a * d - b * b;
    vel = {
      vx: (d * c.vbx - b * c.vby) / det,
      vy: (-b * c.vbx + a * c.vby) / det,
      covXX: d / det,
      covXY: -b / det,
      covYY: a / det,
    };
  }

  // Score: independent-evidence combination of per-modality confidences.
  let miss = 1;
  const modalities: Modality[] = [];
  if (c.lidar) {
    miss *= 1 - (0.35 + 0.3 * Math.min(1, c.lidar.points / 40) + 0.2 * c.lidar.conf);
    modalities.push(Modality.LIDAR);
  }
  if (c.radarN > 0) {
    miss *= 1 - Math.min(0.6, 0.25 + 0.1 * c.radarN + (c.maxAbsVr > cfg.radar_moving_mps ? 0.15 : 0));
    modalities.push(Modality.RADAR);
  }
  if (c.camScore > 0) {
    miss *= 1 - 0.85 * c.camScore;
    modalities.push(Modality.CAMERA);
  }
  return {
    x,
    y,
    dtS: c.lidar ? c.lidar.dtS : c.dtS,
    z: height / 2,
    covXX,
    covXY,
    covYY,
    vel,
    length,
    width,
    height,
    yaw,
    shapeMeasured,
    cls,
    clsConf,
    score: 1 - miss,
    modalities,
  };
}
