/**
 * The shared LiDAR library (src/fusion/lidar/): ground segmentation bands, clustering of an
 * L-shaped car outline above ground and clutter, size class and box completion; and both engines
 * see the same clusters through it (the classical detector's candidates, the learned refiner).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createClassicalEngine } from "../../../src/fusion/classical/index.ts";
import { LidarRefiner } from "../../../src/fusion/learned/refine.ts";
import { LidarClusterer } from "../../../src/fusion/lidar/cluster.ts";
import { LIDAR_CLUSTER_DEFAULTS } from "../../../src/fusion/lidar/config.ts";
import { referenceLidar, sweepTimeOffset, sweepTimingOf } from "../../../src/fusion/lidar/geometry.ts";
import { GROUND, OBJECT, OVERHEAD, segmentGround } from "../../../src/fusion/lidar/ground.ts";
import { classifyBySize, completeBox } from "../../../src/fusion/lidar/shape.ts";
import { ObjectClass } from "../../../src/msg/types.ts";
import { findVersionDir } from "../../../src/replay/nuscenes-source.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { loadNuScenesRig } from "../../../src/rig/nuscenes.ts";
import { packedOf, syntheticTick } from "../learned/_fixtures.ts";

const NS_FIX = fileURLToPath(new URL("../../fixtures/nuscenes", import.meta.url));

/** An L-shaped outline (rear face and left side) of a 4.6 x 1.9 m car at (cx, cy), seen from the origin. */
function carOutline(cx: number, cy: number): number[][] {
  const pts: number[][] = [];
  for (let z = 0.5; z <= 1.5; z += 0.25) {
    for (let w = -0.95; w <= 0.95; w += 0.1) pts.push([cx - 2.3, cy + w, z, 0.5]); // rear face
    for (let l = -2.3; l <= 2.3; l += 0.1) pts.push([cx + l, cy - 0.95, z, 0.5]); // side facing the sensor (y < 0)
  }
  return pts;
}

describe("shared LiDAR library", () => {
  test("ground segmentation: bands per point, non-finite heights are ground", () => {
    const pc = packedOf(
      ["x", "y", "z"],
      [
        [10, 0, 0.1],
        [10, 0, 0.25],
        [10, 0, 0.31],
        [10, 0, 3.9],
        [10, 0, 4],
        [10, 0, Number.NaN],
        [10, 0, Number.POSITIVE_INFINITY],
      ],
    );
    const out = new Uint8Array(pc.count);
    const n = segmentGround(pc, LIDAR_CLUSTER_DEFAULTS, out);
    assert.deepEqual([...out], [GROUND, GROUND, OBJECT, OBJECT, OVERHEAD, GROUND, OVERHEAD]);
    assert.equal(n, 2);
    const noZ = packedOf(["x", "y"], [[1, 2]]);
    assert.equal(segmentGround(noZ, LIDAR_CLUSTER_DEFAULTS, out), 0);
  });

  test("clustering: one car from its outline, ground and a lone overhead return ignored", () => {
    const rows = [...carOutline(20, -4)];
    for (let x = 5; x < 40; x += 0.5) rows.push([x, 3, 0.05, 0.1]); // ground
    rows.push([20, -4, 6, 0.1]); // a branch above the car
    const cl = new LidarClusterer(LIDAR_CLUSTER_DEFAULTS).cluster(
      packedOf(["x", "y", "z", "intensity"], rows),
    );
    assert.equal(cl.length, 1);
    const c = cl[0]!;
    assert.ok(Math.abs(c.length - 4.6) < 0.35 && Math.abs(c.width - 1.9) < 0.35, `${c.length} x ${c.width}`);
    assert.ok(Math.abs(c.yaw) < 0.05, `yaw ${c.yaw}`);
    assert.ok(Math.hypot(c.cx - 20, c.cy + 4) < 0.3, `centre ${c.cx}, ${c.cy}`);
    // size class, then completion away from the sensor grows a partial view to the prior
    const sc = classifyBySize(
      { length: c.length, width: c.width, height: c.zMax, bottom: c.zMin },
      { maxLengthM: 12 },
    );
    assert.equal(sc.cls, ObjectClass.CAR);
    const half = completeBox({ cx: 19, cy: -4, length: 2.6, width: 1.9, yaw: 0 }, ObjectClass.CAR, 0, 0);
    assert.ok(Math.abs(half.length - 4.6) < 1e-9 && Math.abs(half.cx - 20) < 1e-9, JSON.stringify(half));
  });

  test("LiDAR support: points above the ground near a place, from the last clustered sweep", () => {
    const rows = [...carOutline(20, -4)];
    for (let x = 5; x < 40; x += 0.5) rows.push([x, 3, 0.05, 0.1]); // ground: no support
    rows.push([30, 8, 6, 0.1]); // overhead: no support
    const clusterer = new LidarClusterer(LIDAR_CLUSTER_DEFAULTS);
    clusterer.cluster(packedOf(["x", "y", "z", "intensity"], rows));
    const onCar = clusterer.pointsNear(20, -4, 2);
    assert.ok(onCar > 20, `points near the car ${onCar}`);
    assert.equal(clusterer.pointsNear(20, 3, 2), 0, "ground only");
    assert.equal(clusterer.pointsNear(30, 8, 2), 0, "overhead only");
    assert.equal(clusterer.pointsNear(100, 100, 2), 0, "off the grid");
    assert.ok(clusterer.pointsNear(20, -4, 4) >= onCar, "a larger radius sees at least as many");
    // the next sweep replaces the last: nothing there any more
    clusterer.cluster(packedOf(["x", "y", "z", "intensity"], [[5, 5, 0.05, 0.1]]));
    assert.equal(clusterer.pointsNear(20, -4, 2), 0);
  });

  test("both engines cluster through it: the refiner's clusters are the classical detector's", () => {
    const rig = loadRig("sim");
    const lidar = packedOf(["x", "y", "z", "intensity"], [...carOutline(20, -4), ...carOutline(30, 5)]);
    const tick = { ...syntheticTick("v", 0), lidar };
    const refinerClusters = new LidarRefiner(rig).cluster(tick);
    assert.equal(refinerClusters.length, 2);
    const eng = createClassicalEngine(rig);
    eng.fuseSync(tick, {
      mask: { lidar: true, radar: false, camera: false },
      features: { lidar: [1, 1, 1, 1], radar: [0, 0, 0, 0], camera: [0, 0, 0, 0] },
    });
    assert.equal(eng.lastStats.lidarClusters, refinerClusters.length);
  });
});

test("sweep timing: a LiDAR's sweep lasts one revolution, not one message period", () => {
  const sim = referenceLidar(loadRig("sim"));
  assert.ok(
    Math.abs(sweepTimingOf(sim, "cw", Math.PI)!.periodS - 1 / sim!.rate_hz) < 1e-12,
    "default: 1 / rate_hz",
  );
  // nuScenes keyframes: the extract sends 2 Hz, the LiDAR spins at 20 Hz
  const rig = loadNuScenesRig(findVersionDir(NS_FIX), { rates: { LIDAR_TOP: 2 } });
  const l = referenceLidar(rig)!;
  assert.equal(l.rate_hz, 2);
  const t = sweepTimingOf(l, "cw", Math.PI)!;
  assert.equal(t.periodS, 0.05);
  // a point is dated within the last revolution, never half a second back
  for (const [x, y] of [
    [10, 0],
    [0, 10],
    [-10, 0],
    [0, -10],
    [-10, -0.1],
  ] as const) {
    const dt = sweepTimeOffset(t, x, y);
    assert.ok(dt <= 0 && dt >= -0.05, `(${x}, ${y}): ${dt}`);
  }
});
