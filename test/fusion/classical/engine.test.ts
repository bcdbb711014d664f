import assert from "node:assert/strict";
import { test } from "node:test";
import { createClassicalEngine } from "../../../src/fusion/classical/index.ts";
import { type FusedObject, Modality, ObjectClass } from "../../../src/msg/types.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { boxInVehicle, type EgoPath, egoAt, healthAll, makeTick, type WorldBox } from "./scene.ts";

const sim = loadRig("sim");
const nuscenes = loadRig("nuscenes");

/** Ego driving east at 8 m/s, turning gently. */
const EGO: EgoPath = {
  x: 100,
  y: -50,
  yaw: 0.3,
  vx: 8 * Math.cos(0.3),
  vy: 8 * Math.sin(0.3),
  yawRate: 0.05,
};

/** Boxes placed relative to the ego's start pose so that they sit in front of the sim rig's sensors. */
function place(
  rel: { x: number; y: number; yaw: number; v: number; vyaw?: number },
  id: number,
  cls: ObjectClass,
): WorldBox {
  const c = Math.cos(EGO.yaw);
  const s = Math.sin(EGO.yaw);
  const dims: Record<number, [number, number, number]> = {
    [ObjectClass.CAR]: [4.6, 1.9, 1.6],
    [ObjectClass.TRUCK]: [9.5, 2.5, 3.4],
    [ObjectClass.PEDESTRIAN]: [0.6, 0.6, 1.75],
    [ObjectClass.CYCLIST]: [1.8, 0.6, 1.7],
  };
  const [length, width, height] = dims[cls]!;
  const yaw = EGO.yaw + rel.yaw;
  const vyaw = EGO.yaw + (rel.vyaw ?? rel.yaw);
  return {
    id,
    cls,
    x: EGO.x + c * rel.x - s * rel.y,
    y: EGO.y + s * rel.x + c * rel.y,
    yaw,
    vx: rel.v * Math.cos(vyaw),
    vy: rel.v * Math.sin(vyaw),
    length,
    width,
    height,
  };
}

const WORLD: WorldBox[] = [
  place({ x: 25, y: 3.5, yaw: 0, v: 12 }, 1, ObjectClass.CAR), // overtaking car, left lane
  place({ x: 18, y: -4, yaw: Math.PI / 2, v: 1.4 }, 2, ObjectClass.PEDESTRIAN), // crossing pedestrian
  place({ x: 40, y: -3.5, yaw: 0.05, v: 6 }, 3, ObjectClass.TRUCK), // slower truck ahead right
];

function nearest(objs: FusedObject[], x: number, y: number): { o: FusedObject; d: number } | null {
  let best: { o: FusedObject; d: number } | null = null;
  for (const o of objs) {
    const d = Math.hypot(o.x - x, o.y - y);
    if (!best || d < best.d) best = { o, d };
  }
  return best;
}

async function run(
  rig: typeof sim,
  world: WorldBox[],
  ticks: number,
  dtS: number,
  mask?: Parameters<typeof healthAll>[1],
  opts?: Parameters<typeof makeTick>[5],
) {
  const engine = createClassicalEngine(rig);
  const frames = [];
  for (let k = 0; k < ticks; k++) {
    const tS = k * dtS;
    const tick = makeTick(rig, world, EGO, k, tS, opts);
    const res = await engine.fuse(tick, healthAll("v1", mask));
    frames.push({ tS, res, ego: egoAt(EGO, tS) });
  }
  await engine.close();
  return frames;
}

test("classical: objects found near truth with the right class, size and radar velocity", async () => {
  const frames = await run(sim, WORLD, 12, 0.1);
  const last = frames.at(-1)!;
  assert.equal(last.res.objects.length, WORLD.length, JSON.stringify(last.res.objects));
  for (const b of WORLD) {
    const t = boxInVehicle(b, last.ego, last.tS);
    const n = nearest(last.res.objects, t.x, t.y)!;
    assert.ok(n.d < 0.4, `object ${b.id}: ${n.d.toFixed(2)} m from truth`);
    if (b.cls !== ObjectClass.PEDESTRIAN) {
      const dyaw = Math.abs(Math.atan2(Math.sin(n.o.yaw - t.yaw), Math.cos(n.o.yaw - t.yaw)));
      assert.ok(dyaw < 0.1, `object ${b.id}: yaw error ${dyaw.toFixed(3)} rad`);
    }
    assert.equal(n.o.cls, b.cls, `object ${b.id} class`);
    const dv = Math.hypot(n.o.vx - t.vx, n.o.vy - t.vy);
    assert.ok(dv < 1.0, `object ${b.id}: velocity error ${dv.toFixed(2)} m/s`);
    assert.ok(Math.abs(n.o.length - b.length) < 1.0, `object ${b.id}: length ${n.o.length}`);
    assert.ok(n.o.score > 0.5 && n.o.score <= 1, `object ${b.id}: score ${n.o.score}`);
  }
  assert.deepEqual(last.res.gates, { lidar: 1, radar: 1, camera: 1 });
});

test("classical: radar gives the radial velocity on the first confirmed tick", async () => {
  // A car straight ahead moving away at 15 m/s over ground: radar's radial velocity is its speed.
  const world = [place({ x: 30, y: 0, yaw: 0, v: 15 }, 1, ObjectClass.CAR)];
  const frames = await run(sim, world, 2, 0.1);
  const o = frames[1]!.res.objects[0]!;
  assert.ok(o, "confirmed after two ticks");
  assert.ok(Math.abs(o.vx - 15) < 0.6, `vx ${o.vx}`);
  // without radar the tracker only has two positions 0.1 s apart: far from 15 m/s yet
  const noRadar = await run(sim, world, 2, 0.1, { radar: false });
  assert.ok(Math.abs(noRadar[1]!.res.objects[0]!.vx - 15) > 2, "the velocity really came from radar");
});

test("classical: track ids are stable across ticks while the ego moves and turns", async () => {
  const frames = await run(sim, WORLD, 20, 0.1);
  const idOf = new Map<number, number>();
  for (const f of frames.slice(2)) {
    assert.equal(f.res.objects.length, WORLD.length);
    for (const b of WORLD) {
      const t = boxInVehicle(b, f.ego, f.tS);
      const n = nearest(f.res.objects, t.x, t.y)!;
      assert.ok(n.d < 1, `t=${f.tS}: object ${b.id} ${n.d.toFixed(2)} m off`);
      if (!idOf.has(b.id)) idOf.set(b.id, n.o.id);
      assert.equal(n.o.id, idOf.get(b.id), `t=${f.tS}: id of object ${b.id} changed`);
    }
  }
  assert.equal(new Set(idOf.values()).size, WORLD.length, "distinct ids");
  const ages = frames.at(-1)!.res.objects.map((o) => o.age);
  assert.ok(
    ages.every((a) => a === 19),
    `ages ${ages}`,
  );
});

test("classical: modalities list who saw each object", async () => {
  // One car in front (LiDAR, radar, camera of the sim rig), one behind (LiDAR only).
  const world = [
    place({ x: 20, y: 0, yaw: 0, v: 5 }, 1, ObjectClass.CAR),
    place({ x: -15, y: 0, yaw: 0, v: 8 }, 2, ObjectClass.CAR),
  ];
  const frames = await run(sim, world, 4, 0.1);
  const f = frames.at(-1)!;
  const front = nearest(f.res.objects, ...xy(boxInVehicle(world[0]!, f.ego, f.tS)))!;
  const back = nearest(f.res.objects, ...xy(boxInVehicle(world[1]!, f.ego, f.tS)))!;
  assert.deepEqual(front.o.modalities, [Modality.LIDAR, Modality.RADAR, Modality.CAMERA]);
  assert.deepEqual(back.o.modalities, [Modality.LIDAR]);
  assert.ok(back.d < 0.8, `rear car ${back.d} m off`);
});

const xy = (p: { x: number; y: number }): [number, number] => [p.x, p.y];

test("classical: LiDAR masked -> radar and camera objects, gates say so", async () => {
  const frames = await run(sim, WORLD, 12, 0.1, { lidar: false });
  const last = frames.at(-1)!;
  assert.deepEqual(last.res.gates, { lidar: 0, radar: 1, camera: 1 });
  assert.equal(last.res.objects.length, WORLD.length, JSON.stringify(last.res.objects));
  for (const b of WORLD) {
    const t = boxInVehicle(b, last.ego, last.tS);
    const n = nearest(last.res.objects, t.x, t.y)!;
    const r = Math.hypot(t.x, t.y);
    assert.ok(
      n.d < Math.max(1.5, 0.08 * r),
      `object ${b.id}: ${n.d.toFixed(2)} m from truth at ${r.toFixed(0)} m`,
    );
    assert.equal(n.o.cls, b.cls);
    assert.ok(!n.o.modalities.includes(Modality.LIDAR));
    assert.ok(n.o.modalities.includes(Modality.CAMERA));
  }
});

test("classical: camera-only objects when LiDAR and radar are masked", async () => {
  const frames = await run(sim, WORLD, 8, 0.1, { lidar: false, radar: false });
  const last = frames.at(-1)!;
  assert.deepEqual(last.res.gates, { lidar: 0, radar: 0, camera: 1 });
  assert.equal(last.res.objects.length, WORLD.length);
  for (const b of WORLD) {
    const t = boxInVehicle(b, last.ego, last.tS);
    const n = nearest(last.res.objects, t.x, t.y)!;
    const r = Math.hypot(t.x, t.y);
    assert.ok(
      n.d < Math.max(1.5, 0.1 * r),
      `object ${b.id}: ${n.d.toFixed(2)} m from truth at ${r.toFixed(0)} m`,
    );
    assert.deepEqual(n.o.modalities, [Modality.CAMERA]);
  }
});

test("classical: everything masked -> no objects, all gates 0", async () => {
  const frames = await run(sim, WORLD, 3, 0.1, { lidar: false, radar: false, camera: false });
  assert.equal(frames.at(-1)!.res.objects.length, 0);
  assert.deepEqual(frames.at(-1)!.res.gates, { lidar: 0, radar: 0, camera: 0 });
});

test("classical: a vanished object's track is deleted", async () => {
  const engine = createClassicalEngine(sim);
  let last: FusedObject[] = [];
  for (let k = 0; k < 20; k++) {
    const world = k < 8 ? WORLD : WORLD.filter((b) => b.id !== 1);
    const tick = makeTick(sim, world, EGO, k, k * 0.1);
    last = (await engine.fuse(tick, healthAll("v1"))).objects;
    if (k === 7) assert.equal(last.length, 3);
  }
  assert.equal(last.length, 2);
  const t = boxInVehicle(WORLD[0]!, egoAt(EGO, 1.9), 1.9);
  assert.ok(nearest(last, t.x, t.y)!.d > 3, "the vanished car is gone");
  await engine.close();
});

test("classical: vehicles keep separate tracker state", async () => {
  const engine = createClassicalEngine(sim);
  for (let k = 0; k < 3; k++) {
    await engine.fuse(makeTick(sim, WORLD, EGO, k, k * 0.1, {}, "a"), healthAll("a"));
    const rb = await engine.fuse(makeTick(sim, WORLD.slice(0, 1), EGO, k, k * 0.1, {}, "b"), healthAll("b"));
    if (k >= 1) assert.equal(rb.objects.length, 1);
  }
  assert.deepEqual(engine.tracker.vehicles.sort(), ["a", "b"]);
  await engine.close();
});

test("classical: nuScenes rig, surround objects from 5 radars and 6 cameras", async () => {
  const world = [
    place({ x: 20, y: 0, yaw: 0, v: 5 }, 1, ObjectClass.CAR),
    place({ x: -20, y: 3.5, yaw: 0, v: 12 }, 2, ObjectClass.CAR),
    place({ x: 2, y: 8, yaw: Math.PI / 2, v: 1 }, 3, ObjectClass.PEDESTRIAN),
    place({ x: 5, y: -10, yaw: 0, v: 4 }, 4, ObjectClass.CYCLIST),
  ];
  for (const mask of [undefined, { lidar: false }]) {
    const frames = await run(nuscenes, world, 10, 0.05, mask);
    const last = frames.at(-1)!;
    assert.equal(last.res.objects.length, world.length, `mask ${JSON.stringify(mask)}`);
    for (const b of world) {
      const t = boxInVehicle(b, last.ego, last.tS);
      const n = nearest(last.res.objects, t.x, t.y)!;
      assert.ok(n.d < (mask ? 2 : 0.7), `mask ${JSON.stringify(mask)} object ${b.id}: ${n.d.toFixed(2)} m`);
      assert.equal(n.o.cls, b.cls, `mask ${JSON.stringify(mask)} object ${b.id} class`);
    }
  }
});

test("classical: a spinning LiDAR's late view of a fast object is compensated", async () => {
  // Oncoming car behind-left: the sweep (clockwise from behind) saw it ~90 ms before the stamp.
  const world = [place({ x: -20, y: 4, yaw: Math.PI, v: 25 }, 1, ObjectClass.CAR)];
  const err = async (opts: Parameters<typeof createClassicalEngine>[1]) => {
    const engine = createClassicalEngine(sim, opts);
    let d = Number.NaN;
    for (let k = 0; k < 6; k++) {
      const res = await engine.fuse(makeTick(sim, world, EGO, k, k * 0.1), healthAll("v1"));
      const t = boxInVehicle(world[0]!, egoAt(EGO, k * 0.1), k * 0.1);
      if (res.objects.length) d = nearest(res.objects, t.x, t.y)!.d;
    }
    return d;
  };
  const compensated = await err({});
  const ignored = await err({ lidar_rotation: "none" });
  assert.ok(compensated < 0.4, `compensated ${compensated.toFixed(2)} m`);
  assert.ok(ignored > 1.0, `uncompensated ${ignored.toFixed(2)} m`);
});

test("classical: bad input is survived: NaN points and returns, odd camera boxes, missing fields", async () => {
  const engine = createClassicalEngine(sim);
  for (let k = 0; k < 4; k++) {
    const tick = makeTick(sim, WORLD, EGO, k, k * 0.1);
    const L = tick.lidar!;
    for (let i = 0; i < L.count; i += 7) L.data[i * L.stride + (i % 3)] = Number.NaN;
    const R = tick.radar!;
    for (let i = 0; i < R.count; i += 2) R.data[i * R.stride + 3] = Number.POSITIVE_INFINITY;
    tick.cameras[0]!.detections.push(
      { xMin: Number.NaN, xMax: 10, yMin: 0, yMax: 10, cls: ObjectClass.CAR, score: 0.9 },
      { xMin: 50, xMax: 40, yMin: 0, yMax: 10, cls: ObjectClass.CAR, score: 0.9 },
      { xMin: 0, xMax: 1e9, yMin: -1e9, yMax: 1e9, cls: ObjectClass.TRUCK, score: 2 },
    );
    tick.cameras.push({
      sensorId: "no_such_camera",
      stampNs: tick.stampNs,
      width: 10,
      height: 10,
      detections: [],
    });
    const res = await engine.fuse(tick, healthAll("v1"));
    for (const o of res.objects)
      for (const v of [o.x, o.y, o.z, o.vx, o.vy, o.length, o.width, o.height, o.yaw, o.score])
        assert.ok(Number.isFinite(v), JSON.stringify(o));
  }
  // a point cloud without x/y/z fields and a radar scan without vr contribute nothing
  const tick = makeTick(sim, WORLD, EGO, 9, 0.9);
  tick.lidar = { ...tick.lidar!, fields: { a: 0, b: 1, c: 2, intensity: 3 } };
  tick.radar = { ...tick.radar!, fields: { x: 0, y: 1 } };
  const res = await engine.fuse(tick, healthAll("v1"));
  assert.ok(Array.isArray(res.objects));
  await engine.close();
  await assert.rejects(engine.fuse(tick, healthAll("v1")));
});
