/**
 * The simulator's realistic profile (sim/realism.ts, rig `simulation.profile`): the default rig stays
 * bit-identical (its output is what the shipped models, `npm run eval` and the OOD guard statistics
 * were built on), and the nuScenes rig gets the clutter, ring grid and radar density it promises.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ObjectClass } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import { Material } from "../../sim/realism.ts";
import { scenarioBuilder } from "../../sim/scenarios.ts";
import { World } from "../../sim/world.ts";
import { decodeOk, digest, ofSensor, runFor, simOptions } from "./_helpers.ts";

/**
 * sha256 of the first 2 simulated seconds of the default rig (camera frames on), computed on main
 * before the realistic profile existed (6e0b658). A change here changes the models' training data.
 */
const DEFAULT_RIG_DIGESTS = [
  ["urban", 1, "clear", 333, "448e75808476ffc9ff775591fc7f957ef2cacf980a074e93edb3b5135e7ca1e3"],
  ["highway", 2, "rain", 332, "ae45a3dc5388259fc8c2c340cfa4bb175120a78e860f5d053ea5971631ccb59e"],
  ["intersection", 3, "fog", 333, "cfd3a15198d1c9d86205d040cd1b631a50dcf2d4dfec8aef0f790775634497b4"],
] as const;

describe("simulation profiles", () => {
  it("the default rig is basic and its output is bit-identical to before the realistic profile", () => {
    assert.equal(loadRig("sim").simulation.profile, "basic");
    assert.equal(loadRig("nuscenes").simulation.profile, "realistic");
    for (const [scenario, seed, conditions, count, hash] of DEFAULT_RIG_DIGESTS) {
      const ev = runFor(simOptions({ scenario, seed, conditions, cameraFrames: true }), 2);
      assert.equal(ev.length, count, `${scenario}: event count`);
      assert.equal(digest(ev), hash, `${scenario} seed ${seed} ${conditions}: default-rig output changed`);
    }
  });

  it("realistic urban world: pavements, trees, signs, barriers, cones, lots with trailers and vans; deterministic", () => {
    const world = (seed: number) => new World("urban", seed, scenarioBuilder("urban", "realistic"));
    const w = world(7);
    const byMat = new Map<number, number>();
    for (const s of w.statics) byMat.set(s.material ?? 0, (byMat.get(s.material ?? 0) ?? 0) + 1);
    for (const m of [
      Material.KERB,
      Material.VEGETATION,
      Material.SIGN,
      Material.BARRIER,
      Material.CONE,
      Material.WALL,
    ])
      assert.ok((byMat.get(m) ?? 0) > 0, `no scenery of material ${m}`);
    assert.ok(
      w.statics.some((s) => (s.porosity ?? 0) > 0),
      "no porous foliage",
    );
    const parked = w.agents.filter((a) => a.parked);
    const trailers = parked.filter((a) => a.cls === ObjectClass.TRUCK && a.length > 13);
    const vans = w.agents.filter((a) => a.cls === ObjectClass.CAR && a.length > 5);
    assert.ok(trailers.length >= 5, `${trailers.length} parked trailers`);
    assert.ok(vans.length >= 3, `${vans.length} pickups or vans`);
    assert.ok(parked.length > 60, `${parked.length} parked vehicles`);
    assert.ok(w.ground, "no ground relief");
    assert.ok(Math.abs(w.ego.vDesired - 7.5) < 1e-9);
    // The basic world of the same seed has none of it.
    const basic = new World("urban", 7, scenarioBuilder("urban", "basic"));
    assert.equal(basic.ground, null);
    assert.ok(basic.statics.every((s) => s.material === undefined));
    // Same seed, same world; another seed, another.
    const again = world(7);
    assert.deepEqual(
      again.statics.map((s) => [s.x, s.y, s.length]),
      w.statics.map((s) => [s.x, s.y, s.length]),
    );
    assert.notDeepEqual(
      world(8).statics.map((s) => [s.x, s.y]),
      w.statics.map((s) => [s.x, s.y]),
    );
    const o = simOptions({ rigName: "nuscenes", seed: 7 });
    assert.equal(digest(runFor(o, 0.5)), digest(runFor(simOptions({ rigName: "nuscenes", seed: 7 }), 0.5)));
  });

  it("nuScenes LiDAR: the full 32 x 1085 ring grid, no-return points at the sensor, roof on the low rings", () => {
    const ev = ofSensor(runFor(simOptions({ rigName: "nuscenes", seed: 11 }), 0.5), "LIDAR_TOP");
    assert.ok(ev.length >= 8);
    for (const e of ev.slice(2, 4)) {
      const m = decodeOk(e);
      assert.equal(m.payload.kind, "point_cloud");
      if (m.payload.kind !== "point_cloud") return;
      const P = m.payload.points;
      assert.equal(P.count, 32 * 1085);
      const perRing = new Int32Array(32);
      let noReturn = 0;
      let roof = 0;
      let roofHighRing = 0;
      const inten: number[] = [];
      for (let i = 0, o = 0; i < P.count; i++, o += P.stride) {
        const ring = P.data[o + P.fields["ring"]!]!;
        perRing[ring]!++;
        const r = Math.hypot(P.data[o]!, P.data[o + 1]!, P.data[o + 2]!);
        if (r < 0.4) noReturn++;
        else if (r < 1.5) {
          roof++;
          if (ring >= 12) roofHighRing++;
        }
        const v = P.data[o + P.fields["intensity"]!]!;
        inten.push(v);
        assert.ok(Math.abs(v * 255 - Math.round(v * 255)) < 1e-3, "intensity not quantised to 1/255");
      }
      assert.deepEqual([...perRing], new Array(32).fill(1085));
      // scene-0523: 17 % no-return, 13.5 % roof points
      assert.ok(
        noReturn / P.count > 0.05 && noReturn / P.count < 0.4,
        `no-return share ${noReturn / P.count}`,
      );
      assert.ok(roof / P.count > 0.05 && roof / P.count < 0.25, `roof share ${roof / P.count}`);
      assert.equal(roofHighRing, 0);
      inten.sort((a, b) => a - b);
      const med = inten[inten.length >> 1]!;
      assert.ok(med > 0.005 && med < 0.1, `median intensity ${med}`);
    }
  });

  it("nuScenes radar: at most 125 returns a scan, hundreds a frame over five radars, mostly stationary", () => {
    const ev = runFor(simOptions({ rigName: "nuscenes", seed: 12 }), 2);
    const radars = loadRig("nuscenes").sensors.filter((s) => s.kind === "radar");
    let total = 0;
    let scans = 0;
    let moving = 0;
    for (const s of radars)
      for (const e of ofSensor(ev, s.id)) {
        const m = decodeOk(e);
        if (m.payload.kind !== "radar_scan") continue;
        const R = m.payload.returns;
        assert.ok(R.count <= 125, `${s.id}: ${R.count} returns`);
        total += R.count;
        scans++;
        for (let i = 0; i < R.count; i++)
          if (Math.abs(R.data[i * R.stride + R.fields["radial_velocity"]!]!) > 12) moving++;
      }
    const perFrame = (total / scans) * radars.length;
    // scene-0523: 476 returns a frame (median), 70-125 a scan
    assert.ok(perFrame > 250 && perFrame < 650, `${perFrame.toFixed(0)} returns per frame`);
    assert.ok(moving / total < 0.3, `moving share ${moving / total}`);
  });
});
