/**
 * Score calibration on real logs (train/calibrate.ts --data): fits the classical engine's weights on
 * a log's validation half (the fixture log here), refuses the held-out half; and real nuScenes rigs
 * carry the weights fitted that way.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { CALIBRATION_FEATURES } from "../../src/fusion/calibration.ts";
import { loadNuScenesRig, NUSCENES_CLASSICAL_CALIBRATION } from "../../src/rig/nuscenes.ts";
import { findVersionDir } from "../../src/replay/nuscenes-source.ts";
import { loadRig } from "../../src/rig/load.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NS_FIX = fileURLToPath(new URL("../fixtures/nuscenes", import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "train/calibrate.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });

test("calibrate --data: weights for every feature from a real log's tracked objects", () => {
  const r = run("--data", `nuscenes:${NS_FIX}`, "--split", "all");
  assert.equal(r.status, 0, r.stderr);
  const w = JSON.parse(r.stdout) as Record<string, number>;
  assert.deepEqual(Object.keys(w), [...CALIBRATION_FEATURES]);
  for (const k of CALIBRATION_FEATURES) assert.ok(Number.isFinite(w[k]), k);
  assert.match(r.stderr, /no_camera \(all\): \d+ samples/);
  const m = /samples (\d+), positives (\d+)/.exec(r.stderr);
  assert.ok(m && Number(m[1]) > 0 && Number(m[2]) > 0, r.stderr);
});

test("calibrate --data: the held-out half is refused; the learned engines are not fitted on logs", () => {
  const t = run("--data", `nuscenes:${NS_FIX}`, "--split", "test");
  assert.notEqual(t.status, 0);
  assert.match(t.stderr, /held out/);
  const l = run("--data", `nuscenes:${NS_FIX}`, "--engine", "late");
  assert.notEqual(l.status, 0);
  assert.match(l.stderr, /classical engine only/);
});

test("a real nuScenes rig carries the classical calibration fitted on real data, other rigs the simulator's", () => {
  const rig = loadNuScenesRig(findVersionDir(NS_FIX));
  assert.deepEqual(rig.fusion.classical.score_calibration, NUSCENES_CLASSICAL_CALIBRATION);
  assert.ok(NUSCENES_CLASSICAL_CALIBRATION.no_lidar_support < 0, "no LiDAR support lowers the score");
  for (const preset of ["sim", "nuscenes"]) {
    const w = loadRig(preset).fusion.classical.score_calibration;
    assert.equal(w?.no_lidar_support, 0, preset);
    assert.notDeepEqual(w, NUSCENES_CLASSICAL_CALIBRATION, preset);
  }
});
