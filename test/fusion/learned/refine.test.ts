/**
 * The learned decoder's time convention (LiDAR observation time -> dtS for the tracker) and its
 * second stage, box refinement from LiDAR clusters. No model needed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import type { TargetTime } from "../../../src/fusion/learned/contract.ts";
import { DEFAULT_DECODE, type Decoded, decodeFrame } from "../../../src/fusion/learned/decode.ts";
import { lidarTimeOffset } from "../../../src/fusion/learned/index.ts";
import { LidarRefiner } from "../../../src/fusion/learned/refine.ts";
import { ObjectClass } from "../../../src/msg/types.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { syntheticTick } from "./_fixtures.ts";

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
      box[7 * RC + c] = 1; // cos yaw
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
});
