/**
 * Output contract of the align stage (see docs/align.md). One AlignedTick per tick per vehicle.
 * Everything spatial is already in the vehicle frame at the tick time (extrinsics applied,
 * ego motion compensated), so downstream stages never touch calibration again.
 */
import type { Detection2D, EgoState, PackedArray, SensorKind } from "../msg/types.ts";

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

export interface CameraObservation {
  sensorId: string;
  /** Clock-corrected stamp, ns. */
  stampNs: number;
  width: number;
  height: number;
  detections: Detection2D[];
}

/** Cumulative per-sensor drop counters, keyed by sensor id then reason ("late", "duplicate", ...). */
export type DropCounters = Record<string, Record<string, number>>;

export interface AlignDiagnostics {
  drops: DropCounters;
  /** Sensors whose stamps are currently outside the clock tolerance (CLOCK_SKEW). */
  clockSkew: string[];
  /** Number of resets after a backward time jump, cumulative. */
  resets: number;
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
