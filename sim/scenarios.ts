/**
 * Scenario builders: road layout, signals, traffic and scenery for `urban`, `highway` and
 * `intersection`. Every scenario is a closed system (loops and wrapping roads), so it runs for any
 * duration. Right-hand traffic; path offsets are + left, so driving lanes have negative offsets.
 */
import { ObjectClass } from "../src/msg/types.ts";
import type { MarkingLine, MarkingPatch } from "./markings.ts";
import { Path, type PathPose } from "./path.ts";
import { decorate, type SimProfile } from "./realism.ts";
import type { Rng } from "./rng.ts";
import {
  type Agent,
  CLASS_DIMS,
  type ScenarioName,
  type ScenarioSpec,
  type StaticBox,
  type StopLine,
} from "./world.ts";

type P = readonly [number, number];

interface Builder {
  rng: Rng;
  paths: Path[];
  stops: StopLine[][];
  agents: Agent[];
  statics: StaticBox[];
  markings: { lines: MarkingLine[]; patches: MarkingPatch[] };
}

function newBuilder(rng: Rng): Builder {
  return { rng, paths: [], stops: [], agents: [], statics: [], markings: { lines: [], patches: [] } };
}

/** Zebra stripes across a crossing from `from` to `to` (stripes 0.5 m wide, 0.5 m apart, 3 m long). */
function zebra(b: Builder, from: P, to: P) {
  const dx = to[0] - from[0];
  const dy = to[1] - from[1];
  const l = Math.hypot(dx, dy);
  const heading = Math.atan2(dy, dx);
  for (let a = 1; a < l - 1; a += 1)
    b.markings.patches.push({
      x: from[0] + (dx * a) / l,
      y: from[1] + (dy * a) / l,
      heading: heading + Math.PI / 2,
      length: 3,
      width: 0.5,
    });
}

function addPath(b: Builder, pts: P[], closed: boolean, r: number): number {
  b.paths.push(new Path(pts, closed, r));
  b.stops.push([]);
  return b.paths.length - 1;
}

function addAgent(
  b: Builder,
  cls: ObjectClass,
  path: number,
  s: number,
  offset: number,
  vDesired: number,
  opts: { parked?: boolean; lanes?: number[]; obeys?: boolean; dims?: [number, number, number] } = {},
): Agent {
  const [l, w, h] = opts.dims ?? CLASS_DIMS[cls];
  const jitter = cls === ObjectClass.PEDESTRIAN ? 0.1 : 0.06;
  const a: Agent = {
    id: b.agents.length,
    cls,
    length: l * (1 + b.rng.uniform(-jitter, jitter)),
    width: w * (1 + b.rng.uniform(-jitter, jitter)),
    height: h * (1 + b.rng.uniform(-jitter, jitter)),
    path,
    s,
    offset,
    targetOffset: offset,
    lanes: opts.lanes ?? [offset],
    v: opts.parked ? 0 : vDesired * b.rng.uniform(0.5, 0.9),
    vDesired,
    a: 0,
    parked: opts.parked ?? false,
    obeysSignals: opts.obeys ?? true,
    decideAtS: s + b.rng.uniform(0, 40),
    neighbours: [],
    x: 0,
    y: 0,
    yaw: 0,
    vx: 0,
    vy: 0,
    yawRate: 0,
    sPerM: 1,
  };
  b.agents.push(a);
  return a;
}

/** `n` arc lengths spread evenly (with jitter) over [from, to), avoiding `avoid` +- `radius`. */
function spread(b: Builder, n: number, from: number, to: number, avoid: number[] = [], radius = 0): number[] {
  const out: number[] = [];
  const step = (to - from) / n;
  for (let k = 0; k < n; k++) {
    let s = from + k * step + b.rng.uniform(0.1, 0.6) * step;
    for (const c of avoid) if (Math.abs(s - c) < radius) s = c + radius * (s < c ? -1 : 1);
    out.push(s);
  }
  return out;
}

/** Stop line `beforeM` metres before the point of `path` nearest to (x, y). */
function addStop(
  b: Builder,
  path: number,
  x: number,
  y: number,
  beforeM: number,
  group: 0 | 1,
  phaseS: number,
) {
  const p = b.paths[path]!;
  let s = p.nearestS(x, y) - beforeM;
  if (s < 0) s += p.length;
  b.stops[path]!.push({ s, group, phaseS });
}

/** Buildings (and optionally poles) along a path, at `offset` (+ left), skipping near `gaps`. */
function buildingsAlong(b: Builder, path: number, offset: number, gaps: P[], gapR: number, poles = false) {
  const p = b.paths[path]!;
  const pose: PathPose = { x: 0, y: 0, heading: 0, curvature: 0 };
  const near = (x: number, y: number, r: number) => gaps.some(([gx, gy]) => Math.hypot(x - gx, y - gy) < r);
  let s = b.rng.uniform(0, 10);
  while (s < p.length - 20) {
    const len = b.rng.uniform(14, 34);
    const depth = b.rng.uniform(10, 16);
    const side = Math.sign(offset);
    p.at(s + len / 2, offset + (side * depth) / 2, pose);
    if (!near(pose.x, pose.y, gapR + len / 2) && Math.abs(pose.curvature) < 0.01) {
      const height = b.rng.uniform(6, 24);
      b.statics.push({
        x: pose.x,
        y: pose.y,
        z: height / 2,
        yaw: pose.heading,
        length: len,
        width: depth,
        height,
        reflectivity: b.rng.uniform(0.2, 0.6),
      });
    }
    s += len + b.rng.uniform(2, 9);
  }
  if (poles) {
    for (let t = 15; t < p.length; t += 40) {
      const side = Math.sign(offset);
      p.at(t, offset - side * 3, pose);
      if (near(pose.x, pose.y, gapR)) continue;
      b.statics.push({
        x: pose.x,
        y: pose.y,
        z: 3.5,
        yaw: 0,
        length: 0.3,
        width: 0.3,
        height: 7,
        reflectivity: 0.7,
      });
    }
  }
}

function crossingLoop(b: Builder, from: P, to: P, group: 0 | 1, phaseS: number, peds: number) {
  zebra(b, from, to);
  // A thin loop across the road: walk from -> to, step aside 1.2 m, walk back.
  const dx = to[0] - from[0];
  const dy = to[1] - from[1];
  const l = Math.hypot(dx, dy);
  const nx = (-dy / l) * 1.2;
  const ny = (dx / l) * 1.2;
  const pts: P[] = [from, to, [to[0] + nx, to[1] + ny], [from[0] + nx, from[1] + ny]];
  const path = addPath(b, pts, true, 0);
  const L = b.paths[path]!.length;
  b.stops[path]!.push({ s: 0.3, group, phaseS }, { s: l + 1.2 + 0.3, group, phaseS });
  for (let k = 0; k < peds; k++)
    addAgent(b, ObjectClass.PEDESTRIAN, path, ((k + 0.5) * L) / peds, 0, b.rng.uniform(1.1, 1.6));
}

// ------------------------------------------------------------------------------------------------

function urban(rng: Rng): ScenarioSpec {
  const b = newBuilder(rng);
  const E = 60; // block half size: streets at x, y = +-60
  const R = 300; // through streets run from -R to R
  const lane = -1.75;
  const corners: P[] = [
    [E, -E],
    [E, E],
    [-E, E],
    [-E, -E],
  ];
  const phase = (i: number) => (i * 7) % 30;
  // Path 0: the ego's loop around the central block (counter-clockwise: left turns).
  const loop = addPath(
    b,
    [
      [-E, -E],
      [E, -E],
      [E, E],
      [-E, E],
    ],
    true,
    9,
  );
  corners.forEach(([x, y], i) => {
    addStop(b, loop, x, y, 12, (i % 2 === 0 ? 0 : 1) as 0 | 1, phase(i));
  });
  addAgent(b, ObjectClass.CAR, loop, 30, lane, 12.5);
  for (const s of spread(b, 3, 60, b.paths[loop]!.length - 20))
    addAgent(b, ObjectClass.CAR, loop, s, lane, rng.uniform(10, 13));
  // Through streets, both directions.
  const streets: { pts: P[]; horizontal: boolean }[] = [];
  for (const c of [-E, E]) {
    streets.push(
      {
        pts: [
          [-R, c],
          [R, c],
        ],
        horizontal: true,
      },
      {
        pts: [
          [R, c],
          [-R, c],
        ],
        horizontal: true,
      },
    );
    streets.push(
      {
        pts: [
          [c, -R],
          [c, R],
        ],
        horizontal: false,
      },
      {
        pts: [
          [c, R],
          [c, -R],
        ],
        horizontal: false,
      },
    );
  }
  for (const st of streets) {
    const path = addPath(b, st.pts, false, 0);
    const gaps = corners.map(([x, y]) => ({ x, y, r: 10 }));
    b.markings.lines.push({ path, offset: 0, gaps }, { path, offset: -3.5, gaps });
    const p = b.paths[path]!;
    const cross = corners
      .map(([x, y]) => p.nearestS(x, y))
      .filter((_s, i) => {
        const [x, y] = corners[i]!;
        return st.horizontal ? Math.abs(y - st.pts[0]![1]) < 1 : Math.abs(x - st.pts[0]![0]) < 1;
      });
    corners.forEach(([x, y], i) => {
      const on = st.horizontal ? Math.abs(y - st.pts[0]![1]) < 1 : Math.abs(x - st.pts[0]![0]) < 1;
      if (on) addStop(b, path, x, y, 11, st.horizontal ? 0 : 1, phase(i));
    });
    for (const s of spread(b, 5, 0, p.length, cross, 12)) {
      const truck = rng.chance(0.12);
      addAgent(
        b,
        truck ? ObjectClass.TRUCK : ObjectClass.CAR,
        path,
        s,
        lane,
        truck ? 10 : rng.uniform(10, 14),
      );
    }
    for (const s of spread(b, 1, 0, p.length, cross, 12))
      addAgent(b, ObjectClass.CYCLIST, path, s, -3.9, rng.uniform(4, 6));
    for (const s of spread(b, 3, 0, p.length, cross, 10))
      addAgent(b, ObjectClass.PEDESTRIAN, path, s, -8, rng.uniform(1.1, 1.6), { obeys: false });
    for (const s of spread(b, 4, 0, p.length, cross, 20))
      addAgent(b, ObjectClass.CAR, path, s, -5.6, 0, { parked: true });
    buildingsAlong(b, path, -11.5, corners, 12, true);
  }
  // Pedestrian crossings at every intersection (west and south sides).
  corners.forEach(([x, y], i) => {
    crossingLoop(b, [x - 8.5, y - 9.5], [x - 8.5, y + 9.5], 1, phase(i), 1);
    crossingLoop(b, [x + 9.5, y - 8.5], [x - 9.5, y - 8.5], 0, phase(i), 1);
  });
  return { ...b, cycleS: 30 };
}

function highway(rng: Rng): ScenarioSpec {
  const b = newBuilder(rng);
  const X = 900;
  const Y = 300;
  const lanesA = [-2.0, -5.75, -9.5];
  const pts: P[] = [
    [-X, -Y],
    [X, -Y],
    [X, Y],
    [-X, Y],
  ];
  const a = addPath(b, pts, true, 290);
  const rev = addPath(b, [...pts].reverse(), true, 290);
  for (const path of [a, rev])
    b.markings.lines.push(
      { path, offset: -0.125 },
      { path, offset: -3.875, dash: [3, 9] },
      { path, offset: -7.625, dash: [3, 9] },
      { path, offset: -11.375 },
    );
  addAgent(b, ObjectClass.CAR, a, 100, lanesA[1]!, 28, { lanes: lanesA, obeys: false });
  for (const path of [a, rev]) {
    const L = b.paths[path]!.length;
    lanesA.forEach((off, li) => {
      for (const s of spread(b, 32, path === a ? 130 : 0, path === a ? L + 70 : L)) {
        const truck = li === 0 && rng.chance(0.45);
        const v = truck ? rng.uniform(22, 25) : [25, 29, 33][li]! + rng.uniform(-2, 3);
        addAgent(b, truck ? ObjectClass.TRUCK : ObjectClass.CAR, path, s, off, v, {
          lanes: lanesA,
          obeys: false,
        });
      }
    });
    // Guard rail at the outer edge (chain of short segments so that curves follow the road).
    const p = b.paths[path]!;
    const pose: PathPose = { x: 0, y: 0, heading: 0, curvature: 0 };
    for (let s = 0; s < p.length; s += 12) {
      p.at(s + 6, -12, pose);
      b.statics.push({
        x: pose.x,
        y: pose.y,
        z: 0.4,
        yaw: pose.heading,
        length: 12,
        width: 0.3,
        height: 0.8,
        reflectivity: 0.8,
      });
    }
  }
  // Median barrier.
  const p = b.paths[a]!;
  const pose: PathPose = { x: 0, y: 0, heading: 0, curvature: 0 };
  for (let s = 0; s < p.length; s += 12) {
    p.at(s + 6, 0, pose);
    b.statics.push({
      x: pose.x,
      y: pose.y,
      z: 0.5,
      yaw: pose.heading,
      length: 12,
      width: 0.5,
      height: 1.0,
      reflectivity: 0.4,
    });
  }
  return { ...b, cycleS: 30 };
}

function intersection(rng: Rng): ScenarioSpec {
  const b = newBuilder(rng);
  const R = 400;
  const L1 = -1.75;
  const L2 = -5.25;
  const center: P[] = [[0, 0]];
  // Ego loop: east along y = 0, left at the intersection, then round a 150 m block.
  const loop = addPath(
    b,
    [
      [-150, 0],
      [0, 0],
      [0, 150],
      [-150, 150],
    ],
    true,
    12,
  );
  addStop(b, loop, 0, 0, 14, 0, 0);
  addAgent(b, ObjectClass.CAR, loop, 20, L1, 11);
  addAgent(b, ObjectClass.CAR, loop, 300, L1, 11);
  const through: { pts: P[]; group: 0 | 1 }[] = [
    {
      pts: [
        [-R, 0],
        [R, 0],
      ],
      group: 0,
    },
    {
      pts: [
        [R, 0],
        [-R, 0],
      ],
      group: 0,
    },
    {
      pts: [
        [0, -R],
        [0, R],
      ],
      group: 1,
    },
    {
      pts: [
        [0, R],
        [0, -R],
      ],
      group: 1,
    },
  ];
  for (const t of through) {
    const path = addPath(b, t.pts, false, 0);
    const gaps = [{ x: 0, y: 0, r: 12 }];
    b.markings.lines.push(
      { path, offset: 0, gaps },
      { path, offset: -3.5, dash: [3, 6], gaps },
      { path, offset: -7, gaps },
    );
    addStop(b, path, 0, 0, 13, t.group, 0);
    const Lp = b.paths[path]!.length;
    for (const off of [L1, L2])
      for (const s of spread(b, 6, 0, Lp, [R], 20)) {
        const truck = off === L2 && rng.chance(0.2);
        addAgent(
          b,
          truck ? ObjectClass.TRUCK : ObjectClass.CAR,
          path,
          s,
          off,
          truck ? 11 : rng.uniform(11, 15),
        );
      }
    for (const s of spread(b, 1, 0, Lp, [R], 15))
      addAgent(b, ObjectClass.CYCLIST, path, s, -7.8, rng.uniform(4, 6));
    for (const s of spread(b, 2, 0, Lp, [R], 15))
      addAgent(b, ObjectClass.PEDESTRIAN, path, s, -10.5, rng.uniform(1.1, 1.6), { obeys: false });
    buildingsAlong(b, path, -14, center, 25, true);
    // Right turn from this approach (outer lane).
    const [p0, p1] = t.pts as [P, P];
    const dx = Math.sign(p1[0] - p0[0]);
    const dy = Math.sign(p1[1] - p0[1]);
    const exit: P = [dy * R, -dx * R];
    const turn = addPath(b, [p0, [0, 0], exit], false, 13);
    addStop(b, turn, 0, 0, 13, t.group, 0);
    for (const s of spread(b, 2, 0, R - 40)) addAgent(b, ObjectClass.CAR, turn, s, L2, rng.uniform(10, 13));
  }
  crossingLoop(b, [-11, -11], [-11, 11], 1, 0, 2);
  crossingLoop(b, [11, 11], [11, -11], 1, 0, 2);
  crossingLoop(b, [11, -11], [-11, -11], 0, 0, 2);
  crossingLoop(b, [-11, 11], [11, 11], 0, 0, 2);
  buildingsAlong(b, loop, 12, center, 30, false);
  return { ...b, cycleS: 30 };
}

export const SCENARIO_BUILDERS: Record<ScenarioName, (rng: Rng) => ScenarioSpec> = {
  urban,
  highway,
  intersection,
};

/**
 * The scenario builder of a simulation profile: `basic` is SCENARIO_BUILDERS' own world; `realistic`
 * builds the same world and dresses it (sim/realism.ts), drawing from the same stream afterwards.
 */
export function scenarioBuilder(name: ScenarioName, profile: SimProfile): (rng: Rng) => ScenarioSpec {
  const build = SCENARIO_BUILDERS[name];
  if (profile === "basic") return build;
  return (rng) => {
    const spec = build(rng);
    const b: Builder = {
      rng,
      paths: spec.paths,
      stops: spec.stops,
      agents: spec.agents,
      statics: spec.statics,
      markings: spec.markings ?? { lines: [], patches: [] },
    };
    return decorate(spec, name, rng, {
      addAgent: (cls, path, s, offset, vDesired, opts) => addAgent(b, cls, path, s, offset, vDesired, opts),
    });
  };
}
