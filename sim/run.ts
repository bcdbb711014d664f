/**
 * Real-time pacing of a Simulation: each event is published when the wall clock reaches
 * t0 + (sendNs - startNs) / rate. Targets are computed from the absolute start (drift-corrected:
 * timer overshoot never accumulates). rate 0 publishes as fast as the publisher accepts
 * (awaiting its promise = backpressure), yielding to the event loop regularly.
 */
import { type SimEvent, type SimOptions, Simulation } from "./simulation.ts";

export interface RunOptions extends SimOptions {
  /** Multiple of real time; 0 = as fast as possible. */
  rate: number;
  /** Simulated seconds to run; undefined = until stop(). */
  durationS?: number;
  publish: (ev: SimEvent) => void | Promise<void>;
  /** Wall clock in ms; default performance.now. */
  now?: () => number;
  /** Reading of `now` that corresponds to `startNs` (anchors the schedule to an absolute clock, so that
   *  stamps follow that clock). Default: now() when the run starts, after warm-up. */
  t0Ms?: number;
  /** Waits `ms` of the clock above; default setTimeout. Tests pass a virtual clock's sleep. */
  sleep?: (ms: number) => Promise<void>;
}

export interface SensorStats {
  messages: number;
  bytes: number;
}

export interface SimStats {
  /** Events published. */
  events: number;
  bytes: number;
  /** Simulated time covered, s. */
  simulatedS: number;
  /** Wall time, s. */
  wallS: number;
  /** Per topic. */
  topics: Record<string, SensorStats>;
  /** Publish lateness vs. schedule (ms): p50, p99, max (rate > 0 only). */
  latenessMsP50: number;
  latenessMsP99: number;
  latenessMsMax: number;
  /** publish() calls that threw or rejected. */
  publishErrors: number;
}

export interface SimRun {
  stop(): void;
  done: Promise<SimStats>;
  /** The simulation being run (for ground truth). */
  sim: Simulation;
}

const LATENESS_RESERVOIR = 4096;
/** How far ahead (wall ms) a paced run computes captures while it waits. */
const PREPARE_AHEAD_MS = 100;
/** Simulated time computed before a paced run starts its clock, ns. */
const WARMUP_NS = 500_000_000;

export function runSimulation(opts: RunOptions): SimRun {
  const sim = new Simulation(opts);
  const now = opts.now ?? (() => performance.now());
  const rate = opts.rate;
  if (!(rate >= 0) || !Number.isFinite(rate)) throw new Error(`rate must be >= 0, got ${rate}`);
  const endNs = opts.durationS === undefined ? Number.POSITIVE_INFINITY : opts.startNs + opts.durationS * 1e9;
  let stopped = false;
  let wake: (() => void) | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const stats: SimStats = {
    events: 0,
    bytes: 0,
    simulatedS: 0,
    wallS: 0,
    topics: {},
    latenessMsP50: 0,
    latenessMsP99: 0,
    latenessMsMax: 0,
    publishErrors: 0,
  };
  const lateness = new Float64Array(LATENESS_RESERVOIR);
  let nLate = 0;
  let latenessMax = 0;

  const sleep =
    opts.sleep ??
    ((ms: number) =>
      new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(() => {
          timer = null;
          wake = null;
          resolve();
        }, ms);
      }));

  const loop = async (): Promise<SimStats> => {
    // Start on a later tick: the caller holds the handle (stop) before the first publish.
    await new Promise<void>((r) => setImmediate(r));
    // Warm up before the clock starts: the first captures run cold (JIT) and would be late.
    if (rate > 0) sim.prepare(opts.startNs + WARMUP_NS);
    const t0 = opts.t0Ms ?? now();
    let sinceYield = 0;
    // Decaying maximum of the cost of one capture, ms (the LiDAR sweep dominates).
    let captureCostMs = 5;
    let lastNs = opts.startNs;
    while (!stopped) {
      const sendNs = sim.peekSendNs();
      if (sendNs > endNs) break;
      let target = 0;
      if (rate > 0) {
        target = t0 + (sendNs - opts.startNs) / 1e6 / rate;
        let wait = target - now();
        if (wait > 0.5) {
          // Use the idle time: compute captures due in the next PREPARE_AHEAD_MS, one at a time,
          // while the slack exceeds what a capture has recently cost; then sleep to the
          // (absolute) target, so timer overshoot never accumulates.
          const aheadMs = Math.min(PREPARE_AHEAD_MS, 1000 / rate);
          const limitNs = opts.startNs + (now() - t0 + aheadMs) * 1e6 * rate;
          while (target - now() > captureCostMs + 1) {
            const c0 = now();
            if (!sim.prepareOne(limitNs)) break;
            const cost = now() - c0;
            captureCostMs = Math.max(captureCostMs * 0.995, cost);
          }
          wait = target - now();
          if (wait > 0.5) {
            sinceYield = 0;
            await sleep(wait);
          }
          continue;
        }
      }
      const ev = sim.next()!;
      lastNs = ev.sendNs;
      if (rate > 0) {
        const late = now() - target;
        if (late > latenessMax) latenessMax = late;
        lateness[nLate++ % LATENESS_RESERVOIR] = late;
      }
      const t = (stats.topics[ev.topic] ??= { messages: 0, bytes: 0 });
      t.messages++;
      t.bytes += ev.payload.byteLength;
      stats.events++;
      stats.bytes += ev.payload.byteLength;
      try {
        const r = opts.publish(ev);
        if (r) await r;
      } catch {
        stats.publishErrors++;
      }
      // Never starve the event loop (the publisher's socket, stop(), signals): as fast as possible,
      // or behind schedule, yield every 64 events.
      if (++sinceYield >= 64) {
        sinceYield = 0;
        await new Promise<void>((r) => setImmediate(r));
      }
    }
    stats.wallS = (now() - t0) / 1000;
    stats.simulatedS = (Math.min(endNs, Math.max(lastNs, opts.startNs)) - opts.startNs) / 1e9;
    const l = Array.from(lateness.subarray(0, Math.min(nLate, LATENESS_RESERVOIR))).sort((a, b) => a - b);
    if (l.length) {
      stats.latenessMsP50 = l[Math.floor(l.length * 0.5)]!;
      stats.latenessMsP99 = l[Math.min(l.length - 1, Math.floor(l.length * 0.99))]!;
      stats.latenessMsMax = latenessMax;
    }
    return stats;
  };

  const done = loop();
  return {
    sim,
    done,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const w = wake as (() => void) | null;
      wake = null;
      w?.();
    },
  };
}
