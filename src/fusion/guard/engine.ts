/**
 * A learned engine behind its out-of-distribution guard (./ood.ts): per vehicle, the live input's
 * distance from the model's training statistics decides whether the tick is served by the model or
 * by the classical engine (which runs from the moment the distance exceeds `off`, so its tracks are
 * established when the guard switches at `on`). Every result carries the guard's status (`FusionResult.guard`), which the FusedFrame,
 * health report, dashboard and telemetry show.
 *
 * `serve: "observe"` measures and reports but always serves the model (evaluation of the model
 * itself); `serve: "fallback"` (the service) switches.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { PerceptionModality } from "../../health/types.ts";
import type { FusionEngine, FusionInputs, FusionMode, FusionResult } from "../types.ts";
import { InputFeatureExtractor } from "./features.ts";
import { type GuardStatus, type GuardThresholds, type OodReference, VehicleGuard } from "./ood.ts";

export interface GuardedEngineOptions {
  /** The learned engine and the model's modalities (its contract). */
  learned: FusionEngine;
  modelModalities: readonly string[];
  reference: OodReference;
  /** Needed for `fallback`; in `observe` it may be omitted. */
  classical?: FusionEngine;
  serve: "fallback" | "observe";
  /** Mode reported in the frame (`auto`, or the learned engine's). Default the learned engine's. */
  mode?: FusionMode;
  thresholds?: Partial<GuardThresholds>;
  /** Most vehicles with a guard; the least recently seen is forgotten beyond it. Default 1024. */
  maxVehicles?: number;
}

export interface GuardedEngine extends FusionEngine {
  readonly reference: OodReference;
  /** The learned engine's per-stage times, when it keeps them (learned/batcher.ts StageTimes). */
  readonly times?: unknown;
  /** Latest status per vehicle. */
  status(vehicle: string): GuardStatus | undefined;
}

export function createGuardedEngine(o: GuardedEngineOptions): GuardedEngine {
  if (o.serve === "fallback" && !o.classical)
    throw new Error("guarded engine: fallback needs a classical engine");
  const th: GuardThresholds = { ...o.reference.thresholds, ...o.thresholds };
  const guards = new Map<string, VehicleGuard>();
  const last = new Map<string, GuardStatus>();
  const ex = new InputFeatureExtractor();
  const maxVehicles = o.maxVehicles ?? 1024;
  const names = { model: o.learned.mode, fallback: o.classical?.mode ?? "classical" };
  const uses = (m: PerceptionModality) => o.modelModalities.includes(m);

  const guardOf = (v: string): VehicleGuard => {
    let g = guards.get(v);
    if (g) {
      guards.delete(v); // most recently used last
      guards.set(v, g);
      return g;
    }
    if (guards.size >= maxVehicles) {
      const oldest = guards.keys().next().value as string;
      guards.delete(oldest);
      last.delete(oldest);
    }
    g = new VehicleGuard(o.reference, th);
    guards.set(v, g);
    return g;
  };

  return {
    mode: o.mode ?? o.learned.mode,
    reference: o.reference,
    status: (v) => last.get(v),
    async fuse(tick: AlignedTick, health: FusionInputs): Promise<FusionResult> {
      const feats = ex.extract(tick, {
        lidar: health.mask.lidar && uses("lidar"),
        radar: health.mask.radar && uses("radar"),
        camera: health.mask.camera && uses("camera"),
      });
      const status = guardOf(tick.vehicle).update(tick.stampNs, feats, names);
      const fallback = o.serve === "fallback" && status.state === "fallback";
      if (o.serve === "observe") status.served = names.model;
      last.set(tick.vehicle, status);
      // The classical engine runs while the input is not clearly in distribution (distance above
      // `off`) and during a fallback: it has tracks established when the guard switches, and costs
      // nothing on in-distribution input. The learned engine sees every tick (its tracks and
      // previous sweep stay current for the way back). A failure of the engine not served is its
      // own, not this tick's.
      const lp = o.learned.fuse(tick, health);
      const shadow = o.serve === "fallback" && (status.state === "fallback" || status.distance > th.off);
      const cp = shadow ? o.classical!.fuse(tick, health) : null;
      if (fallback) {
        // the model may still have the tick queued: its inputs are in use until it is done
        const settled = lp.then(
          () => {},
          () => {},
        );
        return { ...(await cp!), guard: status, settled };
      }
      cp?.catch(() => {});
      return { ...(await lp), guard: status };
    },
    // where the learned engine's time goes (the headroom benches print it)
    get times() {
      return (o.learned as { times?: unknown }).times;
    },
    release(v) {
      guards.delete(v);
      last.delete(v);
      o.learned.release?.(v);
      o.classical?.release?.(v);
    },
    async close() {
      await Promise.all([o.learned.close(), o.classical?.close()]);
    },
  };
}
