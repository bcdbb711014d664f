/** The preparation worker's message form of a tick (src/fusion/learned/prep.ts). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import { ALL_ON, BevRasterizer, type RasterTick } from "../../../src/fusion/bev/rasterize.ts";
import { prepTickOf, tickOfPrep } from "../../../src/fusion/learned/prep.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { syntheticTick } from "./_fixtures.ts";

const rig = loadRig("sim");

function planes(r: BevRasterizer, t: RasterTick, features: boolean) {
  const f = r.alloc(1);
  r.rasterize(
    t,
    ALL_ON,
    features ? { lidar: [1, 1, 1, 1], radar: [1, 1, 1, 1], camera: [1, 1, 1, 1] } : null,
    f,
  );
  return f;
}

describe("prepTickOf / tickOfPrep", () => {
  test("a posted tick rasterizes to the same planes as the tick itself", () => {
    for (const features of [true, false]) {
      const direct = new BevRasterizer(rig, DEFAULT_GRID);
      const posted = new BevRasterizer(rig, DEFAULT_GRID);
      for (let i = 0; i < 3; i++) {
        const t = syntheticTick("p", i, 15 + i, -3 + i);
        t.cameras[0]!.detections.push({ xMin: 10, xMax: 90, yMin: 300, yMax: 420, cls: 2, score: 0.6 });
        // what the worker receives: a structured clone, LiDAR points from the shared slot
        const msg = structuredClone(prepTickOf(t, !features));
        const points = new Float32Array(t.lidar!.data.length + 16);
        points.set(t.lidar!.data);
        const back = tickOfPrep(msg, points);
        assert.deepEqual(back.cameras[0]!.detections, t.cameras[0]!.detections);
        assert.deepEqual(back.ego, t.ego);
        assert.equal(back.lidar!.data.length, t.lidar!.count * t.lidar!.stride);
        assert.deepEqual(planes(posted, back, features), planes(direct, t, features), `tick ${i}`);
      }
    }
  });

  test("the input list travels only when the health features must come from the tick", () => {
    const t = syntheticTick("p", 0);
    assert.equal(prepTickOf(t, false).inputs, null);
    assert.deepEqual(prepTickOf(t, true).inputs, t.inputs);
  });
});
