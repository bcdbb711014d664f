import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createTracker,
  type EgoPose,
  type TrackDetection,
  tickConstants,
  trackerConfigSchema,
} from "../../../src/fusion/tracker/index.ts";
import { cvInit, cvPredict, cvUpdate } from "../../../src/fusion/tracker/kalman.ts";
import { type FusedObject, Modality, ObjectClass } from "../../../src/msg/types.ts";

const T0 = 1_700_000_000_000_000_000;
const NS = 1e9;

function det(x: number, y: number, extra: Partial<TrackDetection> = {}): TrackDetection {
  return {
    x,
    y,
    z: 0.8,
    covXX: 0.04,
    covXY: 0,
    covYY: 0.04,
    vel: null,
    length: 4.6,
    width: 1.9,
    height: 1.6,
    yaw: 0,
    shapeMeasured: true,
    cls: ObjectClass.CAR,
    clsConf: 0.6,
    score: 0.8,
    modalities: [Modality.LIDAR],
    ...extra,
  };
}

/** World point -> vehicle frame of an ego pose. */
function toVehicle(ego: EgoPose, wx: number, wy: number): [number, number] {
  const c = Math.cos(ego.yaw);
  const s = Math.sin(ego.yaw);
  const dx = wx - ego.x;
  const dy = wy - ego.y;
  return [c * dx + s * dy, -s * dx + c * dy];
}

test("kalman: constant-velocity filter converges to the true velocity from positions", () => {
  const kf = cvInit(0, 0, 0, 0, [0.04, 0, 0.04], [64, 0, 64]);
  for (let k = 1; k <= 30; k++) {
    cvPredict(kf, 0.1, 1);
    cvUpdate(kf, 0, 3 * k * 0.1, -2 * k * 0.1, 0.01, 0, 0.01);
  }
  assert.ok(Math.abs(kf.x[2]! - 3) < 0.1, `vx ${kf.x[2]}`);
  assert.ok(Math.abs(kf.x[3]! + 2) < 0.1, `vy ${kf.x[3]}`);
  for (let r = 0; r < 4; r++) assert.ok(kf.P[5 * r]! > 0);
});

test("tracker: confirmation after two hits, stable id, age counts ticks", () => {
  const tr = createTracker();
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  assert.equal(tr.update("v", T0, ego, [det(10, 0)]).length, 0, "tentative after one hit");
  const ids = new Set<number>();
  for (let k = 1; k < 10; k++) {
    const out = tr.update("v", T0 + k * 0.1 * NS, ego, [det(10 + k * 0.5, 0)]);
    assert.equal(out.length, 1);
    ids.add(out[0]!.id);
    assert.equal(out[0]!.age, k);
  }
  assert.equal(ids.size, 1);
});

test("tracker: a static object stays put in the vehicle frame of a moving, turning ego", () => {
  const tr = createTracker();
  const W = { x: 50, y: 20 };
  let last = null;
  for (let k = 0; k < 40; k++) {
    const t = k * 0.05;
    const ego: EgoPose = { valid: true, x: 10 * t, y: 2 * t * t, yaw: 0.2 * t };
    const [vx, vy] = toVehicle(ego, W.x, W.y);
    const out = tr.update("v", T0 + t * NS, ego, [det(vx, vy)]);
    if (k > 2) {
      assert.equal(out.length, 1);
      const o = out[0]!;
      assert.ok(Math.hypot(o.x - vx, o.y - vy) < 0.2, `k=${k}: ${o.x},${o.y} vs ${vx},${vy}`);
      last = o;
    }
  }
  assert.ok(Math.hypot(last!.vx, last!.vy) < 0.3, `ground speed of a static object ${last!.vx},${last!.vy}`);
});

test("tracker: velocity over ground is output in vehicle axes", () => {
  const tr = createTracker();
  // Ego heading north (yaw pi/2) at 5 m/s; target moving east at 4 m/s: in vehicle axes (0, -4).
  let o = null;
  for (let k = 0; k < 40; k++) {
    const t = k * 0.1;
    const ego: EgoPose = { valid: true, x: 0, y: 5 * t, yaw: Math.PI / 2 };
    const [vx, vy] = toVehicle(ego, -20 + 4 * t, 30);
    const out = tr.update("v", T0 + t * NS, ego, [det(vx, vy)]);
    o = out[0] ?? o;
  }
  assert.ok(Math.abs(o!.vx) < 0.2 && Math.abs(o!.vy + 4) < 0.2, `v ${o!.vx},${o!.vy}`);
  assert.ok(Math.abs(Math.abs(o!.yaw) - Math.PI / 2) < 0.05, `yaw from motion ${o!.yaw}`);
});

test("tracker: a radial velocity measurement initialises the speed along the line of sight", () => {
  const tr = createTracker();
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  const vel = { vx: 10, vy: 0, covXX: 0.04, covXY: 0, covYY: 225 };
  tr.update("v", T0, ego, [det(30, 0, { vel })]);
  const out = tr.update("v", T0 + 0.1 * NS, ego, [det(31, 0, { vel })]);
  assert.ok(Math.abs(out[0]!.vx - 10) < 0.3, `vx ${out[0]!.vx}`);
});

test("tracker: two crossing targets keep their ids (gated association)", () => {
  const tr = createTracker();
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  const idA = new Set<number>();
  const idB = new Set<number>();
  for (let k = 0; k < 30; k++) {
    const t = k * 0.1;
    const a = det(20 + 5 * t, -4 + 2.6 * t);
    const b = det(20 + 5 * t, 4 - 2.6 * t, { cls: ObjectClass.CAR });
    const out = tr.update("v", T0 + t * NS, ego, k % 2 ? [a, b] : [b, a]);
    if (k < 2) continue;
    assert.equal(out.length, 2, `k=${k}`);
    const ya = -4 + 2.6 * t;
    const oa = out.reduce((p, q) => (Math.abs(q.y - ya) < Math.abs(p.y - ya) ? q : p));
    const ob = out.find((q) => q !== oa)!;
    idA.add(oa.id);
    idB.add(ob.id);
  }
  assert.equal(idA.size, 1, `ids of A ${[...idA]}`);
  assert.equal(idB.size, 1, `ids of B ${[...idB]}`);
});

test("tracker: coasts through short gaps, deletes after max_coast_ms", () => {
  const tr = createTracker({ max_coast_ms: 500 });
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  let id = -1;
  for (let k = 0; k < 30; k++) {
    const t = k * 0.1;
    const seen = k < 10 || (k >= 13 && k < 16); // a 3-tick gap, then gone for good
    const out = tr.update("v", T0 + t * NS, ego, seen ? [det(10 + 2 * t, 1)] : []);
    if (k === 5) id = out[0]!.id;
    if (k >= 5 && k < 21) {
      assert.equal(out.length, 1, `k=${k}: still tracked`);
      assert.equal(out[0]!.id, id, `k=${k}: same id across the gap`);
      if (!seen) assert.deepEqual(out[0]!.modalities, [], "coasting: nothing supports it this tick");
    }
    if (k >= 21) assert.equal(out.length, 0, `k=${k}: deleted`);
  }
  assert.equal(tr.vehicle("v")!.size, 0);
  assert.equal(tr.vehicle("v")!.stats.deletions, 1);
});

test("tracker: clutter that never repeats is never confirmed", () => {
  const tr = createTracker();
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  for (let k = 0; k < 20; k++) {
    const out = tr.update("v", T0 + k * 0.1 * NS, ego, [det(5 + ((k * 13) % 40), -20 + ((k * 7) % 40))]);
    assert.equal(out.length, 0);
  }
});

test("tracker: vehicles are independent; backward time resets; bad detections are counted", () => {
  const tr = createTracker();
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  tr.update("a", T0, ego, [det(10, 0)]);
  tr.update("a", T0 + 0.1 * NS, ego, [det(10, 0)]);
  assert.equal(tr.update("b", T0 + 0.1 * NS, ego, []).length, 0);
  assert.equal(tr.update("a", T0 + 0.2 * NS, ego, [det(10, 0)]).length, 1);
  // time goes back: start over
  assert.equal(tr.update("a", T0, ego, [det(10, 0)]).length, 0);
  assert.equal(tr.vehicle("a")!.stats.resets, 1);
  tr.update("a", T0 + 0.1 * NS, ego, [det(Number.NaN, 0), det(10, 0, { covXX: -1 })]);
  assert.equal(tr.vehicle("a")!.stats.badDetections, 2);
  assert.deepEqual(tr.vehicles.sort(), ["a", "b"]);
});

test("tracker: class follows the weight of evidence; size smooths; max_tracks bounds births", () => {
  const tr = createTracker({ max_tracks: 3 });
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  let out: FusedObject[] = [];
  for (let k = 0; k < 6; k++) {
    const cls = k < 1 ? ObjectClass.PEDESTRIAN : ObjectClass.CYCLIST;
    out = tr.update("v", T0 + k * 0.1 * NS, ego, [
      det(10, 0, { cls, length: 1.8, width: 0.6, clsConf: 0.8 }),
      det(20, 5),
      det(30, 5),
      det(40, 5),
      det(50, 5),
    ]);
  }
  assert.equal(out.length, 3);
  assert.equal(tr.vehicle("v")!.stats.droppedBirths > 0, true);
  const c = out.find((o) => Math.abs(o.x - 10) < 1)!;
  assert.equal(c.cls, ObjectClass.CYCLIST);
  assert.ok(Math.abs(c.length - 1.8) < 0.05);
});

test("tracker: positions measured before the tick (dtS) are carried to the tick", () => {
  const run = (useDt: boolean) => {
    const tr = createTracker();
    const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
    let err = Number.NaN;
    for (let k = 0; k < 20; k++) {
      const t = k * 0.1;
      const dtS = -0.08;
      const seenX = 10 + 20 * (t + dtS); // where the target was when it was measured
      const out = tr.update("v", T0 + t * NS, ego, [det(seenX, 2, useDt ? { dtS } : {})]);
      if (out.length) err = Math.abs(out[0]!.x - (10 + 20 * t));
    }
    return err;
  };
  assert.ok(run(true) < 0.1, `with dtS ${run(true)}`);
  assert.ok(run(false) > 1.4, `without ${run(false)}`);
});

test("tracker: a fast newcomer without a velocity is picked up on its second hit (initiation gate)", () => {
  const tr = createTracker();
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  tr.update("v", T0, ego, [det(40, 3)]);
  // 3 m in 0.1 s: far outside the filter's gate with a 4 m/s velocity prior, inside 45 m/s for a car
  const out = tr.update("v", T0 + 0.1 * NS, ego, [det(37, 3)]);
  assert.equal(out.length, 1);
  assert.ok(out[0]!.vx < -10, `vx ${out[0]!.vx}`);
  // a pedestrian may not jump that far: two tentative tracks, nothing confirmed
  const tp = createTracker();
  tp.update("v", T0, ego, [det(40, 3, { cls: ObjectClass.PEDESTRIAN })]);
  assert.equal(tp.update("v", T0 + 0.1 * NS, ego, [det(37, 3, { cls: ObjectClass.PEDESTRIAN })]).length, 0);
});

test("tracker: one wild velocity measurement does not yank a settled track (vel_gate_chi2)", () => {
  const run = (gate: number) => {
    const tr = createTracker({ vel_gate_chi2: gate });
    const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
    const good = { vx: 10, vy: 0, covXX: 0.25, covXY: 0, covYY: 4 };
    let out: FusedObject[] = [];
    for (let k = 0; k < 20; k++) {
      const t = k * 0.1;
      // the 11th measurement: a radar return off the object (a Doppler of -20 m/s)
      const vel = k === 10 ? { ...good, vx: -20 } : good;
      out = tr.update("v", T0 + t * NS, ego, [det(30 + 10 * t, 0, { vel })]);
      if (k === 10) break;
    }
    return { vx: out[0]!.vx, outliers: tr.vehicle("v")!.stats.velocityOutliers };
  };
  const gated = run(16);
  assert.ok(Math.abs(gated.vx - 10) < 0.5, `gated vx ${gated.vx}`);
  assert.equal(gated.outliers, 1);
  const open = run(0);
  assert.ok(open.vx < 5, `ungated vx ${open.vx}`);
  assert.equal(open.outliers, 0);
});

test("tracker: hit counts scale with a slower tick to the same span of time, never up", () => {
  const cfg = trackerConfigSchema.parse({}); // confirm_hits 2, coast_min_hits 3 at 0.1 s
  const at = (hz: number) => tickConstants(cfg, 1 / hz / cfg.tick_reference_s);
  assert.deepEqual([at(10).confirmHits, at(10).coastMinHits], [2, 3]);
  assert.deepEqual([at(20).confirmHits, at(20).coastMinHits], [2, 3], "a faster tick keeps the counts");
  assert.deepEqual([at(5).confirmHits, at(5).coastMinHits], [1, 2]);
  assert.deepEqual([at(2).confirmHits, at(2).coastMinHits], [1, 1]);
  assert.equal(at(2).k, 5);
  assert.equal(at(20).k, 1);
});

test("tracker: at 2 Hz keyframes an object is output from its first hit (expected tick interval)", () => {
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  const run = (scale: boolean) => {
    const tr = createTracker({ scale_to_tick: scale }, 0.5);
    return [0, 1, 2].map((k) => tr.update("v", T0 + k * 0.5 * NS, ego, [det(10 + k, 0)]).length);
  };
  assert.deepEqual(run(true), [1, 1, 1]);
  assert.deepEqual(run(false), [0, 1, 1], "unscaled: tentative until the second hit");
});

test("tracker: without an expected interval the observed tick interval scales the counts", () => {
  const ego: EgoPose = { valid: true, x: 0, y: 0, yaw: 0 };
  const tr = createTracker();
  assert.equal(tr.update("v", T0, ego, [det(10, 0)]).length, 0, "first tick: reference counts");
  tr.update("v", T0 + 0.5 * NS, ego, [det(10, 0)]);
  const vt = tr.vehicle("v")!;
  assert.ok(Math.abs(vt.tickIntervalS - 0.5) < 1e-9);
  assert.equal(vt.constants.confirmHits, 1);
  // a newcomer is output on its first hit now
  const out = tr.update("v", T0 + 1.0 * NS, ego, [det(10, 0), det(30, 5)]);
  assert.equal(out.length, 2);
  // a pause of the log (a gap longer than 2 s) is not taken for the tick rate
  tr.update("v", T0 + 10 * NS, ego, []);
  assert.ok(Math.abs(vt.tickIntervalS - 0.5) < 1e-9);
  // at 10 Hz the counts are the configured ones again: clutter that never repeats stays unconfirmed
  const tr10 = createTracker();
  for (let k = 0; k < 20; k++) {
    const out10 = tr10.update("v", T0 + k * 0.1 * NS, ego, [det(5 + ((k * 13) % 40), -20 + ((k * 7) % 40))]);
    assert.equal(out10.length, 0);
  }
  assert.equal(tr10.vehicle("v")!.constants.confirmHits, 2);
});
