/** Output contract of the health stage (see docs/health.md). */
import type { SensorHealth, SystemMode } from "../msg/types.ts";

import { PERCEPTION_KINDS, type PerceptionKind } from "../msg/kinds.ts";

/** Perception modalities the fusion model takes (the registry's perception kinds); ego kinds
 *  (GNSS, IMU) feed the ego state instead. */
export type PerceptionModality = PerceptionKind;
export const PERCEPTION_MODALITIES: readonly PerceptionModality[] = PERCEPTION_KINDS;

/** One drift statistic: a population stability index of a per-message statistic against its reference. */
export interface DriftStatus {
  /** Sensor id, or the perception modality for model token norms. */
  subject: string;
  /** Statistic name: `points`, `intensity`, `returns`, `rcs`, `detections`, `score`, `brightness`, `token_norm`. */
  stat: string;
  /** Population stability index of the current window against the reference (0 = same distribution). */
  psi: number;
  /** true while the statistic is in the DRIFT condition (hysteresis: raised above the threshold,
   *  cleared below half of it). */
  drifting: boolean;
}

export interface HealthSnapshot {
  vehicle: string;
  /** Processing time of the evaluation, ns. */
  nowNs: number;
  mode: SystemMode;
  reasons: string[];
  sensors: SensorHealth[];
  /** true = the modality may be used by fusion this tick. */
  mask: Record<PerceptionModality, boolean>;
  /** Per-modality health features for the model, each in [0, 1]:
   *  [present, freshness (1 = fresh, 0 = at stale timeout), rate ratio (clamped), content ok]. */
  features: Record<PerceptionModality, [number, number, number, number]>;
  /** true when any sensor state, the mode or the mode reasons changed since the previous snapshot. */
  changed: boolean;
  /** Per sensor id: may fusion use this sensor's data this tick (state OK/DEGRADED and no masking
   *  reason such as `frozen`). Feeds `SensorStatus.used`. */
  usable: Record<string, boolean>;
  /** State and mode changes since the previous snapshot, one human-readable line each, e.g.
   *  `lidar OK -> STALE (stale)`, `mode NOMINAL -> DEGRADED (perception_degraded: lidar.degraded)`.
   *  Each transition appears in exactly one snapshot: log these lines as they come. */
  transitions: string[];
  /** Every drift statistic with a complete reference (sensors, then model token norms). */
  drift: DriftStatus[];
  /** The service's latest stall while recent (reported as SERVICE_OVERLOADED), else null/absent. */
  serviceStall?: { startNs: number; endNs: number; ms: number } | null;
}

/**
 * Where the service measures its own stalls (src/runtime/stall.ts). The health stage subtracts the
 * stalled time from a sensor's silence (a gap the process caused is not the sensor's) and reports
 * the stall as `SERVICE_OVERLOADED`.
 */
export interface StallSource {
  /** Find a stall that is still going on at `nowNs` (call before judging ages). */
  probe(nowNs: number): void;
  /** Stalled processing time inside [a, b], ns. */
  overlapNs(a: number, b: number): number;
  /** The latest stall, or null. */
  lastStall(): { startNs: number; endNs: number } | null;
}
