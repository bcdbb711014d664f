/**
 * `StallMonitor`: the service measuring itself. A heartbeat on the injected scheduler is due every
 * `intervalMs`; when it (or any probe) finds that the event loop did not turn for longer than
 * `intervalMs + thresholdMs`, the process was stalled (CPU starvation, a long synchronous stage, a
 * SIGSTOP, a GC pause): the interval is recorded as a stall.
 *
 * The health stage asks `overlapNs(a, b)` how much of a sensor's silence the service itself caused
 * and does not count it against the sensor (no STALE, no SAFE_STOP for a gap the process made), and
 * reports the stall as its own condition (`SERVICE_OVERLOADED`).
 *
 * Any code may `probe(now)` (the health stage does, before evaluating): after a freeze, expired
 * timers run in due order, so a stale deadline may fire before the heartbeat does; the probe finds
 * the stall from the last heartbeat all the same.
 *
 * Time: processing time in ns from the injected `now` (the same clock as envelopes' `arrivalNs`).
 * Memory: the stall list keeps at most `maxStalls` entries (oldest dropped).
 */
import { asyncScheduler, type SchedulerLike, type Subscription } from "rxjs";
import type { StallSource } from "../health/types.ts";

export interface StallMonitorOptions {
  /** Processing time, ns. */
  now: () => number;
  /** Heartbeat host. Default asyncScheduler. */
  scheduler?: SchedulerLike;
  /** Heartbeat period, ms. Default 20. */
  intervalMs?: number;
  /** A heartbeat later than its due time by more than this is a stall, ms. Default 50. */
  thresholdMs?: number;
  /** Stalls remembered (for overlap queries and the report). Default 256. */
  maxStalls?: number;
  /** Called once per stall when it is over (the next heartbeat ran), with its duration. */
  onStall?: (stall: Stall) => void;
}

export const DEFAULT_STALL_OPTIONS = { intervalMs: 20, thresholdMs: 50, maxStalls: 256 } as const;

export interface Stall {
  /** Processing time the loop stopped turning (last heartbeat + period), ns. */
  startNs: number;
  /** Processing time it was found turning again, ns. */
  endNs: number;
}

export interface StallStats {
  stalls: number;
  /** Sum of stall durations, ms. */
  totalMs: number;
  /** Longest stall, ms. */
  maxMs: number;
  /** Largest lateness of a heartbeat that was not a stall (below the threshold), ms. */
  maxLagMs: number;
}

export class StallMonitor implements StallSource {
  private readonly now: () => number;
  private readonly scheduler: SchedulerLike;
  private readonly intervalNs: number;
  private readonly thresholdNs: number;
  private readonly maxStalls: number;
  private readonly stalls: Stall[] = [];
  private lastBeatNs: number;
  private timer: Subscription | null = null;
  private announced = true;
  private readonly onStall: ((s: Stall) => void) | undefined;
  readonly stats: StallStats = { stalls: 0, totalMs: 0, maxMs: 0, maxLagMs: 0 };

  constructor(o: StallMonitorOptions) {
    this.now = o.now;
    this.scheduler = o.scheduler ?? asyncScheduler;
    this.intervalNs = (o.intervalMs ?? DEFAULT_STALL_OPTIONS.intervalMs) * 1e6;
    this.thresholdNs = (o.thresholdMs ?? DEFAULT_STALL_OPTIONS.thresholdMs) * 1e6;
    this.maxStalls = o.maxStalls ?? DEFAULT_STALL_OPTIONS.maxStalls;
    this.onStall = o.onStall;
    this.lastBeatNs = this.now();
  }

  /** Start the heartbeat (idempotent). */
  start(): this {
    if (this.timer) return this;
    this.lastBeatNs = this.now();
    const beat = () => {
      this.beat(this.now());
      this.timer = this.scheduler.schedule(beat, this.intervalNs / 1e6);
    };
    this.timer = this.scheduler.schedule(beat, this.intervalNs / 1e6);
    return this;
  }

  /** The heartbeat: the loop turned at `nowNs` (called by the timer; tests call it directly). */
  beat(nowNs: number): void {
    this.probe(nowNs);
    const last = this.stalls.at(-1);
    if (last && !this.announced) {
      this.announced = true;
      this.onStall?.({ ...last });
    }
    this.lastBeatNs = nowNs;
  }

  stop(): void {
    this.timer?.unsubscribe();
    this.timer = null;
  }

  /** Record a stall if the loop has not turned since the last heartbeat for too long. */
  probe(nowNs: number): void {
    const due = this.lastBeatNs + this.intervalNs;
    const late = nowNs - due;
    if (late <= this.thresholdNs) {
      if (this.timer && late > 0) this.stats.maxLagMs = Math.max(this.stats.maxLagMs, late / 1e6);
      return;
    }
    const last = this.stalls.at(-1);
    if (last && due <= last.endNs) {
      // the same stall, still going (probes while the loop is still blocked)
      if (nowNs > last.endNs) {
        this.stats.totalMs += (nowNs - last.endNs) / 1e6;
        last.endNs = nowNs;
        this.stats.maxMs = Math.max(this.stats.maxMs, (last.endNs - last.startNs) / 1e6);
      }
      return;
    }
    this.stalls.push({ startNs: due, endNs: nowNs });
    this.announced = false;
    if (this.stalls.length > this.maxStalls) this.stalls.shift();
    this.stats.stalls++;
    this.stats.totalMs += late / 1e6;
    this.stats.maxMs = Math.max(this.stats.maxMs, late / 1e6);
  }

  /** Stalled time inside [a, b], ns (b may be Infinity). */
  overlapNs(a: number, b: number): number {
    let s = 0;
    for (let i = this.stalls.length - 1; i >= 0; i--) {
      const st = this.stalls[i]!;
      if (st.endNs <= a) break;
      const lo = Math.max(a, st.startNs);
      const hi = Math.min(b, st.endNs);
      if (hi > lo) s += hi - lo;
    }
    return s;
  }

  /** The latest stall, or null. */
  lastStall(): Stall | null {
    const l = this.stalls.at(-1);
    return l ? { ...l } : null;
  }
}
