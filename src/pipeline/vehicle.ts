/**
 * One vehicle's pipeline: envelopes -> health observe -> align -> health evaluate -> fusion -> frame.
 * Stages talk only through the typed values they emit. Fusion is asynchronous (worker thread for
 * learned engines); ticks that arrive while it is busy wait in a bounded queue (capacity 1, newest
 * kept, drops counted) so a slow model sheds stale ticks instead of accumulating latency.
 */
import {
  catchError,
  filter,
  from,
  map,
  type Observable,
  type OperatorFunction,
  of,
  type SchedulerLike,
  Subject,
  tap,
} from "rxjs";
import { alignVehicle } from "../align/index.ts";
import type { AlignedTick, ObjectMotion } from "../align/types.ts";
import type { FusionEngine } from "../fusion/types.ts";
import type { HealthMonitor } from "../health/index.ts";
import type { HealthSnapshot } from "../health/types.ts";
import type { FusedFrame, SensorEnvelope } from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import { boundedConcatMap } from "../streams/bounded-concat-map.ts";
import type { NowNs } from "../util/clock.ts";
import type { Logger } from "../util/log.ts";
import { buildFrame } from "./frame.ts";

export interface VehicleOutput {
  frame: FusedFrame;
  health: HealthSnapshot;
  tick: AlignedTick;
}

export interface VehiclePipelineOptions {
  vehicle: string;
  rig: RigConfig;
  engine: FusionEngine;
  health: HealthMonitor;
  scheduler: SchedulerLike;
  now: NowNs;
  logger: Logger;
  /** Called when a tick is shed because fusion was busy. */
  onFusionDrop?: (tick: AlignedTick) => void;
}

export function vehiclePipeline(o: VehiclePipelineOptions): OperatorFunction<SensorEnvelope, VehicleOutput> {
  return (source: Observable<SensorEnvelope>) => {
    // World-state feedback: each frame's tracked objects go back to the aligner, which moves radar
    // returns of tracked targets by their motion across the line of sight (docs/align.md).
    const objectMotion = new Subject<ObjectMotion>();
    return source.pipe(
      tap((env) => o.health.onMessage(env)),
      // Camera image frames share their camera's topic (same stamp and seq as its detections). No
      // fusion engine reads pixels: frames feed the health content checks only, and the aligner
      // sees one camera stream (detections) instead of counting every frame as a duplicate.
      filter((env) => env.msg.payload.kind !== "camera_image"),
      alignVehicle(o.rig, { vehicle: o.vehicle, scheduler: o.scheduler, objectMotion }),
      map((tick) => {
        const t0 = o.now();
        o.health.onTick(tick);
        const snap = o.health.evaluate(t0);
        return { tick, snap, healthMs: (o.now() - t0) / 1e6 };
      }),
      boundedConcatMap(
        ({ tick, snap, healthMs }) => {
          const t0 = o.now();
          return from(o.engine.fuse(tick, snap)).pipe(
            catchError((e: Error) => {
              o.logger.limited(
                `fusion-error:${o.vehicle}`,
                "error",
                `fusion failed for ${o.vehicle}: ${e.message}`,
              );
              return of(null);
            }),
            map((result) => ({
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
            })),
          );
        },
        { capacity: 1, onDrop: (d) => o.onFusionDrop?.(d.tick) },
      ),
      tap((out) => objectMotion.next({ stampNs: out.frame.stampNs, objects: out.frame.objects })),
    );
  };
}
