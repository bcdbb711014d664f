/**
 * Domain types of the pipeline: what the decode edge produces and every stage consumes.
 * They mirror proto/fusion.proto (camelCase, enums as numbers) but are decoded and validated:
 * bulk arrays are Float32Array views with named field indices, timestamps are numbers in ns.
 *
 * Time: stamps are integer nanoseconds carried in a JS number (float64). Near the current epoch
 * (~1.8e18 ns) a float64 is exact to 256 ns, far below any sensor's jitter (see docs/DECISIONS.md).
 */

export const ObjectClass = { UNKNOWN: 0, CAR: 1, TRUCK: 2, PEDESTRIAN: 3, CYCLIST: 4 } as const;
export type ObjectClass = (typeof ObjectClass)[keyof typeof ObjectClass];
export const OBJECT_CLASS_NAMES: Record<ObjectClass, string> = {
  0: "unknown",
  1: "car",
  2: "truck",
  3: "pedestrian",
  4: "cyclist",
};

export const Modality = { UNSPECIFIED: 0, LIDAR: 1, RADAR: 2, CAMERA: 3, GNSS: 4, IMU: 5, POSE: 6 } as const;
export type Modality = (typeof Modality)[keyof typeof Modality];

export const SensorState = { UNSPECIFIED: 0, OK: 1, DEGRADED: 2, STALE: 3, FAILED: 4 } as const;
export type SensorState = (typeof SensorState)[keyof typeof SensorState];
export const SENSOR_STATE_NAMES: Record<SensorState, string> = {
  0: "UNSPECIFIED",
  1: "OK",
  2: "DEGRADED",
  3: "STALE",
  4: "FAILED",
};

export const SystemMode = { UNSPECIFIED: 0, NOMINAL: 1, DEGRADED: 2, MINIMAL: 3, SAFE_STOP: 4 } as const;
export type SystemMode = (typeof SystemMode)[keyof typeof SystemMode];
export const SYSTEM_MODE_NAMES: Record<SystemMode, string> = {
  0: "UNSPECIFIED",
  1: "NOMINAL",
  2: "DEGRADED",
  3: "MINIMAL",
  4: "SAFE_STOP",
};

export const ImageEncoding = { UNSPECIFIED: 0, JPEG: 1, MONO8: 2, RGB8: 3 } as const;
export type ImageEncoding = (typeof ImageEncoding)[keyof typeof ImageEncoding];

export const FixType = { NONE: 0, FIX_2D: 1, FIX_3D: 2, DGPS: 3, RTK_FLOAT: 4, RTK_FIXED: 5 } as const;
export type FixType = (typeof FixType)[keyof typeof FixType];

// Sensor kinds (lidar, radar, …), their modality and payloads: the registry in ./kinds.ts.

export interface Header {
  vehicle: string;
  sensorId: string;
  frameId: string;
  /** Sensor-clock stamp, ns. For LiDAR: end of sweep. */
  stampNs: number;
  seq: number;
}

/**
 * A packed float32 record array: `count` records of `stride` floats. `fields` maps a field name
 * to its float index inside a record. `data.length === stride * count`.
 */
export interface PackedArray {
  stride: number;
  count: number;
  fields: Readonly<Record<string, number>>;
  data: Float32Array;
}

export interface Detection2D {
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
  cls: ObjectClass;
  score: number;
}

export type SensorPayload =
  | {
      kind: "point_cloud";
      points: PackedArray;
      sweepStartNs: number;
      /** Full scale of the intensity field (nuScenes 255, KITTI 1); absent or 0 = 1. */
      intensityMax?: number;
    }
  | { kind: "radar_scan"; returns: PackedArray }
  | { kind: "camera_image"; width: number; height: number; encoding: ImageEncoding; data: Uint8Array }
  | {
      kind: "camera_detections";
      width: number;
      height: number;
      detections: Detection2D[];
      /** "" or "detector:<name>"; "derived:annotations" when projected from a log's annotations. */
      source?: string;
    }
  | {
      kind: "gnss_fix";
      latitudeDeg: number;
      longitudeDeg: number;
      altitudeM: number;
      fixType: FixType;
      /** Row-major 3x3 ENU covariance (m^2), or null when unknown. */
      covariance: number[] | null;
      /** ENU ground velocity (m/s), or null when unknown. */
      velocityEN: [number, number] | null;
    }
  | { kind: "imu"; accel: [number, number, number]; gyro: [number, number, number] }
  | {
      /** Localisation output: vehicle pose in a local world frame (header.frameId names it). */
      kind: "pose";
      position: [number, number, number];
      /** World from vehicle, w, x, y, z (unit). */
      orientation: [number, number, number, number];
      /** Row-major 6x6 covariance of (x, y, z, roll, pitch, yaw), m^2 / rad^2; null when unknown. */
      covariance: number[] | null;
    };

export type PayloadKind = SensorPayload["kind"];

export interface SensorMessage {
  header: Header;
  payload: SensorPayload;
}

/** A decoded sensor message plus where and when it arrived (processing time). */
export interface SensorEnvelope {
  msg: SensorMessage;
  /** Processing-time arrival, ns, from the injected clock. */
  arrivalNs: number;
  /** Size of the wire payload, bytes. */
  bytes: number;
}

// ------------------------------------------------------------------------------------------------
// Output messages (mirror the proto; plain objects accepted by the codec)
// ------------------------------------------------------------------------------------------------

export interface EgoState {
  valid: boolean;
  x: number;
  y: number;
  z: number;
  yaw: number;
  vx: number;
  vy: number;
  yawRate: number;
  speed: number;
  positionStdM: number;
}

export interface FusedObject {
  id: number;
  cls: ObjectClass;
  x: number;
  y: number;
  z: number;
  length: number;
  width: number;
  height: number;
  yaw: number;
  vx: number;
  vy: number;
  score: number;
  modalities: Modality[];
  age: number;
}

export interface SensorStatus {
  sensorId: string;
  modality: Modality;
  state: SensorState;
  gateWeight: number;
  used: boolean;
  reason: string;
  ageMs: number;
}

export interface StageLatency {
  stage: string;
  ms: number;
}

export interface FusedFrame {
  vehicle: string;
  stampNs: number;
  seq: number;
  ego: EgoState;
  objects: FusedObject[];
  sensors: SensorStatus[];
  latency: StageLatency[];
  mode: SystemMode;
  modeReasons: string[];
  fusion: string;
  trigger: string;
  /** Service instance that made the frame (set at publish; docs/fleet.md). */
  worker?: string;
  /** etcd revision at which `worker` took the vehicle: a fencing token; 0 without --etcd. */
  ownershipRevision?: number;
  /** First frame of a freshly started aligner and tracker for this vehicle in this worker. */
  freshStart?: boolean;
  /** Learned engines: the out-of-distribution guard (absent for the classical engine). */
  guard?: OodGuardInfo;
}

/** The out-of-distribution guard's state as published (proto OodGuard). */
export interface OodGuardInfo {
  state: string;
  served: string;
  distance: number;
  modality: string;
  feature: string;
  threshold: number;
  triggerDistance: number;
  triggerModality: string;
  triggerFeature: string;
  triggerStampNs: number;
  fallbacks: number;
  reason: string;
  distances: Record<string, number>;
}

export interface SensorHealth {
  sensorId: string;
  modality: Modality;
  state: SensorState;
  reasons: string[];
  rateHz: number;
  nominalRateHz: number;
  jitterMs: number;
  latencyMs: number;
  ageMs: number;
  decodeErrors: number;
  drops: number;
  lastStampNs: number;
}

export interface HealthReport {
  vehicle: string;
  stampNs: number;
  mode: SystemMode;
  reasons: string[];
  sensors: SensorHealth[];
  guard?: OodGuardInfo;
}

export interface TruthObject {
  id: number;
  cls: ObjectClass;
  x: number;
  y: number;
  z: number;
  length: number;
  width: number;
  height: number;
  yaw: number;
  vx: number;
  vy: number;
}

export interface GroundTruth {
  vehicle: string;
  stampNs: number;
  seq: number;
  ego: EgoState;
  objects: TruthObject[];
  activeFaults: string[];
  conditions: string;
  scenario: string;
}

export interface ServiceStatus {
  instance: string;
  online: boolean;
  stampNs: number;
  version: string;
  vehicles: string[];
}

export const EMPTY_EGO: EgoState = Object.freeze({
  valid: false,
  x: 0,
  y: 0,
  z: 0,
  yaw: 0,
  vx: 0,
  vy: 0,
  yawRate: 0,
  speed: 0,
  positionStdM: 0,
});
