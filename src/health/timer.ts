/**
 * `healthTimer(monitor, opts)`: evaluates a HealthMonitor between ticks, so that staleness is noticed
 * at the sensor's timeout rather than at the next tick, and the report goes out at least every
 * `periodMs`. It arms one timer at min(next stale deadline, next periodic report) on the injected
 * scheduler, evaluates when it fires, emits the snapshot and re-arms. Tick-path evaluations keep
 * happening as before; both paths share the monitor (each snapshot carries the transitions found by
 * that evaluation, so log `snapshot.transitions` from both).
 *
 * Teardown cancels the timer.
 */
import { asyncScheduler, Observable, type SchedulerLike, type Subscription } from "rxjs";
import type { HealthMonitor } from "./index.ts";
import type { HealthSnapshot } from "./types.ts";

export interface HealthTimerOptions {
  /** Processing time, ns (the same clock as the envelopes' arrivalNs). */
  now: () => number;
  /** Timer host. Default asyncScheduler. */
  scheduler?: SchedulerLike;
  /** Periodic report period, ms (rig `health.report_period_ms`). */
  periodMs: number;
}

export interface HealthTimerEvent {
  snapshot: HealthSnapshot;
  /** true when this evaluation is the periodic one (publish the report even if nothing changed). */
  periodic: boolean;
}

/** Never arm closer than this (timer granularity; avoids a busy loop just before a deadline), ms. */
const MIN_DELAY_MS = 1;

export function healthTimer(monitor: HealthMonitor, opts: HealthTimerOptions): Observable<HealthTimerEvent> {
  const scheduler = opts.scheduler ?? asyncScheduler;
  const periodNs = opts.periodMs * 1e6;
  return new Observable<HealthTimerEvent>((subscriber) => {
    let timer: Subscription | null = null;
    let nextPeriodicNs = opts.now() + periodNs;
    const arm = () => {
      const at = Math.min(monitor.nextDeadlineNs(), nextPeriodicNs);
      const delayMs = Math.max(MIN_DELAY_MS, (at - opts.now()) / 1e6);
      timer = scheduler.schedule(fire, delayMs);
    };
    const fire = () => {
      timer = null;
      try {
        const now = opts.now();
        const snapshot = monitor.evaluate(now);
        const periodic = now >= nextPeriodicNs;
        if (periodic) nextPeriodicNs = now + periodNs;
        subscriber.next({ snapshot, periodic });
      } catch (e) {
        subscriber.error(e);
        return;
      }
      if (!subscriber.closed) arm();
    };
    arm();
    return () => {
      timer?.unsubscribe();
      timer = null;
    };
  });
}
