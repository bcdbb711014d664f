/**
 * Event-time collector of one vehicle: the I/O-free core of the align stage.
 *
 * Push-based: `ingest(envelope, nowNs)` and `advance(nowNs)` return the ticks that became ready;
 * `nextWakeNs()` says when the caller must call `advance` again (a per-input timeout or a timer
 * tick). The RxJS operator (alignVehicle.ts) drives it from a scheduler; an offline replay can drive
 * it from the envelopes' arrival times alone. It never reads a clock and never throws on bad input:
 * every dropped message is counted per sensor and reason.
 *
 * Tick life cycle (docs/align.md):
 *  1. A reference message (LiDAR sweep) opens a tick at its corrected stamp T. If the reference is
 *     overdue by its grace time, a timer tick opens at the nominal next stamp instead.
 *  2. Each other input is complete for T once its latest corrected stamp is >= T - period/2 (the
 *     next message would be farther from T than the last one), or missing once it is not live
 *     (never seen, stale, or CLOCK_SKEW) or its own timeout after the tick opened has expired.
 *  3. When every input is complete or missing, the tick is emitted: nearest message within the
 *     jitter window per input, GNSS/IMU folded into the EKF up to T, everything moved into the
 *     vehicle frame at T.
 */
import { assertNever, isEgoKind, KIND_OF_PAYLOAD, type SensorKind } from "../msg/kinds.ts";
import type { SensorEnvelope } from "../msg/types.ts";
import type { RigConfig, SensorConfig } from "../rig/schema.ts";
import type { AlignConfig } from "./config.ts";
import { EgoEkf, type EgoParams } from "./ego.ts";
import { extrinsicToRigid, type Rigid } from "./geometry.ts";
import {
  buildCamera,
  buildRadar,
  type CameraInput,
  deskewLidar,
  LIDAR_FIELDS,
  type PreparedLidar,
  prepareLidar,
  RADAR_FIELDS,
  type RadarInput,
  trackBoxesAt,
} from "./spatial.ts";
import type {
  AlignDiagnostics,
  AlignedInput,
  AlignedTick,
  CameraObservation,
  DropCounters,
  ObjectMotion,
} from "./types.ts";
import type { Float32Pool } from "../util/float-pool.ts";

/** Drop reasons, documented in docs/align.md. */
export type DropReason =
  | "unknown_sensor"
  | "wrong_vehicle"
  | "kind_mismatch"
  | "duplicate"
  | "backward_jump"
  | "clock_skew"
  | "innovation"
  | "out_of_order"
  | "late"
  | "buffer_full"
  | "reset"
  | "pending_overflow"
  | "internal_error";

interface Buffered {
  env: SensorEnvelope;
  /** Corrected stamp, ns. */
  stampNs: number;
  arrivalNs: number;
  used: boolean;
  /** GNSS/IMU: already folded into the EKF. */
  consumed: boolean;
  /** LiDAR: the sweep with its extrinsic applied, prepared on arrival (see `prepare`). */
  lidar?: PreparedLidar;
}

interface SensorRt {
  cfg: SensorConfig;
  id: string;
  kind: SensorKind;
  isRef: boolean;
  offsetNs: number;
  windowNs: number;
  timeoutNs: number;
  staleNs: number;
  periodNs: number;
  extrinsic: Rigid;
  buf: Buffered[];
  /** Ring of recent corrected stamps, for duplicate detection. */
  recent: Float64Array;
  recentHead: number;
  latestNs: number;
  lastArrivalNs: number;
  /** Latest arrival minus corrected stamp, ns (clock sanity). */
  latencyNs: number | null;
  skewed: boolean;
  /** late_policy `next`: the newest late message, offered to the next tick. */
  carried: Buffered | null;
  /** Run of consecutive messages outside the vehicle's consensus time (a stamp jump not yet
   *  confirmed), or null while the sensor agrees with the others. */
  jump: JumpRun | null;
}

/** Consecutive messages of one sensor whose stamps left the consensus (see `stampJump`). */
interface JumpRun {
  /** Arrival minus corrected stamp of the latest such message, ns. */
  latencyNs: number;
  firstArrivalNs: number;
  lastArrivalNs: number;
  count: number;
}

interface PendingTick {
  stampNs: number;
  openedNs: number;
  trigger: "reference" | "timer";
  ref: Buffered | null;
}

const RECENT = 16;
/** A sensor's run of off-consensus messages confirms a jump (or a CLOCK_SKEW) after this many
 *  messages spanning at least JUMP_RUN_PERIODS of its periods: a lone forged message never does. */
const JUMP_RUN_COUNT = 3;
const JUMP_RUN_PERIODS = 2;
/** Distinct ids outside the rig that get their own drop counters; the rest count under OTHER_IDS. */
const MAX_FOREIGN_IDS = 32;
export const OTHER_IDS = "_other";
const NEG = Number.NEGATIVE_INFINITY;

export interface CollectorOptions {
  vehicle: string;
  /**
   * Buffers for the reference LiDAR's points (vehicle frame): each emitted tick's `lidar.data`
   * comes from it, and whoever consumes the tick gives it back (src/runtime/vehicle.ts, live mode).
   * Default: none (every sweep allocates; offline tools keep ticks).
   */
  lidarPool?: Float32Pool;
}

export class Collector {
  readonly vehicle: string;
  readonly rig: RigConfig;
  readonly cfg: AlignConfig;
  private readonly sensors: SensorRt[];
  private readonly byId = new Map<string, SensorRt>();
  private readonly ref: SensorRt;
  private readonly ego: EgoEkf;
  private pending: PendingTick[] = [];
  private seq = 0;
  private lastEmittedNs = NEG;
  private lastEmittedTrigger: "reference" | "timer" | null = null;
  /** Recent emitted ticks: stamp and the ids missing in it (late_policy `next`). */
  private recentTicks: { stampNs: number; missing: Set<string> }[] = [];
  /** Last opened tick (stamp, processing time of its expected arrival): the timer's anchor. */
  private anchor: { stampNs: number; arrivalNs: number } | null = null;
  private lastInputArrivalNs = NEG;
  private readonly graceNs: number;
  private readonly idleStopNs: number;
  private readonly drops: DropCounters = {};
  private readonly unused: Record<string, number> = {};
  private resets = 0;
  private foreignKeys = 0;
  private resetFlag = false;
  private ticks = { reference: 0, timer: 0 };
  /** Latest tracked objects fed back from the fused output (radar target motion), or null. */
  private objectMotion: ObjectMotion | null = null;
  /** Processing time of the last ingest/advance, ns (monotonic). */
  clockNs = NEG;

  private readonly lidarPool: Float32Pool | undefined;

  constructor(rig: RigConfig, opts: CollectorOptions) {
    this.vehicle = opts.vehicle;
    this.lidarPool = opts.lidarPool;
    this.rig = rig;
    this.cfg = rig.align;
    this.sensors = rig.sensors.map((s) => {
      const rt: SensorRt = {
        cfg: s,
        id: s.id,
        kind: s.kind,
        isRef: s.id === rig.reference,
        offsetNs: s.clock_offset_ms * 1e6,
        windowNs: s.jitter_window_ms * 1e6,
        timeoutNs: s.timeout_ms * 1e6,
        staleNs: s.stale_ms * 1e6,
        periodNs: 1e9 / s.rate_hz,
        extrinsic: extrinsicToRigid(s.extrinsic),
        buf: [],
        recent: new Float64Array(RECENT).fill(Number.NaN),
        recentHead: 0,
        latestNs: NEG,
        lastArrivalNs: NEG,
        latencyNs: null,
        skewed: false,
        carried: null,
        jump: null,
      };
      this.byId.set(s.id, rt);
      return rt;
    });
    this.ref = this.byId.get(rig.reference)!;
    this.graceNs = (this.cfg.reference_grace_ms ?? this.ref.cfg.jitter_window_ms) * 1e6;
    this.idleStopNs = this.cfg.idle_stop_ms * 1e6;
    const gnss = this.sensors.find((s) => s.kind === "gnss");
    const imu = this.sensors.find((s) => s.kind === "imu");
    const e = this.cfg.ego;
    const params: Partial<EgoParams> = {
      gnssLeverM: gnss ? gnss.extrinsic.t : [0, 0, 0],
      gnssStdM: gnss?.cfg.gnss?.noise_m || e.gnss_position_std_m,
      gnssVelStdMps: e.gnss_velocity_std_mps,
      yawAccelStdRadps2: e.yaw_accel_std_radps2,
      jerkStdMps3: e.jerk_std_mps3,
      historyLen: e.history_len,
    };
    if (imu) {
      params.imuRotation = imu.extrinsic.R;
      if (imu.cfg.imu?.gyro_noise_radps) params.gyroStdRadps = imu.cfg.imu.gyro_noise_radps;
      if (imu.cfg.imu?.accel_noise_mps2) params.accelStdMps2 = imu.cfg.imu.accel_noise_mps2;
      // The rig's bias spec (1 sigma) is the prior of the bias states; never below a floor.
      if (imu.cfg.imu?.gyro_bias_radps !== undefined)
        params.gyroBiasStdRadps = Math.max(1e-4, imu.cfg.imu.gyro_bias_radps);
      if (imu.cfg.imu?.accel_bias_mps2 !== undefined)
        params.accelBiasStdMps2 = Math.max(1e-3, imu.cfg.imu.accel_bias_mps2);
    }
    this.ego = new EgoEkf(params);
  }

  // ----------------------------------------------------------------------------------------------
  // Counters
  // ----------------------------------------------------------------------------------------------

  private drop(sensorId: string, reason: DropReason, n = 1): void {
    // Counters of ids outside the rig are bounded: a flood of invented ids shares one key.
    let key = sensorId;
    if (!this.byId.has(key) && !(key in this.drops)) {
      this.foreignKeys++;
      if (this.foreignKeys > MAX_FOREIGN_IDS) key = OTHER_IDS;
    }
    const d = this.drops[key] ?? {};
    this.drops[key] = d;
    d[reason] = (d[reason] ?? 0) + n;
  }

  diagnostics(): AlignDiagnostics {
    const drops: DropCounters = {};
    for (const [k, v] of Object.entries(this.drops)) drops[k] = { ...v };
    return {
      drops,
      clockSkew: this.sensors.filter((s) => s.skewed).map((s) => s.id),
      resets: this.resets,
      unused: { ...this.unused },
      ticks: { ...this.ticks },
    };
  }

  /**
   * Tracked objects of a fused frame (world state feedback): later ticks move radar returns that
   * belong to one of them by its motion across the line of sight (`radar_track_motion`). null
   * forgets them. Cheap: the objects are only read when a tick is emitted.
   */
  setObjectMotion(m: ObjectMotion | null): void {
    if (m && this.objectMotion && m.stampNs < this.objectMotion.stampNs) return; // keep the newest
    this.objectMotion = m;
  }

  /** The EKF (read-only use: tests, benchmarks). */
  get egoFilter(): EgoEkf {
    return this.ego;
  }

  // ----------------------------------------------------------------------------------------------
  // Input
  // ----------------------------------------------------------------------------------------------

  /** Feed one envelope at processing time `nowNs`; returns the ticks that became ready. */
  ingest(env: SensorEnvelope, nowNs: number, out: AlignedTick[] = []): AlignedTick[] {
    this.advance(nowNs, out);
    const h = env.msg.header;
    const s = this.byId.get(h.sensorId);
    if (!s) {
      this.drop(h.sensorId, "unknown_sensor");
      return out;
    }
    if (h.vehicle !== this.vehicle) {
      this.drop(h.sensorId, "wrong_vehicle");
      return out;
    }
    if (KIND_OF_PAYLOAD[env.msg.payload.kind] !== s.kind) {
      this.drop(s.id, "kind_mismatch");
      return out;
    }
    const stamp = h.stampNs - s.offsetNs;
    // Stamp sanity before anything obeys the stamp: a message far from the vehicle's consensus time
    // (a backward jump, or outside the clock-sanity band) is a lone outlier until the sensors agree.
    const jump = this.stampJump(s, stamp, env.arrivalNs, nowNs);
    if (jump === "reset") this.reset(nowNs, out);
    else if (jump !== null) {
      this.drop(s.id, jump);
      return out;
    }
    // Duplicate: the same corrected stamp seen recently.
    for (let i = 0; i < RECENT; i++)
      if (s.recent[i] === stamp) {
        this.drop(s.id, "duplicate");
        return out;
      }
    s.latencyNs = env.arrivalNs - stamp;
    s.skewed = false;
    if (stamp < s.latestNs - this.cfg.reorder_window_ms * 1e6) {
      this.drop(s.id, "out_of_order");
      return out;
    }
    s.recent[s.recentHead] = stamp;
    s.recentHead = (s.recentHead + 1) % RECENT;
    const b: Buffered = { env, stampNs: stamp, arrivalNs: env.arrivalNs, used: false, consumed: false };
    this.lastInputArrivalNs = Math.max(this.lastInputArrivalNs, env.arrivalNs);
    const accepted = s.isRef ? this.ingestReference(s, b, nowNs) : this.ingestOther(s, b);
    if (accepted) this.prepare(s, b);
    if (stamp > s.latestNs) s.latestNs = stamp;
    s.lastArrivalNs = Math.max(s.lastArrivalNs, env.arrivalNs);
    if (!this.anchor) this.anchor = { stampNs: stamp, arrivalNs: env.arrivalNs };
    this.tryEmit(nowNs, out);
    return out;
  }

  /** true when the sweep was taken by a (new or pending timer) tick. */
  private ingestReference(s: SensorRt, b: Buffered, nowNs: number): boolean {
    const T = b.stampNs;
    const lateLimit = this.lastEmittedNs + (this.lastEmittedTrigger === "timer" ? s.windowNs : 0);
    if (T <= lateLimit) {
      this.drop(s.id, "late");
      return false;
    }
    // A pending timer tick at about this stamp becomes a reference tick.
    for (const p of this.pending) {
      if (p.trigger === "timer" && Math.abs(p.stampNs - T) <= s.windowNs) {
        p.trigger = "reference";
        p.ref = b;
        p.stampNs = T;
        this.pending.sort((x, y) => x.stampNs - y.stampNs);
        if (this.anchor && T >= this.anchor.stampNs - s.windowNs)
          this.anchor = { stampNs: T, arrivalNs: b.arrivalNs };
        return true;
      }
      if (p.stampNs === T) {
        this.drop(s.id, "duplicate");
        return false;
      }
    }
    const tick: PendingTick = { stampNs: T, openedNs: nowNs, trigger: "reference", ref: b };
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.stampNs > T) i--;
    this.pending.splice(i, 0, tick);
    if (!this.anchor || T >= this.anchor.stampNs) this.anchor = { stampNs: T, arrivalNs: b.arrivalNs };
    return true;
  }

  /**
   * LiDAR work that needs no ego state (extrinsic, sweep time span) is done as soon as a sweep is
   * accepted, while the tick still waits for its other inputs: emission then only deskews. The
   * reference sweep belongs to exactly one tick and is deskewed in place; another LiDAR's sweep may
   * serve two ticks and is copied at emission.
   */
  private prepare(s: SensorRt, b: Buffered): void {
    if (b.env.msg.payload.kind !== "point_cloud") return;
    b.lidar = prepareLidar(this.lidarInput(s, b), s.isRef, this.lidarPool);
  }

  private lidarInput(s: SensorRt, b: Buffered) {
    const pl = b.env.msg.payload as Extract<typeof b.env.msg.payload, { kind: "point_cloud" }>;
    return {
      points: pl.points,
      stampNs: b.stampNs,
      sweepStartNs: pl.sweepStartNs ? pl.sweepStartNs - s.offsetNs : 0,
      extrinsic: s.extrinsic,
      ...(pl.intensityMax ? { intensityMax: pl.intensityMax } : {}),
    };
  }

  /** true when the message was buffered for matching (or for the EKF). */
  private ingestOther(s: SensorRt, b: Buffered): boolean {
    const isEgo = isEgoKind(s.kind);
    if (isEgo) {
      // Usable by the EKF as long as it is not older than the filter time.
      if (this.ego.t !== null && b.stampNs < this.ego.t) {
        this.drop(s.id, "late");
        return false;
      }
    } else if (b.stampNs <= this.lastEmittedNs) {
      this.drop(s.id, "late");
      if (this.cfg.late_policy === "next") {
        const missedTick = this.recentTicks.some(
          (t) => t.missing.has(s.id) && Math.abs(t.stampNs - b.stampNs) <= s.windowNs,
        );
        if (missedTick && (!s.carried || s.carried.stampNs < b.stampNs)) s.carried = b;
      }
      return false;
    }
    // Sorted insert (out-of-order input within the reorder window is reordered here).
    const buf = s.buf;
    let i = buf.length;
    while (i > 0 && buf[i - 1]!.stampNs > b.stampNs) i--;
    buf.splice(i, 0, b);
    const cap = this.cfg.buffer_len;
    while (buf.length > cap) {
      const old = buf.shift()!;
      if (!old.used && !old.consumed) this.drop(s.id, "buffer_full");
    }
    return true;
  }

  // ----------------------------------------------------------------------------------------------
  // Time
  // ----------------------------------------------------------------------------------------------

  /**
   * Clock sanity and stamp jumps (docs/align.md "Stamp jumps"). A message is off-consensus when its
   * stamp jumps back more than `reset_backward_jump_ms` from the sensor's newest, or its latency
   * (arrival minus corrected stamp) leaves the band [-max_future_ms, +max_past_ms] around the
   * consensus of the other sensors. Such a message is never obeyed on its own:
   *  - it resets the aligner (returns "reset"; a forward jump only rebuilds the consensus and the
   *    message is taken, returning null) once the sensors agree: off-consensus messages of at
   *    least two sensors, with latencies within reset_backward_jump_ms / 2 of each other and within
   *    `jump_confirm_ms`, outnumber the live sensors still on the old time; or, with no other live
   *    sensor, a run of JUMP_RUN_COUNT such messages of this sensor spanning JUMP_RUN_PERIODS periods;
   *  - otherwise it is dropped ("backward_jump" / "clock_skew"), and the sensor is flagged CLOCK_SKEW
   *    only when its run is as long (a persistent clock fault, not one forged message).
   * Returns null for a message on the consensus time.
   */
  private stampJump(
    s: SensorRt,
    stamp: number,
    arrivalNs: number,
    nowNs: number,
  ): "reset" | "backward_jump" | "clock_skew" | null {
    const c = this.cfg;
    const latency = arrivalNs - stamp;
    const back = stamp < s.latestNs - c.reset_backward_jump_ms * 1e6;
    const base = this.latencyConsensus(s);
    const off =
      !Number.isNaN(base) && (latency < base - c.max_future_ms * 1e6 || latency > base + c.max_past_ms * 1e6);
    if (!back && !off) {
      s.jump = null;
      return null;
    }
    const tolNs = (c.reset_backward_jump_ms * 1e6) / 2;
    const confirmNs = c.jump_confirm_ms * 1e6;
    const run = s.jump;
    if (run && Math.abs(run.latencyNs - latency) <= tolNs && arrivalNs - run.lastArrivalNs <= confirmNs) {
      run.latencyNs = latency;
      run.lastArrivalNs = arrivalNs;
      run.count++;
    } else s.jump = { latencyNs: latency, firstArrivalNs: arrivalNs, lastArrivalNs: arrivalNs, count: 1 };
    const mine = s.jump!;
    const longRun =
      mine.count >= JUMP_RUN_COUNT &&
      mine.lastArrivalNs - mine.firstArrivalNs >= JUMP_RUN_PERIODS * s.periodNs;
    // A sensor agrees when its run has lasted about a period (it skipped at least one slot of its
    // old-time stream: an honest stream on the old time clears a forger's run within a period) and
    // its latency matches. Live sensors that do not agree are on the old time.
    const sustained = (o: SensorRt, j: JumpRun) => j.lastArrivalNs - j.firstArrivalNs >= 0.9 * o.periodNs;
    let agree = sustained(s, mine) ? 1 : 0;
    let onOldTime = 0;
    for (const o of this.sensors) {
      if (o === s) continue;
      const j = o.jump;
      if (
        j &&
        arrivalNs - j.lastArrivalNs <= confirmNs &&
        Math.abs(j.latencyNs - latency) <= tolNs &&
        sustained(o, j)
      )
        agree++;
      else if (this.isLive(o, nowNs)) onOldTime++;
    }
    if ((agree >= 2 && agree > onOldTime) || (onOldTime === 0 && longRun)) {
      // Stamps moved forward against arrival (latency fell: a clock step, a replay skipping ahead):
      // nothing already buffered is wrong, only the consensus is rebuilt. Backward: reset.
      if (!back && latency < base) {
        for (const o of this.sensors) {
          o.latencyNs = null;
          o.jump = null;
          o.skewed = false;
        }
        return null;
      }
      return "reset";
    }
    if (longRun) s.skewed = true;
    return back ? "backward_jump" : "clock_skew";
  }

  private isLive(s: SensorRt, nowNs: number): boolean {
    return !s.skewed && s.lastArrivalNs !== NEG && nowNs - s.lastArrivalNs < s.staleNs;
  }

  /** Median latency of the sensors on the consensus time (the sensor's own included), or NaN. */
  private latencyConsensus(self: SensorRt): number {
    const xs: number[] = [];
    for (const s of this.sensors)
      if (s.latencyNs !== null && (s === self || (!s.skewed && !s.jump))) xs.push(s.latencyNs);
    if (xs.length === 0) return Number.NaN;
    xs.sort((a, b) => a - b);
    const n = xs.length;
    return n % 2 ? xs[(n - 1) / 2]! : (xs[n / 2 - 1]! + xs[n / 2]!) / 2;
  }

  /** Readiness of a pending tick at `nowNs`: ready, or the next instant it must be re-checked. */
  private readiness(p: PendingTick, nowNs: number): { ready: boolean; wakeNs: number } {
    let wake = Number.POSITIVE_INFINITY;
    for (const s of this.sensors) {
      if (s.isRef) continue;
      if (s.latestNs >= p.stampNs - s.periodNs / 2) continue; // complete
      if (!this.isLive(s, nowNs)) continue; // missing: dead, stale or skewed
      const deadline = p.openedNs + s.timeoutNs;
      if (nowNs >= deadline) continue; // missing: timed out
      wake = Math.min(wake, deadline, s.lastArrivalNs + s.staleNs);
    }
    return { ready: wake === Number.POSITIVE_INFINITY, wakeNs: wake };
  }

  private timerDueNs(): number | null {
    if (!this.anchor) return null;
    const due = this.anchor.arrivalNs + this.ref.periodNs + this.graceNs;
    if (due - this.lastInputArrivalNs > this.idleStopNs) return null; // vehicle offline
    return due;
  }

  /** When `advance` must be called next (processing time, ns), or null. */
  nextWakeNs(): number | null {
    let wake = Number.POSITIVE_INFINITY;
    const first = this.pending[0];
    if (first) wake = this.readiness(first, this.clockNs).wakeNs;
    const due = this.timerDueNs();
    if (due !== null) wake = Math.min(wake, due);
    if (wake === Number.POSITIVE_INFINITY) return null;
    // Time must move forward between wake-ups (defensive: never spin at one instant).
    return Math.max(wake, this.clockNs + 1);
  }

  /** Process every timeout and timer tick due at or before `nowNs`. */
  advance(nowNs: number, out: AlignedTick[] = []): AlignedTick[] {
    if (nowNs < this.clockNs) nowNs = this.clockNs;
    // Step through due instants in order so that an offline run equals a live one.
    let lastW = Number.NaN;
    for (let guard = 0; guard < 100_000; guard++) {
      const w = this.nextWakeNs();
      if (w === null || w > nowNs) break;
      this.clockNs = Math.max(this.clockNs, w);
      const n0 = out.length;
      this.tryEmit(this.clockNs, out);
      const due = this.timerDueNs();
      const opened = due !== null && due <= this.clockNs;
      if (opened) {
        this.openTimerTick(due);
        this.tryEmit(this.clockNs, out);
      }
      // Progress: a tick emitted, a timer tick opened, or time moved on. Never spin in place.
      if (out.length === n0 && !opened && w === lastW) break;
      lastW = w;
    }
    this.clockNs = Math.max(this.clockNs, nowNs);
    this.tryEmit(this.clockNs, out);
    return out;
  }

  private openTimerTick(dueNs: number): void {
    const a = this.anchor!;
    const stamp = a.stampNs + this.ref.periodNs;
    this.anchor = { stampNs: stamp, arrivalNs: a.arrivalNs + this.ref.periodNs };
    if (stamp <= this.lastEmittedNs) return;
    this.pending.push({ stampNs: stamp, openedNs: dueNs, trigger: "timer", ref: null });
  }

  private tryEmit(nowNs: number, out: AlignedTick[]): void {
    while (this.pending.length > this.cfg.max_pending_ticks) {
      this.drop(this.ref.id, "pending_overflow");
      this.emit(this.pending.shift()!, nowNs, out);
    }
    while (this.pending.length > 0) {
      const p = this.pending[0]!;
      if (!this.readiness(p, nowNs).ready) break;
      this.pending.shift();
      this.emit(p, nowNs, out);
    }
  }

  /** Emit every pending tick now (end of input). */
  flush(nowNs: number, out: AlignedTick[] = []): AlignedTick[] {
    this.clockNs = Math.max(this.clockNs, nowNs);
    while (this.pending.length) this.emit(this.pending.shift()!, this.clockNs, out);
    return out;
  }

  private reset(nowNs: number, out: AlignedTick[]): void {
    this.flush(nowNs, out);
    for (const s of this.sensors) {
      for (const b of s.buf) if (!b.used && !b.consumed) this.drop(s.id, "reset");
      s.buf = [];
      s.recent.fill(Number.NaN);
      s.latestNs = NEG;
      s.latencyNs = null;
      s.skewed = false;
      s.carried = null;
      s.jump = null;
    }
    this.ego.reset();
    this.objectMotion = null;
    this.lastEmittedNs = NEG;
    this.lastEmittedTrigger = null;
    this.recentTicks = [];
    this.anchor = null;
    this.resets++;
    this.resetFlag = true;
  }

  /** Release buffers (teardown). */
  dispose(): void {
    this.pending = [];
    for (const s of this.sensors) {
      s.buf = [];
      s.carried = null;
    }
    this.recentTicks = [];
    this.objectMotion = null;
  }

  // ----------------------------------------------------------------------------------------------
  // Emission
  // ----------------------------------------------------------------------------------------------

  private nearest(s: SensorRt, T: number): Buffered | null {
    let best: Buffered | null = null;
    let bestD = Number.POSITIVE_INFINITY;
    for (const b of s.buf) {
      const d = Math.abs(b.stampNs - T);
      if (d <= s.windowNs && d < bestD) {
        best = b;
        bestD = d;
      }
    }
    return best;
  }

  private feedEgo(T: number): void {
    const items: { s: SensorRt; b: Buffered }[] = [];
    for (const s of this.sensors) {
      if (!isEgoKind(s.kind)) continue;
      for (const b of s.buf) if (!b.consumed && b.stampNs <= T) items.push({ s, b });
    }
    items.sort((x, y) => x.b.stampNs - y.b.stampNs);
    for (const { s, b } of items) {
      b.consumed = true;
      const p = b.env.msg.payload;
      let ok = true;
      const e = this.ego;
      const refused0 = e.gnssRejected + e.gnssVelRejected + e.imuRejected;
      switch (p.kind) {
        case "gnss_fix":
          ok = this.ego.processGnss(b.stampNs, p);
          break;
        case "imu":
          ok = this.ego.processImu(b.stampNs, p.accel, p.gyro);
          break;
        case "pose":
          ok = this.ego.processPose(b.stampNs, p);
          break;
        case "point_cloud":
        case "radar_scan":
        case "camera_detections":
        case "camera_image":
          break; // not an ego payload (kind_mismatch is rejected at ingest)
        default:
          assertNever(p, "payload kind");
      }
      if (!ok) this.drop(s.id, "late");
      // Refused by the EKF's innovation gate (src/align/ego.ts): counted, the message is not obeyed.
      else if (e.gnssRejected + e.gnssVelRejected + e.imuRejected > refused0) this.drop(s.id, "innovation");
    }
  }

  private emit(p: PendingTick, nowNs: number, out: AlignedTick[]): void {
    const T = p.stampNs;
    this.feedEgo(T);
    const ego = this.ego.stateAt(T);
    const mc = this.cfg.motion_compensation && ego.valid ? this.ego : null;
    const inputs: AlignedInput[] = [];
    const lidarIn: PreparedLidar[] = [];
    const radarIn: RadarInput[] = [];
    const camIn: CameraInput[] = [];
    const missing = new Set<string>();
    let lastArrival = p.ref ? p.ref.arrivalNs : NEG;
    for (const s of this.sensors) {
      let m: Buffered | null;
      let status: AlignedInput["status"];
      if (s.isRef) {
        m = p.ref;
        status = m ? "present" : "missing";
      } else {
        m = this.nearest(s, T);
        status = m ? "present" : "missing";
        if (!m && s.carried) {
          m = s.carried;
          status = "late";
        }
        s.carried = null;
      }
      inputs.push({
        sensorId: s.id,
        kind: s.kind,
        status,
        stampNs: m ? m.stampNs : null,
        arrivalNs: m ? m.arrivalNs : null,
      });
      // "Missed" for late_policy `next`: no fresh match (missing, or only carried-over data).
      if (status !== "present") missing.add(s.id);
      if (!m) continue;
      m.used = true;
      if (m.arrivalNs > lastArrival) lastArrival = m.arrivalNs;
      const pl = m.env.msg.payload;
      switch (pl.kind) {
        case "point_cloud":
          // Prepared on arrival. Should a sweep already handed out to an earlier tick (its array now
          // holds that tick's points) be matched again, it is prepared afresh from the message
          // rather than throwing in the live pipeline.
          lidarIn.push(m.lidar && !m.lidar.handedOut ? m.lidar : prepareLidar(this.lidarInput(s, m)));
          break;
        case "radar_scan":
          radarIn.push({ returns: pl.returns, stampNs: m.stampNs, extrinsic: s.extrinsic });
          break;
        case "camera_detections":
        case "camera_image": {
          const c = s.cfg.camera;
          if (!c) break;
          camIn.push({
            sensorId: s.id,
            payload: pl,
            stampNs: m.stampNs,
            status: status === "late" ? "late" : "present",
            extrinsic: s.extrinsic,
            intrinsics: { fx: c.fx, fy: c.fy, cx: c.cx, cy: c.cy },
          });
          break;
        }
        case "gnss_fix":
        case "imu":
        case "pose":
          break; // ego kinds: folded into the EKF (feedEgo)
        default:
          assertNever(pl, "payload kind");
      }
    }
    const v = ego.vx * Math.cos(ego.yaw) + ego.vy * Math.sin(ego.yaw);
    const lidar = lidarIn.length ? deskewLidar(lidarIn, T, mc) : null;
    const radar = radarIn.length
      ? buildRadar(radarIn, T, mc, { v, w: ego.yawRate }, this.cfg.radar_target_motion, this.tracksAt(T, mc))
      : null;
    const cameras: CameraObservation[] = camIn.map((c) => buildCamera(c, T, mc));
    this.ticks[p.trigger]++;
    const tick: AlignedTick = {
      vehicle: this.vehicle,
      seq: this.seq++,
      stampNs: T,
      trigger: p.trigger,
      inputs,
      ego,
      egoOrigin: this.ego.origin ? { ...this.ego.origin } : null,
      reset: this.resetFlag,
      lidar,
      radar,
      cameras,
      lastArrivalNs: lastArrival === NEG ? p.openedNs : lastArrival,
      emittedNs: nowNs,
      diagnostics: this.diagnostics(),
    };
    this.resetFlag = false;
    this.lastEmittedNs = T;
    this.lastEmittedTrigger = p.trigger;
    this.recentTicks.push({ stampNs: T, missing });
    if (this.recentTicks.length > 8) this.recentTicks.shift();
    this.prune(T);
    out.push(tick);
  }

  /** Fed-back tracks carried to the tick, when usable (fresh, motion compensation on). */
  private tracksAt(T: number, mc: EgoEkf | null) {
    const m = this.objectMotion;
    const c = this.cfg;
    if (!m || !mc || !c.radar_target_motion || !c.radar_track_motion || m.objects.length === 0) return null;
    const ageNs = T - m.stampNs;
    if (ageNs < 0 || ageNs > c.track_motion_max_age_ms * 1e6) return null;
    return trackBoxesAt(m, T, mc, c.track_motion_margin_m, c.track_motion_vr_gate_mps);
  }

  /** Remove messages that can no longer match a tick after T; count the ones never used. */
  private prune(T: number): void {
    for (const s of this.sensors) {
      const buf = s.buf;
      let k = 0;
      while (k < buf.length) {
        const b = buf[k]!;
        const isEgo = isEgoKind(s.kind);
        if (b.stampNs >= T - s.windowNs || (isEgo && !b.consumed)) break;
        if (!b.used && !isEgo) this.unused[s.id] = (this.unused[s.id] ?? 0) + 1;
        k++;
      }
      if (k) buf.splice(0, k);
    }
  }
}

/** Field names of AlignedTick.lidar / .radar, for consumers. */
export { LIDAR_FIELDS, RADAR_FIELDS };
