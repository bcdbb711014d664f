/**
 * Out-of-distribution guard of a learned model: how far a vehicle's live input is, per modality,
 * from the statistics of the model's training inputs (carried in the model file's metadata under
 * `ood_stats`, written by train/ood-stats.ts), and the decision to serve the classical engine
 * instead, with hysteresis. docs/fusion-learned.md "Out-of-distribution guard", DECISIONS L28.
 *
 * Distance of a feature: its mean over the last `window_s` of ticks (log1p for counts), outside
 * the training range [p0.5, p99.5], in training standard deviations (0 inside the range). A
 * modality's distance is the root sum of squares of its features' distances; the vehicle's is
 * that of all features (the modality and feature reported are the largest contributors).
 * Fallback when the distance stays above `on` for `enter_s`; back to the model when it stays
 * below `off` for `exit_s`.
 */
import type { PerceptionModality } from "../../health/types.ts";
import { INPUT_FEATURES, type TickFeatures } from "./features.ts";

export const OOD_META_KEY = "ood_stats";
const MODS: PerceptionModality[] = ["lidar", "radar", "camera"];

/** Features compared on a log scale (counts). */
const LOG_FEATURES = new Set([
  "lidar_cells",
  "lidar_points",
  "radar_returns",
  "radar_cells",
  "camera_detections",
]);

export const transformFeature = (name: string, v: number): number =>
  LOG_FEATURES.has(name) ? Math.log1p(Math.max(0, v)) : v;

export interface FeatureReference {
  /** On the transformed scale (log1p for counts). */
  lo: number;
  hi: number;
  mean: number;
  std: number;
}

export interface GuardThresholds {
  /** Distance above which (for enter_s) the vehicle falls back to classical, in training stds. */
  on: number;
  /** Distance below which (for exit_s) it returns to the model. */
  off: number;
  enter_s: number;
  exit_s: number;
  /** Averaging window of each feature, s. */
  window_s: number;
}

export interface OodReference {
  version: 1;
  /** Where the statistics come from (dataset, rig, seeds). */
  source: string;
  rig: string;
  samples: number;
  features: Record<string, FeatureReference>;
  /** Thresholds chosen on validation seeds (below 9000), and how. */
  thresholds: GuardThresholds;
  chosen_on?: string;
}

export const DEFAULT_THRESHOLDS: GuardThresholds = Object.freeze({
  on: 4,
  off: 2,
  enter_s: 0.5,
  exit_s: 3,
  window_s: 1,
});

/** The reference a model file carries, or null when it has none; throws on a malformed one. */
export function parseOodReference(meta: Record<string, string>): OodReference | null {
  const raw = meta[OOD_META_KEY];
  if (raw === undefined) return null;
  const r = JSON.parse(raw) as OodReference;
  if (r.version !== 1 || typeof r.features !== "object" || r.features === null)
    throw new Error(`metadata '${OOD_META_KEY}': unsupported version or no features`);
  for (const [k, f] of Object.entries(r.features))
    for (const x of ["lo", "hi", "mean", "std"] as const)
      if (typeof f[x] !== "number" || !Number.isFinite(f[x]))
        throw new Error(`metadata '${OOD_META_KEY}': feature '${k}' field '${x}' is not a number`);
  r.thresholds = { ...DEFAULT_THRESHOLDS, ...r.thresholds };
  return r;
}

/** `unguarded`: a model served without training statistics to compare with (said in every frame). */
export type GuardState = "model" | "fallback" | "unguarded";

export interface GuardStatus {
  /** `model`: the learned model is served; `fallback`: the classical engine is. */
  state: GuardState;
  /** The engine that produced this tick's objects. */
  served: string;
  /** The vehicle's distance now (all features), and per modality (absent: masked or missing). */
  distance: number;
  distances: Partial<Record<PerceptionModality, number>>;
  /** Modality and feature contributing most to the distance now. */
  modality: string;
  feature: string;
  /** Distance (and its modality/feature) that triggered the fallback in force; absent in `model`. */
  trigger?: { distance: number; modality: string; feature: string; stampNs: number };
  threshold: number;
  /** Switches to fallback so far for this vehicle. */
  fallbacks: number;
  /** Why, when the choice is fixed (no model for this rig, no statistics in the model file). */
  reason?: string;
}

interface Sample {
  tNs: number;
  v: Float64Array;
  has: Uint8Array;
}

/** One vehicle's guard: a window of feature samples, the distance, the hysteresis state. */
export class VehicleGuard {
  private readonly names: string[];
  private readonly modOf: PerceptionModality[];
  private readonly win: Sample[] = [];
  private state: GuardState = "model";
  private aboveSinceNs: number | null = null;
  private belowSinceNs: number | null = null;
  private trigger: GuardStatus["trigger"];
  private fallbacks = 0;
  private lastNs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ref: OodReference,
    private readonly th: GuardThresholds = ref.thresholds,
    private readonly maxWindow = 64,
  ) {
    this.names = [];
    this.modOf = [];
    for (const m of MODS)
      for (const f of INPUT_FEATURES[m])
        if (ref.features[f]) {
          this.names.push(f);
          this.modOf.push(m);
        }
  }

  /** Distances of the current window (0 for a modality with no sample in it). */
  distances(): { d: Partial<Record<PerceptionModality, number>>; max: number; mod: string; feat: string } {
    const n = this.names.length;
    const sum = new Float64Array(n);
    const cnt = new Uint32Array(n);
    for (const s of this.win)
      for (let i = 0; i < n; i++)
        if (s.has[i]) {
          sum[i]! += s.v[i]!;
          cnt[i]!++;
        }
    // per feature: the excess outside the training range in stds; a modality's distance is the
    // root sum of squares of its features' excesses, the vehicle's that of all features (input
    // that is a little off on many features at once is far off: a per-feature maximum missed the
    // real nuScenes scene for 9 s, DECISIONS L28)
    const sq: Partial<Record<PerceptionModality, number>> = {};
    let total = 0;
    let mod = "";
    let feat = "";
    let worst = -1;
    for (let i = 0; i < n; i++) {
      if (!cnt[i]) continue;
      const r = this.ref.features[this.names[i]!]!;
      const mean = sum[i]! / cnt[i]!;
      const sd = Math.max(r.std, 1e-3);
      const di = Math.max(0, (mean - r.hi) / sd, (r.lo - mean) / sd);
      const m = this.modOf[i]!;
      sq[m] = (sq[m] ?? 0) + di * di;
      total += di * di;
      if (di > worst) {
        worst = di;
        feat = this.names[i]!;
      }
    }
    const d: Partial<Record<PerceptionModality, number>> = {};
    let big = -1;
    for (const [m, v] of Object.entries(sq) as [PerceptionModality, number][]) {
      d[m] = Math.sqrt(v);
      if (v > big) {
        big = v;
        mod = m;
      }
    }
    const max = Math.sqrt(total);
    return { d, max, mod, feat };
  }

  /** Add a tick's features (stamp in ns); returns the status after it. */
  update(tNs: number, f: TickFeatures, served: { model: string; fallback: string }): GuardStatus {
    // time went backwards (replay loop, aligner reset): a fresh window; the state holds (a
    // fallback stays in force until the input is measured in distribution again)
    if (tNs < this.lastNs) this.restart();
    this.lastNs = tNs;
    const n = this.names.length;
    const v = new Float64Array(n);
    const has = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const fm = f[this.modOf[i]!];
      const x = fm?.[this.names[i]!];
      if (x !== undefined && Number.isFinite(x)) {
        v[i] = transformFeature(this.names[i]!, x);
        has[i] = 1;
      }
    }
    this.win.push({ tNs, v, has });
    const cut = tNs - this.th.window_s * 1e9;
    while (this.win.length > 1 && (this.win[0]!.tNs <= cut || this.win.length > this.maxWindow))
      this.win.shift();
    const { d, max, mod, feat } = this.distances();
    if (this.state === "model") {
      if (max > this.th.on) {
        this.aboveSinceNs ??= tNs;
        if ((tNs - this.aboveSinceNs) / 1e9 >= this.th.enter_s) {
          this.state = "fallback";
          this.fallbacks++;
          this.trigger = { distance: max, modality: mod, feature: feat, stampNs: tNs };
          this.belowSinceNs = null;
        }
      } else this.aboveSinceNs = null;
    } else {
      if (max < this.th.off) {
        this.belowSinceNs ??= tNs;
        if ((tNs - this.belowSinceNs) / 1e9 >= this.th.exit_s) {
          this.state = "model";
          this.trigger = undefined;
          this.aboveSinceNs = null;
        }
      } else this.belowSinceNs = null;
    }
    return {
      state: this.state,
      served: this.state === "model" ? served.model : served.fallback,
      distance: max,
      distances: d,
      modality: mod,
      feature: feat,
      ...(this.trigger ? { trigger: { ...this.trigger } } : {}),
      threshold: this.th.on,
      fallbacks: this.fallbacks,
    };
  }

  private restart(): void {
    this.win.length = 0;
    this.aboveSinceNs = null;
    this.belowSinceNs = null;
    this.lastNs = Number.NEGATIVE_INFINITY;
  }
}
