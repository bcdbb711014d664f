/**
 * Training and serving agree on when the LiDAR saw an object: train/data.py `lidar_dt` (targets at
 * LiDAR observation time) against the engine's `lidarTimeOffset` for the training rig (`sim`) with
 * the convention train/contract.py writes into the model (`target_time`).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { lidarTimeOffset } from "../../src/fusion/learned/index.ts";
import { loadRig } from "../../src/rig/load.ts";
import { runPython, torchMissing } from "../fusion/learned/_python.ts";

const skip = torchMissing();

test("train/data.py lidar_dt equals the engine's sweep time offset on the sim rig", {
  skip: skip ?? false,
}, () => {
  const pts: [number, number][] = [];
  for (let a = -Math.PI; a < Math.PI; a += Math.PI / 12) pts.push([0.9 + 20 * Math.cos(a), 20 * Math.sin(a)]);
  pts.push([30, 0.001], [30, -0.001], [-5, 0.001], [-5, -0.001], [50, 31], [-7, -31]);
  const code = [
    "import json, sys, numpy as np",
    "sys.path.insert(0, 'train')",
    "import contract as K",
    "from data import lidar_dt",
    "p = np.array(json.loads(sys.argv[1]), dtype=np.float64)",
    "print(json.dumps({'dt': lidar_dt(p[:, 0], p[:, 1]).tolist(), 'tt': K.TARGET_TIME}))",
  ].join("\n");
  const r = JSON.parse(runPython(["-c", code, JSON.stringify(pts)]).stdout) as {
    dt: number[];
    tt: { convention: "lidar_observation"; rotation: "cw" | "ccw"; sweep_start_azimuth_rad: number };
  };
  const ts = lidarTimeOffset(loadRig("sim"), r.tt);
  assert.ok(ts, "the sim rig has a LiDAR and the convention is lidar_observation");
  let spread = 0;
  pts.forEach(([x, y], i) => {
    const want = ts(x, y);
    assert.ok(Math.abs(r.dt[i]! - want) < 1e-9, `(${x}, ${y}): python ${r.dt[i]} vs engine ${want}`);
    spread = Math.max(spread, -want);
  });
  assert.ok(spread > 0.09, "the offsets span most of a 0.1 s sweep");
});
