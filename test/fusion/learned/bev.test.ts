/** The BEV rasterizer: cells, channels, masking and camera rays on hand-built ticks. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CHANNELS, DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import { ALL_ON, BevRasterizer, tickHealthFeatures } from "../../../src/fusion/bev/rasterize.ts";
import { loadRig } from "../../../src/rig/load.ts";
import { packedOf, syntheticTick } from "./_fixtures.ts";

const rig = loadRig("sim");
const g = DEFAULT_GRID;
const N = g.rows * g.cols;
const cell = (x: number, y: number) =>
  Math.floor((x - g.xMinM) / g.cellM) * g.cols + Math.floor((y - g.yMinM) / g.cellM);

describe("BevRasterizer", () => {
  const r = new BevRasterizer(rig);

  test("LiDAR: object points fill their cells, ground points none", () => {
    const f = r.alloc(1);
    r.rasterize(syntheticTick("ground", 0, 20, 2), ALL_ON, null, f);
    const c = cell(20, 2);
    assert.ok(f.lidar[c]! > 0, "log_count at the object");
    assert.ok(Math.abs(f.lidar[N + c]! - 1.2 / 4) < 1e-6, "max_z normalised by 4 m");
    assert.ok(Math.abs(f.lidar[3 * N + c]! - 0.4) < 1e-6, "mean intensity");
    const gc = cell(5, -3);
    assert.equal(f.lidar[gc], 0, "ground point is not an obstacle");
    for (let ch = 0; ch < 6; ch++) assert.equal(f.lidar[ch * N + gc], 0, `ground point in channel ${ch}`);
    assert.equal(f.lidar[4 * N + c], 0, "no previous sweep on the vehicle's first tick");
    assert.equal(f.lidar[cell(40, -20)], 0);
  });

  test("LiDAR: the previous sweep, moved by the ego motion into this tick's frame", () => {
    const rr = new BevRasterizer(rig);
    const f = rr.alloc(1);
    // tick 0: ego at the origin, object at (20, 2); tick 1 (0.1 s later): ego 1 m ahead and turned
    // by 0.05 rad, the object 3 m further along world x (it moves at 30 m/s)
    const t0 = syntheticTick("prev", 0, 20, 2);
    rr.rasterize(t0, ALL_ON, null, f);
    const yaw = 0.05;
    const world = (wx: number, wy: number) => {
      const dx = wx - 1;
      return [Math.cos(yaw) * dx + Math.sin(yaw) * wy, -Math.sin(yaw) * dx + Math.cos(yaw) * wy] as const;
    };
    const [ox, oy] = world(23, 2);
    const t1 = syntheticTick("prev", 1, ox, oy);
    t1.ego = { ...t1.ego, x: 1, yaw };
    rr.rasterize(t1, ALL_ON, null, f);
    const P = 4 * N;
    // the previous sweep's cluster centre, (20, 2) in the world, in the new frame
    const [px, py] = world(20, 2);
    assert.ok(f.lidar[P + cell(px, py)]! > 0, "previous points where the object was");
    assert.ok(f.lidar[cell(px, py)] === 0, "no current points there");
    assert.equal(f.lidar[P + cell(ox + 1.5, oy)], 0, "no previous points at the object's front now");
    assert.ok(f.lidar[cell(ox + 1.5, oy)]! > 0, "current points at its front");
    let prevSum = 0;
    let curSum = 0;
    for (let k = 0; k < N; k++) {
      prevSum += f.lidar[P + k]! > 0 ? 1 : 0;
      curSum += f.lidar[k]! > 0 ? 1 : 0;
    }
    assert.ok(Math.abs(prevSum - curSum) <= 4, `as many cells then as now (${prevSum} vs ${curSum})`);
    // a reset tick, a stale previous sweep or a masked LiDAR forgets it
    const t2 = syntheticTick("prev", 2, ox, oy);
    t2.ego = { ...t1.ego };
    t2.reset = true;
    rr.rasterize(t2, ALL_ON, null, f);
    assert.ok(
      f.lidar.subarray(P, P + N).every((v) => v === 0),
      "reset",
    );
    rr.rasterize(syntheticTick("prev", 3, ox, oy), ALL_ON, null, f);
    assert.ok(
      f.lidar.subarray(P, P + N).some((v) => v > 0),
      "previous sweep again after one tick",
    );
    rr.rasterize(syntheticTick("prev", 6, ox, oy), ALL_ON, null, f);
    assert.ok(
      f.lidar.subarray(P, P + N).every((v) => v === 0),
      "0.3 s old: too old",
    );
    rr.rasterize(syntheticTick("prev", 7, ox, oy), { ...ALL_ON, lidar: false }, null, f);
    rr.rasterize(syntheticTick("prev", 8, ox, oy), ALL_ON, null, f);
    assert.ok(
      f.lidar.subarray(P, P + N).every((v) => v === 0),
      "after a masked LiDAR tick",
    );
    // observe() stands in for ticks that are not rasterized
    rr.observe(syntheticTick("prev", 9, ox, oy));
    rr.rasterize(syntheticTick("prev", 10, ox, oy), ALL_ON, null, f);
    assert.ok(f.lidar[P + cell(ox, oy)]! > 0, "observed sweep is the previous one");
  });

  test("LiDAR: mean sub-cell offsets of the points, in half cells", () => {
    const f = r.alloc(1);
    const t = syntheticTick("v", 0, 20, 2);
    t.lidar = packedOf(
      ["x", "y", "z", "intensity"],
      [
        [30.25, 4.75, 1, 0.5],
        [30.25, 4.25, 1, 0.5],
        [30.75, 4.9, 1, 0.5],
      ],
    );
    r.rasterize(t, ALL_ON, null, f);
    const c = cell(30.5, 4.5);
    assert.equal(CHANNELS.lidar[2], "mean_dx");
    assert.equal(CHANNELS.lidar[5], "mean_dy");
    // x offsets -0.25, -0.25, +0.25 cells -> mean -1/12 cell = -1/6 half cell
    assert.ok(Math.abs(f.lidar[2 * N + c]! - -1 / 6) < 1e-5, `dx ${f.lidar[2 * N + c]}`);
    // y offsets 0.25, -0.25, 0.4 -> mean 0.4/3 cell
    assert.ok(Math.abs(f.lidar[5 * N + c]! - 0.8 / 3) < 1e-5, `dy ${f.lidar[5 * N + c]}`);
  });

  test("radar: return count, sub-cell offsets, radial velocity components, RCS", () => {
    const f = r.alloc(1);
    const t = syntheticTick("v", 0, 20, 2);
    t.radar = packedOf(
      ["x", "y", "z", "vr", "rcs", "ux", "uy"],
      [
        [20.25, 2.75, 0.5, -4, 10, 0.99, 0.1],
        [20.45, 2.35, 0.5, -2, 30, 0.98, 0.2],
      ],
    );
    r.rasterize(t, ALL_ON, null, f);
    const c = cell(20.5, 2.5);
    assert.deepEqual(CHANNELS.radar, [
      "log_count",
      "mean_dx",
      "mean_vr_ux",
      "mean_vr_uy",
      "mean_dy",
      "mean_rcs",
    ]);
    assert.ok(f.radar[c]! > 0);
    const near = (ch: number, want: number) =>
      assert.ok(
        Math.abs(f.radar[ch * N + c]! - want) < 1e-5,
        `${CHANNELS.radar[ch]} ${f.radar[ch * N + c]} != ${want}`,
      );
    // offsets from the cell centre in half cells: x -0.25, -0.05 -> -0.3; y +0.25, -0.15 -> +0.1
    near(1, -0.3);
    near(4, 0.1);
    near(2, (-4 * 0.99 + -2 * 0.98) / 2 / 20);
    near(3, (-4 * 0.1 + -2 * 0.2) / 2 / 20);
    near(5, ((10 + 10) / 40 + (30 + 10) / 40) / 2);
    for (let ch = 0; ch < 6; ch++)
      assert.equal(f.radar[ch * N + cell(21.5, 2.5)], 0, `empty cell, channel ${ch}`);
  });

  test("camera: the class ray passes the object, the depth splat peaks near it, FOV is static", () => {
    const f = r.alloc(1);
    r.rasterize(syntheticTick("v", 0, 20, 2), ALL_ON, null, f);
    const car = CHANNELS.camera.indexOf("ray_car");
    assert.ok(f.camera[car * N + cell(20, 2)]! > 0.85, "ray through the object");
    assert.ok(f.camera[car * N + cell(10.5, 0.95)]! > 0.85, "ray nearer along the same bearing");
    assert.equal(f.camera[car * N + cell(20, -10)], 0, "not off the bearing");
    let best = -1;
    let bestC = -1;
    for (let c = 0; c < N; c++)
      if (f.camera[4 * N + c]! > best) {
        best = f.camera[4 * N + c]!;
        bestC = c;
      }
    const bi = Math.floor(bestC / g.cols);
    const bx = g.xMinM + (bi + 0.5) * g.cellM;
    assert.ok(Math.abs(bx - 20) <= 2, `depth splat peak at x=${bx}`);
    assert.equal(f.camera[5 * N + cell(30, 0)], 1, "ahead is in the FOV");
    assert.equal(f.camera[5 * N + cell(-5, 0)], 0, "behind is not");
  });

  test("masked modalities are zero and flagged 0, like modality dropout", () => {
    const f = r.alloc(2);
    const t = syntheticTick("v", 0);
    r.rasterize(t, ALL_ON, null, f, 0);
    r.rasterize(t, { lidar: false, radar: true, camera: false }, null, f, 1);
    const P = r.planeSize;
    assert.ok(f.lidar.subarray(0, P).some((v) => v !== 0));
    assert.ok(f.lidar.subarray(P).every((v) => v === 0));
    assert.ok(f.camera.subarray(P).every((v) => v === 0));
    assert.ok(f.radar.subarray(P).some((v) => v !== 0));
    assert.deepEqual(Array.from(f.health.subarray(15, 20)), [0, 0, 0, 0, 0], "lidar health of frame 1");
    assert.equal(f.health[20], 1, "radar flag of frame 1");
    assert.deepEqual(Array.from(f.health.subarray(25, 30)), [0, 0, 0, 0, 0], "camera health of frame 1");
    assert.ok(
      Math.abs(f.ego[0]! - 0.5) < 1e-6 && Math.abs(f.ego[1]! - 0.2) < 1e-6,
      "ego speed/20, yaw rate/0.5",
    );
  });

  test("a missing sensor reads like a masked one; tick-derived health features", () => {
    const t = { ...syntheticTick("v", 0), lidar: null };
    t.inputs = t.inputs.map((i) =>
      i.kind === "lidar" ? { ...i, status: "missing" as const, stampNs: null } : i,
    );
    const f = r.alloc(1);
    r.rasterize(t, ALL_ON, null, f);
    assert.equal(f.health[0], 0);
    const h = tickHealthFeatures(t);
    assert.deepEqual(h.lidar, [0, 0, 0, 0]);
    assert.equal(h.radar[0], 1);
  });

  test("bad points (NaN, outside the grid) are skipped", () => {
    const t = syntheticTick("v", 0);
    t.lidar!.data[0] = Number.NaN;
    t.lidar!.data[2] = Number.NaN;
    t.lidar!.data[4] = 1e6;
    const f = r.alloc(1);
    r.rasterize(t, ALL_ON, null, f);
    assert.ok(f.lidar.every((v) => Number.isFinite(v)));
  });
});
