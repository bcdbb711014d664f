/** Contract of a fusion engine (classical, intermediate, late). See docs/fusion.md. */
import type { AlignedTick } from "../align/types.ts";
import type { HealthSnapshot, PerceptionModality } from "../health/types.ts";
import type { FusedObject } from "../msg/types.ts";
import type { GuardStatus } from "./guard/ood.ts";

/** `auto`: the learned model where its rig matches and its input is in distribution, else classical. */
export type FusionMode = "classical" | "intermediate" | "late" | "auto";

export interface FusionResult {
  /** Tracked objects in the vehicle frame at the tick time, with stable ids. */
  objects: FusedObject[];
  /** How much each perception modality was trusted this tick, 0..1. */
  gates: Record<PerceptionModality, number>;
  /** The out-of-distribution guard's status, when a learned engine runs behind it (src/fusion/guard). */
  guard?: GuardStatus;
  /**
   * Resolves once the engine reads nothing of the tick any more, when that is later than the result
   * (a guarded engine serving classical while the model still has the tick queued). Absent: done
   * when the result is. The live runtime reuses a tick's LiDAR buffer after it.
   */
  settled?: Promise<unknown>;
}

/**
 * What fusion takes from health for a tick: which modalities it may use, and the per-modality
 * health features (the learned models' gates read them). Not the whole snapshot: an engine has no
 * business with modes, reasons or drift. `fusionInputsOf(snapshot)` makes one.
 */
export interface FusionInputs {
  /** true = the modality may be used by fusion this tick (HealthSnapshot.mask). */
  mask: HealthSnapshot["mask"];
  /** [present, freshness, rate ratio, content ok] per modality, each in [0, 1] (HealthSnapshot.features). */
  features: HealthSnapshot["features"];
}

export function fusionInputsOf(h: Pick<HealthSnapshot, "mask" | "features">): FusionInputs {
  return { mask: h.mask, features: h.features };
}

export interface FusionEngine {
  readonly mode: FusionMode;
  /** Fuse one tick. Engines keep per-vehicle tracker state keyed by tick.vehicle. */
  fuse(tick: AlignedTick, inputs: FusionInputs): Promise<FusionResult>;
  /** Forget a vehicle's per-vehicle state (tracks, previous sweep): it was evicted or restarted. */
  release?(vehicle: string): void;
  close(): Promise<void>;
}
