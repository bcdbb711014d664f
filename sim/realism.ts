/**
 * The simulator's `realistic` profile (rig `simulation.profile: realistic`, the nuScenes preset):
 * the scene clutter, ground relief and sensor quirks that the gap statistics of a real urban scene
 * (`fusion eval --gap`, nuScenes scene-0523) show and the `basic` world lacks. The `basic` profile
 * (the default rig, the shipped models' training distribution) never reaches this module, so its
 * output stays bit-identical.
 *
 * Everything here is a named constant; docs/sim.md "Realistic profile" lists what each one models
 * and where its value comes from. Values were chosen by comparing the gap table of simulation seeds
 * < 9000 with scene-0523 only.
 */
import { ObjectClass } from "../src/msg/types.ts";
import type { PathPose } from "./path.ts";
import type { Rng } from "./rng.ts";
import type { Agent, GroundRelief, ScenarioName, ScenarioSpec, StaticBox } from "./world.ts";

export type SimProfile = "basic" | "realistic";

/** Surface kinds of static scenery (LiDAR reflectivity, radar returns and RCS). 0 = building. */
export const Material = {
  BUILDING: 0,
  WALL: 1,
  POLE: 2,
  SIGN: 3,
  VEGETATION: 4,
  KERB: 5,
  BARRIER: 6,
  CONE: 7,
} as const;
export type Material = (typeof Material)[keyof typeof Material];

/**
 * Vehicle shapes of the nuScenes detection taxonomy, mapped onto the project's classes (car, truck,
 * pedestrian, cyclist; DECISIONS S4): length, width, height (m, the medians of scene-0523's
 * annotations), class, and share among parked / moving vehicles of the realistic profile.
 */
export const TAXONOMY = {
  car: { dims: [4.57, 2.05, 1.63], cls: ObjectClass.CAR },
  // nuScenes counts pickups and vans as cars
  pickup_van: { dims: [5.3, 2.05, 1.95], cls: ObjectClass.CAR },
  truck: { dims: [6.0, 2.53, 2.21], cls: ObjectClass.TRUCK },
  box_truck: { dims: [8.5, 2.55, 3.4], cls: ObjectClass.TRUCK },
  trailer: { dims: [14.83, 2.83, 4.08], cls: ObjectClass.TRUCK },
  bus: { dims: [12.49, 2.91, 3.65], cls: ObjectClass.TRUCK },
  construction: { dims: [9.99, 3.35, 4.07], cls: ObjectClass.TRUCK },
  bicycle: { dims: [1.7, 0.6, 1.25], cls: ObjectClass.CYCLIST },
  motorcycle: { dims: [1.73, 0.62, 1.49], cls: ObjectClass.CYCLIST },
} as const satisfies Record<string, { dims: [number, number, number]; cls: ObjectClass }>;
type Kind = keyof typeof TAXONOMY;

/** Scene parameters of the realistic profile. */
export const SCENE = {
  /** Ego desired speed (scene-0523: 4-9 m/s), m/s. */
  egoSpeedMps: 7.5,
  /** Share of roadside buildings replaced by an open lot (car park or trailer yard). */
  lotShare: 0.7,
  /** Share of lots that are trailer yards (the rest are car parks). */
  trailerYardShare: 0.6,
  /** Small clutter in a lot (bushes, bins, bollards, debris), per 100 m^2. */
  lotScatterPer100m2: 1.2,
  /** Depth of a lot behind the pavement, m. */
  lotDepthM: [14, 30] as [number, number],
  /** Occupancy of a parking row slot: car parks, trailer yards. */
  carParkOccupancy: 0.15,
  trailerYardOccupancy: 0.6,
  /** Kerbside parking: share of free kerb slots occupied, and the vehicle mix. */
  kerbOccupancy: 0.2,
  kerbMix: [
    ["car", 0.55],
    ["pickup_van", 0.2],
    ["truck", 0.12],
    ["trailer", 0.06],
    ["construction", 0.03],
    ["bus", 0.04],
  ] as [Kind, number][],
  /** Moving trucks become buses, box trucks or trucks; this share of moving cars pickups or vans. */
  movingTruckMix: [
    ["bus", 0.3],
    ["box_truck", 0.35],
    ["truck", 0.35],
  ] as [Kind, number][],
  movingVanShare: 0.25,
  motorcycleShare: 0.4,
  /** Jersey-barrier runs on the parking lane (per 100 m of street), their length, m. */
  barrierRunsPer100m: 0.6,
  barrierRunM: [12, 45] as [number, number],
  /** Share of the basic world's pavement pedestrians left out (scene-0523 has fewer). */
  pedestrianDrop: 0.4,
  /** Street trees: chance per 12 m slot. */
  treeChance: 0.6,
  /** Parked bicycles on the pavement, per 100 m of street. */
  bicyclesPer100m: 0.12,
  /** Ground relief: sum of two plane waves, amplitude m, wavelength m; per-point roughness std, m. */
  reliefAmpM: 0.45,
  reliefWavelengthM: [120, 260] as [number, number],
  roughnessM: 0.03,
} as const;

/** LiDAR parameters of the realistic profile (HDL-32E as nuScenes records it). */
export const LIDAR_REAL = {
  /**
   * nuScenes keeps the whole 32 x 1085 grid: a ray without a return is written as a point a few
   * centimetres from the sensor (scene-0523: 17 % of the points), sensor frame, m.
   */
  noReturnXyz: [0, -0.11, -0.004] as [number, number, number],
  noReturnJitterM: 0.05,
  noReturnIntensity: 0.035,
  /** The roof under the sensor (13.5 % of the points, rings 0-8), sensor frame: x0, x1, y0, y1, top z, m. */
  roof: [-0.55, 0.55, -0.95, 0.77, -0.34] as [number, number, number, number, number],
  roofReflectivity: 0.02,
  /** Ground (asphalt) and paint reflectivity. */
  groundReflectivity: 0.075,
  markingReflectivity: 0.3,
  /** Multiplicative log-normal speckle on intensity (std of the log); intensity quantised to 1/255. */
  speckleSigma: 0.6,
} as const;

/** Radar parameters of the realistic profile (Continental ARS408 as nuScenes records it). */
export const RADAR_REAL = {
  /** Returns (clusters) per scan at most; the sensor drops the rest. */
  maxReturns: 125,
  /** Mean returns per metre of visible face, and a base count, per surface kind. */
  perMetre: { vehicle: 0.35, building: 0.35, wall: 0.3, barrier: 0.4, vegetation: 0.2, kerb: 0.06 },
  /** Link budget above the basic model's (it sees far more at 50-100 m), dB. */
  sensitivityDb: 10,
  /** Clutter range span, as shares of max_range_m. */
  clutterRange: [0.05, 0.75] as [number, number],
  vehicleBase: 1,
  /** Mean RCS per return, dBsm, and its fluctuation (std, dB). */
  rcsDbsm: {
    car: 6,
    truck: 13,
    pedestrian: -6,
    cyclist: -3,
    building: 6,
    wall: 3,
    pole: 4,
    sign: 9,
    vegetation: -3,
    kerb: -6,
    barrier: 2,
    cone: -5,
  },
  rcsFluctuationDb: 5.5,
  /** Share of clutter returns with a random Doppler (range-rate ambiguity, false clusters), and its span, m/s. */
  clutterDopplerShare: 0.45,
  clutterDopplerMps: 9,
  /** Multipath ghosts: chance per return of a moving object, range factor. */
  ghostChance: 0.2,
  ghostRange: [1.25, 1.9] as [number, number],
  ghostRcsDb: -8,
  /** Statics taller than this (and vehicles taller than truckM) shadow what is behind them, m. */
  occluderM: 1.5,
  truckM: 2.5,
} as const;

/** World-fixed ground relief: two plane waves. Height at (x, y), m. */
export class PlaneWaveRelief implements GroundRelief {
  private readonly kx: Float64Array;
  private readonly ky: Float64Array;
  private readonly ph: Float64Array;
  private readonly amp: number;

  constructor(rng: Rng, amp: number = SCENE.reliefAmpM) {
    this.kx = new Float64Array(2);
    this.ky = new Float64Array(2);
    this.ph = new Float64Array(2);
    this.amp = amp;
    for (let i = 0; i < 2; i++) {
      const th = rng.uniform(0, 2 * Math.PI);
      const k = (2 * Math.PI) / rng.uniform(SCENE.reliefWavelengthM[0], SCENE.reliefWavelengthM[1]);
      this.kx[i] = k * Math.cos(th);
      this.ky[i] = k * Math.sin(th);
      this.ph[i] = rng.uniform(0, 2 * Math.PI);
    }
  }

  at(x: number, y: number): number {
    return (
      this.amp *
      (Math.sin(this.kx[0]! * x + this.ky[0]! * y + this.ph[0]!) +
        Math.sin(this.kx[1]! * x + this.ky[1]! * y + this.ph[1]!))
    );
  }
}

/** What decorate() needs from the scenario builder (sim/scenarios.ts). */
export interface DecorateTools {
  addAgent(
    cls: ObjectClass,
    path: number,
    s: number,
    offset: number,
    vDesired: number,
    opts: { parked?: boolean; dims?: [number, number, number] },
  ): Agent;
}

function pick<T>(rng: Rng, mix: readonly (readonly [T, number])[]): T {
  let u = rng.next() * mix.reduce((a, [, w]) => a + w, 0);
  for (const [k, w] of mix) {
    u -= w;
    if (u <= 0) return k;
  }
  return mix[mix.length - 1]![0];
}

/** Points where two street paths cross (intersections), for keep-out zones. */
function crossings(spec: ScenarioSpec, streets: number[]): [number, number][] {
  const out: [number, number][] = [];
  const pose: PathPose = { x: 0, y: 0, heading: 0, curvature: 0 };
  const q: PathPose = { x: 0, y: 0, heading: 0, curvature: 0 };
  for (let i = 0; i < streets.length; i++)
    for (let j = i + 1; j < streets.length; j++) {
      const a = spec.paths[streets[i]!]!;
      const b = spec.paths[streets[j]!]!;
      for (let s = 0; s < a.length; s += 3) {
        a.at(s, 0, pose);
        b.at(b.nearestS(pose.x, pose.y), 0, q);
        if (Math.hypot(q.x - pose.x, q.y - pose.y) > 2) continue;
        if (Math.abs(Math.cos(q.heading - pose.heading)) > 0.5) continue;
        if (!out.some(([x, y]) => Math.hypot(x - pose.x, y - pose.y) < 10)) out.push([pose.x, pose.y]);
      }
    }
  return out;
}

const box = (
  pose: PathPose,
  length: number,
  width: number,
  height: number,
  z0: number,
  reflectivity: number,
  material: Material,
  porosity = 0,
): StaticBox => ({
  x: pose.x,
  y: pose.y,
  z: z0 + height / 2,
  yaw: pose.heading,
  length,
  width,
  height,
  reflectivity,
  material,
  porosity,
});

/**
 * Dress a `basic` scenario in the realistic profile's clutter (in place): pavements with kerbs,
 * trees, signs, jersey-barrier runs with cones, kerbside parking with the real vehicle mix, lots
 * (car parks and trailer yards) in place of some buildings, the real taxonomy's shapes for moving
 * traffic, a slower ego, and the ground relief. Draws only from `rng` after the basic builder.
 */
export function decorate(
  spec: ScenarioSpec,
  scenario: ScenarioName,
  rng: Rng,
  tools: DecorateTools,
): ScenarioSpec {
  const ground = new PlaneWaveRelief(rng);
  // Materials of the basic scenery: low (barrier, rail) / thin (pole) / else building.
  for (const s of spec.statics) {
    if (s.length <= 0.5 && s.width <= 0.5) {
      s.material = Material.POLE;
      s.reflectivity = rng.uniform(0.1, 0.25);
    } else if (s.height <= 1.2) {
      s.material = Material.BARRIER;
      s.reflectivity = rng.uniform(0.1, 0.3);
    } else {
      s.material = Material.BUILDING;
      s.reflectivity = rng.uniform(0.06, 0.22);
    }
  }
  // Fewer pavement pedestrians (those walking along a street, not on a crossing loop).
  const agents = spec.agents.filter(
    (a, k) =>
      k === 0 || a.cls !== ObjectClass.PEDESTRIAN || a.offset > -7 || !rng.chance(SCENE.pedestrianDrop),
  );
  spec.agents.length = 0;
  spec.agents.push(...agents);
  const ego = spec.agents[0]!;
  ego.vDesired = SCENE.egoSpeedMps;
  ego.v = Math.min(ego.v, SCENE.egoSpeedMps * 0.7);
  // Moving traffic: real shapes.
  for (const a of spec.agents.slice(1)) {
    if (a.parked) continue;
    let kind: Kind | null = null;
    if (a.cls === ObjectClass.TRUCK) kind = pick(rng, SCENE.movingTruckMix);
    else if (a.cls === ObjectClass.CAR && rng.chance(SCENE.movingVanShare)) kind = "pickup_van";
    else if (a.cls === ObjectClass.CYCLIST && rng.chance(SCENE.motorcycleShare)) kind = "motorcycle";
    if (!kind) continue;
    const [l, w, h] = TAXONOMY[kind].dims;
    a.length = l * rng.uniform(0.95, 1.05);
    a.width = w * rng.uniform(0.97, 1.03);
    a.height = h * rng.uniform(0.95, 1.05);
    if (kind === "motorcycle") a.vDesired *= 1.8;
  }
  if (scenario === "highway") {
    for (const a of spec.agents) a.reflectivity = rng.uniform(0.07, 0.3);
    return { ...spec, ground };
  }

  const streets = [...new Set((spec.markings?.lines ?? []).map((l) => l.path))];
  const keepOut = crossings(spec, streets);
  const near = (x: number, y: number, r: number) =>
    keepOut.some(([cx, cy]) => Math.hypot(x - cx, y - cy) < r);
  const pose: PathPose = { x: 0, y: 0, heading: 0, curvature: 0 };
  // Roadside buildings (on the right of a street path) by path, to be turned into lots.
  const buildings = spec.statics.filter((s) => s.material === Material.BUILDING && s.height >= 6);
  const removed = new Set<StaticBox>();
  for (const path of streets) {
    const p = spec.paths[path]!;
    const L = p.length;
    // Occupied kerb stretches (s intervals) of this path: the basic parked cars.
    const busy: [number, number][] = spec.agents
      .filter((a) => a.parked && a.path === path)
      .map((a) => [a.s - a.length / 2 - 1, a.s + a.length / 2 + 1]);
    const free = (s0: number, s1: number) => !busy.some(([a, b]) => s1 > a && s0 < b);
    // Pavement with kerb (0.15 m), 8 m slabs, 7.2 - 11.5 m right of the lane reference.
    for (let s = 0; s < L; s += 8) {
      p.at(s + 4, -9.35, pose);
      if (near(pose.x, pose.y, 13)) continue;
      spec.statics.push(box(pose, 8, 4.3, 0.15, 0, rng.uniform(0.07, 0.12), Material.KERB));
    }
    // Street trees (trunk + porous crown) and signs on the pavement.
    for (let s = rng.uniform(0, 12); s < L; s += 12) {
      p.at(s, -10.4, pose);
      if (near(pose.x, pose.y, 16)) continue;
      if (rng.chance(SCENE.treeChance)) {
        const h = rng.uniform(2.2, 3.2);
        spec.statics.push(box(pose, 0.35, 0.35, h, 0, rng.uniform(0.08, 0.15), Material.VEGETATION));
        const c = rng.uniform(2.5, 5);
        spec.statics.push(
          box(pose, c, c, rng.uniform(2.5, 4.5), h - 0.3, rng.uniform(0.06, 0.14), Material.VEGETATION, 0.55),
        );
      } else if (rng.chance(0.25)) {
        p.at(s, -7.6, pose);
        spec.statics.push(box(pose, 0.12, 0.12, 2.2, 0, 0.2, Material.POLE));
        spec.statics.push(box(pose, 0.08, 0.75, 0.75, 2.2, rng.uniform(0.7, 1), Material.SIGN));
      }
    }
    // Jersey-barrier runs with cones on the parking lane (roadworks).
    const runs = Math.round((L / 100) * SCENE.barrierRunsPer100m * rng.uniform(0.5, 1.5));
    for (let k = 0; k < runs; k++) {
      const len = rng.uniform(SCENE.barrierRunM[0], SCENE.barrierRunM[1]);
      const s0 = rng.uniform(0, L - len);
      p.at(s0, -5.4, pose);
      const a = { x: pose.x, y: pose.y };
      p.at(s0 + len, -5.4, pose);
      if (near(a.x, a.y, 18) || near(pose.x, pose.y, 18) || !free(s0, s0 + len)) continue;
      busy.push([s0 - 1, s0 + len + 1]);
      for (let s = s0; s < s0 + len; s += 3.25) {
        p.at(s + 1.55, -5.4, pose);
        spec.statics.push(box(pose, 3.1, 0.62, 0.96, 0, rng.uniform(0.1, 0.35), Material.BARRIER));
      }
      for (const s of [s0 - 2, s0 + len + 1.5]) {
        p.at(s, -4.6, pose);
        spec.statics.push(box(pose, 0.45, 0.45, 0.95, 0, rng.uniform(0.3, 0.6), Material.CONE));
      }
    }
    // Kerbside parking, real vehicle mix.
    for (let s = rng.uniform(0, 8); s < L - 16; ) {
      const kind = pick(rng, SCENE.kerbMix);
      const [l, w, h] = TAXONOMY[kind].dims;
      const len = l * rng.uniform(0.95, 1.05);
      p.at(s + len / 2, -5.6, pose);
      if (rng.chance(SCENE.kerbOccupancy) && free(s, s + len) && !near(pose.x, pose.y, 20)) {
        const off = -4.55 - w / 2 - rng.uniform(0, 0.3);
        tools.addAgent(TAXONOMY[kind].cls, path, s + len / 2, off, 0, { parked: true, dims: [len, w, h] });
        busy.push([s, s + len]);
      }
      s += len + rng.uniform(0.8, 2.5);
    }
    // Parked bicycles on the pavement.
    for (let k = 0, n = rng.poisson((L / 100) * SCENE.bicyclesPer100m); k < n; k++) {
      const s = rng.uniform(10, L - 10);
      p.at(s, -8, pose);
      if (near(pose.x, pose.y, 14)) continue;
      tools.addAgent(ObjectClass.CYCLIST, path, s, -7.7, 0, {
        parked: true,
        dims: [...TAXONOMY.bicycle.dims],
      });
    }
    // Lots in place of some buildings on this path's right.
    for (const bld of buildings) {
      if (removed.has(bld)) continue;
      const sb = p.nearestS(bld.x, bld.y);
      p.at(sb, 0, pose);
      const lat = -Math.sin(pose.heading) * (bld.x - pose.x) + Math.cos(pose.heading) * (bld.y - pose.y);
      if (lat > -11 || lat < -11.5 - bld.width / 2 - 1 || Math.abs(Math.cos(bld.yaw - pose.heading)) < 0.9)
        continue;
      if (!rng.chance(SCENE.lotShare)) continue;
      removed.add(bld);
      const front = -11.5;
      const back = front - rng.uniform(SCENE.lotDepthM[0], SCENE.lotDepthM[1]);
      const trailers = rng.chance(SCENE.trailerYardShare);
      const s0 = sb - bld.length / 2;
      const s1 = sb + bld.length / 2;
      // Low wall or hedge at the front, with a gate.
      if (rng.chance(0.5)) {
        const hedge = rng.chance(0.5);
        for (let s = s0; s < s1 - 4; s += 6) {
          if (s > sb - 3 && s < sb + 3) continue;
          p.at(s + 2.5, front - 0.4, pose);
          spec.statics.push(
            box(
              pose,
              5,
              hedge ? 1 : 0.25,
              hedge ? rng.uniform(1, 1.8) : rng.uniform(0.8, 2.2),
              0,
              rng.uniform(0.06, 0.16),
              hedge ? Material.VEGETATION : Material.WALL,
              hedge ? 0.3 : 0,
            ),
          );
        }
      }
      // Rows of parked vehicles, parallel to the street.
      const pitch = trailers ? 5.8 : 5.4;
      for (let off = front - (trailers ? 3.3 : 2.6); off > back + 1.6; off -= pitch) {
        for (let s = s0 + rng.uniform(0.5, 2); s < s1 - 3; ) {
          const kind: Kind = trailers
            ? rng.chance(0.8)
              ? "trailer"
              : "truck"
            : rng.chance(0.75)
              ? "car"
              : "pickup_van";
          const [l, w, h] = TAXONOMY[kind].dims;
          const len = l * rng.uniform(0.93, 1.05);
          if (s + len > s1) break;
          if (rng.chance(trailers ? SCENE.trailerYardOccupancy : SCENE.carParkOccupancy))
            tools.addAgent(TAXONOMY[kind].cls, path, s + len / 2, off, 0, {
              parked: true,
              dims: [len, w * rng.uniform(0.95, 1.03), h * rng.uniform(0.92, 1.03)],
            });
          s += len + rng.uniform(0.6, 1.6);
        }
      }
      // Scatter: bushes, bins, bollards, debris.
      for (
        let k = 0, n = rng.poisson(((s1 - s0) * (front - back) * SCENE.lotScatterPer100m2) / 100);
        k < n;
        k++
      ) {
        p.at(rng.uniform(s0, s1), rng.uniform(back + 0.5, front - 0.5), pose);
        pose.heading += rng.uniform(-0.5, 0.5);
        const u = rng.next();
        if (u < 0.45) {
          const c = rng.uniform(0.8, 2.5);
          spec.statics.push(
            box(pose, c, c, rng.uniform(0.6, 2), 0, rng.uniform(0.05, 0.14), Material.VEGETATION, 0.3),
          );
        } else if (u < 0.7)
          spec.statics.push(box(pose, 0.25, 0.25, rng.uniform(0.8, 1.2), 0, 0.3, Material.POLE));
        else {
          const l = rng.uniform(0.6, 2);
          spec.statics.push(
            box(
              pose,
              l,
              rng.uniform(0.5, 1.4),
              rng.uniform(0.6, 1.8),
              0,
              rng.uniform(0.08, 0.3),
              Material.BARRIER,
            ),
          );
        }
      }
      // A wall closing the lot, and a building set back behind it.
      if (rng.chance(0.4)) {
        p.at(sb, back - 0.15, pose);
        spec.statics.push(
          box(pose, bld.length, 0.3, rng.uniform(2, 3.5), 0, rng.uniform(0.06, 0.16), Material.WALL),
        );
      }
      if (rng.chance(0.7)) {
        const d = rng.uniform(8, 14);
        p.at(sb, back - rng.uniform(3, 15) - d / 2, pose);
        const h = rng.uniform(5, 15);
        spec.statics.push(
          box(pose, bld.length * rng.uniform(0.7, 1), d, h, 0, rng.uniform(0.06, 0.22), Material.BUILDING),
        );
      }
    }
  }
  for (const a of spec.agents)
    a.reflectivity =
      a.cls === ObjectClass.PEDESTRIAN
        ? rng.uniform(0.08, 0.2)
        : a.cls === ObjectClass.CYCLIST
          ? rng.uniform(0.1, 0.3)
          : rng.uniform(0.07, 0.3);
  return { ...spec, statics: spec.statics.filter((s) => !removed.has(s)), ground };
}
