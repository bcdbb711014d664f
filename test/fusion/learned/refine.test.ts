/**
 * The learned decoder's time convention (LiDAR observation time -> dtS for the tracker) and its
 * second stage, box refinement from LiDAR clusters. No model needed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import type { TargetTime } from "../../../src/fusion/learned/contract.ts";
import { DEFAULT_DECODE, type Decoded, decodeFrame, yawOf } from "../../../src/fusion/learned/decode.ts";
import { lidarTimeOffset } from "../../../src/fusion/learned/index.ts";
import { LidarRefiner } from "../../../src/fusion/learned/refine.ts";
import { ObjectClass } from "../../../src/msg/types.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { packedOf, syntheticTick } from "./_fixtures.ts";

const rig = loadRig("sim"); // LiDAR at (0.9, 0), 10 Hz
const OBS: TargetTime = { convention: "lidar_observation", rotation: "cw", sweep_start_azimuth_rad: Math.PI };

describe("LiDAR observation time", () => {
  test("a clockwise sweep starting behind sees ahead half a sweep before the stamp", () => {
    const dt = lidarTimeOffset(rig, OBS)!;
    assert.ok(Math.abs(dt(20.9, 0) - -0.05) < 1e-9, `ahead ${dt(20.9, 0)}`);
    // clockwise seen from above, from behind: left (y > 0), then the front, then the right side
    assert.ok(Math.abs(dt(0.9, 10) - -0.075) < 1e-9, `left ${dt(0.9, 10)}`);
    assert.ok(Math.abs(dt(0.9, -10) - -0.025) < 1e-9, `right ${dt(0.9, -10)}`);
    for (const [x, y] of [
      [-30, 0.01],
      [-30, -0.01],
      [5, 5],
    ] as const) {
      const v = dt(x, y);
      assert.ok(v <= 0 && v >= -0.1, `(${x}, ${y}) -> ${v}`);
    }
    assert.equal(lidarTimeOffset(rig, { ...OBS, convention: "tick" }), null);
  });

  test("decoded objects with LiDAR support carry the offset, the others the tick time", () => {
    const G = DEFAULT_GRID;
    const R = G.rows;
    const C = G.cols;
    const RC = R * C;
    const heat = new Float32Array(4 * RC);
    const box = new Float32Array(10 * RC);
    const cellOf = (x: number, y: number) => Math.floor(x - G.xMinM) * C + Math.floor(y - G.yMinM);
    const a = cellOf(20.5, 0.5); // supported by LiDAR
    const b = cellOf(40.5, -20.5); // no evidence
    heat[a] = 0.9;
    heat[b] = 0.8;
    for (const c of [a, b]) {
      box[c] = 0.5;
      box[RC + c] = 0.5;
      box[7 * RC + c] = 1; // cos 2yaw
    }
    const lidar = new Float32Array(RC);
    lidar[a] = 1;
    const dets = decodeFrame(
      { heat, box, K: 4, R, C },
      G,
      1,
      { lidar, radar: null, camera: null },
      DEFAULT_DECODE,
      lidarTimeOffset(rig, OBS),
    );
    assert.equal(dets.length, 2);
    const near = dets.find((d) => d.x > 20 && d.x < 22)!;
    const far = dets.find((d) => d.x > 40)!;
    assert.ok(near.dtS! < -0.04 && near.dtS! > -0.06, `near dtS ${near.dtS}`);
    assert.equal(far.dtS, 0);
  });
});

function det(x: number, y: number, cls: ObjectClass, score: number, lidar = true): Decoded {
  return {
    x,
    y,
    z: 0.8,
    dtS: 0,
    covXX: 0.0625,
    covXY: 0,
    covYY: 0.0625,
    vel: null,
    length: 4.5,
    width: 1.9,
    height: 1.5,
    yaw: 0.1,
    yawConf: 1,
    shapeMeasured: lidar,
    cls,
    clsConf: 1,
    score,
    peak: score,
    modalities: [],
  };
}

describe("LidarRefiner", () => {
  test("a detection near a LiDAR cluster is re-measured from its points; one cluster, one detection", () => {
    const tick = syntheticTick("v", 0, 20, 2); // car-like cluster 4 x 1.8 m centred at (20, 2)
    const r = new LidarRefiner(rig);
    const dets = [
      det(20.6, 2.4, ObjectClass.CAR, 0.9),
      det(19.7, 1.8, ObjectClass.CAR, 0.5), // a second peak on the same cluster
      det(35, -10, ObjectClass.CAR, 0.8), // nothing there
      det(20.2, 2.1, ObjectClass.CAR, 0.4, false), // no LiDAR support: left alone
    ];
    r.refine(dets, r.cluster(tick));
    const [a, b, c, d] = dets as [Decoded, Decoded, Decoded, Decoded];
    // the 4 m cluster is completed to the 4.6 m car prior away from the sensor: centre 0.3 m farther
    assert.ok(Math.hypot(a.x - 20.3, a.y - 2) < 0.1, `refined to (${a.x}, ${a.y})`);
    assert.ok(Math.abs(Math.cos(a.yaw)) > 0.99, `yaw ${a.yaw}`);
    assert.ok(a.covXX < 0.0625);
    assert.deepEqual([b.x, b.y], [19.7, 1.8]);
    assert.deepEqual([c.x, c.y], [35, -10]);
    assert.deepEqual([d.x, d.y], [20.2, 2.1]);
    assert.deepEqual(r.stats, { detections: 4, refined: 1 });
  });

  test("a cluster outside the class's gate does not pull a pedestrian", () => {
    const tick = syntheticTick("v", 0, 20, 2);
    const r = new LidarRefiner(rig);
    const p = det(20, 5, ObjectClass.PEDESTRIAN, 0.9);
    r.refine([p], r.cluster(tick));
    assert.deepEqual([p.x, p.y], [20, 5]);
    assert.equal(r.stats.refined, 0);
  });

  test("an unsure orientation leaves the length axis to the cluster's shape", () => {
    const tick = syntheticTick("v", 0, 20, 2); // 4 m along x, 1.8 m across
    const r = new LidarRefiner(rig);
    // the network guesses "across" (yaw pi/2) but its orientation vector is short: shape decides
    const unsure = { ...det(20.4, 2.2, ObjectClass.CAR, 0.9), yaw: Math.PI / 2, yawConf: 0.1 };
    r.refine([unsure], r.cluster(tick));
    assert.ok(Math.hypot(unsure.x - 20.3, unsure.y - 2) < 0.1, `refined to (${unsure.x}, ${unsure.y})`);
    assert.ok(Math.abs(Math.cos(unsure.yaw)) > 0.99, `yaw ${unsure.yaw}`);
    // the same guess, sure of itself, is followed: the 4 m face is taken for the car's back,
    // and the 4.6 m length grows across it, so the box lands outside the gate and stays put
    const sure = { ...det(20.4, 2.2, ObjectClass.CAR, 0.9), yaw: Math.PI / 2, yawConf: 0.9 };
    r.refine([sure], r.cluster(tick));
    assert.deepEqual([sure.x, sure.y], [20.4, 2.2]);
    // a moving track there outranks the network: its heading along x puts the length along x
    const track = {
      id: 1,
      confirmed: true,
      cls: ObjectClass.CAR,
      x: 20.3,
      y: 2,
      vx: 8,
      vy: 0,
      velStdMps: 0.3,
    };
    const hinted = { ...det(20.4, 2.2, ObjectClass.CAR, 0.9), yaw: Math.PI / 2, yawConf: 0.9 };
    r.refine([hinted], r.cluster(tick), [track]);
    assert.ok(Math.hypot(hinted.x - 20.3, hinted.y - 2) < 0.1, `refined to (${hinted.x}, ${hinted.y})`);
    // ... but not while its velocity is unsettled
    const unsettled = { ...det(20.4, 2.2, ObjectClass.CAR, 0.9), yaw: Math.PI / 2, yawConf: 0.9 };
    r.refine([unsettled], r.cluster(tick), [{ ...track, velStdMps: 3 }]);
    assert.deepEqual([unsettled.x, unsettled.y], [20.4, 2.2]);
  });
});

describe("LidarRefiner size checks", () => {
  test("a cluster much wider than the class holds more than the object: it refines nothing", () => {
    const wide = syntheticTick("v", 0, 20, 2);
    const pts: number[][] = [];
    for (let dx = -2; dx <= 2; dx += 0.25)
      for (let dy = -1.5; dy <= 1.5; dy += 0.25) pts.push([20 + dx, 2 + dy, 1.2, 0.4]);
    wide.lidar = packedOf(["x", "y", "z", "intensity"], pts); // 4 m x 3 m: wider than a car (1.9 m) by 1.1 m
    const r = new LidarRefiner(rig);
    const d = det(20.4, 2.2, ObjectClass.CAR, 0.9);
    r.refine([d], r.cluster(wide));
    assert.deepEqual([d.x, d.y], [20.4, 2.2]);
    // the same cluster is no wider than a truck (2.5 m) by more than 0.5 m
    // (completed to the 9.5 m truck away from the sensor: centre 2.75 m farther)
    const t = det(22.5, 2.2, ObjectClass.TRUCK, 0.9);
    r.refine([t], r.cluster(wide));
    assert.ok(Math.hypot(t.x - 22.75, t.y - 2) < 0.15, `truck refined to (${t.x}, ${t.y})`);
  });
});

describe("yawOf (orientation axis + velocity direction)", () => {
  test("the axis from (sin 2yaw, cos 2yaw); the direction from the velocity when moving", () => {
    const close = (a: number, b: number) => Math.abs(Math.atan2(Math.sin(a - b), Math.cos(a - b))) < 1e-9;
    assert.ok(close(yawOf(0, 1, 0, 0), 0));
    assert.ok(close(yawOf(0, -1, 0, 0), Math.PI / 2)); // cross traffic, standing: axis only
    assert.ok(close(yawOf(0, 1, -8, 0), Math.PI)); // oncoming
    assert.ok(close(yawOf(0, -1, 0.2, -6), -Math.PI / 2)); // crossing to the right
    assert.ok(close(yawOf(1, 0, 0.5, 0.5), Math.PI / 4)); // under 1 m/s: axis half towards +x
    assert.ok(close(yawOf(1, 0, -3, -3), (-3 * Math.PI) / 4));
  });
});
