/**
 * Evaluation on real logs with annotations (`fusion eval --data nuscenes:<dataroot>[#scene] |
 * kitti:<path>`), in-process through the fleet runtime in replay mode (src/runtime): the replay
 * reader's SensorMessages -> health monitor (every message) -> aligner (event time: arrival =
 * stamp, no timers) -> health evaluation -> fusion engine (its tracker), with the fused objects fed
 * back to the aligner, exactly as live. Every tick is fused in order, never shed.
 *
 * Scoring (nuScenes rules): truth boxes of modelled classes with at least one LiDAR point or radar
 * return (nuScenes counts; KITTI: LiDAR points counted in the box) within 50 m of the ego; boxes of
 * classes the project does not model are ignore regions (a prediction inside one is neither a
 * true nor a false positive); predictions beyond 50 m are dropped. Truth and predictions are
 * compared in the vehicle frame of the truth's ego pose at the tick. Metrics: src/eval/metrics.ts
 * plus a class-agnostic AP at 2 m and precision / recall of all tracked outputs at 2 m.
 */
import type { AlignedTick } from "../align/types.ts";
import type { FusionEngine } from "../fusion/types.ts";
import { KIND_OF_PAYLOAD } from "../msg/kinds.ts";
import type { FusedFrame, FusedObject, GroundTruth, ObjectClass, SensorEnvelope } from "../msg/types.ts";
import type { ReplayItem, TruthExtra } from "../replay/types.ts";
import { replayFrames } from "../runtime/offline.ts";
import type { RigConfig } from "../rig/schema.ts";
import type { GuardFigures, GuardTally } from "./guard-tally.ts";
import { type DetectionMetrics, detectionMetrics, type EvalBox, type FrameEval } from "./metrics.ts";

export const REAL_CONDITIONS = ["all", "no_lidar", "no_radar", "no_camera"] as const;
export type RealCondition = (typeof REAL_CONDITIONS)[number];
const REMOVED: Record<RealCondition, string | null> = {
  all: null,
  no_lidar: "lidar",
  no_radar: "radar",
  no_camera: "camera",
};

export interface RealEvalOptions {
  /** Scoring range around the ego, m. Default 50 (nuScenes). */
  rangeM?: number;
  /**
   * Which annotated instants are scored: `val` the first half of each log's (in time), `test` the
   * second half, `all` (default). The engines always run over the whole log (the tracker is warm
   * at the split); only the scoring is restricted. Parameters are chosen on `val`, reported on `test`.
   */
  split?: RealSplit;
}

export const REAL_SPLITS = ["all", "val", "test"] as const;
export type RealSplit = (typeof REAL_SPLITS)[number];

export interface RealConditionResult extends DetectionMetrics, Partial<GuardFigures> {
  AP_agnostic_2m: number;
  /** All tracked outputs within range vs truth, greedy by score at 2 m, class-agnostic. */
  precision_2m: number;
  recall_2m: number;
  /** Predictions dropped because they fell in an ignore region (unmodelled class). */
  ignored_predictions: number;
  /** Where the camera detections came from ("derived:annotations" = projected from the truth). */
  camera_input: string;
  ticks: number;
  /** Annotated instants without reference-sensor data in the log (absent files): not scored. */
  unscored_frames: number;
}

/** One annotated instant of a log, moved to a tick. */
export interface TruthAtTick {
  /** The annotated instant, ns. */
  tNs: number;
  /** Tick stamp minus the instant, s. */
  dt: number;
  /** The truth moved to the tick by its velocity, with the logged ego pose nearest the tick. */
  truth: GroundTruth;
  extra: TruthExtra[];
}

/**
 * The annotated instants of a log and its logged ego poses. A tick is matched to the nearest
 * instant within half a reference period (the LiDAR tick itself normally; a timer tick when the
 * LiDAR is removed); the truth is moved to the tick by its velocity, in the vehicle frame of the
 * logged ego pose nearest the tick. Shared by the evaluation and the real-log dataset export.
 */
export class TruthIndex {
  private readonly truths: { tNs: number; truth: GroundTruth; extra: TruthExtra[] }[] = [];
  private readonly poses: { tNs: number; x: number; y: number; z: number; yaw: number }[] = [];
  /** Half a reference period, ns. */
  readonly windowNs: number;

  constructor(rig: RigConfig, items: readonly ReplayItem[]) {
    for (const it of items) {
      if (it.kind === "truth") this.truths.push({ tNs: it.tNs, truth: it.truth, extra: it.extra });
      if (it.kind === "sensor" && it.msg.payload.kind === "pose") {
        const [w, x, y, z] = it.msg.payload.orientation;
        const p = it.msg.payload.position;
        this.poses.push({
          tNs: it.tNs,
          x: p[0],
          y: p[1],
          z: p[2],
          yaw: Math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)),
        });
      }
    }
    const ref = rig.sensors.find((x) => x.id === rig.reference)!;
    this.windowNs = ref.jitter_window_ms * 1e6;
  }

  /** The annotated instants in time order, with the split each belongs to (val: first half). */
  instants(): { tNs: number; truth: GroundTruth; extra: TruthExtra[]; split: "val" | "test" }[] {
    const half = Math.floor(this.truths.length / 2);
    return [...this.truths]
      .sort((a, b) => a.tNs - b.tNs)
      .map((t, i) => ({ ...t, split: i < half ? "val" : "test" }));
  }

  /** The instant nearest `stampNs` within the window, moved to it; null when none. */
  at(stampNs: number): TruthAtTick | null {
    const t = nearest(this.truths, stampNs, this.windowNs);
    if (!t) return null;
    const dt = (stampNs - t.tNs) / 1e9;
    const pose = nearest(this.poses, stampNs, 30e6);
    return {
      tNs: t.tNs,
      dt,
      truth: {
        ...t.truth,
        ego: pose ? { ...t.truth.ego, x: pose.x, y: pose.y, z: pose.z, yaw: pose.yaw } : t.truth.ego,
        objects: t.truth.objects.map((o) => ({ ...o, x: o.x + o.vx * dt, y: o.y + o.vy * dt })),
      },
      extra: t.extra,
    };
  }
}

function nearest<T extends { tNs: number }>(xs: readonly T[], t: number, maxNs: number): T | null {
  let b: T | null = null;
  for (const x of xs)
    if (Math.abs(x.tNs - t) <= maxNs && (!b || Math.abs(x.tNs - t) < Math.abs(b.tNs - t))) b = x;
  return b;
}

/**
 * A log through the fleet runtime in replay mode: the live pipeline (health monitor, aligner on
 * event time, fusion, tracked objects fed back to the aligner), every tick fused, none shed.
 * `removed`: a sensor kind whose messages are withheld; `vehicle`: the id the messages carry.
 */
export async function replayLog(
  rig: RigConfig,
  items: readonly ReplayItem[],
  engine: FusionEngine,
  o: { removed?: string | null; vehicle?: string },
  onFrame: (tick: AlignedTick, frame: FusedFrame) => void,
): Promise<void> {
  const kindOf = new Map(rig.sensors.map((s) => [s.id, s.kind]));
  const inputs = function* (): Generator<SensorEnvelope> {
    for (const it of items) {
      if (it.kind !== "sensor") continue;
      const m = it.msg;
      const kind = kindOf.get(m.header.sensorId) ?? KIND_OF_PAYLOAD[m.payload.kind];
      if (o.removed && kind === o.removed) continue;
      const msg = o.vehicle ? { ...m, header: { ...m.header, vehicle: o.vehicle } } : m;
      yield { msg, arrivalNs: it.tNs, bytes: 0 };
    }
  };
  await replayFrames(rig, engine, inputs(), onFrame);
}

/** One log's frames: ticks through the engine, scored where the log has truth. */
export async function evaluateLog(
  rig: RigConfig,
  items: readonly ReplayItem[],
  engine: FusionEngine,
  condition: RealCondition,
  vehicle: string,
  opts: RealEvalOptions = {},
  guard?: GuardTally,
): Promise<{ frames: FrameEval[]; ignored: number; ticks: number; unscored: number }> {
  const rangeM = opts.rangeM ?? 50;
  const removed = REMOVED[condition];
  const index = new TruthIndex(rig, items);
  const windowNs = index.windowNs;
  const best = new Map<number, { dt: number; frame: FrameEval; ignored: number }>();
  const frames: FrameEval[] = [];
  let ignored = 0;
  let ticks = 0;
  let unscored = 0;
  const onFrame = (tick: AlignedTick, objects: FusedObject[]) => {
    ticks++;
    const t = index.at(tick.stampNs);
    if (!t) return;
    const scored = scoreFrame(tick, t.truth, t.extra, objects, rangeM);
    const prev = best.get(t.tNs);
    if (!prev || Math.abs(t.dt) < prev.dt)
      best.set(t.tNs, { dt: Math.abs(t.dt), frame: scored.frame, ignored: scored.ignored });
  };
  await replayLog(rig, items, engine, { removed, vehicle }, (tick, frame) => {
    guard?.add(vehicle, tick.stampNs, frame.guard);
    onFrame(tick, frame.objects);
  });
  // An annotated instant whose log has the reference sensor's data (whatever the condition removes)
  // but no tick near it is scored with no predictions: its boxes are misses (the service gave no
  // output then). Instants where the log itself has no reference data (absent files) are not
  // scored, and counted.
  const refStamps = items
    .filter((it) => it.kind === "sensor" && it.msg.header.sensorId === rig.reference)
    .map((it) => it.tNs);
  const split = opts.split ?? "all";
  for (const t of index.instants()) {
    if (split !== "all" && t.split !== split) continue;
    if (!refStamps.some((r) => Math.abs(r - t.tNs) <= windowNs)) {
      unscored++;
      continue;
    }
    const b = best.get(t.tNs) ?? {
      dt: 0,
      ...scoreFrame({ lidar: null } as AlignedTick, t.truth, t.extra, [], rangeM),
    };
    frames.push(b.frame);
    ignored += b.ignored;
  }
  return { frames, ignored, ticks, unscored };
}

/** Rotate world -> vehicle frame of an ego pose (identity when the pose is unknown). */
export function toVehicle(g: GroundTruth) {
  const e = g.ego;
  const c = Math.cos(e.yaw);
  const s = Math.sin(e.yaw);
  return (x: number, y: number, vx: number, vy: number) => {
    const dx = x - e.x;
    const dy = y - e.y;
    return { x: c * dx + s * dy, y: -s * dx + c * dy, vx: c * vx + s * vy, vy: -s * vx + c * vy };
  };
}

/** LiDAR points of the tick inside a vehicle-frame box (footprint and height), for truth without counts. */
export function pointsInBox(
  tick: AlignedTick,
  b: { x: number; y: number; z: number; yaw: number; length: number; width: number; height: number },
): number {
  const L = tick.lidar;
  if (!L) return 0;
  const c = Math.cos(b.yaw);
  const s = Math.sin(b.yaw);
  let n = 0;
  for (let i = 0, o = 0; i < L.count; i++, o += L.stride) {
    const dx = L.data[o]! - b.x;
    const dy = L.data[o + 1]! - b.y;
    const dz = L.data[o + 2]! - b.z;
    if (
      Math.abs(c * dx + s * dy) <= b.length / 2 &&
      Math.abs(-s * dx + c * dy) <= b.width / 2 &&
      Math.abs(dz) <= b.height / 2
    )
      n++;
  }
  return n;
}

export function scoreFrame(
  tick: AlignedTick,
  truth: GroundTruth,
  extra: readonly TruthExtra[],
  objects: readonly { cls: ObjectClass; x: number; y: number; vx: number; vy: number; score: number }[],
  rangeM: number,
): { frame: FrameEval; ignored: number } {
  const tv = toVehicle(truth);
  const gts: EvalBox[] = [];
  const ignore: { x: number; y: number; r: number }[] = [];
  truth.objects.forEach((o, i) => {
    const e = extra[i];
    const v = tv(o.x, o.y, o.vx, o.vy);
    if (Math.hypot(v.x, v.y) > rangeM + 2) return;
    if (!e?.modelled) {
      ignore.push({ x: v.x, y: v.y, r: Math.max(1, Math.hypot(o.length, o.width) / 2) });
      return;
    }
    const yaw = o.yaw - truth.ego.yaw;
    const pts =
      e.numPoints ??
      pointsInBox(tick, {
        ...v,
        z: o.z - truth.ego.z,
        yaw,
        length: o.length,
        width: o.width,
        height: o.height,
      });
    if (pts <= 0) return; // nuScenes: boxes without a LiDAR point or radar return are not scored
    if (Math.hypot(v.x, v.y) > rangeM) return;
    gts.push({ cls: o.cls, x: v.x, y: v.y, vx: v.vx, vy: v.vy });
  });
  let ignored = 0;
  const pred = objects
    .filter((p) => Math.hypot(p.x, p.y) <= rangeM)
    .filter((p) => {
      const inIgnore = ignore.some((g) => Math.hypot(g.x - p.x, g.y - p.y) <= g.r);
      const nearTruth = gts.some((g) => Math.hypot(g.x - p.x, g.y - p.y) <= 2);
      if (inIgnore && !nearTruth) {
        ignored++;
        return false;
      }
      return true;
    })
    .map((p) => ({ cls: p.cls, x: p.x, y: p.y, vx: p.vx, vy: p.vy, score: p.score }));
  return { frame: { pred, truth: gts }, ignored };
}

/** Class-agnostic AP at 2 m and precision / recall of every output at 2 m. */
export function agnosticMetrics(frames: readonly FrameEval[]): {
  ap: number;
  precision: number;
  recall: number;
} {
  const one = frames.map((f) => ({
    pred: f.pred.map((p) => ({ ...p, cls: 1 as ObjectClass })),
    truth: f.truth.map((t) => ({ ...t, cls: 1 as ObjectClass })),
  }));
  const ap = detectionMetrics(one, [1 as ObjectClass]).AP_by_class["car"]?.thresholds_m["2"] ?? Number.NaN;
  let tp = 0;
  let np = 0;
  let nt = 0;
  for (const f of one) {
    nt += f.truth.length;
    np += f.pred.length;
    const used = new Uint8Array(f.truth.length);
    for (const p of [...f.pred].sort((a, b) => b.score - a.score)) {
      let best = -1;
      let bd = 2;
      f.truth.forEach((t, i) => {
        const d = Math.hypot(t.x - p.x, t.y - p.y);
        if (!used[i] && d <= bd) {
          bd = d;
          best = i;
        }
      });
      if (best >= 0) {
        used[best] = 1;
        tp++;
      }
    }
  }
  return { ap, precision: np ? tp / np : Number.NaN, recall: nt ? tp / nt : Number.NaN };
}

export function summarise(
  frames: FrameEval[],
  ignored: number,
  ticks: number,
  cameraInput: string,
  unscored = 0,
): RealConditionResult {
  const m = detectionMetrics(frames);
  const a = agnosticMetrics(frames);
  return {
    ...m,
    AP_agnostic_2m: a.ap,
    precision_2m: a.precision,
    recall_2m: a.recall,
    ignored_predictions: ignored,
    camera_input: cameraInput,
    ticks,
    unscored_frames: unscored,
  };
}
