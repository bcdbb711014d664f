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
  /** A heartbeat later than its due time by more than this is recorded (excused to sensors), ms.
   *  Default 20. */
  thresholdMs?: number;
  /** Stalls at least this long are reported (SERVICE_OVERLOADED, `onStall`, `lastStall`), ms.
   *  Default 100. Shorter ones (load) are still excused, and counted in `stats.lagMs`. */
  reportMs?: number;
  /** Stalls remembered (for overlap queries and the report). Default 256. */
  maxStalls?: number;
  /** Called once per stall when it is over (the next heartbeat ran), with its duration. */
  onStall?: (stall: Stall) => void;
}

export const DEFAULT_STALL_OPTIONS = {
  intervalMs: 20,
  thresholdMs: 20,
  reportMs: 100,
  maxStalls: 1024,
} as const;

export interface Stall {
  /** Processing time the loop stopped turning (last heartbeat + period), ns. */
  startNs: number;
  /** Processing time it was found turning again, ns. */
  endNs: number;
}

export interface StallStats {
  /** Reported stalls (at least `reportMs`). */
  stalls: number;
  /** Sum of stall durations, ms. */
  totalMs: number;
  /** Longest stall, ms. */
  maxMs: number;
  /** Largest lateness of a heartbeat that was not a stall (below the threshold), ms. */
  maxLagMs: number;
  /** Time in recorded stalls shorter than `reportMs` (load, not reported), ms. */
  lagMs: number;
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
  private accounted = true;
  private readonly onStall: ((s: Stall) => void) | undefined;
  readonly stats: StallStats = { stalls: 0, totalMs: 0, maxMs: 0, maxLagMs: 0, lagMs: 0 };
  private readonly reportNs: number;
  private lastReported: Stall | null = null;

  constructor(o: StallMonitorOptions) {
    this.now = o.now;
    this.scheduler = o.scheduler ?? asyncScheduler;
    this.intervalNs = (o.intervalMs ?? DEFAULT_STALL_OPTIONS.intervalMs) * 1e6;
    this.thresholdNs = (o.thresholdMs ?? DEFAULT_STALL_OPTIONS.thresholdMs) * 1e6;
    this.reportNs = (o.reportMs ?? DEFAULT_STALL_OPTIONS.reportMs) * 1e6;
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
    if (last && last.endNs - last.startNs >= this.reportNs && !this.announced) {
      this.announced = true;
      this.onStall?.({ ...last });
    }
    if (last && !this.accounted && last.endNs <= nowNs) this.account(last);
    this.lastBeatNs = nowNs;
  }

  stop(): void {
    this.timer?.unsubscribe();
    this.timer = null;
  }

  /** A stall is over (the heartbeat ran): add it to the statistics once. */
  private account(s: Stall): void {
    this.accounted = true;
    const ms = (s.endNs - s.startNs) / 1e6;
    if (ms * 1e6 >= this.reportNs) {
      this.stats.stalls++;
      this.stats.totalMs += ms;
      this.stats.maxMs = Math.max(this.stats.maxMs, ms);
      this.lastReported = { ...s };
    } else this.stats.lagMs += ms;
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
      if (nowNs > last.endNs) last.endNs = nowNs;
      return;
    }
    if (last && !this.accounted) this.account(last);
    this.stalls.push({ startNs: due, endNs: nowNs });
    if (this.stalls.length > this.maxStalls) this.stalls.shift();
    this.announced = false;
    this.accounted = false;
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

  /** The latest stall long enough to report (at least `reportMs`), or null; one still going counts. */
  lastStall(): Stall | null {
    const l = this.stalls.at(-1);
    if (l && l.endNs - l.startNs >= this.reportNs) return { ...l };
    return this.lastReported ? { ...this.lastReported } : null;
  }
}
