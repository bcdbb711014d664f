/** Output contract of the health stage (see docs/health.md). */
import type { SensorHealth, SystemMode } from "../msg/types.ts";

/** Perception modalities the fusion model takes; GNSS/IMU feed the ego state instead. */
export type PerceptionModality = "lidar" | "radar" | "camera";
export const PERCEPTION_MODALITIES: readonly PerceptionModality[] = ["lidar", "radar", "camera"];

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
  /** true when any sensor state or the mode changed since the previous snapshot. */
  changed: boolean;
}
