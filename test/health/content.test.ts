/** Per-kind content checks, through the monitor (messages in, reasons out). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FixType, ImageEncoding, SensorState, type SensorPayload } from "../../src/msg/types.ts";
import { drive, newMonitor, S, stateOf } from "./fixtures.ts";

function reasonsWith(id: string, payload: (t: number) => SensorPayload | undefined, health = {}) {
  const { mon, rig } = newMonitor(health);
  const { snaps } = drive(mon, rig, 0, 3 * S, (sid, t) => {
    if (sid !== id || t < 1 * S) return undefined;
    const p = payload(t);
    return p ? { payload: p } : undefined;
  });
  return stateOf(snaps.at(-1)!, id);
}

const gnss = (over: Partial<Extract<SensorPayload, { kind: "gnss_fix" }>>): SensorPayload => ({
  kind: "gnss_fix",
  latitudeDeg: 48.137,
  longitudeDeg: 11.575,
  altitudeM: 520,
  fixType: FixType.FIX_3D,
  covariance: [0.25, 0, 0, 0, 0.25, 0, 0, 0, 1],
  velocityEN: null,
  ...over,
});

describe("content checks", () => {
  test("GNSS: fix below gnss_min_fix -> no_fix", () => {
    const h = reasonsWith("gnss", () => gnss({ fixType: FixType.FIX_2D }));
    assert.equal(h.state, SensorState.DEGRADED);
    assert.deepEqual(h.reasons, ["no_fix"]);
  });

  test("GNSS: large covariance -> covariance", () => {
    const h = reasonsWith("gnss", () => gnss({ covariance: [40, 0, 0, 0, 40, 0, 0, 0, 1] }));
    assert.deepEqual(h.reasons, ["covariance"]);
  });

  test("GNSS: one position jump holds DEGRADED jump for a dwell, then clears", () => {
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 4 * S, (id, t) => {
      if (id !== "gnss") return undefined;
      // 0.01 deg north (~1.1 km) from 1.5 s on: one jump, then steady
      return { payload: gnss({ latitudeDeg: 48.137 + (t >= 1.5 * S ? 0.01 : 0) }) };
    });
    const hit = snaps.find((s) => stateOf(s, "gnss").state === SensorState.DEGRADED)!;
    assert.ok(hit);
    assert.deepEqual(stateOf(hit, "gnss").reasons, ["jump"]);
    assert.equal(stateOf(snaps.at(-1)!, "gnss").state, SensorState.OK);
  });

  test("IMU: saturation and frozen values", () => {
    const sat = reasonsWith("imu", () => ({ kind: "imu", accel: [0, 0, 160], gyro: [0, 0, 0.01] }));
    assert.ok(sat.reasons.includes("saturated"), sat.reasons.join());
    const frozen = reasonsWith("imu", () => ({ kind: "imu", accel: [0.01, 0.02, 9.81], gyro: [0, 0, 0.01] }));
    assert.deepEqual(frozen.reasons, ["frozen"]);
  });

  test("radar: radar_empty_scans empty scans -> no_returns; not masked", () => {
    const h = reasonsWith("radar_front", () => ({
      kind: "radar_scan",
      returns: {
        stride: 4,
        count: 0,
        fields: { range: 0, azimuth: 1, radial_velocity: 2, rcs: 3 },
        data: new Float32Array(0),
      },
    }));
    assert.deepEqual(h.reasons, ["no_returns"]);
  });

  test("LiDAR: too few points -> low_points; points at zero range -> invalid_points (masked)", () => {
    const few = reasonsWith("lidar", () => ({
      kind: "point_cloud",
      points: {
        stride: 4,
        count: 10,
        fields: { x: 0, y: 1, z: 2, intensity: 3 },
        data: Float32Array.from({ length: 40 }, () => 5 + Math.random()),
      },
      sweepStartNs: 0,
    }));
    assert.ok(few.reasons.includes("low_points"), few.reasons.join());
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 3 * S, (id, t) => {
      if (id !== "lidar" || t < 1 * S) return undefined;
      const data = new Float32Array(2000 * 4);
      for (let i = 0; i < data.length; i++) data[i] = i % 8 < 4 ? 0 : 3 + Math.random(); // half at the origin
      return {
        payload: {
          kind: "point_cloud",
          points: { stride: 4, count: 2000, fields: { x: 0, y: 1, z: 2, intensity: 3 }, data },
          sweepStartNs: 0,
        },
      };
    });
    const last = snaps.at(-1)!;
    assert.deepEqual(stateOf(last, "lidar").reasons, ["invalid_points"]);
    assert.equal(last.mask.lidar, false);
    assert.equal(last.usable["lidar"], false);
  });

  test("camera: black raw frames -> black_frame; bright frames are fine", () => {
    const img = (v: number): SensorPayload => {
      const data = new Uint8Array(64 * 48 * 3);
      for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, v + ((i * 7919) % 13)));
      return { kind: "camera_image", width: 64, height: 48, encoding: ImageEncoding.RGB8, data };
    };
    let n = 0;
    const black = reasonsWith("cam_front", () => img(0 + (n++ % 3)));
    assert.ok(black.reasons.includes("black_frame"), black.reasons.join());
    let m = 0;
    const bright = reasonsWith("cam_front", () => img(100 + (m++ % 50)));
    assert.equal(bright.state, SensorState.OK, bright.reasons.join());
  });

  test("camera: identical detection lists -> frozen; empty lists are not frozen", () => {
    const det = { xMin: 1, yMin: 2, xMax: 30, yMax: 40, cls: 1 as const, score: 0.8 };
    const frozen = reasonsWith("cam_front", () => ({
      kind: "camera_detections",
      width: 1280,
      height: 720,
      detections: [det],
    }));
    assert.deepEqual(frozen.reasons, ["frozen"]);
    const empty = reasonsWith("cam_front", () => ({
      kind: "camera_detections",
      width: 1280,
      height: 720,
      detections: [],
    }));
    assert.equal(empty.state, SensorState.OK, empty.reasons.join());
  });
});
