/**
 * nuScenes (and Lyft Level 5, same schema) log reader, I/O-free: parsed JSON tables in, an ordered
 * replay plan out; file bytes in, SensorMessage payloads out. File access lives in ./files.ts.
 *
 * Tables: scene, sample, sample_data, ego_pose, calibrated_sensor, sensor, sample_annotation,
 * instance, category are required; log, map, attribute, visibility are optional (the genuine
 * extract in ../shared/realdata lacks them: visibility tokens are then read as the level "1".."4",
 * which is what the nuScenes tokens are).
 *
 * Frames and units. LIDAR_TOP points (.pcd.bin: 5 float32 x, y, z, intensity 0-255, ring) stay in
 * the sensor's native frame; the rig (src/rig/nuscenes.ts) carries the extrinsic. Radar PCDs are
 * parsed from their header (./pcd.ts) into range, azimuth, elevation, radial_velocity (from the
 * raw, not ego-compensated, vx/vy: the aligner compensates ego motion itself) and rcs. ego_pose
 * rows become pose messages in the log's map frame (x, y in m, z up). Timestamps are microseconds
 * in the tables and integer nanoseconds on the wire.
 */
import { quatToMat } from "../align/geometry.ts";
import { packed } from "../msg/codec.ts";
import {
  type Detection2D,
  type EgoState,
  ObjectClass,
  type SensorPayload,
  type TruthObject,
} from "../msg/types.ts";
import { type PcdCloud, parsePcd } from "./pcd.ts";

export class NuScenesError extends Error {
  readonly code = "E_CONFIG";
}

export interface NsScene {
  token: string;
  name: string;
  first_sample_token: string;
  last_sample_token: string;
  nbr_samples?: number;
  description?: string;
}
export interface NsSample {
  token: string;
  scene_token: string;
  timestamp: number;
}
export interface NsSampleData {
  token: string;
  sample_token: string;
  ego_pose_token: string;
  calibrated_sensor_token: string;
  timestamp: number;
  fileformat?: string;
  is_key_frame: boolean;
  filename: string;
  width?: number;
  height?: number;
}
export interface NsEgoPose {
  token: string;
  timestamp: number;
  translation: number[];
  rotation: number[];
}
export interface NsCalibratedSensor {
  token: string;
  sensor_token: string;
  translation: number[];
  rotation: number[];
  camera_intrinsic: number[][];
}
export interface NsSensor {
  token: string;
  channel: string;
  modality: string;
}
export interface NsAnnotation {
  token: string;
  sample_token: string;
  instance_token: string;
  visibility_token?: string;
  translation: number[];
  size: number[];
  rotation: number[];
  prev: string;
  next: string;
  num_lidar_pts: number;
  num_radar_pts: number;
}
export interface NsInstance {
  token: string;
  category_token: string;
}
export interface NsCategory {
  token: string;
  name: string;
}
export interface NsVisibility {
  token: string;
  level: string;
}

/** The parsed tables (optional ones may be absent). */
export interface NsTables {
  scene: NsScene[];
  sample: NsSample[];
  sample_data: NsSampleData[];
  ego_pose: NsEgoPose[];
  calibrated_sensor: NsCalibratedSensor[];
  sensor: NsSensor[];
  sample_annotation: NsAnnotation[];
  instance: NsInstance[];
  category: NsCategory[];
  visibility?: NsVisibility[];
}

export const REQUIRED_TABLES = [
  "scene",
  "sample",
  "sample_data",
  "ego_pose",
  "calibrated_sensor",
  "sensor",
  "sample_annotation",
  "instance",
  "category",
] as const;
export const OPTIONAL_TABLES = ["log", "map", "attribute", "visibility"] as const;

/**
 * nuScenes category -> project class. Detection classes the project models: car; truck, bus,
 * trailer, construction vehicle (large vehicles) -> truck; pedestrians -> pedestrian; bicycle and
 * motorcycle -> cyclist (the attribute table that says "with rider" is absent from the extract, so
 * parked bicycles count too). Everything else (barrier, traffic cone, animals, debris, ...) is not
 * modelled: an ignore region in the evaluation (null here).
 */
export function classOfCategory(name: string): ObjectClass | null {
  if (name === "vehicle.car") return ObjectClass.CAR;
  if (
    name === "vehicle.truck" ||
    name.startsWith("vehicle.bus") ||
    name === "vehicle.trailer" ||
    name === "vehicle.construction"
  )
    return ObjectClass.TRUCK;
  if (name.startsWith("human.pedestrian")) return ObjectClass.PEDESTRIAN;
  if (name === "vehicle.bicycle" || name === "vehicle.motorcycle") return ObjectClass.CYCLIST;
  return null;
}

/** Tables indexed by token. Throws NuScenesError when a required table is not an array. */
export class NuScenesDb {
  readonly t: NsTables;
  readonly sampleData = new Map<string, NsSampleData>();
  readonly egoPose = new Map<string, NsEgoPose>();
  readonly calib = new Map<string, NsCalibratedSensor>();
  readonly sensor = new Map<string, NsSensor>();
  readonly sample = new Map<string, NsSample>();
  readonly annotation = new Map<string, NsAnnotation>();
  readonly instance = new Map<string, NsInstance>();
  readonly category = new Map<string, NsCategory>();
  readonly visibility = new Map<string, string>();
  /** Annotations per sample token. */
  readonly annotationsOf = new Map<string, NsAnnotation[]>();
  /** Stable numeric id per instance token (1-based, table order). */
  readonly instanceId = new Map<string, number>();

  constructor(t: NsTables) {
    for (const k of REQUIRED_TABLES)
      if (!Array.isArray(t[k])) throw new NuScenesError(`nuScenes: table ${k} is not a JSON array`);
    this.t = t;
    for (const r of t.sample_data) this.sampleData.set(r.token, r);
    for (const r of t.ego_pose) this.egoPose.set(r.token, r);
    for (const r of t.calibrated_sensor) this.calib.set(r.token, r);
    for (const r of t.sensor) this.sensor.set(r.token, r);
    for (const r of t.sample) this.sample.set(r.token, r);
    for (const r of t.instance) this.instance.set(r.token, r);
    for (const r of t.category) this.category.set(r.token, r);
    for (const r of t.visibility ?? []) this.visibility.set(r.token, r.level);
    t.instance.forEach((r, i) => {
      this.instanceId.set(r.token, i + 1);
    });
    for (const a of t.sample_annotation) {
      this.annotation.set(a.token, a);
      const l = this.annotationsOf.get(a.sample_token);
      if (l) l.push(a);
      else this.annotationsOf.set(a.sample_token, [a]);
    }
  }

  channelOf(sd: NsSampleData): NsSensor | null {
    const c = this.calib.get(sd.calibrated_sensor_token);
    return c ? (this.sensor.get(c.sensor_token) ?? null) : null;
  }

  sceneByName(name: string): NsScene {
    const s = this.t.scene.find((x) => x.name === name);
    if (!s)
      throw new NuScenesError(
        `nuScenes: no scene named '${name}' (scenes: ${this.t.scene.map((x) => x.name).join(", ")})`,
      );
    return s;
  }

  /** Visibility level 1..4 (0-40 %, 40-60 %, 60-80 %, 80-100 %), 0 when unknown. */
  visibilityLevel(a: NsAnnotation): number {
    const tok = a.visibility_token ?? "";
    const lvl = Number(this.visibility.get(tok) ?? tok);
    return Number.isInteger(lvl) && lvl >= 1 && lvl <= 4 ? lvl : 0;
  }

  categoryName(a: NsAnnotation): string {
    const inst = this.instance.get(a.instance_token);
    return (inst && this.category.get(inst.category_token)?.name) ?? "";
  }
}

// ------------------------------------------------------------------------------------------------
// Replay plan
// ------------------------------------------------------------------------------------------------

export type NsModality = "lidar" | "radar" | "camera";

export type NsPlanItem =
  | {
      kind: "file";
      tNs: number;
      channel: string;
      modality: NsModality;
      sd: NsSampleData;
    }
  | { kind: "pose"; tNs: number; pose: NsEgoPose }
  | { kind: "truth"; tNs: number; sample: NsSample };

export interface NsPlanOptions {
  /** Include sweeps (non-keyframe rows). Default true; their absent files are counted and skipped. */
  sweeps?: boolean;
  /** Channels to include (default all). */
  channels?: string[];
}

const modalityOf = (m: string): NsModality | null =>
  m === "lidar" || m === "radar" || m === "camera" ? m : null;

/**
 * Ordered plan of one scene: every sample_data row of the scene (keyframes and sweeps) between the
 * scene's first and last sample, the ego poses of the LIDAR_TOP rows (the localisation stream, at
 * the LiDAR rate) and one truth item per sample. Ties: poses first, then files, then truth.
 */
export function scenePlan(db: NuScenesDb, sceneName: string, opts: NsPlanOptions = {}): NsPlanItem[] {
  const scene = db.sceneByName(sceneName);
  const samples = db.t.sample.filter((s) => s.scene_token === scene.token);
  if (samples.length === 0) throw new NuScenesError(`nuScenes: scene ${sceneName} has no samples`);
  const sampleTokens = new Set(samples.map((s) => s.token));
  const items: NsPlanItem[] = [];
  const poseSeen = new Set<number>();
  const lidarChannel = referenceChannel(db);
  for (const sd of db.t.sample_data) {
    if (!sampleTokens.has(sd.sample_token)) continue;
    const ch = db.channelOf(sd);
    if (!ch) continue;
    const modality = modalityOf(ch.modality);
    if (!modality) continue;
    const tNs = sd.timestamp * 1000;
    if (ch.channel === lidarChannel) {
      const pose = db.egoPose.get(sd.ego_pose_token);
      if (pose && !poseSeen.has(pose.timestamp)) {
        poseSeen.add(pose.timestamp);
        items.push({ kind: "pose", tNs: pose.timestamp * 1000, pose });
      }
    }
    if (opts.sweeps === false && !sd.is_key_frame) continue;
    if (opts.channels && !opts.channels.includes(ch.channel)) continue;
    items.push({ kind: "file", tNs, channel: ch.channel, modality, sd });
  }
  for (const s of samples) items.push({ kind: "truth", tNs: s.timestamp * 1000, sample: s });
  const rank = { pose: 0, file: 1, truth: 2 } as const;
  items.sort((a, b) => a.tNs - b.tNs || rank[a.kind] - rank[b.kind]);
  return items;
}

/** The LiDAR channel (LIDAR_TOP in nuScenes; the first lidar otherwise). */
export function referenceChannel(db: NuScenesDb): string {
  const lidars = db.t.sensor.filter((s) => s.modality === "lidar").map((s) => s.channel);
  if (lidars.includes("LIDAR_TOP")) return "LIDAR_TOP";
  if (!lidars[0]) throw new NuScenesError("nuScenes: no lidar in the sensor table");
  return lidars.sort()[0]!;
}

/**
 * Nominal rate of each channel from the timestamps of the rows that will be replayed: the count
 * of intervals over the time they span (so 2 Hz for a keyframes-only extract, 20 Hz with sweeps).
 */
export function ratesFromTimestamps(stamps: Map<string, number[]>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [ch, ts] of stamps) {
    if (ts.length < 2) continue;
    const s = ts.slice().sort((a, b) => a - b);
    const span = (s[s.length - 1]! - s[0]!) / 1e9;
    if (span > 0) out.set(ch, (s.length - 1) / span);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Decoding (bytes -> payloads)
// ------------------------------------------------------------------------------------------------

export class ReplayFileError extends Error {
  readonly code = "E_FILE";
}

/** A Float32Array over file bytes: a view when 4-byte aligned (a file read has its own buffer), else a copy. */
export function f32View(bytes: Uint8Array): Float32Array {
  if (bytes.byteOffset % 4 === 0)
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const data = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(data.buffer).set(bytes);
  return data;
}

/** Index of the first non-finite float, or -1 (x * 0 is 0 only for finite x: one multiply-add each). */
export function firstNonFinite(a: Float32Array): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i]! * 0;
  return acc === 0 ? -1 : a.findIndex((x) => !Number.isFinite(x));
}

/** Point layout of LIDAR_TOP .pcd.bin records. */
export const NS_LIDAR_FIELDS = ["x", "y", "z", "intensity", "ring"] as const;
/** Full scale of the nuScenes LiDAR intensity field (declared in the point cloud, not guessed). */
export const NS_LIDAR_INTENSITY_MAX = 255;

/** LIDAR_TOP .pcd.bin (5 float32 per point) -> point cloud payload. Copies into aligned memory. */
export function decodeNuScenesLidar(bytes: Uint8Array): SensorPayload {
  if (bytes.byteLength === 0) throw new ReplayFileError("empty LiDAR file");
  if (bytes.byteLength % 20 !== 0)
    throw new ReplayFileError(
      `LiDAR file of ${bytes.byteLength} bytes is not a multiple of 20 (5 float32): truncated`,
    );
  const data = f32View(bytes);
  const bad = firstNonFinite(data);
  if (bad >= 0) throw new ReplayFileError(`non-finite value in point ${Math.floor(bad / 5)}`);
  return {
    kind: "point_cloud",
    points: packed(NS_LIDAR_FIELDS, data),
    sweepStartNs: 0,
    intensityMax: NS_LIDAR_INTENSITY_MAX,
  };
}

export interface RadarFilterOptions {
  /** Keep points whose invalid_state is in this list (devkit default [0]). */
  invalidStates: number[];
  /** Keep points whose dyn_prop is in this list (devkit default 0..6). */
  dynpropStates: number[];
  /** Keep points whose ambig_state is in this list (devkit default [3]). */
  ambigStates: number[];
}

/** The nuscenes-devkit's default radar filters (RadarPointCloud.from_file). */
export const DEVKIT_RADAR_FILTERS: RadarFilterOptions = {
  invalidStates: [0],
  dynpropStates: [0, 1, 2, 3, 4, 5, 6],
  ambigStates: [3],
};

export const RADAR_LAYOUT = ["range", "azimuth", "elevation", "radial_velocity", "rcs"] as const;

/**
 * Radar PCD -> radar scan (sensor frame): range, azimuth (CCW from x), elevation, radial velocity
 * (positive away, from the raw vx, vy) and RCS. Fields are found by name; `filters` applies the
 * devkit's state filters (null: keep every point).
 */
export function decodeNuScenesRadar(
  bytes: Uint8Array,
  filters: RadarFilterOptions | null = null,
): SensorPayload {
  let pcd: PcdCloud;
  try {
    pcd = parsePcd(bytes);
  } catch (e) {
    throw new ReplayFileError((e as Error).message);
  }
  const col = (n: string) => {
    const c = pcd.columns[n];
    if (!c) throw new ReplayFileError(`radar PCD lacks field '${n}'`);
    return c;
  };
  const x = col("x");
  const y = col("y");
  const z = pcd.columns["z"];
  const vx = col("vx");
  const vy = col("vy");
  const rcs = col("rcs");
  const keep = (i: number) => {
    if (!filters) return true;
    const inv = pcd.columns["invalid_state"];
    const dyn = pcd.columns["dyn_prop"];
    const amb = pcd.columns["ambig_state"];
    if (inv && !filters.invalidStates.includes(inv[i]!)) return false;
    if (dyn && !filters.dynpropStates.includes(dyn[i]!)) return false;
    if (amb && !filters.ambigStates.includes(amb[i]!)) return false;
    return true;
  };
  const out: number[] = [];
  for (let i = 0; i < pcd.count; i++) {
    if (!keep(i)) continue;
    const px = x[i]!;
    const py = y[i]!;
    const pz = z ? z[i]! : 0;
    const r = Math.hypot(px, py, pz);
    if (!(r > 0) || !Number.isFinite(r + vx[i]! + vy[i]! + rcs[i]!)) continue;
    out.push(
      r,
      Math.atan2(py, px),
      Math.atan2(pz, Math.hypot(px, py)),
      (px * vx[i]! + py * vy[i]!) / r,
      rcs[i]!,
    );
  }
  return { kind: "radar_scan", returns: packed(RADAR_LAYOUT, new Float32Array(out)) };
}

// ------------------------------------------------------------------------------------------------
// Poses and truth
// ------------------------------------------------------------------------------------------------

/** Yaw (rad, CCW about z) of a w, x, y, z quaternion. */
export function yawOfQuat(q: number[]): number {
  const [w, x, y, z] = q as [number, number, number, number];
  return Math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z));
}

/** Ego state from an ego_pose row (no velocity: a pose is a position and an orientation). */
export function egoOfPose(p: NsEgoPose, velocity: [number, number] = [0, 0], positionStdM = 0): EgoState {
  const yaw = yawOfQuat(p.rotation);
  return {
    valid: true,
    x: p.translation[0]!,
    y: p.translation[1]!,
    z: p.translation[2]!,
    yaw,
    vx: velocity[0],
    vy: velocity[1],
    yawRate: 0,
    speed: Math.hypot(velocity[0], velocity[1]),
    positionStdM,
  };
}

/** The devkit's box velocity: centre difference of the neighbouring annotations (at most 1.5 s apart). */
export function annotationVelocity(db: NuScenesDb, a: NsAnnotation, maxDtS = 1.5): [number, number] {
  const prev = a.prev ? db.annotation.get(a.prev) : undefined;
  const next = a.next ? db.annotation.get(a.next) : undefined;
  const first = prev ?? a;
  const last = next ?? a;
  if (first === last) return [0, 0];
  const t0 = db.sample.get(first.sample_token)?.timestamp;
  const t1 = db.sample.get(last.sample_token)?.timestamp;
  if (t0 === undefined || t1 === undefined) return [0, 0];
  const dt = (t1 - t0) / 1e6;
  if (!(dt > 0)) return [0, 0];
  // The devkit scales the allowed gap up by 2 when both neighbours exist (centred difference).
  if (dt > (prev && next ? 2 * maxDtS : maxDtS)) return [0, 0];
  return [
    (last.translation[0]! - first.translation[0]!) / dt,
    (last.translation[1]! - first.translation[1]!) / dt,
  ];
}

/** A truth object plus what the evaluation needs beyond the wire message. */
export interface NsTruthBox extends TruthObject {
  /** Modelled class, or null for an ignore region. */
  modelled: boolean;
  category: string;
  numLidarPts: number;
  numRadarPts: number;
  visibility: number;
}

/** Annotations of a sample in the world (map) frame; unmodelled classes have cls UNKNOWN. */
export function sampleTruth(db: NuScenesDb, sample: NsSample): NsTruthBox[] {
  const out: NsTruthBox[] = [];
  for (const a of db.annotationsOf.get(sample.token) ?? []) {
    const category = db.categoryName(a);
    const cls = classOfCategory(category);
    const [vx, vy] = annotationVelocity(db, a);
    out.push({
      id: db.instanceId.get(a.instance_token) ?? 0,
      cls: cls ?? ObjectClass.UNKNOWN,
      x: a.translation[0]!,
      y: a.translation[1]!,
      z: a.translation[2]!,
      // nuScenes size is (width, length, height).
      length: a.size[1]!,
      width: a.size[0]!,
      height: a.size[2]!,
      yaw: yawOfQuat(a.rotation),
      vx,
      vy,
      modelled: cls !== null,
      category,
      numLidarPts: a.num_lidar_pts,
      numRadarPts: a.num_radar_pts,
      visibility: db.visibilityLevel(a),
    });
  }
  return out;
}

/** The ego pose of a sample: that of its LiDAR keyframe row. */
export function samplePose(db: NuScenesDb, sample: NsSample): NsEgoPose | null {
  const lidar = referenceChannel(db);
  for (const sd of db.t.sample_data) {
    if (sd.sample_token !== sample.token || !sd.is_key_frame) continue;
    if (db.channelOf(sd)?.channel !== lidar) continue;
    return db.egoPose.get(sd.ego_pose_token) ?? null;
  }
  return null;
}

// ------------------------------------------------------------------------------------------------
// Camera detections derived from the annotations
// ------------------------------------------------------------------------------------------------

export interface DerivedDetectionOptions {
  /** Lowest visibility level kept (1..4; 0 keeps boxes of unknown visibility too). Default 2 (> 40 %). */
  minVisibility: number;
  /** Smallest box height kept, px. Default 12. */
  minHeightPx: number;
  /** Largest distance from the camera, m. Default 60. */
  maxRangeM: number;
  /** Fraction of the box inside the image needed, 0..1. Default 0.3. */
  minInImage: number;
  /** Box-corner noise, fraction of the box size (1 sigma). Default 0. */
  noiseFrac: number;
  /** Probability of dropping a detection. Default 0. */
  pMiss: number;
  /** Mean false positives per frame (random boxes). Default 0. */
  falsePositives: number;
  /** Seed of the noise. */
  seed: number;
}

export const DEFAULT_DERIVED: DerivedDetectionOptions = {
  minVisibility: 2,
  minHeightPx: 12,
  maxRangeM: 60,
  minInImage: 0.3,
  noiseFrac: 0,
  pMiss: 0,
  falsePositives: 0,
  seed: 1,
};

/** The source tag of detections derived from annotations (proto CameraDetections.source). */
export const DERIVED_SOURCE = "derived:annotations";

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Project the annotation boxes of a sample into one camera frame: world -> ego (the camera row's
 * ego pose) -> camera (its calibrated_sensor, optical frame) -> pixels. A box is kept when its
 * class is modelled, its visibility and size pass, its centre is in front within range and enough
 * of its projected extent lies in the image; the box is the clipped hull of the 8 corners.
 */
export function deriveDetections(
  boxes: readonly NsTruthBox[],
  pose: NsEgoPose,
  cam: NsCalibratedSensor,
  size: { width: number; height: number },
  opts: DerivedDetectionOptions,
  random: () => number,
): Detection2D[] {
  const Rw = quatToMat(pose.rotation[0]!, pose.rotation[1]!, pose.rotation[2]!, pose.rotation[3]!);
  const Rc = quatToMat(cam.rotation[0]!, cam.rotation[1]!, cam.rotation[2]!, cam.rotation[3]!);
  const K = cam.camera_intrinsic;
  const fx = K[0]![0]!;
  const fy = K[1]![1]!;
  const cx = K[0]![2]!;
  const cy = K[1]![2]!;
  // world -> camera optical: p_c = Rc^T (Rw^T (p - tw) - tc)
  const toCam = (p: [number, number, number]): [number, number, number] => {
    const d = [p[0] - pose.translation[0]!, p[1] - pose.translation[1]!, p[2] - pose.translation[2]!];
    const e = [0, 1, 2].map((i) => Rw[i]! * d[0]! + Rw[3 + i]! * d[1]! + Rw[6 + i]! * d[2]!);
    const f = [e[0]! - cam.translation[0]!, e[1]! - cam.translation[1]!, e[2]! - cam.translation[2]!];
    return [0, 1, 2].map((i) => Rc[i]! * f[0]! + Rc[3 + i]! * f[1]! + Rc[6 + i]! * f[2]!) as [
      number,
      number,
      number,
    ];
  };
  const out: Detection2D[] = [];
  for (const b of boxes) {
    if (!b.modelled) continue;
    if (b.visibility < opts.minVisibility) continue;
    const c = toCam([b.x, b.y, b.z]);
    if (c[2] <= 0.5 || Math.hypot(c[0], c[2]) > opts.maxRangeM) continue;
    const cs = Math.cos(b.yaw);
    const sn = Math.sin(b.yaw);
    let u0 = Infinity;
    let v0 = Infinity;
    let u1 = -Infinity;
    let v1 = -Infinity;
    let behind = false;
    for (const dl of [-0.5, 0.5])
      for (const dw of [-0.5, 0.5])
        for (const dh of [-0.5, 0.5]) {
          const p: [number, number, number] = [
            b.x + cs * dl * b.length - sn * dw * b.width,
            b.y + sn * dl * b.length + cs * dw * b.width,
            b.z + dh * b.height,
          ];
          const q = toCam(p);
          if (q[2] <= 0.1) {
            behind = true;
            continue;
          }
          const u = cx + (fx * q[0]) / q[2];
          const v = cy + (fy * q[1]) / q[2];
          u0 = Math.min(u0, u);
          v0 = Math.min(v0, v);
          u1 = Math.max(u1, u);
          v1 = Math.max(v1, v);
        }
    if (behind || !(u1 > u0 && v1 > v0)) continue;
    const area = (u1 - u0) * (v1 - v0);
    const cu0 = Math.max(0, u0);
    const cv0 = Math.max(0, v0);
    const cu1 = Math.min(size.width, u1);
    const cv1 = Math.min(size.height, v1);
    if (!(cu1 > cu0 && cv1 > cv0)) continue;
    if (((cu1 - cu0) * (cv1 - cv0)) / area < opts.minInImage) continue;
    if (cv1 - cv0 < opts.minHeightPx) continue;
    if (opts.pMiss > 0 && random() < opts.pMiss) continue;
    const n = (s: number) => (opts.noiseFrac > 0 ? gauss(random) * opts.noiseFrac * s : 0);
    const w = cu1 - cu0;
    const h = cv1 - cv0;
    const xMin = Math.max(0, cu0 + n(w));
    const yMin = Math.max(0, cv0 + n(h));
    const xMax = Math.min(size.width, Math.max(xMin + 1, cu1 + n(w)));
    const yMax = Math.min(size.height, Math.max(yMin + 1, cv1 + n(h)));
    out.push({ xMin, yMin, xMax, yMax, cls: b.cls, score: 0.5 + 0.1 * Math.max(1, b.visibility) });
  }
  if (opts.falsePositives > 0) {
    // Poisson count by inversion, boxes of plausible size anywhere in the image.
    let k = 0;
    let p = Math.exp(-opts.falsePositives);
    let s = p;
    const u = random();
    while (u > s && k < 50) {
      k++;
      p *= opts.falsePositives / k;
      s += p;
    }
    for (let i = 0; i < k; i++) {
      const h = 20 + random() * 200;
      const w = h * (0.4 + random() * 1.6);
      const xMin = random() * Math.max(1, size.width - w);
      const yMin = size.height * 0.3 + random() * Math.max(1, size.height * 0.6 - h);
      out.push({
        xMin,
        yMin,
        xMax: Math.min(size.width, xMin + w),
        yMax: Math.min(size.height, yMin + h),
        cls: ([1, 2, 3, 4] as const)[Math.floor(random() * 4)]!,
        score: 0.3 + 0.3 * random(),
      });
    }
  }
  return out;
}

function gauss(r: () => number): number {
  const u = Math.max(1e-12, r());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}
