/**
 * Ground truth for offline scoring: truth boxes in a tick's vehicle frame (with the LiDAR points and
 * radar returns that hit them in the tick's raw data), and the pairing of aligned ticks with the
 * truth messages of a run. Pure: no simulator, no I/O (the runs come from sim/runs.ts or a replay).
 */
import type { AlignedTick } from "../align/types.ts";
import type { GroundTruth, ObjectClass, PackedArray } from "../msg/types.ts";

export interface TruthBox {
  id: number;
  cls: ObjectClass;
  /** Vehicle frame at the tick, m / rad / m/s over ground in vehicle axes. */
  x: number;
  y: number;
  z: number;
  length: number;
  width: number;
  height: number;
  yaw: number;
  vx: number;
  vy: number;
  /** LiDAR points inside the box, radar returns within 1 m of it (raw data, before any masking). */
  nLidar: number;
  nRadar: number;
}

export interface RunSpec {
  seed: number;
  /** Simulator scenario name (sim/scenarios.ts). */
  scenario: string;
  /** Weather: clear, rain, fog or night. */
  conditions: string;
  faults: string;
  durationS: number;
}

export interface SimFrame {
  tick: AlignedTick;
  truth: TruthBox[];
}

/** Pair each tick with the truth message nearest in time (within 20 ms); ticks without are left out. */
export function pairTruth(ticks: readonly AlignedTick[], truths: readonly GroundTruth[]): SimFrame[] {
  const out: SimFrame[] = [];
  let gi = 0;
  for (const t of ticks) {
    // truths are in stamp order; the tick clock is the reference sensor's corrected clock
    while (
      gi + 1 < truths.length &&
      Math.abs(truths[gi + 1]!.stampNs - t.stampNs) <= Math.abs(truths[gi]!.stampNs - t.stampNs)
    )
      gi++;
    const g = truths[gi];
    if (!g || Math.abs(g.stampNs - t.stampNs) > 20e6) continue;
    out.push({ tick: t, truth: truthInVehicle(g, (t.stampNs - g.stampNs) / 1e9, t) });
  }
  return out;
}

/** Ground truth (ENU) -> vehicle frame at the tick, with point counts from the tick's raw data. */
export function truthInVehicle(g: GroundTruth, dtS: number, tick: AlignedTick): TruthBox[] {
  const e = g.ego;
  const ex = e.x + e.vx * dtS;
  const ey = e.y + e.vy * dtS;
  const eyaw = e.yaw + e.yawRate * dtS;
  const c = Math.cos(eyaw);
  const s = Math.sin(eyaw);
  return g.objects.map((o) => {
    const dx = o.x + o.vx * dtS - ex;
    const dy = o.y + o.vy * dtS - ey;
    const b: TruthBox = {
      id: o.id,
      cls: o.cls,
      x: c * dx + s * dy,
      y: -s * dx + c * dy,
      z: o.z,
      length: o.length,
      width: o.width,
      height: o.height,
      yaw: wrapPi(o.yaw - eyaw),
      vx: c * o.vx + s * o.vy,
      vy: -s * o.vx + c * o.vy,
      nLidar: 0,
      nRadar: 0,
    };
    b.nLidar = countInBox(tick.lidar, b, 0.2, 0);
    b.nRadar = countInBox(tick.radar, b, -10, 1);
    return b;
  });
}

function countInBox(arr: PackedArray | null, b: TruthBox, minZ: number, marginM: number): number {
  if (!arr) return 0;
  const fx = arr.fields["x"]!;
  const fy = arr.fields["y"]!;
  const fz = arr.fields["z"]!;
  const c = Math.cos(b.yaw);
  const s = Math.sin(b.yaw);
  const hl = b.length / 2 + marginM;
  const hw = b.width / 2 + marginM;
  const r2 = (hl + hw) ** 2;
  const zTop = b.z + b.height / 2 + 0.3;
  let n = 0;
  const d = arr.data;
  for (let p = 0, o = 0; p < arr.count; p++, o += arr.stride) {
    const dx = d[o + fx]! - b.x;
    const dy = d[o + fy]! - b.y;
    if (dx * dx + dy * dy > r2) continue;
    const z = d[o + fz]!;
    if (z < minZ || z > zTop) continue;
    const u = c * dx + s * dy;
    const v = -s * dx + c * dy;
    if (Math.abs(u) <= hl && Math.abs(v) <= hw) n++;
  }
  return n;
}

function wrapPi(a: number): number {
  return a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));
}
