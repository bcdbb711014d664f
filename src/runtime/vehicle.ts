/**
 * One vehicle's pipeline: envelopes -> health observe -> align -> health evaluate -> fusion -> frame.
 * Stages talk only through the typed values they emit. The fleet runtime (./fleet.ts) runs one per
 * admitted vehicle; nothing else should build this chain.
 *
 * Two modes (docs/runtime.md):
 *  - `live`: the aligner runs on the scheduler's clock (timeouts fire on timers); fusion is
 *    asynchronous (worker thread for learned engines) and ticks that arrive while it is busy wait in
 *    a bounded queue (capacity 1, newest kept, drops counted), so a slow model sheds stale ticks
 *    instead of accumulating latency (DECISIONS D6).
 *  - `replay`: event time. The aligner's clock is the envelopes' `arrivalNs` (no timers), health is
 *    evaluated at the tick's emission (event) time, and fusion takes every tick in order: no shedding.
 *    The fleet bounds the work in flight by pulling input only when fusion keeps up (backpressure).
 */
import {
  catchError,
  concatMap,
  defer,
  filter,
  map,
  type Observable,
  type ObservableInput,
  type OperatorFunction,
  of,
  type SchedulerLike,
  Subject,
  tap,
} from "rxjs";
import { alignVehicle } from "../align/index.ts";
import type { AlignedTick, ObjectMotion } from "../align/types.ts";
import { type FusionInputs, type FusionResult, fusionInputsOf } from "../fusion/types.ts";
import type { HealthMonitor } from "../health/index.ts";
import type { HealthSnapshot } from "../health/types.ts";
import type { FusedFrame, SensorEnvelope } from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import { boundedConcatMap } from "../streams/bounded-concat-map.ts";
import type { NowNs } from "../util/clock.ts";
import type { Logger } from "../util/log.ts";
import { Float32Pool } from "../util/float-pool.ts";
import { buildFrame } from "./frame.ts";

export type RuntimeMode = "live" | "replay";

/**
 * What the runtime needs of a fusion engine. Every `FusionEngine` is one; tests may return an
 * Observable (virtual time) instead of a Promise.
 */
export interface FleetEngine {
  readonly mode: string;
  /** Fuse one tick with what health allows (mask) and says (features), not the whole snapshot. */
  fuse(tick: AlignedTick, inputs: FusionInputs): ObservableInput<FusionResult>;
  /** Forget a vehicle's state (tracks): called when the vehicle is evicted or restarted. */
  release?(vehicle: string): void;
}

export interface VehicleOutput {
  frame: FusedFrame;
  health: HealthSnapshot;
  tick: AlignedTick;
}

export interface VehiclePipelineOptions {
  vehicle: string;
  rig: RigConfig;
  engine: FleetEngine;
  health: HealthMonitor;
  /** Default `live`. */
  mode?: RuntimeMode;
  scheduler: SchedulerLike;
  now: NowNs;
  logger: Logger;
  /** Called when a tick is shed because fusion was busy (live mode only). */
  onFusionDrop?: (tick: AlignedTick) => void;
  /** Called when a tick enters the fusion stage (queued or started). */
  onFusionQueued?: (tick: AlignedTick) => void;
  /** Called when a tick leaves the fusion stage (fused, failed or shed). */
  onFusionDone?: (tick: AlignedTick) => void;
  /**
   * Live mode: where ticks' reference LiDAR points are kept (`AlignVehicleOptions.lidarPool`). A
   * tick's buffer goes back once fusion is done with it and its frame was emitted: subscribers of
   * the output read `tick.lidar` synchronously or not at all (it reads as empty afterwards).
   * Default: a pool of this vehicle's own. Replay mode never pools (offline tools keep ticks).
   */
  lidarPool?: Float32Pool;
}

export function vehiclePipeline(o: VehiclePipelineOptions): OperatorFunction<SensorEnvelope, VehicleOutput> {
  const replay = o.mode === "replay";
  const pool = replay ? undefined : (o.lidarPool ?? new Float32Pool({ maxFree: 4 }));
  /** The tick's LiDAR buffer back to the pool, once `settled` (the engine's) is. */
  const giveBack = (tick: AlignedTick, settled?: Promise<unknown>) => {
    const data = tick.lidar?.data;
    if (!pool || !(data instanceof Float32Array)) return;
    if (settled) void settled.then(() => pool.give(data));
    else pool.give(data);
  };
  return (source: Observable<SensorEnvelope>) => {
    // World-state feedback: each frame's tracked objects go back to the aligner, which moves radar
    // returns of tracked targets by their motion across the line of sight (docs/align.md).
    const objectMotion = new Subject<ObjectMotion>();
    const fuseOne = ({
      tick,
      snap,
      healthMs,
    }: {
      tick: AlignedTick;
      snap: HealthSnapshot;
      healthMs: number;
    }) => {
      const t0 = o.now();
      // When the engine is done with the tick's inputs: its result, or the result's `settled`
      // (also after an unsubscribe while the engine still holds the tick).
      let engineDone: Promise<unknown> | undefined;
      return defer(() => {
        const r = o.engine.fuse(tick, fusionInputsOf(snap));
        if (pool && r instanceof Promise)
          engineDone = r.then(
            (res: FusionResult) => res?.settled,
            () => undefined,
          );
        return r;
      }).pipe(
        catchError((e: Error) => {
          o.logger.limited(
            `fusion-error:${o.vehicle}`,
            "error",
            `fusion failed for ${o.vehicle}: ${e.message}`,
          );
          return of(null);
        }),
        map(
          (result: FusionResult | null): VehicleOutput => ({
            frame: buildFrame({
              rig: o.rig,
              tick,
              health: snap,
              result,
              fusion: o.engine.mode,
              latency: [
                { stage: "align", ms: (tick.emittedNs - tick.lastArrivalNs) / 1e6 },
                { stage: "health", ms: healthMs },
                { stage: "fusion", ms: (o.now() - t0) / 1e6 },
              ],
            }),
            health: snap,
            tick,
          }),
        ),
        tap({
          finalize: () => {
            o.onFusionDone?.(tick);
            giveBack(tick, engineDone);
          },
        }),
      );
    };
    return source.pipe(
      tap((env) => o.health.onMessage(env)),
      // Camera image frames share their camera's topic (same stamp and seq as its detections). No
      // fusion engine reads pixels: frames feed the health content checks only, and the aligner
      // sees one camera stream (detections) instead of counting every frame as a duplicate.
      filter((env) => env.msg.payload.kind !== "camera_image"),
      alignVehicle(o.rig, {
        vehicle: o.vehicle,
        scheduler: o.scheduler,
        clock: replay ? "arrival" : "scheduler",
        objectMotion,
        lidarPool: pool,
      }),
      map((tick) => {
        const t0 = o.now();
        o.health.onTick(tick);
        // Event time in replay: the tick's emission instant on the arrival clock.
        const snap = o.health.evaluate(replay ? tick.emittedNs : t0);
        o.onFusionQueued?.(tick);
        return { tick, snap, healthMs: (o.now() - t0) / 1e6 };
      }),
      replay
        ? concatMap(fuseOne)
        : boundedConcatMap(fuseOne, {
            capacity: 1,
            onDrop: (d) => {
              o.onFusionDrop?.(d.tick);
              o.onFusionDone?.(d.tick);
              giveBack(d.tick);
            },
          }),
      tap((out) => objectMotion.next({ stampNs: out.frame.stampNs, objects: out.frame.objects })),
    );
  };
}
