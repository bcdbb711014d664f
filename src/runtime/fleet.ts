/**
 * The fleet runtime: the one way to drive the pipeline, live or offline (docs/runtime.md).
 *
 *   fleetPipeline(inputs$, options)      live or replay over an Observable of inputs
 *   fleetReplay(source, options)         replay/evaluation over an (async) iterable, with backpressure
 *   createFleet(options)                 the push-based core both are built on
 *
 * Inputs are decoded envelopes and decode failures (`FleetInput`); outputs are `FleetEvent`s: fused
 * frames, health evaluations (tick path and timer path), admissions, evictions and restarts.
 *
 * The runtime owns:
 *  - admission: the vehicle id is validated (./admission.ts), a rig must exist for it, and at most
 *    `maxVehicles` are served; refused traffic is counted in one bounded bucket (`unadmitted`), never
 *    keyed by the invented id;
 *  - idle eviction: a vehicle silent for `idleEvictMs` (default 30 s) is released (pipeline, health
 *    monitor, engine tracks) and an `evicted` event lets the service clear its retained topics;
 *  - isolation: an exception in one vehicle's stages ends that vehicle's pipeline only; it is
 *    counted, logged once, and the vehicle's pipeline is rebuilt (fresh aligner, health monitor and
 *    tracks) for its next message;
 *  - clocks: `live` runs on the scheduler (wall clock, timers, shed the oldest waiting tick when
 *    fusion is busy); `replay` runs on event time (envelopes' `arrivalNs`, no timers, no shedding).
 */
import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  Observable,
  type SchedulerLike,
  Subject,
  type Subscription,
} from "rxjs";
import type { AlignedTick } from "../align/types.ts";
import { HealthMonitor } from "../health/index.ts";
import { healthTimer } from "../health/timer.ts";
import type { HealthSnapshot, StallSource } from "../health/types.ts";
import type { FusedFrame, SensorEnvelope } from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import type { DecodeFailure } from "../streams/types.ts";
import type { NowNs } from "../util/clock.ts";
import { createLogger, type Logger } from "../util/log.ts";
import { type AdmissionRefusal, vehicleIdProblem } from "./admission.ts";
import { type FleetEngine, type RuntimeMode, vehiclePipeline } from "./vehicle.ts";

/** A decode failure routed to the fleet (counted on the vehicle when admitted, else in the bucket). */
export interface FleetDecodeError {
  failure: DecodeFailure;
}
export type FleetInput = SensorEnvelope | FleetDecodeError;

export type FleetEvent =
  | { type: "frame"; vehicle: string; frame: FusedFrame; health: HealthSnapshot; tick: AlignedTick }
  | { type: "health"; vehicle: string; snapshot: HealthSnapshot; periodic: boolean }
  | { type: "admitted"; vehicle: string; rig: string }
  | { type: "evicted"; vehicle: string; idleMs: number }
  | { type: "released"; vehicle: string }
  | { type: "restarted"; vehicle: string; error: string; restarts: number };

/** The rig of a vehicle, or null when the vehicle has none (refused, counted as `no_rig`). */
export type RigResolver = (vehicle: string) => RigConfig | null;

export interface FleetOptions {
  /** `live` (default) or `replay` (event time, no shedding). */
  mode?: RuntimeMode;
  /** One rig for every vehicle, or a resolver (rig map, src/rig/map.ts). */
  rig: RigConfig | RigResolver;
  engine: FleetEngine;
  /** Timer host of live mode. Default asyncScheduler (use wallScheduler with wallNs). */
  scheduler?: SchedulerLike;
  /** Processing time of live mode, ns. Default: scheduler.now() in ns. Replay uses event time. */
  now?: NowNs;
  logger?: Logger;
  /** Largest number of vehicles served at once. Default 64. */
  maxVehicles?: number;
  /** A vehicle silent for this long is evicted, ms. Default 30000; 0 = never. */
  idleEvictMs?: number;
  /** Where the service measures its own stalls (live); health does not blame sensors for them. */
  stalls?: StallSource;
  /**
   * An extra stage in front of each vehicle's pipeline (taps, fault injection in tests). An error it
   * raises is an error of that vehicle's stages: the vehicle restarts, the others go on.
   */
  preStage?: (vehicle: string) => MonoTypeOperatorFunction<SensorEnvelope>;
}

export const FLEET_DEFAULTS = { maxVehicles: 64, idleEvictMs: 30_000 } as const;

export interface VehicleCounters {
  rig: string;
  /** Processing time of admission, ns. */
  admittedNs: number;
  messages: number;
  /** Ticks that reached the fusion stage. */
  ticks: number;
  frames: number;
  /** Ticks shed because fusion was busy (live). */
  fusionDrops: number;
  /** Pipeline restarts after an exception in this vehicle's stages. */
  restarts: number;
  /** Decode failures by `<sensor id>/<code>`; sensors outside the rig count as `_unknown_sensor`. */
  decodeErrors: Record<string, number>;
}

export interface FleetStats {
  /** Counters of the vehicles served now. */
  vehicles: Record<string, VehicleCounters>;
  admitted: number;
  evicted: number;
  /** Vehicles released on request (`Fleet.release`: a fleet worker handed the vehicle over). */
  released: number;
  restarts: number;
  ticks: number;
  frames: number;
  fusionDrops: number;
  /** Traffic of vehicles that were not admitted: one bounded bucket, never keyed by vehicle id. */
  unadmitted: { messages: number; decodeErrors: number } & Record<AdmissionRefusal, number>;
}

export interface Fleet {
  /** Every event of the fleet (hot). */
  readonly events$: Observable<FleetEvent>;
  push(input: FleetInput): void;
  /** End of input: flush every vehicle (replay: pending ticks are emitted), then complete events$. */
  complete(): void;
  /** Tear everything down without flushing. */
  stop(): void;
  /**
   * Release a served vehicle now (pipeline, health monitor, engine state), as eviction does but on
   * request: a fleet worker that no longer owns the vehicle. Emits `released`; false if not served.
   * Its next message admits it afresh.
   */
  release(vehicle: string): boolean;
  /** Ticks aligned but not yet fused (waiting or in flight), all vehicles. */
  pending(): number;
  /** Calls `fn` once the next time pending() drops (a tick left fusion). */
  onProgress(fn: () => void): void;
  vehicles(): string[];
  stats(): FleetStats;
  /** The health monitor of a served vehicle (diagnostics, tests). */
  monitor(vehicle: string): HealthMonitor | undefined;
}

interface Slot {
  id: string;
  rig: RigConfig;
  monitor: HealthMonitor;
  input: Subject<SensorEnvelope>;
  subs: Subscription[];
  lastSeenNs: number;
  counters: VehicleCounters;
  sensorIds: ReadonlySet<string>;
  /** Replay: next event time at which health is evaluated between ticks. */
  nextHealthNs: number;
  nextPeriodicNs: number;
  done: boolean;
}

const isFailure = (x: FleetInput): x is FleetDecodeError => (x as FleetDecodeError).failure !== undefined;

export function createFleet(o: FleetOptions): Fleet {
  const mode: RuntimeMode = o.mode ?? "live";
  const replay = mode === "replay";
  const scheduler = o.scheduler ?? asyncScheduler;
  const liveNow: NowNs = o.now ?? (() => scheduler.now() * 1e6);
  const logger = o.logger ?? createLogger();
  const maxVehicles = o.maxVehicles ?? FLEET_DEFAULTS.maxVehicles;
  const idleEvictNs = (o.idleEvictMs ?? FLEET_DEFAULTS.idleEvictMs) * 1e6;
  const rigOf: RigResolver =
    typeof o.rig === "function"
      ? o.rig
      : (
          (r: RigConfig) => () =>
            r
        )(o.rig);
  const events = new Subject<FleetEvent>();
  const slots = new Map<string, Slot>();
  const stats: Omit<FleetStats, "vehicles"> = {
    admitted: 0,
    evicted: 0,
    released: 0,
    restarts: 0,
    ticks: 0,
    frames: 0,
    fusionDrops: 0,
    unadmitted: { messages: 0, decodeErrors: 0, invalid_id: 0, capacity: 0, no_rig: 0 },
  };
  let pending = 0;
  let progress: (() => void)[] = [];
  let eventNs = Number.NEGATIVE_INFINITY; // replay: event time (latest arrival)
  const now = (): number => (replay ? eventNs : liveNow());
  let stopped = false;

  const emit = (e: FleetEvent) => {
    if (!stopped) events.next(e);
  };

  const left = () => {
    pending--;
    const fns = progress;
    progress = [];
    for (const f of fns) f();
  };

  const startPipeline = (slot: Slot) => {
    const monitor = new HealthMonitor(slot.id, slot.rig, { stalls: o.stalls });
    slot.monitor = monitor;
    slot.input = new Subject<SensorEnvelope>();
    slot.nextPeriodicNs = now() + slot.rig.health.report_period_ms * 1e6;
    slot.nextHealthNs = Number.POSITIVE_INFINITY;
    const fail = (e: unknown) => restart(slot, e);
    const pre = o.preStage?.(slot.id);
    const input$ = pre ? slot.input.pipe(pre) : slot.input.asObservable();
    slot.subs.push(
      input$
        .pipe(
          vehiclePipeline({
            vehicle: slot.id,
            rig: slot.rig,
            engine: o.engine,
            health: monitor,
            mode,
            scheduler,
            now: liveNow,
            logger,
            onFusionQueued: () => {
              pending++;
              slot.counters.ticks++;
              stats.ticks++;
            },
            onFusionDone: left,
            onFusionDrop: () => {
              slot.counters.fusionDrops++;
              stats.fusionDrops++;
              logger.limited(`fusion-drop:${slot.id}`, "warn", `fusion busy: shed a tick of ${slot.id}`);
            },
          }),
        )
        .subscribe({
          next: (out) => {
            slot.counters.frames++;
            stats.frames++;
            emit({ type: "frame", vehicle: slot.id, frame: out.frame, health: out.health, tick: out.tick });
            emit({ type: "health", vehicle: slot.id, snapshot: out.health, periodic: false });
          },
          error: fail,
        }),
    );
    if (!replay)
      slot.subs.push(
        healthTimer(monitor, {
          now: liveNow,
          scheduler,
          periodMs: slot.rig.health.report_period_ms,
        }).subscribe({
          next: ({ snapshot, periodic }) => emit({ type: "health", vehicle: slot.id, snapshot, periodic }),
          error: fail,
        }),
      );
  };

  const teardown = (slot: Slot) => {
    slot.done = true;
    for (const s of slot.subs.splice(0)) s.unsubscribe();
    try {
      o.engine.release?.(slot.id);
    } catch (e) {
      logger.log("warn", `engine release of ${slot.id} failed: ${(e as Error).message}`);
    }
  };

  const restart = (slot: Slot, e: unknown) => {
    if (slot.done || stopped) return;
    const msg = e instanceof Error ? e.message : String(e);
    slot.counters.restarts++;
    stats.restarts++;
    logger.log(
      "error",
      `vehicle ${slot.id}: pipeline failed (${msg}); restarting this vehicle only (restart ${slot.counters.restarts})`,
    );
    teardown(slot);
    slot.done = false;
    // Pending ticks of the failed pipeline never leave fusion normally; they are gone.
    startPipeline(slot);
    emit({ type: "restarted", vehicle: slot.id, error: msg, restarts: slot.counters.restarts });
  };

  const refuse = (vehicle: string, why: AdmissionRefusal, line: string) => {
    stats.unadmitted[why]++;
    // Rate-limited per reason, not per vehicle: invented ids must not grow the limiter's keys.
    logger.limited(
      `admission:${why}`,
      "warn",
      `vehicle ${JSON.stringify(vehicle.slice(0, 80))} refused: ${line}`,
    );
  };

  const admit = (vehicle: string): Slot | null => {
    const problem = vehicleIdProblem(vehicle);
    if (problem) {
      refuse(vehicle, "invalid_id", problem);
      return null;
    }
    if (slots.size >= maxVehicles) {
      refuse(vehicle, "capacity", `${maxVehicles} vehicles already served`);
      return null;
    }
    const rig = rigOf(vehicle);
    if (!rig) {
      refuse(vehicle, "no_rig", "no rig for this vehicle id in the rig map");
      return null;
    }
    const t = now();
    const slot: Slot = {
      id: vehicle,
      rig,
      monitor: null as unknown as HealthMonitor,
      input: null as unknown as Subject<SensorEnvelope>,
      subs: [],
      lastSeenNs: t,
      sensorIds: new Set(rig.sensors.map((s) => s.id)),
      counters: {
        rig: rig.name,
        admittedNs: t,
        messages: 0,
        ticks: 0,
        frames: 0,
        fusionDrops: 0,
        restarts: 0,
        decodeErrors: {},
      },
      nextHealthNs: Number.POSITIVE_INFINITY,
      nextPeriodicNs: Number.POSITIVE_INFINITY,
      done: false,
    };
    slots.set(vehicle, slot);
    stats.admitted++;
    startPipeline(slot);
    logger.log("info", `serving vehicle ${vehicle} (rig ${rig.name}, fusion ${o.engine.mode})`);
    emit({ type: "admitted", vehicle, rig: rig.name });
    return slot;
  };

  const evict = (slot: Slot, idleNs: number) => {
    teardown(slot);
    slots.delete(slot.id);
    stats.evicted++;
    logger.log("info", `vehicle ${slot.id} evicted after ${(idleNs / 1e9).toFixed(1)} s without messages`);
    emit({ type: "evicted", vehicle: slot.id, idleMs: idleNs / 1e6 });
  };

  let nextSweepNs = Number.NEGATIVE_INFINITY;
  const sweepEveryMs = Math.min(5000, Math.max(100, idleEvictNs / 1e6 / 10));
  const sweep = () => {
    if (idleEvictNs <= 0) return;
    const t = now();
    for (const slot of [...slots.values()]) {
      const idle = t - slot.lastSeenNs;
      if (idle >= idleEvictNs) evict(slot, idle);
    }
  };
  let sweepTimer: Subscription | null = null;
  if (!replay && idleEvictNs > 0) {
    const again = () => {
      sweep();
      sweepTimer = scheduler.schedule(again, sweepEveryMs);
    };
    sweepTimer = scheduler.schedule(again, sweepEveryMs);
  }

  /** Replay: health evaluations between ticks, at event time (stale deadlines and periodic reports). */
  const replayHealth = (slot: Slot, t: number) => {
    for (let guard = 0; guard < 16; guard++) {
      const at = Math.min(slot.monitor.nextDeadlineNs(), slot.nextPeriodicNs);
      if (!(at <= t)) return;
      const snapshot = slot.monitor.evaluate(at);
      const periodic = at >= slot.nextPeriodicNs;
      if (periodic) slot.nextPeriodicNs = at + slot.rig.health.report_period_ms * 1e6;
      emit({ type: "health", vehicle: slot.id, snapshot, periodic });
    }
  };

  const push = (x: FleetInput) => {
    if (stopped) return;
    if (isFailure(x)) {
      const f = x.failure;
      if (replay && f.arrivalNs > eventNs) eventNs = f.arrivalNs;
      const slot = f.vehicle ? slots.get(f.vehicle) : undefined;
      if (!slot) {
        stats.unadmitted.decodeErrors++;
        return;
      }
      const sensor = f.sensorId && slot.sensorIds.has(f.sensorId) ? f.sensorId : "_unknown_sensor";
      const key = `${sensor}/${f.code}`;
      slot.counters.decodeErrors[key] = (slot.counters.decodeErrors[key] ?? 0) + 1;
      try {
        if (f.sensorId) slot.monitor.onDecodeError(f.sensorId, f.code, f.arrivalNs);
      } catch (e) {
        restart(slot, e);
      }
      return;
    }
    const v = x.msg.header.vehicle;
    if (replay) {
      if (x.arrivalNs > eventNs) eventNs = x.arrivalNs;
      if (idleEvictNs > 0 && eventNs >= nextSweepNs) {
        sweep();
        nextSweepNs = eventNs + sweepEveryMs * 1e6;
      }
    }
    let slot = slots.get(v);
    if (!slot) {
      const admitted = admit(v);
      if (!admitted) {
        stats.unadmitted.messages++;
        return;
      }
      slot = admitted;
    }
    slot.lastSeenNs = now();
    slot.counters.messages++;
    if (replay) replayHealth(slot, eventNs);
    slot.input.next(x);
  };

  const complete = () => {
    if (stopped) return;
    sweepTimer?.unsubscribe();
    // Flush every vehicle: the aligner emits what it still holds, fusion finishes in order; the
    // events complete when the last vehicle's pipeline has (synchronously when nothing is pending).
    let open = 1;
    const done = () => {
      if (--open > 0) return;
      for (const slot of slots.values()) teardown(slot);
      stopped = true;
      events.complete();
    };
    for (const slot of [...slots.values()]) {
      const sub = slot.subs[0];
      if (slot.done || !sub || sub.closed) continue;
      open++;
      sub.add(done);
      slot.input.complete();
    }
    done();
  };

  return {
    events$: events.asObservable(),
    push,
    complete,
    stop() {
      if (stopped) return;
      stopped = true;
      sweepTimer?.unsubscribe();
      for (const slot of slots.values()) teardown(slot);
      slots.clear();
      events.complete();
    },
    release(vehicle) {
      const slot = slots.get(vehicle);
      if (!slot || stopped) return false;
      teardown(slot);
      slots.delete(vehicle);
      stats.released++;
      emit({ type: "released", vehicle });
      return true;
    },
    pending: () => pending,
    onProgress(fn) {
      progress.push(fn);
    },
    vehicles: () => [...slots.keys()],
    stats: () => ({
      ...stats,
      unadmitted: { ...stats.unadmitted },
      vehicles: Object.fromEntries([...slots].map(([k, s]) => [k, { ...s.counters }])),
    }),
    monitor: (v) => slots.get(v)?.monitor,
  };
}

/**
 * The fleet over an Observable of inputs. Live: subscribe to the MQTT source's decoded stream.
 * Replay over an Observable has no backpressure (the source pushes): use `fleetReplay` for that.
 * Unsubscribing tears the fleet down; completion of the input flushes it.
 */
export function fleetPipeline(
  inputs$: Observable<FleetInput>,
  options: FleetOptions,
  onFleet?: (fleet: Fleet) => void,
): Observable<FleetEvent> {
  return new Observable<FleetEvent>((subscriber) => {
    const fleet = createFleet(options);
    onFleet?.(fleet);
    const out = fleet.events$.subscribe(subscriber);
    const input = inputs$.subscribe({
      next: (x) => fleet.push(x),
      error: (e) => subscriber.error(e),
      complete: () => fleet.complete(),
    });
    return () => {
      input.unsubscribe();
      out.unsubscribe();
      fleet.stop();
    };
  });
}

export interface ReplayOptions extends Omit<FleetOptions, "mode"> {
  /** Pull the next input only while fewer ticks than this wait for or run in fusion. Default 2. */
  maxPendingTicks?: number;
}

/**
 * Replay and evaluation: event time, as fast as possible, with backpressure and no shedding. Inputs
 * are pulled from `source` only while fewer than `maxPendingTicks` ticks wait for fusion, so a slow
 * engine slows the reading instead of dropping ticks, and the result equals live on the same input.
 */
export function fleetReplay(
  source: Iterable<FleetInput> | AsyncIterable<FleetInput>,
  options: ReplayOptions,
  onFleet?: (fleet: Fleet) => void,
): Observable<FleetEvent> {
  const maxPending = options.maxPendingTicks ?? 2;
  return new Observable<FleetEvent>((subscriber) => {
    const fleet = createFleet({ ...options, mode: "replay" });
    onFleet?.(fleet);
    const out = fleet.events$.subscribe(subscriber);
    let closed = false;
    const asyncIt = (source as AsyncIterable<FleetInput>)[Symbol.asyncIterator]?.();
    const syncIt = asyncIt ? null : (source as Iterable<FleetInput>)[Symbol.iterator]();
    let pulling = false;
    const pump = async () => {
      if (pulling || closed) return;
      pulling = true;
      try {
        while (!closed) {
          if (fleet.pending() >= maxPending) {
            fleet.onProgress(() => void pump());
            return;
          }
          const r = syncIt ? syncIt.next() : await asyncIt!.next();
          if (closed) return;
          if (r.done) {
            fleet.complete();
            return;
          }
          fleet.push(r.value);
        }
      } catch (e) {
        subscriber.error(e);
      } finally {
        pulling = false;
      }
    };
    void pump();
    return () => {
      closed = true;
      out.unsubscribe();
      fleet.stop();
      void asyncIt?.return?.();
      syncIt?.return?.();
    };
  });
}
