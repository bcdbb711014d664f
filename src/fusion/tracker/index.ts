/**
 * Multi-object tracker: one constant-velocity Kalman filter per track in the world frame (local
 * ENU, carried by the ego pose), greedy gated association on the Mahalanobis distance, explicit
 * track states (tentative -> confirmed -> deleted), stable ids, per-vehicle state.
 *
 * Input: TrackDetection[] in the vehicle frame at the tick (any engine can produce them).
 * Output: FusedObject[] in the vehicle frame at the tick, velocity over ground in vehicle axes.
 * Engine-independent: it knows nothing about how detections were made.
 */
import type { FusedObject, Modality, ObjectClass } from "../../msg/types.ts";
import { type TrackerConfig, type TrackerConfigInput, trackerConfigSchema } from "./config.ts";
import {
  type CvState,
  cvInit,
  cvInnovation,
  cvInnovationAt,
  cvPredict,
  cvUpdate,
  cvUpdateAt,
  mahalanobis2,
} from "./kalman.ts";
import type { EgoPose, TrackDetection } from "./types.ts";

export type { EgoPose, TrackDetection } from "./types.ts";
export { type TrackerConfig, type TrackerConfigInput, trackerConfigSchema } from "./config.ts";

export const TrackState = { TENTATIVE: 0, CONFIRMED: 1 } as const;
export type TrackState = (typeof TrackState)[keyof typeof TrackState];

interface Track {
  id: number;
  state: TrackState;
  kf: CvState;
  /** Height of the box centre above the ground, m. */
  z: number;
  length: number;
  width: number;
  height: number;
  shapeMeasured: boolean;
  /** World-frame yaw, rad. */
  yaw: number;
  /** Class votes indexed by ObjectClass. */
  votes: Float64Array;
  score: number;
  hits: number;
  /** The first hit of a track born without a velocity measurement, until its second hit: that
   *  hit is gated by a maximum speed instead of the (still uninformed) filter. */
  init: { x: number; y: number; tS: number } | null;
  /** Ticks since birth. */
  age: number;
  misses: number;
  lastHitNs: number;
  modalities: Modality[];
}

/** A track predicted to a tick, in that tick's vehicle frame. */
export interface TrackPrediction {
  id: number;
  confirmed: boolean;
  cls: ObjectClass;
  x: number;
  y: number;
  /** Velocity over ground in vehicle axes, m/s, and its 1-sigma per axis. */
  vx: number;
  vy: number;
  velStdMps: number;
}

/** Diagnostics of one vehicle's tracker, cumulative. */
export interface TrackerStats {
  births: number;
  deletions: number;
  /** Births refused because the vehicle already had max_tracks tracks. */
  droppedBirths: number;
  /** Resets after a backward time jump or a change of pose source. */
  resets: number;
  /** Detections ignored for non-finite fields. */
  badDetections: number;
  /** Unassociated detections inside a confirmed track's box, not born (suppress_fragments). */
  fragments: number;
  /** Velocity measurements ignored by the vel_gate_chi2 gate. */
  velocityOutliers: number;
}

const NUM_CLASSES = 5;

/** Weight of a new tick interval in the running estimate. */
const TICK_EMA = 0.2;
/** Tick intervals longer than this are gaps (a pause of the log), not the tick rate, s. */
const MAX_TICK_S = 2;

/** The hit counts of a tracker config at a tick interval `k` times tick_reference_s. */
export interface TickConstants {
  /** Ratio of the tick interval to tick_reference_s (1 without scaling). */
  k: number;
  confirmHits: number;
  coastMinHits: number;
}

/**
 * The config's hit counts at a tick interval of k times tick_reference_s: the same span of time, at
 * least one hit, never more than configured (at 0.1 s: 2 hits at 5 Hz = 1, 3 at 5 Hz = 2 (1.5
 * rounds up), 3 at 2 Hz = 1).
 */
export function tickConstants(cfg: TrackerConfig, k: number): TickConstants {
  k = Math.max(1, k);
  const hits = (n: number) => Math.max(1, Math.round(n / k));
  return { k, confirmHits: hits(cfg.confirm_hits), coastMinHits: hits(cfg.coast_min_hits) };
}

function wrapPi(a: number): number {
  return a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));
}

/** The representative of `a` modulo pi closest to `ref`. */
function nearestModPi(a: number, ref: number): number {
  return ref + wrapPi(2 * (a - ref)) / 2;
}

function finiteDet(d: TrackDetection): boolean {
  return (
    Number.isFinite(d.x) &&
    Number.isFinite(d.y) &&
    Number.isFinite(d.z) &&
    Number.isFinite(d.covXX) &&
    Number.isFinite(d.covXY) &&
    Number.isFinite(d.covYY) &&
    d.covXX > 0 &&
    d.covYY > 0 &&
    Number.isFinite(d.yaw) &&
    (d.vel === null || (Number.isFinite(d.vel.vx) && Number.isFinite(d.vel.vy)))
  );
}

/** Rotate a symmetric 2x2 covariance by angle c/s: R C R^T. */
function rotCov(c: number, s: number, xx: number, xy: number, yy: number): [number, number, number] {
  return [
    c * c * xx - 2 * c * s * xy + s * s * yy,
    c * s * (xx - yy) + (c * c - s * s) * xy,
    s * s * xx + 2 * c * s * xy + c * c * yy,
  ];
}

/** Tracker of one vehicle. */
export class VehicleTracker {
  private tracks: Track[] = [];
  private nextId = 1;
  private lastNs: number | null = null;
  private poseValid: boolean | null = null;
  /** Running estimate of the tick interval, s; null before the second tick without a prior. */
  private tickS: number | null;
  private tc: TickConstants;
  readonly stats: TrackerStats = {
    births: 0,
    deletions: 0,
    droppedBirths: 0,
    resets: 0,
    badDetections: 0,
    fragments: 0,
    velocityOutliers: 0,
  };

  /**
   * `expectedTickS`: the tick interval the input is expected at (e.g. 1 / the rig's reference sensor
   * rate), the estimate's start, so that the first ticks already use scaled constants; null: the
   * reference interval until two ticks were seen.
   */
  constructor(
    private readonly cfg: TrackerConfig,
    expectedTickS: number | null = null,
  ) {
    this.tickS =
      expectedTickS !== null && expectedTickS > 0 && expectedTickS <= MAX_TICK_S ? expectedTickS : null;
    this.tc = tickConstants(
      cfg,
      cfg.scale_to_tick && this.tickS !== null ? this.tickS / cfg.tick_reference_s : 1,
    );
  }

  /** The observed tick interval, s (tick_reference_s before two ticks were seen). */
  get tickIntervalS(): number {
    return this.tickS ?? this.cfg.tick_reference_s;
  }

  /** The hit counts in use (scaled to the tick interval) and the interval's ratio to the reference. */
  get constants(): TickConstants {
    return this.tc;
  }

  get size(): number {
    return this.tracks.length;
  }

  reset(): void {
    this.tracks = [];
    this.lastNs = null;
    this.stats.resets++;
  }

  /** Advance to `stampNs`, fuse the detections and return the tracks in the vehicle frame. */
  update(stampNs: number, ego: EgoPose, dets: readonly TrackDetection[]): FusedObject[] {
    const cfg = this.cfg;
    if (this.lastNs !== null && stampNs < this.lastNs) this.reset();
    // A change of pose source (dead frame <-> ENU) invalidates every world position.
    if (this.poseValid !== null && this.poseValid !== ego.valid && this.tracks.length) this.reset();
    this.poseValid = ego.valid;
    const ex = ego.valid ? ego.x : 0;
    const ey = ego.valid ? ego.y : 0;
    const eyaw = ego.valid ? ego.yaw : 0;
    const c = Math.cos(eyaw);
    const s = Math.sin(eyaw);

    const dt = this.lastNs === null ? 0 : (stampNs - this.lastNs) / 1e9;
    this.lastNs = stampNs;
    if (dt > 0 && dt <= MAX_TICK_S) {
      this.tickS = this.tickS === null ? dt : this.tickS + TICK_EMA * (dt - this.tickS);
      if (cfg.scale_to_tick) this.tc = tickConstants(cfg, this.tickS / cfg.tick_reference_s);
    }
    const tc = this.tc;
    for (const t of this.tracks) {
      cvPredict(t.kf, dt, cfg.accel_std_mps2);
      t.age++;
    }

    // Detections into the world frame.
    const n = dets.length;
    const wx = new Float64Array(n);
    const wy = new Float64Array(n);
    const wc: [number, number, number][] = [];
    const valid = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      const d = dets[j]!;
      if (!finiteDet(d)) {
        this.stats.badDetections++;
        wc.push([1, 0, 1]);
        continue;
      }
      valid[j] = 1;
      wx[j] = ex + c * d.x - s * d.y;
      wy[j] = ey + s * d.x + c * d.y;
      wc.push(rotCov(c, s, d.covXX, d.covXY, d.covYY));
    }

    // Gated candidate pairs, greedy by cost.
    const pairs: { cost: number; t: number; d: number }[] = [];
    const gateM2 = cfg.gate_max_m * cfg.gate_max_m;
    for (let i = 0; i < this.tracks.length; i++) {
      const t = this.tracks[i]!;
      const tcls = argmax(t.votes);
      for (let j = 0; j < n; j++) {
        if (!valid[j]) continue;
        const cov = wc[j]!;
        const d = dets[j]!;
        const mismatch = d.cls !== tcls && d.cls !== 0 && tcls !== 0 ? cfg.class_mismatch_cost : 0;
        if (t.init) {
          // Second hit of a track without a velocity: any motion up to init_max_speed_mps fits.
          const span = Math.max(stampNs / 1e9 + dtOf(d) - t.init.tS, 0.02);
          const maxD = cfg.init_max_speed_mps[tcls]! * span + cfg.init_gate_slack_m;
          const dist = Math.hypot(wx[j]! - t.init.x, wy[j]! - t.init.y);
          if (dist <= maxD) pairs.push({ cost: cfg.gate_chi2 * (dist / maxD) ** 2 + mismatch, t: i, d: j });
          continue;
        }
        const [y0, y1, s00, s01, s11] = cvInnovationAt(t.kf, dtOf(d), wx[j]!, wy[j]!, cov[0], cov[1], cov[2]);
        if (y0 * y0 + y1 * y1 > gateM2) continue;
        const m2 = mahalanobis2(y0, y1, s00, s01, s11);
        if (!(m2 <= cfg.gate_chi2)) continue;
        pairs.push({ cost: m2 + mismatch, t: i, d: j });
      }
    }
    pairs.sort((a, b) => a.cost - b.cost);
    const trackHit = new Int32Array(this.tracks.length).fill(-1);
    const detUsed = new Uint8Array(n);
    for (const p of pairs) {
      if (trackHit[p.t] !== -1 || detUsed[p.d]) continue;
      trackHit[p.t] = p.d;
      detUsed[p.d] = 1;
    }

    // Updates.
    for (let i = 0; i < this.tracks.length; i++) {
      const t = this.tracks[i]!;
      const j = trackHit[i]!;
      if (j < 0) {
        t.misses++;
        t.score *= cfg.coast_score_decay;
        continue;
      }
      const d = dets[j]!;
      const cov = wc[j]!;
      // (A second hit passed the wide initiation gate; from now on the filter gates it.)
      t.init = null;
      cvUpdateAt(t.kf, dtOf(d), wx[j]!, wy[j]!, cov[0], cov[1], cov[2]);
      if (d.vel) {
        const vx = c * d.vel.vx - s * d.vel.vy;
        const vy = s * d.vel.vx + c * d.vel.vy;
        const vc = rotCov(c, s, d.vel.covXX, d.vel.covXY, d.vel.covYY);
        if (this.velocityOutlier(t, vx, vy, vc)) this.stats.velocityOutliers++;
        else cvUpdate(t.kf, 2, vx, vy, vc[0], vc[1], vc[2]);
      }
      this.absorbShape(t, d, eyaw);
      t.hits++;
      t.misses = 0;
      t.lastHitNs = stampNs;
      t.score = t.score + cfg.score_alpha * (d.score - t.score);
      t.modalities = d.modalities.slice();
      if (t.state === TrackState.TENTATIVE && t.hits >= tc.confirmHits) t.state = TrackState.CONFIRMED;
    }

    // Deletions.
    const kept: Track[] = [];
    for (const t of this.tracks) {
      const limitMs = t.state === TrackState.CONFIRMED ? cfg.max_coast_ms : cfg.tentative_max_coast_ms;
      if ((stampNs - t.lastHitNs) / 1e6 > limitMs) this.stats.deletions++;
      else kept.push(t);
    }
    this.tracks = kept;

    // Births. A detection inside the footprint of a confirmed track is a fragment of that object
    // (a split cluster), not a new one.
    const nOld = this.tracks.length;
    for (let j = 0; j < n; j++) {
      if (!valid[j] || detUsed[j]) continue;
      if (cfg.suppress_fragments && this.insideTrack(wx[j]!, wy[j]!, nOld)) {
        this.stats.fragments++;
        continue;
      }
      if (this.tracks.length >= cfg.max_tracks) {
        this.stats.droppedBirths++;
        continue;
      }
      this.tracks.push(this.birth(dets[j]!, wx[j]!, wy[j]!, wc[j]!, c, s, eyaw, stampNs));
      this.stats.births++;
    }

    // Output in the vehicle frame.
    const out: FusedObject[] = [];
    for (const t of this.tracks) {
      if (t.state !== TrackState.CONFIRMED && !cfg.emit_tentative) continue;
      if (t.misses > 0 && t.hits < tc.coastMinHits) continue;
      const dx = t.kf.x[0]! - ex;
      const dy = t.kf.x[1]! - ey;
      const vxw = t.kf.x[2]!;
      const vyw = t.kf.x[3]!;
      out.push({
        id: t.id,
        cls: argmax(t.votes) as ObjectClass,
        x: c * dx + s * dy,
        y: -s * dx + c * dy,
        z: t.z,
        length: t.length,
        width: t.width,
        height: t.height,
        yaw: wrapPi(this.outputYaw(t) - eyaw),
        vx: c * vxw + s * vyw,
        vy: -s * vxw + c * vyw,
        score: t.state === TrackState.CONFIRMED ? t.score : t.score * 0.5,
        modalities: t.misses > 0 ? [] : t.modalities,
        age: t.age,
      });
    }
    return out;
  }

  /** Is a velocity measurement beyond `vel_gate_chi2` of a track with two hits or more? */
  private velocityOutlier(t: Track, vx: number, vy: number, vc: [number, number, number]): boolean {
    const g = this.cfg.vel_gate_chi2;
    if (g <= 0 || t.hits < 2) return false;
    const [y0, y1, s00, s01, s11] = cvInnovation(t.kf, 2, vx, vy, vc[0], vc[1], vc[2]);
    return mahalanobis2(y0, y1, s00, s01, s11) > g;
  }

  /** Is (x, y) (world) inside the box of one of the first `n` confirmed tracks? */
  private insideTrack(x: number, y: number, n: number): boolean {
    for (let i = 0; i < n; i++) {
      const t = this.tracks[i]!;
      if (t.state !== TrackState.CONFIRMED) continue;
      const dx = x - t.kf.x[0]!;
      const dy = y - t.kf.x[1]!;
      const c = Math.cos(t.yaw);
      const s = Math.sin(t.yaw);
      if (Math.abs(c * dx + s * dy) <= t.length / 2 && Math.abs(-s * dx + c * dy) <= t.width / 2) return true;
    }
    return false;
  }

  /**
   * The tracks predicted to `stampNs`, in the vehicle frame of `ego`, without changing any state
   * (a hint for detectors: e.g. the motion heading of the object a cluster belongs to).
   */
  predict(stampNs: number, ego: EgoPose): TrackPrediction[] {
    const ex = ego.valid ? ego.x : 0;
    const ey = ego.valid ? ego.y : 0;
    const eyaw = ego.valid ? ego.yaw : 0;
    const c = Math.cos(eyaw);
    const s = Math.sin(eyaw);
    const dt = this.lastNs === null || stampNs < this.lastNs ? 0 : (stampNs - this.lastNs) / 1e9;
    return this.tracks.map((t) => {
      const vxw = t.kf.x[2]!;
      const vyw = t.kf.x[3]!;
      const dx = t.kf.x[0]! + vxw * dt - ex;
      const dy = t.kf.x[1]! + vyw * dt - ey;
      return {
        id: t.id,
        confirmed: t.state === TrackState.CONFIRMED,
        cls: argmax(t.votes) as ObjectClass,
        x: c * dx + s * dy,
        y: -s * dx + c * dy,
        vx: c * vxw + s * vyw,
        vy: -s * vxw + c * vyw,
        velStdMps: Math.sqrt(Math.max(0, (t.kf.P[10]! + t.kf.P[15]!) / 2)),
      };
    });
  }

  private birth(
    d: TrackDetection,
    wx: number,
    wy: number,
    cov: [number, number, number],
    c: number,
    s: number,
    eyaw: number,
    stampNs: number,
  ): Track {
    const cfg = this.cfg;
    const v0 = cfg.init_vel_std_mps ** 2;
    // Start at the measurement time from zero velocity with the prior, fuse a measured velocity,
    // then predict to the tick.
    const kf: CvState = cvInit(wx, wy, 0, 0, cov, [v0, 0, v0]);
    if (d.vel) {
      const vx = c * d.vel.vx - s * d.vel.vy;
      const vy = s * d.vel.vx + c * d.vel.vy;
      const vc = rotCov(c, s, d.vel.covXX, d.vel.covXY, d.vel.covYY);
      cvUpdate(kf, 2, vx, vy, vc[0], vc[1], vc[2]);
    }
    cvPredict(kf, -dtOf(d), cfg.accel_std_mps2);
    const votes = new Float64Array(NUM_CLASSES);
    votes[d.cls] = Math.max(1e-3, d.clsConf * d.score);
    const t: Track = {
      id: this.nextId++,
      state: this.tc.confirmHits <= 1 ? TrackState.CONFIRMED : TrackState.TENTATIVE,
      kf,
      z: d.z,
      length: d.length,
      width: d.width,
      height: d.height,
      shapeMeasured: d.shapeMeasured,
      yaw: wrapPi(d.yaw + eyaw),
      votes,
      score: d.score,
      hits: 1,
      init: d.vel ? null : { x: wx, y: wy, tS: stampNs / 1e9 + dtOf(d) },
      age: 0,
      misses: 0,
      lastHitNs: stampNs,
      modalities: d.modalities.slice(),
    };
    if (this.nextId > 0xfffffff0) this.nextId = 1;
    return t;
  }

  private absorbShape(t: Track, d: TrackDetection, eyaw: number): void {
    const a = this.cfg.shape_alpha;
    for (let k = 0; k < NUM_CLASSES; k++) t.votes[k]! *= this.cfg.class_vote_decay;
    t.votes[d.cls]! += d.clsConf * d.score;
    t.z += a * (d.z - t.z);
    t.height += a * (d.height - t.height);
    if (d.shapeMeasured || !t.shapeMeasured) {
      // A measured shape replaces priors at once, then smooths.
      const w = d.shapeMeasured && !t.shapeMeasured ? 1 : a;
      t.length += w * (d.length - t.length);
      t.width += w * (d.width - t.width);
      const yw = wrapPi(d.yaw + eyaw);
      const target = nearestModPi(yw, t.yaw);
      t.yaw = wrapPi(t.yaw + w * (target - t.yaw));
      t.shapeMeasured ||= d.shapeMeasured;
    }
  }

  /** Box yaw: the velocity heading when moving with a settled velocity, else the smoothed box yaw. */
  private outputYaw(t: Track): number {
    const vx = t.kf.x[2]!;
    const vy = t.kf.x[3]!;
    const sp = Math.hypot(vx, vy);
    const settled = t.kf.P[10]! + t.kf.P[15]! < 1;
    if (sp >= this.cfg.yaw_from_motion_min_mps && settled) {
      const h = Math.atan2(vy, vx);
      t.yaw = nearestModPi(t.yaw, h);
      // prefer the heading direction itself
      return h;
    }
    return t.yaw;
  }
}

/** Measurement time offset of a detection, s: finite and in [-1, 0.5], else 0. */
function dtOf(d: TrackDetection): number {
  const dt = d.dtS ?? 0;
  return Number.isFinite(dt) && dt <= 0.5 && dt >= -1 ? dt : 0;
}

function argmax(v: Float64Array): number {
  let best = 0;
  for (let k = 1; k < v.length; k++) if (v[k]! > v[best]!) best = k;
  return best;
}

/** Trackers of many vehicles, keyed by vehicle name. */
export class MultiTracker {
  readonly cfg: TrackerConfig;
  private readonly byVehicle = new Map<string, VehicleTracker>();

  /** `expectedTickS`: see VehicleTracker (e.g. 1 / the rig's reference sensor rate), s. */
  constructor(
    opts: TrackerConfigInput = {},
    private readonly expectedTickS: number | null = null,
  ) {
    this.cfg = trackerConfigSchema.parse(opts);
  }

  update(vehicle: string, stampNs: number, ego: EgoPose, dets: readonly TrackDetection[]): FusedObject[] {
    let t = this.byVehicle.get(vehicle);
    if (!t) {
      t = new VehicleTracker(this.cfg, this.expectedTickS);
      this.byVehicle.set(vehicle, t);
    }
    return t.update(stampNs, ego, dets);
  }

  /** Predicted tracks of a vehicle (see VehicleTracker.predict); [] for an unknown vehicle. */
  predict(vehicle: string, stampNs: number, ego: EgoPose): TrackPrediction[] {
    return this.byVehicle.get(vehicle)?.predict(stampNs, ego) ?? [];
  }

  vehicle(vehicle: string): VehicleTracker | undefined {
    return this.byVehicle.get(vehicle);
  }

  drop(vehicle: string): void {
    this.byVehicle.delete(vehicle);
  }

  get vehicles(): string[] {
    return [...this.byVehicle.keys()];
  }
}

export function createTracker(
  opts: TrackerConfigInput = {},
  expectedTickS: number | null = null,
): MultiTracker {
  return new MultiTracker(opts, expectedTickS);
}
