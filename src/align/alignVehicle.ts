/**
 * `alignVehicle(rig, { vehicle, scheduler?, clock? })`: the align stage of one vehicle as an RxJS
 * operator. Input: that vehicle's decoded envelopes (any sensor, any order); output: one AlignedTick
 * per tick, in stamp order.
 *
 * Two clocks (docs/align.md "Time"):
 *  - `clock: "scheduler"` (default, live): processing time is `scheduler.now()` (ms -> ns); per-input
 *    timeouts and timer ticks are scheduled on the scheduler. Works with asyncScheduler, RxJS
 *    TestScheduler (marble tests) and a VirtualTimeScheduler that also schedules the input.
 *  - `clock: "arrival"` (offline replay, as fast as possible): processing time is the envelopes'
 *    `arrivalNs` (e.g. the simulated send time); timeouts and timer ticks are resolved when a later
 *    envelope shows that their instant has passed, and pending ticks are flushed when the input
 *    completes. No timers at all: the output is a pure function of the input, run at full speed.
 *
 * The teardown unsubscribes the source, cancels the scheduled wake-up and releases every buffer.
 */
import {
  asyncScheduler,
  Observable,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from "rxjs";
import type { SensorEnvelope } from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import { Collector } from "./collector.ts";
import type { AlignedTick, ObjectMotion } from "./types.ts";
import type { Float32Pool } from "../util/float-pool.ts";

export interface AlignVehicleOptions {
  /** Vehicle id; envelopes of other vehicles are counted (`wrong_vehicle`) and dropped. */
  vehicle: string;
  /** Processing-time source and timer host (clock "scheduler"). Default: asyncScheduler. */
  scheduler?: SchedulerLike;
  /** "scheduler" (live, default) or "arrival" (offline: time from envelope arrivalNs). */
  clock?: "scheduler" | "arrival";
  /** Receives the collector once subscribed (diagnostics, EKF access for benchmarks and tests). */
  onCollector?: (c: Collector) => void;
  /**
   * Tracked objects fed back from the fused output (world state of earlier ticks): radar returns
   * of a tracked target are also moved by its motion across the line of sight (docs/align.md).
   * Subscribed with the stage, unsubscribed at teardown; if it errors, the stage goes on without.
   */
  objectMotion?: Observable<ObjectMotion>;
  /** Buffers for the ticks' reference LiDAR points (`CollectorOptions.lidarPool`). Default none. */
  lidarPool?: Float32Pool;
}

export function alignVehicle(
  rig: RigConfig,
  opts: AlignVehicleOptions,
): OperatorFunction<SensorEnvelope, AlignedTick> {
  const scheduler = opts.scheduler ?? asyncScheduler;
  const arrivalClock = opts.clock === "arrival";
  return (source) =>
    new Observable<AlignedTick>((subscriber) => {
      const core = new Collector(rig, { vehicle: opts.vehicle, lidarPool: opts.lidarPool });
      opts.onCollector?.(core);
      let timer: Subscription | null = null;
      let timerAtNs = Number.POSITIVE_INFINITY;
      let closed = false;
      const out: AlignedTick[] = [];
      const nowNs = () => scheduler.now() * 1e6;

      const deliver = () => {
        // Copy-then-clear: a downstream `next` may re-enter through the scheduler.
        const ticks = out.splice(0, out.length);
        for (const t of ticks) subscriber.next(t);
      };

      const arm = () => {
        if (arrivalClock || closed) return;
        const wake = core.nextWakeNs();
        if (wake === timerAtNs) return;
        timer?.unsubscribe();
        timer = null;
        timerAtNs = Number.POSITIVE_INFINITY;
        if (wake === null) return;
        timerAtNs = wake;
        const delayMs = Math.max(0, (wake - nowNs()) / 1e6);
        timer = scheduler.schedule(() => {
          const at = timerAtNs;
          timer = null;
          timerAtNs = Number.POSITIVE_INFINITY;
          try {
            // Never earlier than the instant we were woken for (float rounding of ms <-> ns).
            core.advance(Math.max(nowNs(), at), out);
          } catch (e) {
            subscriber.error(e);
            return;
          }
          deliver();
          arm();
        }, delayMs);
      };

      const hints = opts.objectMotion?.subscribe({
        next: (m) => core.setObjectMotion(m),
        error: () => core.setObjectMotion(null),
      });

      const sub = source.subscribe({
        next: (env) => {
          try {
            core.ingest(env, arrivalClock ? env.arrivalNs : nowNs(), out);
          } catch (e) {
            subscriber.error(e);
            return;
          }
          deliver();
          arm();
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          core.flush(arrivalClock ? core.clockNs : nowNs(), out);
          deliver();
          subscriber.complete();
        },
      });

      return () => {
        closed = true;
        hints?.unsubscribe();
        sub.unsubscribe();
        timer?.unsubscribe();
        timer = null;
        out.length = 0;
        core.dispose();
      };
    });
}
