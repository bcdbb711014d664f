/**
 * Health monitor of one vehicle: I/O-free, time injected through every call (processing-time ns).
 * Feed it every decoded message, decode error and aligned tick; call `evaluate(now)` on every tick
 * and on a timer (at least 1 Hz; `nextDeadlineNs()` says when a sensor would next go STALE, so a timer
 * set there detects staleness without polling). See docs/health.md.
 */
import type { AlignedTick } from "../align/types.ts";
import { PERCEPTION_KINDS, SENSOR_KIND_NAMES, type SensorKind } from "../msg/kinds.ts";
import {
  type HealthReport,
  SENSOR_STATE_NAMES,
  SYSTEM_MODE_NAMES,
  type SensorEnvelope,
  SensorState,
  SystemMode,
} from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import type { HealthConfig, RulePredicate, RuleSubject } from "./config.ts";
import { PsiTracker } from "./drift.ts";
import { evaluateRules } from "./rules.ts";
import { SensorMonitor } from "./sensor.ts";
import {
  type DriftStatus,
  type HealthSnapshot,
  PERCEPTION_MODALITIES,
  type PerceptionModality,
  type StallSource,
} from "./types.ts";

export type { DriftStatus, HealthSnapshot, PerceptionModality } from "./types.ts";
export { PERCEPTION_MODALITIES } from "./types.ts";

/** Reason code of a stall of the service itself (event loop blocked, process starved or stopped). */
export const SERVICE_OVERLOADED = "SERVICE_OVERLOADED";
/** A stall stays in the reasons for this long after it ended (at least one report period), ms. */
export const SERVICE_STALL_HOLD_MS = 5000;

export interface HealthMonitorOptions {
  /** The service's stall monitor (live); absent offline, where there is no processing-time stall. */
  stalls?: StallSource;
}

export class HealthMonitor {
  readonly vehicle: string;
  private readonly hc: HealthConfig;
  private readonly sensors: SensorMonitor[];
  private readonly byId = new Map<string, SensorMonitor>();
  private readonly groups: Record<RuleSubject, SensorMonitor[]>;
  private readonly maskReasons: ReadonlySet<string>;
  private readonly tokenNorms: Record<PerceptionModality, PsiTracker>;
  private lastNs = Number.NEGATIVE_INFINITY;
  private mode: SystemMode = SystemMode.UNSPECIFIED;
  private modeReasonsKey = "";
  private lastMask: Record<PerceptionModality, boolean> = { lidar: false, radar: false, camera: false };
  /** Messages or decode errors for sensor ids the rig does not have. */
  unknownSensor = 0;
  /** Messages of another vehicle (ignored). */
  wrongVehicle = 0;

  private readonly stalls: StallSource | undefined;

  constructor(vehicle: string, rig: RigConfig, opts: HealthMonitorOptions = {}) {
    this.vehicle = vehicle;
    this.hc = rig.health;
    this.stalls = opts.stalls;
    this.sensors = rig.sensors.map((s) => new SensorMonitor(s, rig.health, rig.align, opts.stalls));
    for (const s of this.sensors) this.byId.set(s.id, s);
    const of = (k: SensorKind) => this.sensors.filter((s) => s.kind === k);
    const byKind = Object.fromEntries(SENSOR_KIND_NAMES.map((k) => [k, of(k)])) as Record<
      SensorKind,
      SensorMonitor[]
    >;
    this.groups = {
      ...byKind,
      perception: this.sensors.filter((s) => (PERCEPTION_KINDS as readonly SensorKind[]).includes(s.kind)),
      any: this.sensors,
    };
    this.maskReasons = new Set(rig.health.mask_reasons);
    const tracker = () =>
      new PsiTracker(
        "token_norm",
        this.hc.drift_reference_n,
        this.hc.drift_window_n,
        this.hc.drift_bins,
        this.hc.drift_psi_threshold,
      );
    this.tokenNorms = { lidar: tracker(), radar: tracker(), camera: tracker() };
  }

  /** Every decoded message of this vehicle. */
  onMessage(env: SensorEnvelope): void {
    this.stalls?.probe(env.arrivalNs);
    if (env.msg.header.vehicle !== this.vehicle) {
      this.wrongVehicle++;
      return;
    }
    const s = this.byId.get(env.msg.header.sensorId);
    if (s) s.onMessage(env);
    else this.unknownSensor++;
  }

  /** A payload of this vehicle that failed to decode (codes: src/msg/codec.ts). */
  onDecodeError(sensorId: string, _code: string, nowNs: number): void {
    const s = this.byId.get(sensorId);
    if (s) s.onDecodeError(nowNs);
    else this.unknownSensor++;
  }

  /** Every aligned tick: aligner drop counters, CLOCK_SKEW sensors, present/missing inputs. */
  onTick(tick: AlignedTick): void {
    const d = tick.diagnostics;
    const skew = new Set(d.clockSkew);
    for (const s of this.sensors) {
      let drops = 0;
      const per = d.drops[s.id];
      if (per) for (const k in per) drops += per[k]!;
      const input = tick.inputs.find((i) => i.sensorId === s.id);
      const present = input ? input.status === "present" : null;
      s.alignerSkew = skew.has(s.id);
      s.onTick(drops, present, tick.emittedNs);
    }
  }

  /** Per-modality token norms of the learned fusion model for the last tick (model drift input). */
  onTokenNorms(norms: Record<PerceptionModality, number>): void {
    for (const m of PERCEPTION_MODALITIES) {
      if (!this.lastMask[m]) continue; // a masked modality's tokens say nothing about its data
      const tr = this.tokenNorms[m];
      tr.add(norms[m]);
      for (const s of this.groups[m]) s.tokenDrift = tr.drifting;
    }
  }

  /** Earliest processing time at which a sensor would go STALE without new data (Infinity if none). */
  nextDeadlineNs(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const s of this.sensors) t = Math.min(t, s.staleDeadlineNs());
    return t;
  }

  private atom(subject: RuleSubject, pred: RulePredicate, usable: (s: SensorMonitor) => boolean): boolean {
    const g = this.groups[subject];
    switch (pred) {
      case "lost":
        return g.length > 0 && !g.some(usable);
      case "unavailable":
        return !g.some(usable);
      case "partial": {
        const n = g.filter(usable).length;
        return n > 0 && n < g.length;
      }
      case "degraded":
        return g.some((s) => s.state !== SensorState.OK);
      case "stale":
        return g.some((s) => s.state >= SensorState.STALE);
      case "failed":
        return g.some((s) => s.state === SensorState.FAILED);
      case "drift":
        return g.some((s) => s.reasons.some((r) => r.startsWith("drift:")));
      case "skew":
        return g.some((s) => s.reasons.includes("clock_skew"));
      default: {
        const never: never = pred;
        return never;
      }
    }
  }

  evaluate(nowNs: number): HealthSnapshot {
    const now = Math.max(nowNs, this.lastNs);
    this.lastNs = now;
    const transitions: string[] = [];
    // The service's own stall is found before any age is judged (src/runtime/stall.ts).
    this.stalls?.probe(now);
    for (const s of this.sensors) {
      const t = s.evaluate(now);
      if (t) transitions.push(t);
    }
    const usableById: Record<string, boolean> = {};
    for (const s of this.sensors) usableById[s.id] = s.usable(this.maskReasons);
    const usable = (s: SensorMonitor) => usableById[s.id]!;
    const cache = new Map<string, boolean>();
    const { mode, reasons: ruleReasons } = evaluateRules(this.hc.mode_rules, (a) => {
      let v = cache.get(a);
      if (v === undefined) {
        const dot = a.indexOf(".");
        v = this.atom(a.slice(0, dot) as RuleSubject, a.slice(dot + 1) as RulePredicate, usable);
        cache.set(a, v);
      }
      return v;
    });
    const reasons = ruleReasons;
    const stall = this.serviceStall(now);
    if (stall) {
      // Its own condition, not a sensor fault: reported with its duration, never changes the mode.
      reasons.push(`${SERVICE_OVERLOADED}: process stalled ${Math.round(stall.ms)} ms`);
    }
    if (mode !== this.mode) {
      transitions.push(
        `mode ${SYSTEM_MODE_NAMES[this.mode]} -> ${SYSTEM_MODE_NAMES[mode]}${reasons.length ? ` (${reasons.join("; ")})` : ""}`,
      );
    }
    const reasonsKey = reasons.join("\n");
    const changed = transitions.length > 0 || reasonsKey !== this.modeReasonsKey;
    this.mode = mode;
    this.modeReasonsKey = reasonsKey;

    const mask = { lidar: false, radar: false, camera: false };
    const features = {} as HealthSnapshot["features"];
    for (const m of PERCEPTION_MODALITIES) {
      const u = this.groups[m].filter(usable);
      mask[m] = u.length > 0;
      let fresh = 0;
      let rate = 0;
      let content = 0;
      for (const s of u) {
        fresh = Math.max(fresh, clamp01(1 - s.ageNs(now) / s.staleNs));
        rate += clamp01(s.rateHz(now) / s.nominalRateHz);
        if (s.contentOk()) content++;
      }
      features[m] = u.length ? [1, fresh, rate / u.length, content / u.length] : [0, 0, 0, 0];
    }
    this.lastMask = mask;

    const drift: DriftStatus[] = [];
    for (const s of this.sensors)
      for (const tr of s.drift.values())
        if (!Number.isNaN(tr.psi))
          drift.push({ subject: s.id, stat: tr.stat, psi: tr.psi, drifting: tr.drifting });
    for (const m of PERCEPTION_MODALITIES) {
      const tr = this.tokenNorms[m];
      if (!Number.isNaN(tr.psi))
        drift.push({ subject: m, stat: tr.stat, psi: tr.psi, drifting: tr.drifting });
    }

    return {
      vehicle: this.vehicle,
      nowNs: now,
      mode,
      reasons,
      sensors: this.sensors.map((s) => s.health(now)),
      mask,
      features,
      changed,
      usable: usableById,
      transitions,
      drift,
      serviceStall: stall,
    };
  }

  /** The latest stall of the service while it is recent (within the hold time), or null. */
  private serviceStall(now: number): HealthSnapshot["serviceStall"] {
    const s = this.stalls?.lastStall();
    if (!s) return null;
    const holdNs = Math.max(this.hc.report_period_ms, SERVICE_STALL_HOLD_MS) * 1e6;
    if (now - s.endNs > holdNs) return null;
    return { startNs: s.startNs, endNs: s.endNs, ms: (s.endNs - s.startNs) / 1e6 };
  }

  toReport(snapshot: HealthSnapshot): HealthReport {
    return toReport(snapshot);
  }
}

/** The wire message of a snapshot (published retained on `fusion/<vehicle>/health`). */
export function toReport(snapshot: HealthSnapshot): HealthReport {
  return {
    vehicle: snapshot.vehicle,
    stampNs: snapshot.nowNs,
    mode: snapshot.mode,
    reasons: snapshot.reasons,
    sensors: snapshot.sensors,
  };
}

/** `lidar=STALE(stale) radar=OK ...`: a compact one-line summary for logs. */
export function summarize(snapshot: HealthSnapshot): string {
  const s = snapshot.sensors
    .map(
      (h) =>
        `${h.sensorId}=${SENSOR_STATE_NAMES[h.state]}${h.reasons.length ? `(${h.reasons.join(",")})` : ""}`,
    )
    .join(" ");
  return `${SYSTEM_MODE_NAMES[snapshot.mode]} ${s}`;
}

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : Number.isFinite(x) ? x : 0);
