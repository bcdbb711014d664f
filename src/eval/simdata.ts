/**
 * Simulated runs through the real aligner, offline: simulator events -> decode -> alignVehicle
 * (arrival clock = simulated send time, no timers) -> AlignedTick[], each paired with the ground
 * truth in that tick's vehicle frame. Shared by dataset export (train) and evaluation, so both
 * see the same data path as the live service.
 */
import { from, lastValueFrom, toArray } from "rxjs";
import { alignVehicle } from "../align/index.ts";
import type { AlignedTick } from "../align/types.ts";
import { decodeGroundTruth, decodeSensorMessage } from "../msg/codec.ts";
import type { GroundTruth, ObjectClass, PackedArray, SensorEnvelope } from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import {
  type Conditions,
  DEFAULT_SIM_OPTIONS,
  type ScenarioName,
  type SimOptions,
  Simulation,
} from "../../sim/index.ts";

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
  scenario: ScenarioName;
  conditions: Conditions;
  faults: string;
  durationS: number;
}

export interface SimFrame {
  tick: AlignedTick;
  truth: TruthBox[];
}

/**
 * Simulate `durationS` of vehicle sim-1 and run its sensor messages through the real aligner on the
 * arrival clock (simulated send time): the aligned ticks and every ground-truth message, in order.
 */
export async function simulateAligned(
  rig: RigConfig,
  opts: Partial<Omit<SimOptions, "rig" | "vehicles">>,
  durationS: number,
): Promise<{ ticks: AlignedTick[]; truths: GroundTruth[] }> {
  const so: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...opts, rig, vehicles: 1 };
  const sim = new Simulation(so);
  const events = sim.until(so.startNs + durationS * 1e9);
  const envs: SensorEnvelope[] = [];
  const truths: GroundTruth[] = [];
  for (const ev of events) {
    if (ev.sensorId === null) {
      if (ev.topic.endsWith("/truth")) {
        const g = decodeGroundTruth(ev.payload);
        if (g.ok) truths.push(g.value);
      }
      continue;
    }
    const r = decodeSensorMessage(ev.payload);
    if (r.ok) envs.push({ msg: r.value, arrivalNs: ev.sendNs, bytes: ev.payload.byteLength });
  }
  const ticks = await lastValueFrom(
    from(envs).pipe(alignVehicle(rig, { vehicle: "sim-1", clock: "arrival" }), toArray()),
  );
  return { ticks, truths };
}

/** Simulate one run of vehicle sim-1 and align it; frames without truth nearby are left out. */
export async function simulateRun(rig: RigConfig, spec: RunSpec): Promise<SimFrame[]> {
  const { ticks, truths } = await simulateAligned(
    rig,
    { seed: spec.seed, scenario: spec.scenario, conditions: spec.conditions, faults: spec.faults },
    spec.durationS,
  );
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
