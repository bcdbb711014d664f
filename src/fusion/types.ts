/** Contract of a fusion engine (classical, intermediate, late). See docs/fusion.md. */
import type { AlignedTick } from "../align/types.ts";
import type { HealthSnapshot, PerceptionModality } from "../health/types.ts";
import type { FusedObject } from "../msg/types.ts";

export type FusionMode = "classical" | "intermediate" | "late";

export interface FusionResult {
  /** Tracked objects in the vehicle frame at the tick time, with stable ids. */
  objects: FusedObject[];
  /** How much each perception modality was trusted this tick, 0..1. */
  gates: Record<PerceptionModality, number>;
}

export interface FusionEngine {
  readonly mode: FusionMode;
  /** Fuse one tick. Engines keep per-vehicle tracker state keyed by tick.vehicle. */
  fuse(tick: AlignedTick, health: HealthSnapshot): Promise<FusionResult>;
  /** Forget a vehicle's per-vehicle state (tracks, previous sweep): it was evicted or restarted. */
  release?(vehicle: string): void;
  close(): Promise<void>;
}
