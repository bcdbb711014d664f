/**
 * The simulated world of one vehicle: road paths, traffic signals, agents (the ego, cars, trucks,
 * pedestrians, cyclists, parked cars) and static scenery (buildings, poles, barriers).
 *
 * Agents move along paths by arc length with the Intelligent Driver Model: each follows whatever is
 * ahead of it in its lane corridor (spatially, so traffic on different paths that share a lane
 * interacts), slows for curves, stops at red signals, and (highway) changes lanes when blocked.
 * The world steps at a fixed 10 ms; between steps, poses are extrapolated with the agents'
 * velocities, so sensors can sample it at any time. Deterministic for a given seed.
 */
import { ObjectClass } from "../src/msg/types.ts";
import { type MarkingLine, type MarkingPatch, MarkingRaster } from "./markings.ts";
import { type Path, type PathPose, wrapAngle } from "./path.ts";
import { Rng } from "./rng.ts";

export const WORLD_STEP_NS = 10_000_000;
const STEP_S = WORLD_STEP_NS / 1e9;

export type ScenarioName = "urban" | "highway" | "intersection";
export const SCENARIOS: readonly ScenarioName[] = ["urban", "highway", "intersection"];

/** A traffic-signal stop line on a path. */
export interface StopLine {
  /** Arc length of the stop line on its path, m. */
  s: number;
  /** Signal group: 0 and 1 alternate. */
  group: 0 | 1;
  /** Phase offset of this intersection's cycle, s. */
  phaseS: number;
}

export interface Agent {
  id: number;
  cls: ObjectClass;
  length: number;
  width: number;
  height: number;
  path: number;
  s: number;
  /** Current and target lateral offset from the path, m (+ = left). */
  offset: number;
  targetOffset: number;
  /** Other lane offsets this agent may change to (highway). */
  lanes: number[];
  v: number;
  vDesired: number;
  /** Last longitudinal acceleration, m/s^2. */
  a: number;
  parked: boolean;
  obeysSignals: boolean;
  /** Random phase for periodic decisions. */
  decideAtS: number;
  /** Agents near this one, rebuilt every 0.5 s (World internals). */
  neighbours: Agent[];
  // Pose at the last step (ENU, m, rad, m/s).
  x: number;
  y: number;
  yaw: number;
  vx: number;
  vy: number;
  yawRate: number;
  /** ds/dt per unit ground speed on the offset lane: 1 / (1 - curvature * offset). Keeps the speed
   *  `v` the true ground speed (and yawRate = v * lane curvature the true heading rate) off the
   *  reference path. */
  sPerM: number;
  /** LiDAR reflectivity (realistic profile); absent = the class default. */
  reflectivity?: number;
}

/** A static box (building, pole, barrier, parked trailer); not part of the ground truth. */
export interface StaticBox {
  x: number;
  y: number;
  z: number;
  yaw: number;
  length: number;
  width: number;
  height: number;
  /** Reflectivity in [0, 1] for LiDAR intensity. */
  reflectivity: number;
  /** Surface kind (sim/realism.ts Material; realistic profile only; absent = building). */
  material?: number;
  /** Share of LiDAR rays that pass through (foliage; realistic profile only; absent = solid). */
  porosity?: number;
}

/** Ground height above the flat plane at a world position, m (sim/realism.ts PlaneWaveRelief). */
export interface GroundRelief {
  at(x: number, y: number): number;
}

export interface ScenarioSpec {
  paths: Path[];
  stops: StopLine[][];
  agents: Agent[];
  statics: StaticBox[];
  /** Signal cycle length, s. */
  cycleS: number;
  /** Painted lines and patches (optional). */
  markings?: { lines: MarkingLine[]; patches: MarkingPatch[] };
  /** Ground relief (realistic profile); absent = flat ground at z = 0. */
  ground?: GroundRelief;
}

export const CLASS_DIMS: Record<ObjectClass, [number, number, number]> = {
  [ObjectClass.UNKNOWN]: [1, 1, 1],
  [ObjectClass.CAR]: [4.6, 1.9, 1.6],
  [ObjectClass.TRUCK]: [9.5, 2.5, 3.4],
  [ObjectClass.PEDESTRIAN]: [0.6, 0.6, 1.75],
  [ObjectClass.CYCLIST]: [1.8, 0.6, 1.7],
};

/** Box arrays (struct of arrays) of every agent except the ego, refreshed each step. */
export interface BoxArrays {
  count: number;
  id: Int32Array;
  cls: Uint8Array;
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
  yaw: Float64Array;
  /** Half extents, m. */
  hl: Float64Array;
  hw: Float64Array;
  hh: Float64Array;
  vx: Float64Array;
  vy: Float64Array;
  /** 1 for agents (truth objects), 0 for static scenery. */
  dynamic: Uint8Array;
  reflectivity: Float32Array;
  /** Surface kind of static scenery (sim/realism.ts Material), 0 for agents. */
  material: Uint8Array;
  /** Share of LiDAR rays passing through (foliage), 0 = solid. */
  porosity: Float32Array;
}

export interface EgoKinematics {
  x: number;
  y: number;
  z: number;
  yaw: number;
  vx: number;
  vy: number;
  speed: number;
  yawRate: number;
  /** Longitudinal acceleration, m/s^2. */
  accel: number;
}

/** A zeroed EgoKinematics, to be filled by World.egoAt. */
export const newEgoKinematics = (): EgoKinematics => ({
  x: 0,
  y: 0,
  z: 0,
  yaw: 0,
  vx: 0,
  vy: 0,
  speed: 0,
  yawRate: 0,
  accel: 0,
});

const NEIGHBOUR_RADIUS_M = 200;
const NEIGHBOUR_EVERY_STEPS = 50;

const IDM = { aMax: 1.6, bComf: 2.5, s0: 2.0, headwayS: 1.4 } as const;

export class World {
  readonly paths: Path[];
  readonly stops: StopLine[][];
  readonly agents: Agent[];
  readonly statics: StaticBox[];
  readonly boxes: BoxArrays;
  readonly cycleS: number;
  /** Road paint, for LiDAR intensity. */
  readonly markings: MarkingRaster;
  /** Ground relief (realistic profile), or null: flat. */
  readonly ground: GroundRelief | null;
  /** True time of the current step, ns relative to t = 0. */
  tNs = 0;
  private readonly pose: PathPose = { x: 0, y: 0, heading: 0, curvature: 0 };
  private readonly rng: Rng;
  private stepCount = 0;

  constructor(
    readonly scenario: ScenarioName,
    seed: number,
    build: (rng: Rng) => ScenarioSpec,
  ) {
    this.rng = new Rng(seed, `world/${scenario}`);
    const spec = build(this.rng);
    this.paths = spec.paths;
    this.stops = spec.stops;
    this.agents = spec.agents;
    this.statics = spec.statics;
    this.cycleS = spec.cycleS;
    this.ground = spec.ground ?? null;
    this.markings = new MarkingRaster(spec.paths, spec.markings?.lines ?? [], spec.markings?.patches ?? []);
    const n = this.agents.length - 1 + this.statics.length;
    this.boxes = {
      count: n,
      id: new Int32Array(n),
      cls: new Uint8Array(n),
      x: new Float64Array(n),
      y: new Float64Array(n),
      z: new Float64Array(n),
      yaw: new Float64Array(n),
      hl: new Float64Array(n),
      hw: new Float64Array(n),
      hh: new Float64Array(n),
      vx: new Float64Array(n),
      vy: new Float64Array(n),
      dynamic: new Uint8Array(n),
      reflectivity: new Float32Array(n),
      material: new Uint8Array(n),
      porosity: new Float32Array(n),
    };
    for (const a of this.agents) this.updatePose(a);
    this.fillBoxes();
    this.fillStatics();
  }

  /** The ego is always agent 0. */
  get ego(): Agent {
    return this.agents[0]!;
  }

  /** Step the world until its time is the last step at or before `tNs`. */
  advanceTo(tNs: number): void {
    while (this.tNs + WORLD_STEP_NS <= tNs) this.step();
  }

  /** Ego kinematics at `tNs` (extrapolated from the last step). */
  egoAt(tNs: number, out: EgoKinematics): EgoKinematics {
    const e = this.ego;
    const dt = (tNs - this.tNs) / 1e9;
    out.yaw = wrapAngle(e.yaw + e.yawRate * dt);
    out.x = e.x + e.vx * dt;
    out.y = e.y + e.vy * dt;
    out.z = 0;
    out.speed = e.v;
    out.vx = e.v * Math.cos(out.yaw);
    out.vy = e.v * Math.sin(out.yaw);
    out.yawRate = e.yawRate;
    out.accel = e.a;
    return out;
  }

  /** Signal state of a stop line at time tS: 0 green, 1 amber, 2 red. */
  signal(stop: StopLine, tS: number): 0 | 1 | 2 {
    const c = this.cycleS;
    let u = (tS + stop.phaseS) % c;
    if (u < 0) u += c;
    const half = c / 2;
    const local = stop.group === 0 ? u : (u + half) % c;
    if (local < half - 3) return 0;
    if (local < half) return 1;
    return 2;
  }

  /**
   * Rebuild every agent's neighbour list (agents within NEIGHBOUR_RADIUS_M). Relative speeds stay
   * below ~70 m/s, so a list rebuilt every NEIGHBOUR_EVERY_STEPS (0.5 s) still holds everything
   * within the largest look-ahead (~130 m): the per-step leader search is O(n k), not O(n^2).
   */
  private rebuildNeighbours(): void {
    const A = this.agents;
    const r2 = NEIGHBOUR_RADIUS_M * NEIGHBOUR_RADIUS_M;
    for (const a of A) a.neighbours.length = 0;
    for (let i = 0; i < A.length; i++) {
      const a = A[i]!;
      for (let j = i + 1; j < A.length; j++) {
        const b = A[j]!;
        const dx = b.x - a.x;
        const dy = b.y - a.y;
        if (dx * dx + dy * dy > r2) continue;
        a.neighbours.push(b);
        b.neighbours.push(a);
      }
    }
  }

  private step(): void {
    const tS = this.tNs / 1e9;
    const agents = this.agents;
    if (this.stepCount++ % NEIGHBOUR_EVERY_STEPS === 0) this.rebuildNeighbours();
    // Accelerations first (from the same snapshot), then integrate.
    for (const a of agents) a.a = a.parked ? 0 : this.accelOf(a, tS);
    for (const a of agents) {
      if (a.parked) continue;
      const v = Math.max(0, a.v + a.a * STEP_S);
      a.s += (a.v + v) * 0.5 * STEP_S * a.sPerM;
      a.v = v;
      if (a.offset !== a.targetOffset) {
        const d = a.targetOffset - a.offset;
        const m = 0.9 * STEP_S;
        a.offset = Math.abs(d) <= m ? a.targetOffset : a.offset + Math.sign(d) * m;
      }
      if (a.lanes.length > 1 && a.s >= a.decideAtS) {
        a.decideAtS = a.s + 30 + this.rng.uniform(0, 40);
        this.maybeChangeLane(a);
      }
      this.updatePose(a);
    }
    this.tNs += WORLD_STEP_NS;
    this.fillBoxes();
  }

  private updatePose(a: Agent): void {
    const p = this.paths[a.path]!.at(a.s, a.offset, this.pose);
    a.x = p.x;
    a.y = p.y;
    a.yaw = p.heading;
    a.vx = a.v * Math.cos(p.heading);
    a.vy = a.v * Math.sin(p.heading);
    a.sPerM = 1 / Math.max(0.2, 1 - p.curvature * a.offset);
    a.yawRate = a.v * p.curvature * a.sPerM;
  }

  /** Gap (m) and speed (m/s, along our heading) of the nearest thing ahead in our corridor. */
  private leaderOf(a: Agent): { gap: number; v: number } {
    let gap = Number.POSITIVE_INFINITY;
    let lv = 0;
    if (a.cls === ObjectClass.PEDESTRIAN) return { gap, v: 0 };
    const c = Math.cos(a.yaw);
    const s = Math.sin(a.yaw);
    const look = 25 + a.v * 3;
    for (const b of a.neighbours) {
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      if (Math.abs(dx) > look || Math.abs(dy) > look) continue;
      const along = dx * c + dy * s;
      if (along <= 0 || along > look) continue;
      const lat = -dx * s + dy * c;
      const bh = b.cls === ObjectClass.PEDESTRIAN ? 0.6 : b.width / 2;
      if (Math.abs(lat) > a.width / 2 + bh + 0.3) continue;
      // Follow traffic heading roughly our way; yield to pedestrians whatever their heading.
      // Crossing and oncoming vehicles are left to the signals (waiting for them deadlocks).
      const rel = Math.cos(b.yaw - a.yaw);
      if (rel < 0.5 && b.cls !== ObjectClass.PEDESTRIAN) continue;
      const g = along - a.length / 2 - b.length / 2;
      if (g < gap) {
        gap = g;
        lv = Math.max(0, b.v * rel);
      }
    }
    return { gap, v: lv };
  }

  private accelOf(a: Agent, tS: number): number {
    const path = this.paths[a.path]!;
    // Desired speed, limited by the curvature ahead (lateral acceleration <= 2.5 m/s^2).
    let v0 = a.vDesired;
    for (const d of [4, 10, 18, 28]) {
      const k = Math.abs(path.at(a.s + d, a.offset, this.pose).curvature);
      if (k > 1e-4) v0 = Math.min(v0, Math.sqrt(2.5 / k) * (1 + d / 60));
    }
    let { gap, v: lv } = this.leaderOf(a);
    if (a.obeysSignals) {
      const stops = this.stops[a.path]!;
      for (const st of stops) {
        let d = st.s - a.s;
        d %= path.length;
        if (d < 0) d += path.length;
        if (d > 60) continue;
        const sig = this.signal(st, tS);
        const stopDist = d - a.length / 2;
        if (sig === 2 || (sig === 1 && stopDist > (a.v * a.v) / (2 * 3.5) + 1)) {
          if (stopDist > -1 && stopDist < gap) {
            gap = Math.max(0.01, stopDist);
            lv = 0;
          }
        }
      }
    }
    const v = a.v;
    const free = 1 - (v / Math.max(0.1, v0)) ** 4;
    let acc: number;
    if (Number.isFinite(gap)) {
      const sStar =
        IDM.s0 + Math.max(0, v * IDM.headwayS + (v * (v - lv)) / (2 * Math.sqrt(IDM.aMax * IDM.bComf)));
      acc = IDM.aMax * (free - (sStar / Math.max(0.1, gap)) ** 2);
    } else acc = IDM.aMax * free;
    if (a.cls === ObjectClass.PEDESTRIAN) acc = Math.max(-3, Math.min(1, acc));
    return Math.max(-8, Math.min(IDM.aMax, acc));
  }

  private maybeChangeLane(a: Agent): void {
    const { gap, v } = this.leaderOf(a);
    if (!(gap < 50 && v < a.vDesired - 2)) return;
    const cur = a.lanes.indexOf(a.targetOffset);
    const options = [cur - 1, cur + 1].filter((i) => i >= 0 && i < a.lanes.length);
    for (const i of options) {
      const off = a.lanes[i]!;
      let free = true;
      for (const b of this.agents) {
        if (b === a || b.path !== a.path) continue;
        if (Math.abs(b.targetOffset - off) > 1 && Math.abs(b.offset - off) > 1) continue;
        let d = b.s - a.s;
        const L = this.paths[a.path]!.length;
        d = ((d % L) + L) % L;
        if (d > L / 2) d -= L;
        if (d > -20 && d < 35) {
          free = false;
          break;
        }
      }
      if (free) {
        a.targetOffset = off;
        return;
      }
    }
  }

  private fillBoxes(): void {
    const B = this.boxes;
    let i = 0;
    for (let k = 1; k < this.agents.length; k++, i++) {
      const a = this.agents[k]!;
      B.id[i] = a.id;
      B.cls[i] = a.cls;
      B.x[i] = a.x;
      B.y[i] = a.y;
      B.z[i] = a.height / 2;
      B.yaw[i] = a.yaw;
      B.hl[i] = a.length / 2;
      B.hw[i] = a.width / 2;
      B.hh[i] = a.height / 2;
      B.vx[i] = a.vx;
      B.vy[i] = a.vy;
      B.dynamic[i] = 1;
      B.reflectivity[i] =
        a.reflectivity ??
        (a.cls === ObjectClass.PEDESTRIAN ? 0.25 : a.cls === ObjectClass.CYCLIST ? 0.35 : 0.5);
    }
  }

  private fillStatics(): void {
    const B = this.boxes;
    let i = this.agents.length - 1;
    for (const s of this.statics) {
      B.id[i] = -1;
      B.cls[i] = ObjectClass.UNKNOWN;
      B.x[i] = s.x;
      B.y[i] = s.y;
      B.z[i] = s.z;
      B.yaw[i] = s.yaw;
      B.hl[i] = s.length / 2;
      B.hw[i] = s.width / 2;
      B.hh[i] = s.height / 2;
      B.vx[i] = 0;
      B.vy[i] = 0;
      B.dynamic[i] = 0;
      B.reflectivity[i] = s.reflectivity;
      B.material[i] = s.material ?? 0;
      B.porosity[i] = s.porosity ?? 0;
      i++;
    }
  }
}
