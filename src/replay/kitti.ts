/**
 * KITTI readers, I/O-free (text or bytes in, payloads out):
 *  - raw synced drives: velodyne `.bin` (float32 x, y, z, reflectance 0-1) with `timestamps.txt`
 *    (and `timestamps_start.txt` / `_end.txt` when present), OXTS packets (30 values) as GNSS fix +
 *    IMU sample, `tracklet_labels.xml` as ground truth (Velodyne frame, box bottom centre);
 *  - 3D-object frames: `label_2/*.txt` (rectified camera 0 frame, bottom centre).
 * Frames: the vehicle frame is the OXTS IMU lowered to the ground (src/rig/kitti.ts); Velodyne
 * points stay in the Velodyne frame (the rig carries the extrinsic).
 */
import { compose, invert, matVec, type Rigid, type Vec3 } from "../align/geometry.ts";
import { packed } from "../msg/codec.ts";
import { FixType, ObjectClass, type SensorPayload } from "../msg/types.ts";
import type { KittiCalib } from "../rig/kitti.ts";
import { f32View, firstNonFinite, ReplayFileError } from "./nuscenes.ts";

export const KITTI_LIDAR_FIELDS = ["x", "y", "z", "intensity"] as const;
/** KITTI reflectance is already 0..1 (declared, not guessed). */
export const KITTI_INTENSITY_MAX = 1;

/** `2011-09-26 13:02:25.967790592` -> integer ns since the epoch (the clock's own zone read as UTC). */
export function parseKittiTime(line: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*$/.exec(line.trim());
  if (!m) throw new ReplayFileError(`bad KITTI timestamp '${line.trim()}'`);
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  const frac = m[7] ? Number(m[7].padEnd(9, "0")) : 0;
  return ms * 1e6 + frac;
}

/** timestamps.txt -> ns per frame (blank lines ignored). */
export function parseKittiTimestamps(text: string): number[] {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== "")
    .map(parseKittiTime);
}

/** Velodyne .bin (4 float32 per point) -> point cloud payload. */
export function decodeKittiVelodyne(bytes: Uint8Array, sweepStartNs = 0): SensorPayload {
  if (bytes.byteLength === 0) throw new ReplayFileError("empty Velodyne file");
  if (bytes.byteLength % 16 !== 0)
    throw new ReplayFileError(
      `Velodyne file of ${bytes.byteLength} bytes is not a multiple of 16 (4 float32): truncated`,
    );
  const data = f32View(bytes);
  const bad = firstNonFinite(data);
  if (bad >= 0) throw new ReplayFileError(`non-finite value in point ${Math.floor(bad / 4)}`);
  return {
    kind: "point_cloud",
    points: packed(KITTI_LIDAR_FIELDS, data),
    sweepStartNs,
    intensityMax: KITTI_INTENSITY_MAX,
  };
}

export interface OxtsPacket {
  lat: number;
  lon: number;
  alt: number;
  roll: number;
  pitch: number;
  yaw: number;
  vn: number;
  ve: number;
  vf: number;
  vl: number;
  ax: number;
  ay: number;
  az: number;
  wx: number;
  wy: number;
  wz: number;
  posAccuracy: number;
  velAccuracy: number;
  navstat: number;
  numsats: number;
  posmode: number;
}

/** One OXTS packet (30 whitespace-separated values, oxts/dataformat.txt). */
export function parseOxts(text: string): OxtsPacket {
  const v = text.trim().split(/\s+/).map(Number);
  if (v.length < 30) throw new ReplayFileError(`OXTS packet has ${v.length} values, expected 30`);
  if (!v.slice(0, 25).every(Number.isFinite)) throw new ReplayFileError("OXTS packet has non-numeric values");
  return {
    lat: v[0]!,
    lon: v[1]!,
    alt: v[2]!,
    roll: v[3]!,
    pitch: v[4]!,
    yaw: v[5]!,
    vn: v[6]!,
    ve: v[7]!,
    vf: v[8]!,
    vl: v[9]!,
    ax: v[11]!,
    ay: v[12]!,
    az: v[13]!,
    wx: v[17]!,
    wy: v[18]!,
    wz: v[19]!,
    posAccuracy: v[23]!,
    velAccuracy: v[24]!,
    navstat: v[25]!,
    numsats: v[26]!,
    posmode: v[27]!,
  };
}

/**
 * OXTS position mode -> fix type. The OXTS RT3000 GPS modes (gps_mode_to_string): 0 none,
 * 1 search, 2 doppler, 3 SPS, 4 differential, 5 RTK float, 6 RTK integer, ...; higher = better.
 */
export function fixTypeOfPosmode(m: number): FixType {
  if (m >= 6) return FixType.RTK_FIXED;
  if (m === 5) return FixType.RTK_FLOAT;
  if (m === 4) return FixType.DGPS;
  if (m === 3) return FixType.FIX_3D;
  return FixType.NONE;
}

/** A packet as the GNSS fix it carries (position accuracy as the ENU covariance). */
export function oxtsGnss(p: OxtsPacket): SensorPayload {
  const sh = Math.max(0.01, p.posAccuracy) ** 2;
  return {
    kind: "gnss_fix",
    latitudeDeg: p.lat,
    longitudeDeg: p.lon,
    altitudeM: p.alt,
    fixType: fixTypeOfPosmode(p.posmode),
    covariance: [sh, 0, 0, 0, sh, 0, 0, 0, sh],
    velocityEN: [p.ve, p.vn],
  };
}

/** A packet as the IMU sample it carries (body axes x forward, y left, z up). */
export function oxtsImu(p: OxtsPacket): SensorPayload {
  return { kind: "imu", accel: [p.ax, p.ay, p.az], gyro: [p.wx, p.wy, p.wz] };
}

// ------------------------------------------------------------------------------------------------
// Ground truth
// ------------------------------------------------------------------------------------------------

export function classOfKittiType(t: string): ObjectClass | null {
  switch (t) {
    case "Car":
    case "Van":
      return ObjectClass.CAR;
    case "Truck":
    case "Tram":
      return ObjectClass.TRUCK;
    case "Pedestrian":
    case "Person_sitting":
    case "Person (sitting)":
      return ObjectClass.PEDESTRIAN;
    case "Cyclist":
      return ObjectClass.CYCLIST;
    default:
      return null; // Misc, DontCare
  }
}

export interface KittiBox {
  /** Tracklet index (raw) or row index (object), 1-based. */
  id: number;
  type: string;
  cls: ObjectClass | null;
  /** Box centre (not bottom), vehicle frame, m. */
  x: number;
  y: number;
  z: number;
  length: number;
  width: number;
  height: number;
  /** Yaw in the vehicle frame, rad. */
  yaw: number;
  occlusion: number;
  truncation: number;
}

export interface Tracklet {
  type: string;
  h: number;
  w: number;
  l: number;
  firstFrame: number;
  poses: { tx: number; ty: number; tz: number; rz: number; occlusion: number; truncation: number }[];
}

const tag = (s: string, name: string) => {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(s);
  return m ? m[1]!.trim() : undefined;
};

/** tracklet_labels.xml (boost serialization) -> tracklets. Throws ReplayFileError when malformed. */
export function parseTracklets(xml: string): Tracklet[] {
  const root = /<tracklets[^>]*>([\s\S]*)<\/tracklets>/.exec(xml);
  if (!root) throw new ReplayFileError("tracklet XML has no <tracklets> element");
  const out: Tracklet[] = [];
  // Top-level items: each holds objectType ... <poses> ... </poses> ... </item>.
  const itemRe = /<item>\s*<objectType>([\s\S]*?)<\/poses>/g;
  for (let m = itemRe.exec(root[1]!); m; m = itemRe.exec(root[1]!)) {
    const body = `<objectType>${m[1]}</poses>`;
    const num = (k: string) => {
      const v = Number(tag(body, k));
      if (!Number.isFinite(v)) throw new ReplayFileError(`tracklet ${out.length}: bad <${k}>`);
      return v;
    };
    const posesPart = body.slice(body.indexOf("<poses"));
    const poses: Tracklet["poses"] = [];
    const poseRe = /<item>([\s\S]*?)<\/item>/g;
    for (let p = poseRe.exec(posesPart); p; p = poseRe.exec(posesPart)) {
      const pn = (k: string) => Number(tag(p![1]!, k) ?? Number.NaN);
      const pose = {
        tx: pn("tx"),
        ty: pn("ty"),
        tz: pn("tz"),
        rz: pn("rz"),
        occlusion: pn("occlusion"),
        truncation: pn("truncation"),
      };
      if (![pose.tx, pose.ty, pose.tz, pose.rz].every(Number.isFinite))
        throw new ReplayFileError(`tracklet ${out.length}: pose ${poses.length} has bad values`);
      poses.push(pose);
    }
    out.push({
      type: tag(body, "objectType") ?? "",
      h: num("h"),
      w: num("w"),
      l: num("l"),
      firstFrame: num("first_frame"),
      poses,
    });
  }
  return out;
}

/** Boxes of frame `frame` from the tracklets, in the vehicle frame (vehicleFromVelo from the rig). */
export function trackletBoxes(
  tracklets: readonly Tracklet[],
  frame: number,
  vehicleFromVelo: Rigid,
): KittiBox[] {
  const out: KittiBox[] = [];
  const yawOff = Math.atan2(vehicleFromVelo.R[3]!, vehicleFromVelo.R[0]!);
  tracklets.forEach((t, i) => {
    const p = t.poses[frame - t.firstFrame];
    if (!p) return;
    // tz is the box bottom in the Velodyne frame.
    const c = matVec(vehicleFromVelo.R, [p.tx, p.ty, p.tz + t.h / 2]);
    out.push({
      id: i + 1,
      type: t.type,
      cls: classOfKittiType(t.type),
      x: c[0] + vehicleFromVelo.t[0],
      y: c[1] + vehicleFromVelo.t[1],
      z: c[2] + vehicleFromVelo.t[2],
      length: t.l,
      width: t.w,
      height: t.h,
      yaw: p.rz + yawOff,
      occlusion: p.occlusion,
      truncation: p.truncation,
    });
  });
  return out;
}

export interface KittiLabel {
  type: string;
  truncation: number;
  occlusion: number;
  bbox: [number, number, number, number];
  /** h, w, l, m. */
  dims: [number, number, number];
  /** Bottom centre in the rectified camera 0 frame, m. */
  location: Vec3;
  rotationY: number;
}

/** label_2 text (15 values per row; 16 with a score) -> labels. */
export function parseKittiLabels(text: string): KittiLabel[] {
  const out: KittiLabel[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const p = line.trim().split(/\s+/);
    const v = p.slice(1).map(Number);
    if (p.length < 15 || !v.slice(0, 14).every(Number.isFinite))
      throw new ReplayFileError(`label row ${i + 1}: expected 15 values, got '${line.trim()}'`);
    out.push({
      type: p[0]!,
      truncation: v[0]!,
      occlusion: v[1]!,
      bbox: [v[3]!, v[4]!, v[5]!, v[6]!],
      dims: [v[7]!, v[8]!, v[9]!],
      location: [v[10]!, v[11]!, v[12]!],
      rotationY: v[13]!,
    });
  });
  return out;
}

/** Object labels -> vehicle-frame boxes (through R0_rect and Tr_velo_to_cam). */
export function labelBoxes(
  labels: readonly KittiLabel[],
  calib: KittiCalib,
  vehicleFromVelo: Rigid,
): KittiBox[] {
  const rectFromVelo: Rigid = {
    R: (() => {
      const r = calib.rect;
      const c = calib.cam0FromVelo.R;
      const m = new Float64Array(9);
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++)
          m[i * 3 + j] = r[i * 3]! * c[j]! + r[i * 3 + 1]! * c[3 + j]! + r[i * 3 + 2]! * c[6 + j]!;
      return m;
    })(),
    t: matVec(calib.rect, calib.cam0FromVelo.t),
  };
  const vehicleFromRect = compose(vehicleFromVelo, invert(rectFromVelo));
  return labels.map((l, i) => {
    const [h, w, len] = l.dims;
    // Bottom centre -> centre: camera y points down.
    const c = matVec(vehicleFromRect.R, [l.location[0], l.location[1] - h / 2, l.location[2]]);
    // Heading: rotation_y about the camera's y (down) axis; the box's x axis in camera coordinates.
    const dirCam: Vec3 = [Math.cos(l.rotationY), 0, -Math.sin(l.rotationY)];
    const d = matVec(vehicleFromRect.R, dirCam);
    return {
      id: i + 1,
      type: l.type,
      cls: classOfKittiType(l.type),
      x: c[0] + vehicleFromRect.t[0],
      y: c[1] + vehicleFromRect.t[1],
      z: c[2] + vehicleFromRect.t[2],
      length: len,
      width: w,
      height: h,
      yaw: Math.atan2(d[1], d[0]),
      occlusion: l.occlusion,
      truncation: l.truncation,
    };
  });
}
