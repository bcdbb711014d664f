/**
 * KITTI calibration -> rig. Reads the raw-data calibration (calib_cam_to_cam.txt,
 * calib_imu_to_velo.txt, calib_velo_to_cam.txt) or a 3D-object calib file (P0..P3, R0_rect,
 * Tr_velo_to_cam, Tr_imu_to_velo) and produces the same structure as config/rigs/kitti.yaml,
 * validated by the rig schema.
 *
 * Frames. Vehicle frame = the OXTS IMU frame (x forward, y left, z up) moved down to the ground
 * (`imu_height_m`, 0.93 m on the KITTI car). The Velodyne frame is also x forward, y left, z up.
 * Cameras: KITTI images are rectified, so a camera here is the *rectified* camera i (R_rect_00
 * applied, the baseline of P_rect_0i folded into the translation); its extrinsic is given for the
 * body frame of D5 (x forward, y left, z up), so projecting with u = cx - fx*y/x, v = cy - fy*z/x
 * equals KITTI's P_rect_0i * R_rect_00 * Tr_velo_to_cam exactly.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  compose,
  invert,
  type Mat3,
  matVec,
  OPTICAL_FROM_BODY,
  matMul,
  type Rigid,
  rigidToExtrinsic,
  type Vec3,
} from "../align/geometry.ts";
import { ConfigError, parseRig } from "./parse.ts";
import type { RigConfig } from "./schema.ts";

/** `key: v1 v2 ...` lines; lines whose values are not all numbers (calib_time) are skipped. */
export function parseKittiCalib(text: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const key = line.slice(0, i).trim();
    const parts = line
      .slice(i + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    const vals = parts.map(Number);
    if (vals.length && vals.every(Number.isFinite)) out[key] = vals;
  }
  return out;
}

function need(c: Record<string, number[]>, key: string, n: number, source: string): number[] {
  const v = c[key];
  if (!v) throw new ConfigError(`${source}: missing '${key}'`);
  if (v.length !== n) throw new ConfigError(`${source}: '${key}' has ${v.length} values, expected ${n}`);
  return v;
}

/** Rigid transform from a 3x4 row-major [R | t]. */
function from3x4(m: number[]): Rigid {
  return {
    R: new Float64Array([m[0]!, m[1]!, m[2]!, m[4]!, m[5]!, m[6]!, m[8]!, m[9]!, m[10]!]),
    t: [m[3]!, m[7]!, m[11]!],
  };
}

export interface KittiIntrinsics {
  fx: number;
  fy: number;
  cx: number;
  cy: number;
  /** Rectified camera i from rectified camera 0: translation K^-1 * P[:, 3], m. */
  offset: Vec3;
}

/** Intrinsics and baseline of a rectified projection matrix P = K [I | t]. */
export function intrinsicsFromP(P: number[]): KittiIntrinsics {
  const fx = P[0]!;
  const s = P[1]!;
  const cx = P[2]!;
  const fy = P[5]!;
  const cy = P[6]!;
  // K^-1 p4 for upper-triangular K = [fx s cx; 0 fy cy; 0 0 1].
  const tz = P[11]!;
  const ty = (P[7]! - cy * tz) / fy;
  const tx = (P[3]! - s * ty - cx * tz) / fx;
  return { fx, fy, cx, cy, offset: [tx, ty, tz] };
}

export interface KittiCalib {
  /** Velodyne from IMU. */
  veloFromImu: Rigid;
  /** Unrectified camera 0 from Velodyne. */
  cam0FromVelo: Rigid;
  /** Rectifying rotation of camera 0 (R_rect_00 / R0_rect). */
  rect: Mat3;
  /** Rectified projection matrices by camera index (3x4 row-major). */
  P: Record<number, number[]>;
  /** Rectified image sizes by camera index, px. */
  size: Record<number, [number, number]>;
}

export interface KittiRigOptions {
  name?: string;
  /** Height of the IMU above the ground, m: the vehicle origin lies this far below it. */
  imu_height_m?: number;
  /** Camera indices to include (0, 1 grey; 2, 3 colour). */
  cameras?: number[];
  /** OXTS rate: 10 Hz in the synced drives, 100 Hz in the raw extracts. */
  oxts_rate_hz?: number;
  /** LiDAR and camera rate, Hz. */
  rate_hz?: number;
}

/** Raw-data calibration from the three text files of a `YYYY_MM_DD` calibration folder. */
export function kittiRawCalib(texts: { camToCam: string; imuToVelo: string; veloToCam: string }): KittiCalib {
  const cc = parseKittiCalib(texts.camToCam);
  const iv = parseKittiCalib(texts.imuToVelo);
  const vc = parseKittiCalib(texts.veloToCam);
  const rigid = (c: Record<string, number[]>, src: string): Rigid => {
    const R = need(c, "R", 9, src);
    const T = need(c, "T", 3, src);
    return { R: new Float64Array(R), t: [T[0]!, T[1]!, T[2]!] };
  };
  const P: Record<number, number[]> = {};
  const size: Record<number, [number, number]> = {};
  for (let i = 0; i < 4; i++) {
    const key = `P_rect_0${i}`;
    if (cc[key]) P[i] = need(cc, key, 12, "calib_cam_to_cam.txt");
    const s = cc[`S_rect_0${i}`];
    if (s && s.length === 2) size[i] = [Math.round(s[0]!), Math.round(s[1]!)];
  }
  return {
    veloFromImu: rigid(iv, "calib_imu_to_velo.txt"),
    cam0FromVelo: rigid(vc, "calib_velo_to_cam.txt"),
    rect: new Float64Array(need(cc, "R_rect_00", 9, "calib_cam_to_cam.txt")),
    P,
    size,
  };
}

/** 3D-object benchmark calibration (one file per frame). Image size is not in it: 1242 x 375. */
export function kittiObjectCalib(text: string): KittiCalib {
  const c = parseKittiCalib(text);
  const src = "KITTI object calib";
  const P: Record<number, number[]> = {};
  const size: Record<number, [number, number]> = {};
  for (let i = 0; i < 4; i++) {
    if (c[`P${i}`]) {
      P[i] = need(c, `P${i}`, 12, src);
      size[i] = [1242, 375];
    }
  }
  return {
    veloFromImu: from3x4(need(c, "Tr_imu_to_velo", 12, src)),
    cam0FromVelo: from3x4(need(c, "Tr_velo_to_cam", 12, src)),
    rect: new Float64Array(need(c, "R0_rect", 9, src)),
    P,
    size,
  };
}

/** Vehicle-frame poses of the KITTI sensors (vehicle = IMU lowered to the ground). */
export function kittiPoses(calib: KittiCalib, imuHeightM = 0.93) {
  const vehicleFromImu: Rigid = { R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), t: [0, 0, imuHeightM] };
  const vehicleFromVelo = compose(vehicleFromImu, invert(calib.veloFromImu));
  const cams: Record<number, { vehicleFromBody: Rigid; intr: KittiIntrinsics }> = {};
  for (const [k, P] of Object.entries(calib.P)) {
    const intr = intrinsicsFromP(P);
    // Rectified camera i from Velodyne: rect * cam0FromVelo, then the baseline offset.
    const rectT = matVec(calib.rect, calib.cam0FromVelo.t);
    const camFromVelo: Rigid = {
      R: matMul(calib.rect, calib.cam0FromVelo.R),
      t: [rectT[0] + intr.offset[0], rectT[1] + intr.offset[1], rectT[2] + intr.offset[2]],
    };
    const vehicleFromOptical = compose(vehicleFromVelo, invert(camFromVelo));
    const vehicleFromBody: Rigid = {
      R: matMul(vehicleFromOptical.R, OPTICAL_FROM_BODY),
      t: vehicleFromOptical.t,
    };
    cams[Number(k)] = { vehicleFromBody, intr };
  }
  return { vehicleFromImu, vehicleFromVelo, cams };
}

const round = (v: number, d = 6) => Math.round(v * 10 ** d) / 10 ** d + 0; // + 0: no -0
const ext = (T: Rigid) => {
  const e = rigidToExtrinsic(T);
  return {
    translation_m: e.translation_m.map((v) => round(v)) as Vec3,
    rotation_rpy_rad: e.rotation_rpy_rad.map((v) => round(v, 7)) as Vec3,
  };
};

/** Build a validated rig from a KITTI calibration. Sensor ids match config/rigs/kitti.yaml. */
export function rigFromKitti(calib: KittiCalib, opts: KittiRigOptions = {}): RigConfig {
  const poses = kittiPoses(calib, opts.imu_height_m ?? 0.93);
  const rate = opts.rate_hz ?? 10;
  const oxts = opts.oxts_rate_hz ?? 10;
  const camIdx = opts.cameras ?? [2, 3].filter((i) => calib.P[i]);
  const sensors: Record<string, unknown>[] = [
    {
      id: "velo",
      kind: "lidar",
      rate_hz: rate,
      extrinsic: ext(poses.vehicleFromVelo),
      lidar: { beams: 64, azimuth_steps: 2000, vertical_fov_deg: [-24.9, 2.0], max_range_m: 120 },
    },
  ];
  for (const i of camIdx) {
    const c = poses.cams[i];
    if (!c) throw new ConfigError(`KITTI calibration has no P_rect_0${i} (camera ${i})`);
    const [w, h] = calib.size[i] ?? [1242, 375];
    sensors.push({
      id: `cam${i}`,
      kind: "camera",
      rate_hz: rate,
      extrinsic: ext(c.vehicleFromBody),
      camera: {
        width: w,
        height: h,
        fx: round(c.intr.fx, 4),
        fy: round(c.intr.fy, 4),
        cx: round(c.intr.cx, 4),
        cy: round(c.intr.cy, 4),
      },
    });
  }
  sensors.push(
    { id: "oxts_gnss", kind: "gnss", rate_hz: oxts, extrinsic: ext(poses.vehicleFromImu) },
    { id: "oxts_imu", kind: "imu", rate_hz: oxts, extrinsic: ext(poses.vehicleFromImu) },
  );
  return parseRig(
    { name: opts.name ?? "kitti", reference: "velo", sensors },
    opts.name ?? "kitti calibration",
  );
}

/**
 * Read a KITTI calibration from disk: a raw-data calibration folder (with calib_cam_to_cam.txt,
 * calib_imu_to_velo.txt, calib_velo_to_cam.txt) or a 3D-object calib .txt file.
 */
export function loadKittiRig(path: string, opts: KittiRigOptions = {}): RigConfig {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8");
    } catch (e) {
      throw new ConfigError(`KITTI calibration: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  };
  if (path.endsWith(".txt")) return rigFromKitti(kittiObjectCalib(read(path)), opts);
  return rigFromKitti(
    kittiRawCalib({
      camToCam: read(join(path, "calib_cam_to_cam.txt")),
      imuToVelo: read(join(path, "calib_imu_to_velo.txt")),
      veloToCam: read(join(path, "calib_velo_to_cam.txt")),
    }),
    opts,
  );
}
