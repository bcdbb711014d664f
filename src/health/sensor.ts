/**
 * Per-sensor monitor: pure state machine over injected processing time.
 *
 * Every condition is a reason code with a severity (DEGRADED, STALE or FAILED) and the time it was
 * last seen. The target state at time `now` is the most severe reason seen within the last `dwell_ms`
 * (so a better condition must hold for a whole dwell before a state improves), and the state moves:
 *   - to STALE / FAILED at once (staleness must be noticed quickly);
 *   - anywhere else only after the current state has held for `dwell_ms` (minimum dwell),
 * which bounds a flapping sensor to one state change per dwell period.
 */
import type { AlignConfig } from "../align/config.ts";
import { MODALITY_OF_KIND, type SensorKind } from "../msg/kinds.ts";
import { type Modality, type SensorEnvelope, type SensorHealth, SensorState } from "../msg/types.ts";
import type { SensorConfig } from "../rig/schema.ts";
import type { HealthConfig } from "./config.ts";
import { type ContentState, checkContent, newContentState } from "./content.ts";
import { PsiTracker } from "./drift.ts";
import type { StallSource } from "./types.ts";
import { hysteresis, WindowCounter } from "./window.ts";

const NS_PER_MS = 1e6;
const LATENCY_ALPHA = 1 / 8;
const JITTER_GAIN = 1 / 16; // RFC 3550
/** Content flags that mask a sensor and are taken only when 2 of its last 3 payloads carry them. */
const CONFIRMED_FLAGS = new Set(["invalid_points", "black_frame"]);

/** Messages in a row whose latency leaves the clock-sanity band around the smoothed latency before
 *  the monitor believes them (a restarted log, a real clock fault); fewer are forged or corrupt
 *  stamps and are only counted (the aligner drops them too: docs/align.md "Stamp jumps"). */
const STAMP_OUTLIER_RUN = 3;

/** Reasons whose severity is above DEGRADED; every other reason code is DEGRADED. */
const SEVERITY: Record<string, SensorState> = {
  stale: SensorState.STALE,
  no_data: SensorState.STALE,
  failed_timeout: SensorState.FAILED,
};

/** Reasons about the data itself (feature "content ok" of the fusion input). */
const CONTENT_REASONS = new Set([
  "frozen",
  "low_points",
  "invalid_points",
  "no_returns",
  "low_returns",
  "black_frame",
]);

export class SensorMonitor {
  readonly id: string;
  readonly kind: SensorKind;
  readonly modality: Modality;
  readonly nominalRateHz: number;
  readonly staleNs: number;
  private readonly dwellNs: number;
  private readonly failedNs: number;
  private readonly offsetNs: number;

  // arrivals
  private lastArrivalNs = -1;
  private lastStampNs = 0;
  private lastCorrectedNs = 0;
  /** Start of the current uninterrupted run of data (first arrival, or first after a stale gap). */
  private resumeNs = -1;
  private readonly msgs: WindowCounter;
  private readonly errs: WindowCounter;
  private readonly dropsWin: WindowCounter;
  private decodeErrors = 0;
  private dropsTotal = 0;
  private lastDropCum = 0;
  private jitterNs = 0;
  private latencyNs = Number.NaN;
  /** Messages whose stamp was far off the sensor's latency (not believed), and the current run. */
  private stampOutliers = 0;
  private outlierRun = 0;
  private missingTicks = 0;
  private presentTicks = 0;

  // conditions with hysteresis
  private rateLow = false;
  private rateHigh = false;
  private jitterHigh = false;
  private latencyHigh = false;
  private decodeHigh = false;
  private dropsHigh = false;
  alignerSkew = false;
  /** Model token-norm drift of this sensor's modality (set by the vehicle monitor). */
  tokenDrift = false;

  private readonly content: ContentState = newContentState();
  private contentFlags: string[] = [];
  /** Content flags of the last 3 payloads. */
  private recentFlags: string[][] = [];
  readonly drift = new Map<string, PsiTracker>();

  // state machine
  state: SensorState = SensorState.STALE;
  private initial = true;
  private enteredNs = Number.NEGATIVE_INFINITY;
  /** reason code -> last time seen (ns). Bounded by the finite set of reason codes. */
  private readonly seen = new Map<string, number>();
  reasons: string[] = ["no_data"];
  /** Every reason seen within the dwell (a superset of `reasons` while a change is held back). */
  private recent: string[] = ["no_data"];
  private startNs = -1;

  constructor(
    private readonly cfg: SensorConfig,
    private readonly hc: HealthConfig,
    private readonly ac: AlignConfig,
    /** The service's own stalls: silence the process caused is not held against the sensor. */
    private readonly stalls?: StallSource,
  ) {
    this.id = cfg.id;
    this.kind = cfg.kind;
    this.modality = MODALITY_OF_KIND[cfg.kind];
    this.nominalRateHz = cfg.rate_hz;
    this.staleNs = cfg.stale_ms * NS_PER_MS;
    this.dwellNs = hc.dwell_ms * NS_PER_MS;
    this.failedNs = hc.failed_after_ms * NS_PER_MS;
    this.offsetNs = cfg.clock_offset_ms * NS_PER_MS;
    const winNs = hc.rate_window_ms * NS_PER_MS;
    this.msgs = new WindowCounter(winNs);
    this.errs = new WindowCounter(winNs);
    this.dropsWin = new WindowCounter(winNs);
  }

  /** Processing time the monitor started watching (first call of any kind). */
  start(nowNs: number): void {
    if (this.startNs < 0) this.startNs = nowNs;
  }

  /** Severity of a reason code; informational reasons (a drift, unless `drift_degrades`) are OK. */
  private severityOf(reason: string): SensorState {
    const s = SEVERITY[reason];
    if (s !== undefined) return s;
    if (!this.hc.drift_degrades && reason.startsWith("drift:")) return SensorState.OK;
    return SensorState.DEGRADED;
  }

  private mark(reason: string, tNs: number): void {
    const prev = this.seen.get(reason);
    if (prev === undefined || tNs > prev) this.seen.set(reason, tNs);
  }

  private refMedian = (stat: string): number => this.drift.get(stat)?.referenceMedian ?? Number.NaN;

  onMessage(env: SensorEnvelope): void {
    const stamp = env.msg.header.stampNs;
    const corrected = stamp - this.offsetNs;
    const t = this.arrivalOf(env.arrivalNs, corrected);
    this.start(t);
    let resync = false;
    // A lone stamp far off this sensor's latency does not move its timing (latency, jitter, rate,
    // staleness): one forged message must not flag the real sensor clock_skew or jitter.
    const lat0 = t - corrected;
    const L = this.latencyNs;
    if (
      !Number.isNaN(L) &&
      (lat0 > L + this.ac.max_past_ms * NS_PER_MS || lat0 < L - this.ac.max_future_ms * NS_PER_MS)
    ) {
      this.stampOutliers++;
      if (++this.outlierRun < STAMP_OUTLIER_RUN) return;
      this.latencyNs = Number.NaN; // a run: the sensor's time really moved
      resync = true;
    }
    this.outlierRun = 0;
    // A camera's optional image frames travel on its topic beside its detections (same stamp and
    // seq): while detections flow, rate, jitter, latency and staleness come from them and frames get
    // content checks only. A camera that sends frames alone is timed by its frames.
    if (
      env.msg.payload.kind === "camera_image" &&
      this.lastDetectionsNs >= 0 &&
      t - this.lastDetectionsNs <= this.staleNs
    ) {
      this.checkPayload(env, corrected, t);
      return;
    }
    if (env.msg.payload.kind === "camera_detections") this.lastDetectionsNs = t;
    if (this.lastArrivalNs >= 0) {
      const gap = t - this.lastArrivalNs;
      // The time the service itself was stalled in between is not the sensor's silence, as in
      // `silenceNs`: `t` after a stall is an estimate (stamp + smoothed latency) and may overshoot
      // the real arrival by more than the sensor's stale time (docs/DECISIONS.md).
      const stalled = this.stalls ? this.stalls.overlapNs(this.lastArrivalNs, t) : 0;
      const silent = gap - stalled;
      if (silent > this.staleNs) {
        // went stale between two evaluations: remember it for the hysteresis
        this.mark("stale", t);
        if (silent >= this.failedNs) this.mark("failed_timeout", t);
        this.resumeNs = t;
        this.msgs.reset();
      }
      // RFC 3550 inter-arrival jitter: spacing of arrivals vs. spacing of stamps
      const d = gap - (corrected - this.lastCorrectedNs);
      // Each sample is capped at 4 x max_jitter_ms: a burst (a broker backlog, a flood of forged
      // stamps) then raises the estimate at most that far, and it falls back under the threshold
      // within ~25 messages instead of tens of seconds (issue 18, defect 8).
      const cap = 4 * this.hc.max_jitter_ms * NS_PER_MS;
      // (no sample across a stall of the service: that spacing is the process's, not the sensor's)
      if (gap <= this.staleNs && !resync && stalled <= 0)
        this.jitterNs += (Math.min(Math.abs(d), cap) - this.jitterNs) * JITTER_GAIN;
    } else {
      this.resumeNs = t;
      // first data ends the start-up "no_data" condition at once (no hysteresis to leave it)
      this.seen.delete("no_data");
      this.seen.delete("failed_timeout");
    }
    this.lastArrivalNs = t;
    this.lastStampNs = stamp;
    this.lastCorrectedNs = corrected;
    const lat = t - corrected;
    this.latencyNs = Number.isNaN(this.latencyNs)
      ? lat
      : this.latencyNs + (lat - this.latencyNs) * LATENCY_ALPHA;
    this.msgs.add(t);
    this.checkPayload(env, corrected, t);
  }

  /**
   * When the service stalled since the last message, a message it reads now may have waited in the
   * socket or the broker: it counts from its estimated arrival (stamp + the sensor's usual latency,
   * within [last arrival, now]), not from when the process got to it.
   */
  private arrivalOf(t: number, corrected: number): number {
    if (!this.stalls || this.lastArrivalNs < 0) return t;
    if (this.stalls.overlapNs(this.lastArrivalNs, t) <= 0) return t;
    const lat = Number.isNaN(this.latencyNs) ? 0 : this.latencyNs;
    return Math.min(t, Math.max(this.lastArrivalNs, corrected + lat));
  }

  /**
   * Right after a stall of the service the rate window has a hole that is not the sensor's, and the
   * messages that waited are read over a few turns of the loop: the rate verdict is held from the
   * stall until one stale time after it ended.
   */
  private rateHeld(now: number): boolean {
    const s = this.stalls?.lastStall();
    return s !== null && s !== undefined && now < s.endNs + this.staleNs;
  }

  /** Silence since the last message at `now`, without the time the service itself was stalled. */
  private silenceNs(now: number): number {
    const raw = now - this.lastArrivalNs;
    return this.stalls ? raw - this.stalls.overlapNs(this.lastArrivalNs, now) : raw;
  }

  /** Arrival of the last camera_detections message, ns (-1: none yet). */
  private lastDetectionsNs = -1;

  private checkPayload(env: SensorEnvelope, corrected: number, t: number): void {
    const res = checkContent(env.msg.payload, corrected, this.content, this.hc, this.cfg, this.refMedian);
    // A flag that masks the sensor from fusion counts when 2 of its last 3 payloads carry it: one
    // forged or corrupt message on the topic cannot mask the real sensor. (frozen needs 3 repeats
    // already; flags that only degrade, like a GNSS jump, are taken from one message.)
    this.recentFlags.push(res.flags);
    if (this.recentFlags.length > 3) this.recentFlags.shift();
    this.contentFlags = res.flags.filter(
      (f) => !CONFIRMED_FLAGS.has(f) || this.recentFlags.filter((fl) => fl.includes(f)).length >= 2,
    );
    for (const f of this.contentFlags) this.mark(f, t);
    for (const [stat, v] of res.stats) {
      let tr = this.drift.get(stat);
      if (!tr) {
        tr = new PsiTracker(
          stat,
          this.hc.drift_reference_n,
          this.hc.drift_window_n,
          this.hc.drift_bins,
          this.hc.drift_psi_threshold,
        );
        this.drift.set(stat, tr);
      }
      tr.add(v);
      if (tr.drifting) this.mark(`drift:${stat}`, t);
    }
  }

  onDecodeError(nowNs: number): void {
    this.start(nowNs);
    this.decodeErrors++;
    this.errs.add(nowNs);
  }

  /** Cumulative aligner drops for this sensor (sum over reasons) and whether it was present this tick. */
  onTick(dropCum: number, present: boolean | null, nowNs: number): void {
    this.start(nowNs);
    const delta = dropCum >= this.lastDropCum ? dropCum - this.lastDropCum : dropCum; // aligner reset
    this.lastDropCum = dropCum;
    if (delta > 0) {
      this.dropsTotal += delta;
      this.dropsWin.add(nowNs, delta);
    }
    if (present === true) this.presentTicks++;
    else if (present === false) this.missingTicks++;
  }

  /** Current (un-held) conditions at `now`, each marked as seen now. */
  private observe(now: number): void {
    const hc = this.hc;
    if (this.lastArrivalNs < 0) {
      this.mark("no_data", now);
      if (now - this.startNs >= this.failedNs) this.mark("failed_timeout", now);
    } else {
      const age = this.silenceNs(now);
      if (age > this.staleNs) {
        this.mark("stale", now);
        if (age >= this.failedNs) this.mark("failed_timeout", now);
      }
    }
    const errs = this.errs.sum(now);
    const msgs = this.msgs.sum(now);
    this.decodeHigh = hysteresis(
      this.decodeHigh,
      errs / Math.max(1, errs + msgs),
      hc.max_decode_error_ratio,
      hc.max_decode_error_ratio / 2,
    );
    if (this.decodeHigh && errs > 0) this.mark("decode_errors", now);
    if (this.lastArrivalNs < 0 || this.silenceNs(now) > this.staleNs) return;

    // rate over the current uninterrupted run, once it covers half a window. Right after a stall of
    // the service, before its waiting messages were read, the window has a hole that is not the
    // sensor's: the rate verdict is held until they are (they then count at their estimated arrival).
    const span = Math.min(this.msgs.spanNs(now), now - this.resumeNs);
    if (this.rateHeld(now)) {
      // held
    } else if (span >= (hc.rate_window_ms * NS_PER_MS) / 2) {
      const ratio = msgs / (span / 1e9) / this.nominalRateHz;
      this.rateLow = this.rateLow ? ratio < hc.recover_rate_ratio : ratio < hc.degraded_rate_ratio;
      this.rateHigh = hysteresis(this.rateHigh, ratio, hc.max_rate_ratio, 1 + (hc.max_rate_ratio - 1) / 2);
    } else {
      this.rateLow = false;
      this.rateHigh = false;
    }
    if (this.rateLow) this.mark("rate_low", now);
    if (this.rateHigh) this.mark("rate_high", now);

    const maxJ = hc.max_jitter_ms * NS_PER_MS;
    this.jitterHigh = hysteresis(this.jitterHigh, this.jitterNs, maxJ, 0.8 * maxJ);
    if (this.jitterHigh) this.mark("jitter", now);

    const lat = this.latencyNs;
    const skew =
      this.alignerSkew || lat > this.ac.max_past_ms * NS_PER_MS || lat < -this.ac.max_future_ms * NS_PER_MS;
    if (skew) this.mark("clock_skew", now);
    const maxL = hc.max_latency_ms * NS_PER_MS;
    this.latencyHigh = !skew && hysteresis(this.latencyHigh, lat, maxL, 0.8 * maxL);
    if (this.latencyHigh) this.mark("latency", now);

    this.dropsHigh = hysteresis(
      this.dropsHigh,
      this.dropsWin.sum(now) / Math.max(1, msgs),
      hc.max_drop_ratio,
      hc.max_drop_ratio / 2,
    );
    if (this.dropsHigh) this.mark("drops", now);

    for (const f of this.contentFlags) this.mark(f, now);
    for (const tr of this.drift.values()) if (tr.drifting) this.mark(`drift:${tr.stat}`, now);
    if (this.tokenDrift) this.mark("drift:token_norm", now);
  }

  /** Advance the state machine to `now`; returns the transition line, or null when the state held. */
  evaluate(now: number): string | null {
    this.start(now);
    this.observe(now);
    const horizon = now - Math.max(this.dwellNs, 1);
    let target: SensorState = SensorState.OK;
    let current: SensorState = SensorState.OK;
    const recent: string[] = [];
    for (const [r, t] of this.seen) {
      if (t <= horizon) continue;
      recent.push(r);
      const s = this.severityOf(r);
      if (s > target) target = s;
      if (t >= now && s > current) current = s;
    }
    const prev = this.state;
    const held = now - this.enteredNs >= this.dwellNs;
    if (target !== prev && (this.initial || held || (target > prev && target >= SensorState.STALE))) {
      this.state = target;
      this.enteredNs = now;
    }
    if (this.lastArrivalNs >= 0) this.initial = false;
    // reasons of the state: every condition seen within the dwell, most severe first
    recent.sort((a, b) => this.severityOf(b) - this.severityOf(a) || (a < b ? -1 : a > b ? 1 : 0));
    this.recent = recent.slice();
    if (this.state === SensorState.OK) {
      // only informational reasons: worse ones are pending behind the dwell, not this state's reasons
      this.reasons = recent.filter((r) => this.severityOf(r) === SensorState.OK);
    } else {
      if (current < this.state) recent.unshift("recovering");
      this.reasons = recent;
    }
    if (this.state === prev) return null;
    return `${this.id} ${STATE_NAME[prev]} -> ${STATE_NAME[this.state]}${this.reasons.length ? ` (${this.reasons.join(", ")})` : ""}`;
  }

  /** Usable by fusion: OK or DEGRADED, and no masking reason seen within the dwell (also while a
   *  change to DEGRADED is still held back by the minimum dwell: frozen data is never fed). */
  usable(maskReasons: ReadonlySet<string>): boolean {
    if (this.state !== SensorState.OK && this.state !== SensorState.DEGRADED) return false;
    for (const r of this.recent) if (maskReasons.has(r)) return false;
    return true;
  }

  /** false when a content reason was seen within the dwell. */
  contentOk(): boolean {
    for (const r of this.recent) if (CONTENT_REASONS.has(r)) return false;
    return true;
  }

  ageNs(now: number): number {
    return this.lastArrivalNs >= 0 ? this.silenceNs(now) : now - this.startNs;
  }

  /** Next time at which this sensor would go STALE if nothing arrives (Infinity when already stale). */
  staleDeadlineNs(): number {
    if (this.state >= SensorState.STALE || this.lastArrivalNs < 0) return Number.POSITIVE_INFINITY;
    // 1 us after the timeout: float64 ns near the epoch resolve 256 ns, so "+1" would be lost
    const stalled = this.stalls ? this.stalls.overlapNs(this.lastArrivalNs, Number.POSITIVE_INFINITY) : 0;
    return this.lastArrivalNs + this.staleNs + stalled + 1000;
  }

  rateHz(now: number): number {
    if (this.lastArrivalNs < 0) return 0;
    const span = Math.min(this.msgs.spanNs(now), now - this.resumeNs);
    return span > 0 ? this.msgs.sum(now) / (span / 1e9) : 0;
  }

  health(now: number): SensorHealth {
    return {
      sensorId: this.id,
      modality: this.modality,
      state: this.state,
      reasons: this.reasons,
      rateHz: this.rateHz(now),
      nominalRateHz: this.nominalRateHz,
      jitterMs: this.jitterNs / NS_PER_MS,
      latencyMs: Number.isNaN(this.latencyNs) ? 0 : this.latencyNs / NS_PER_MS,
      ageMs: this.ageNs(now) / NS_PER_MS,
      decodeErrors: this.decodeErrors,
      drops: this.dropsTotal,
      lastStampNs: this.lastStampNs,
    };
  }

  /** Messages whose stamp was not believed (lone outliers of the sensor's latency; diagnostic). */
  get stampOutlierCount(): number {
    return this.stampOutliers;
  }

  /** Fraction of aligned ticks in which this sensor was missing (diagnostic). */
  missingRatio(): number {
    const n = this.presentTicks + this.missingTicks;
    return n ? this.missingTicks / n : 0;
  }
}

const STATE_NAME: Record<SensorState, string> = {
  0: "UNSPECIFIED",
  1: "OK",
  2: "DEGRADED",
  3: "STALE",
  4: "FAILED",
};
