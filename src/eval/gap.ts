/**
 * The sim-to-real gap on one rig, measured the same way on both sides (`fusion eval --gap`): per
 * aligned tick (the live aligner's output, vehicle frame) the input statistics a learned model sees
 * (src/fusion/guard/features.ts, inside the BEV grid), the non-ground LiDAR points of the whole
 * sweep, the radar returns with their RCS and ego-compensated radial velocity, the LiDAR points in
 * each truth box by range, and the truth objects per frame by class. Pure: ticks and truth in,
 * statistics out (src/eval/gap-command.ts produces the ticks from a simulated run and a real log).
 */
import type { AlignedTick } from "../align/types.ts";
import { InputFeatureExtractor, INPUT_FEATURES } from "../fusion/guard/features.ts";
import { OBJECT_CLASS_NAMES, type ObjectClass } from "../msg/types.ts";
import type { TruthBox } from "./truth.ts";

export interface GapFrame {
  tick: AlignedTick;
  /** Truth in the tick's vehicle frame with LiDAR point counts; cls 0 = a class not modelled. */
  truth: TruthBox[];
}

/** Range bins for LiDAR points per object, m. */
export const GAP_RANGE_BINS: readonly [number, number][] = [
  [0, 10],
  [10, 20],
  [20, 30],
  [30, 50],
];

export interface Dist {
  n: number;
  mean: number;
  p10: number;
  p50: number;
  p90: number;
}

export interface GapStats {
  frames: number;
  /** Per-tick input features (grid statistics), as distributions over ticks. */
  features: Record<string, Dist>;
  /** Non-ground LiDAR points (z 0.3-4 m) of the whole sweep, and all points. */
  lidar_nonground_sweep: Dist;
  lidar_points_sweep: Dist;
  /** Radar returns per tick (all radars, any range). */
  radar_returns_tick: Dist;
  /** Over all returns: RCS (dBsm), |ego-compensated radial velocity| (m/s). */
  radar_rcs_dbsm: Dist;
  radar_abs_vr_mps: Dist;
  radar_moving_frac: number;
  /** LiDAR points in the truth box (modelled classes within 50 m), per range bin. */
  lidar_points_per_object: Record<string, Dist>;
  /** Truth objects within 50 m per frame, by class ("unmodelled" for classes the project lacks), and those with a LiDAR point. */
  objects_per_frame: Record<string, number>;
  objects_with_points_per_frame: Record<string, number>;
}

function dist(xs: number[]): Dist {
  if (xs.length === 0) return { n: 0, mean: Number.NaN, p10: Number.NaN, p50: Number.NaN, p90: Number.NaN };
  const s = Float64Array.from(xs).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  let sum = 0;
  for (const v of s) sum += v;
  return { n: s.length, mean: sum / s.length, p10: q(0.1), p50: q(0.5), p90: q(0.9) };
}

export function gapStats(frames: readonly GapFrame[], rangeM = 50): GapStats {
  const ex = new InputFeatureExtractor();
  const feats = new Map<string, number[]>();
  const nonground: number[] = [];
  const allPts: number[] = [];
  const radarN: number[] = [];
  const rcs: number[] = [];
  const vr: number[] = [];
  const perBin = new Map<string, number[]>(GAP_RANGE_BINS.map(([a, b]) => [`${a}-${b} m`, []]));
  const cls = new Map<string, number>();
  const clsPts = new Map<string, number>();
  for (const name of ["car", "truck", "pedestrian", "cyclist", "unmodelled"]) {
    cls.set(name, 0);
    clsPts.set(name, 0);
  }
  for (const { tick, truth } of frames) {
    const f = ex.extract(tick, { lidar: true, radar: true, camera: true });
    for (const m of ["lidar", "radar", "camera"] as const) {
      const fm = f[m];
      for (const k of INPUT_FEATURES[m]) {
        const arr = feats.get(k) ?? [];
        arr.push(fm ? fm[k]! : 0);
        feats.set(k, arr);
      }
    }
    const L = tick.lidar;
    if (L) {
      const fz = L.fields["z"]!;
      let n = 0;
      for (let p = 0, o = 0; p < L.count; p++, o += L.stride) {
        const z = L.data[o + fz]!;
        if (z >= 0.3 && z <= 4) n++;
      }
      nonground.push(n);
      allPts.push(L.count);
    }
    const R = tick.radar;
    radarN.push(R?.count ?? 0);
    if (R) {
      const fr = R.fields["rcs"];
      const fv = R.fields["vr"];
      for (let p = 0, o = 0; p < R.count; p++, o += R.stride) {
        if (fr !== undefined) rcs.push(R.data[o + fr]!);
        if (fv !== undefined) vr.push(Math.abs(R.data[o + fv]!));
      }
    }
    for (const b of truth) {
      const r = Math.hypot(b.x, b.y);
      if (r > rangeM) continue;
      const name = b.cls >= 1 && b.cls <= 4 ? OBJECT_CLASS_NAMES[b.cls as ObjectClass] : "unmodelled";
      cls.set(name, cls.get(name)! + 1);
      if (b.nLidar > 0) clsPts.set(name, clsPts.get(name)! + 1);
      if (name === "unmodelled") continue;
      for (const [a, c] of GAP_RANGE_BINS) if (r >= a && r < c) perBin.get(`${a}-${c} m`)!.push(b.nLidar);
    }
  }
  const n = Math.max(1, frames.length);
  return {
    frames: frames.length,
    features: Object.fromEntries([...feats].map(([k, v]) => [k, dist(v)])),
    lidar_nonground_sweep: dist(nonground),
    lidar_points_sweep: dist(allPts),
    radar_returns_tick: dist(radarN),
    radar_rcs_dbsm: dist(rcs),
    radar_abs_vr_mps: dist(vr),
    radar_moving_frac: vr.length ? vr.filter((v) => v > 1).length / vr.length : Number.NaN,
    lidar_points_per_object: Object.fromEntries([...perBin].map(([k, v]) => [k, dist(v)])),
    objects_per_frame: Object.fromEntries([...cls].map(([k, v]) => [k, v / n])),
    objects_with_points_per_frame: Object.fromEntries([...clsPts].map(([k, v]) => [k, v / n])),
  };
}

const fmt = (v: number, d = 1) => (Number.isNaN(v) ? "-" : v.toFixed(d));
const fd = (x: Dist, d = 1) => `${fmt(x.p50, d)} [${fmt(x.p10, d)}-${fmt(x.p90, d)}]`;

/** Side-by-side table: statistic, one column per named side, and the ratio of the medians (last / first). */
export function formatGap(sides: { name: string; stats: GapStats }[]): string {
  const rows: [string, ...string[]][] = [];
  const ratio = (a: number, b: number) => (a > 0 && Number.isFinite(b) ? `x${(b / a).toFixed(2)}` : "-");
  const add = (label: string, get: (s: GapStats) => Dist | number, d = 1) => {
    const vals = sides.map((s) => get(s.stats));
    const mid = (v: Dist | number) => (typeof v === "number" ? v : v.p50);
    rows.push([
      label,
      ...vals.map((v) => (typeof v === "number" ? fmt(v, d) : fd(v, d))),
      sides.length > 1 ? ratio(mid(vals[0]!), mid(vals[vals.length - 1]!)) : "",
    ]);
  };
  add("frames", (s) => s.frames, 0);
  add("BEV cells occupied, LiDAR (model grid)", (s) => s.features["lidar_cells"]!, 0);
  add("BEV cells occupied, radar (model grid)", (s) => s.features["radar_cells"]!, 0);
  add("non-ground LiDAR points, model grid", (s) => s.features["lidar_points"]!, 0);
  add("non-ground LiDAR points per sweep (z 0.3-4 m)", (s) => s.lidar_nonground_sweep, 0);
  add("LiDAR points per sweep", (s) => s.lidar_points_sweep, 0);
  add("LiDAR mean intensity, non-ground (0..1)", (s) => s.features["lidar_intensity"]!, 3);
  add("LiDAR cell top height, m", (s) => s.features["lidar_cell_top_m"]!, 2);
  add("radar returns per frame", (s) => s.radar_returns_tick, 0);
  add("radar RCS, dBsm (all returns)", (s) => s.radar_rcs_dbsm, 1);
  add("radar |vr| ego-compensated, m/s", (s) => s.radar_abs_vr_mps, 2);
  add("radar share moving (|vr| > 1 m/s)", (s) => s.radar_moving_frac, 2);
  add("camera detections per frame", (s) => s.features["camera_detections"]!, 0);
  for (const [a, b] of GAP_RANGE_BINS)
    add(`LiDAR points per object, ${a}-${b} m`, (s) => s.lidar_points_per_object[`${a}-${b} m`]!, 0);
  for (const c of ["car", "truck", "pedestrian", "cyclist", "unmodelled"]) {
    add(`objects per frame within 50 m: ${c}`, (s) => s.objects_per_frame[c]!, 2);
    add(`  ... with a LiDAR point: ${c}`, (s) => s.objects_with_points_per_frame[c]!, 2);
  }
  const head: [string, ...string[]] = [
    "statistic (median [p10-p90] over frames)",
    ...sides.map((s) => s.name),
    "real/sim",
  ];
  const widths = head.map((_, i) => Math.max(...[head, ...rows].map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return `${[line(head), ...rows.map(line)].join("\n")}\n`;
}
