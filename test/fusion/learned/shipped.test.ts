/**
 * The models shipped in models/ are what the engine reads: each meets the model contract (format,
 * version, raster grid, channels, box channels, mode) and carries a score calibration written for
 * that very file (sha256), so no shipped model falls back to raw scores.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import { DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import { loadModelContract } from "../../../src/fusion/learned/contract.ts";
import { calibrationPathOf, defaultModelPath, loadCalibration } from "../../../src/fusion/learned/index.ts";

describe("shipped models", () => {
  for (const name of ["intermediate", "late", "lidar_only"] as const) {
    test(`${name}: contract and calibration`, () => {
      const path = defaultModelPath(name);
      assert.ok(existsSync(path), `${path} is shipped`);
      const c = loadModelContract(path, DEFAULT_GRID);
      assert.equal(c.mode, name === "late" ? "late" : "intermediate");
      assert.ok(existsSync(calibrationPathOf(path)), `${calibrationPathOf(path)} is shipped`);
      const warns: string[] = [];
      const w = loadCalibration(path, (l) => warns.push(l));
      assert.deepEqual(warns, [], "calibration written for this model file");
      assert.ok(w && Object.keys(w).length > 0);
    });
  }
});
