/**
 * Output contract of the align stage (see docs/align.md). One AlignedTick per tick per vehicle.
 * Everything spatial is already in the vehicle frame at the tick time (extrinsics applied,
 * ego motion compensated), so downstream stages never touch calibration again.
 */
import type { SensorKind } from "../msg/kinds.ts";
import type { Detection2D, EgoState, ImageEncoding, PackedArray } from "../msg/types.ts";

export type InputStatus = "present" | "missing" | "late";

export interface AlignedInput {
  sensorId: string;
  kind: SensorKind;
  status: InputStatus;
  /** Clock-corrected stamp of the matched message, ns; null when missing. */
  stampNs: number | null;
  /** Processing-time arrival of the matched message, ns; null when missing. */
  arrivalNs: number | null;
}

/**
 * Fields marked optional below were added after the first contract; alignVehicle always sets them
 * (optional only so that hand-built fixtures of other stages stay valid).
 */
export interface CameraObservation {
  sensorId: string;
  /** Clock-corrected stamp, ns. */
  stampNs: number;
  /** `present`, or `late` when carried over from a previous tick (late_policy `next`). */
  status?: Exclude<InputStatus, "missing">;
  width: number;
  height: number;
  detections: Detection2D[];
  /** Pinhole intrinsics from the rig, px. */
  intrinsics?: { fx: number; fy: number; cx: number; cy: number };
  /**
   * Camera body frame (x forward, y left, z up; D5) -> vehicle frame at the tick time: the rig
   * extrinsic composed with the ego motion between the camera stamp and the tick. To project a
   * tick-frame point p: q = R^T (p - t), then u = cx - fx * q.y / q.x, v = cy - fy * q.z / q.x.
   * R is row-major 3x3, t in m.
   */
  vehicleFromCamera?: { R: number[]; t: [number, number, number] };
  /** The image, when the camera publishes images rather than detections. */
  image?: { encoding: ImageEncoding; data: Uint8Array };
}

/**
 * Tracked objects fed back from the fused output (the world state of a previous tick), used to move
 * radar returns by their target's motion across the line of sight (docs/align.md "Radar"). A
 * FusedObject has this shape.
 */
export interface ObjectMotion {
  /** Tick stamp of the frame the objects belong to (vehicle clock), ns. */
  stampNs: number;
  /** Objects in the vehicle frame at `stampNs`: centre (m), size (m), yaw (rad), velocity over
   *  ground in vehicle axes (m/s). */
  objects: readonly TrackedBox[];
}

export interface TrackedBox {
  x: number;
  y: number;
  length: number;
  width: number;
  yaw: number;
  vx: number;
  vy: number;
}

/** Cumulative per-sensor drop counters, keyed by sensor id then reason ("late", "duplicate", ...). */
export type DropCounters = Record<string, Record<string, number>>;

export interface AlignDiagnostics {
  drops: DropCounters;
  /** Sensors whose stamps are currently outside the clock tolerance (CLOCK_SKEW). */
  clockSkew: string[];
  /** Number of resets after a backward time jump, cumulative. */
  resets: number;
  /** Messages never matched to any tick (a sensor faster than the reference, or one outside its
   *  jitter window), per sensor, cumulative. Expected for fast sensors; not a drop. */
  unused?: Record<string, number>;
  /** Ticks emitted, by trigger, cumulative. */
  ticks?: { reference: number; timer: number };
}

export interface AlignedTick {
  vehicle: string;
  seq: number;
  /** Tick time on the reference (vehicle) clock, ns. */
  stampNs: number;
  trigger: "reference" | "timer";
  inputs: AlignedInput[];
  /** Ego state at the tick time (local ENU). */
  ego: EgoState;
  /** Geodetic origin of the local ENU frame (the first GNSS fix); null before it. */
  egoOrigin?: { latDeg: number; lonDeg: number; altM: number } | null;
  /** true on the first tick after a reset (backward time jump): trackers should start over. */
  reset?: boolean;
  /** LiDAR points in the vehicle frame, deskewed; fields x, y, z, intensity. */
  lidar: PackedArray | null;
  /** Radar returns of all radars in the vehicle frame; fields x, y, z, vr (ego-compensated radial
   *  velocity, m/s), rcs, and ux, uy (unit line-of-sight in the vehicle frame). */
  radar: PackedArray | null;
  cameras: CameraObservation[];
  /** Processing time of the arrival of the last input this tick used, ns. */
  lastArrivalNs: number;
  /** Processing time when the tick was emitted, ns. */
  emittedNs: number;
  diagnostics: AlignDiagnostics;
}
