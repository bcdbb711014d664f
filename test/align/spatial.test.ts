/** Spatial alignment: extrinsics, radar velocity and motion compensation, LiDAR deskew, cameras. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compose,
  extrinsicToRigid,
  invert,
  matToRpy,
  matVec,
  quatToMat,
  rpyToMat,
  transformPacked,
} from "../../src/align/geometry.ts";
import {
  buildCamera,
  buildLidar,
  buildRadar,
  deskewLidar,
  type MotionSource,
  prepareLidar,
  trackBoxesAt,
} from "../../src/align/spatial.ts";
import { packed } from "../../src/msg/codec.ts";

const close = (a: number, b: number, tol = 1e-6, what = "") =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} != ${b} (tol ${tol})`);

/** Ego driving straight along x at v m/s: "vehicle at to from vehicle at from". */
const straight = (v: number): MotionSource => ({
  relativeMotion: (from, to) => ({ dx: -v * ((to - from) / 1e9), dy: 0, dyaw: 0 }),
});

describe("geometry", () => {
  it("rpy <-> matrix round trip, and Z-Y-X order", () => {
    const rpy: [number, number, number] = [0.1, -0.2, 2.5];
    const back = matToRpy(rpyToMat(...rpy));
    for (let i = 0; i < 3; i++) close(back[i]!, rpy[i]!, 1e-12);
    // yaw 90 deg maps x to y
    const p = matVec(rpyToMat(0, 0, Math.PI / 2), [1, 0, 0]);
    close(p[0], 0, 1e-12);
    close(p[1], 1, 1e-12);
  });

  it("quaternion of a yaw equals the rpy matrix", () => {
    const y = 0.7;
    const q = quatToMat(Math.cos(y / 2), 0, 0, Math.sin(y / 2));
    const r = rpyToMat(0, 0, y);
    for (let i = 0; i < 9; i++) close(q[i]!, r[i]!, 1e-12);
  });

  it("compose with the inverse is the identity", () => {
    const T = extrinsicToRigid({ translation_m: [1, 2, 3], rotation_rpy_rad: [0.3, 0.1, -1] });
    const I = compose(T, invert(T));
    for (let i = 0; i < 9; i++) close(I.R[i]!, i % 4 === 0 ? 1 : 0, 1e-12);
    for (const v of I.t) close(v, 0, 1e-12);
  });

  it("transformPacked moves x, y, z and leaves other fields", () => {
    const a = packed(["x", "y", "z", "i"], new Float32Array([1, 0, 0, 7]));
    transformPacked(a, extrinsicToRigid({ translation_m: [1, 0, 2], rotation_rpy_rad: [0, 0, Math.PI / 2] }));
    close(a.data[0]!, 1, 1e-6);
    close(a.data[1]!, 1, 1e-6);
    close(a.data[2]!, 2, 1e-6);
    assert.equal(a.data[3], 7);
  });
});

describe("spatial alignment", () => {
  const lidarExt = extrinsicToRigid({ translation_m: [1, 0, 2], rotation_rpy_rad: [0, 0, 0] });

  it("LiDAR: extrinsic applied, intensity kept, no motion -> no change", () => {
    const pts = packed(["x", "y", "z", "intensity"], new Float32Array([10, 1, 0, 0.5]));
    const out = buildLidar([{ points: pts, stampNs: 1e9, sweepStartNs: 0, extrinsic: lidarExt }], 1e9, null);
    assert.deepEqual(Array.from(out.data), [11, 1, 2, 0.5]);
    assert.deepEqual(out.fields, { x: 0, y: 1, z: 2, intensity: 3 });
  });

  it("LiDAR deskew: a point seen 0.1 s before the sweep end moves back by v * 0.1", () => {
    // Two points at the same place in the sensor frame, one at t = -0.1 s, one at t = 0.
    const pts = packed(
      ["x", "y", "z", "intensity", "t"],
      new Float32Array([20, 0, 0, 1, -0.1, 20, 0, 0, 1, 0]),
    );
    const tick = 5e9;
    const out = buildLidar(
      [{ points: pts, stampNs: tick, sweepStartNs: 0, extrinsic: lidarExt }],
      tick,
      straight(10),
    );
    close(out.data[0]!, 21 - 1, 1e-4, "early point x"); // 1 m driven since it was measured
    close(out.data[4]!, 21, 1e-4, "last point x");
    // Half-way in time, half the motion.
    const mid = packed(
      ["x", "y", "z", "intensity", "t"],
      new Float32Array([20, 0, 0, 1, -0.05, 20, 0, 0, 1, -0.1]),
    );
    const o2 = buildLidar(
      [{ points: mid, stampNs: tick, sweepStartNs: 0, extrinsic: lidarExt }],
      tick,
      straight(10),
    );
    close(o2.data[0]!, 21 - 0.5, 1e-4, "mid point x");
  });

  it("LiDAR prepared on arrival, deskewed at the tick: equals the one-step build", () => {
    const yawing: MotionSource = {
      relativeMotion: (from, to) => {
        const dt = (to - from) / 1e9;
        return { dx: -8 * dt, dy: 0.3 * dt, dyaw: -0.4 * dt };
      },
    };
    const data = new Float32Array(5 * 50);
    for (let k = 0; k < 50; k++) data.set([5 + k, -3 + 0.2 * k, 0.1 * k, k, -0.1 + 0.002 * k], 5 * k);
    const pts = packed(["x", "y", "z", "intensity", "t"], data);
    const ext = extrinsicToRigid({ translation_m: [1, 0.5, 2], rotation_rpy_rad: [0.01, -0.02, 0.3] });
    const input = { points: pts, stampNs: 7e9, sweepStartNs: 0, extrinsic: ext };
    const ref = buildLidar([input], 7.02e9, yawing);
    const prep = prepareLidar(input, false);
    const a = deskewLidar([prep], 7.02e9, yawing);
    for (let i = 0; i < ref.data.length; i++) close(a.data[i]!, ref.data[i]!, 1e-5, `value ${i}`);
    // Not owned: the prepared points are copied, so the same sweep can serve a second tick.
    assert.notEqual(a.data, prep.xyzi);
    const b = deskewLidar([prep], 7.02e9, yawing);
    assert.deepEqual(Array.from(b.data), Array.from(a.data));
    // Two sweeps merge in order.
    const two = deskewLidar([prep, prep], 7.02e9, yawing);
    assert.equal(two.count, 100);
    assert.deepEqual(Array.from(two.data.subarray(200)), Array.from(a.data));
  });

  it("LiDAR: an owned sweep is deskewed in place once; a second use throws", () => {
    const pts = packed(
      ["x", "y", "z", "intensity", "t"],
      new Float32Array([20, 0, 0, 1, -0.1, 20, 0, 0, 1, 0]),
    );
    const prep = prepareLidar({ points: pts, stampNs: 5e9, sweepStartNs: 0, extrinsic: lidarExt }, true);
    const out = deskewLidar([prep], 5e9, straight(10));
    assert.equal(out.data, prep.xyzi, "owned sweep: its array is the output (no copy at emission)");
    close(out.data[0]!, 20, 1e-4);
    close(out.data[4]!, 21, 1e-4);
    // The array now belongs to the emitted tick: deskewing it again would move its points twice.
    assert.throws(() => deskewLidar([prep], 5e9, straight(10)), /already handed out/);
    close(out.data[0]!, 20, 1e-4, "the tick's points are untouched");
    // The source payload is never modified.
    assert.equal(pts.data[0], 20);
  });

  it("radar: ego-compensated radial velocity and line of sight", () => {
    const ext = extrinsicToRigid({ translation_m: [3, 0, 0.5], rotation_rpy_rad: [0, 0, 0] });
    // Static target straight ahead at 20 m while driving at 10 m/s: measured vr = -10.
    const r = packed(["range", "azimuth", "radial_velocity", "rcs"], new Float32Array([20, 0, -10, 5]));
    const out = buildRadar(
      [{ returns: r, stampNs: 1e9, extrinsic: ext }],
      1e9,
      straight(10),
      { v: 10, w: 0 },
      true,
    );
    assert.deepEqual(out.fields, { x: 0, y: 1, z: 2, vr: 3, rcs: 4, ux: 5, uy: 6 });
    close(out.data[0]!, 23, 1e-5);
    close(out.data[3]!, 0, 1e-5, "target radial velocity");
    close(out.data[5]!, 1, 1e-6);
  });

  it("radar: an 80 ms old scan is carried to the tick (ego motion and target motion)", () => {
    const ext = extrinsicToRigid({ translation_m: [0, 0, 0], rotation_rpy_rad: [0, 0, 0] });
    const tick = 10e9;
    const stamp = tick - 80e6;
    // Target ahead at 30 m, closing head-on at 5 m/s itself; ego at 15 m/s: measured vr = -20.
    const r = packed(["range", "azimuth", "radial_velocity", "rcs"], new Float32Array([30, 0, -20, 5]));
    const out = buildRadar(
      [{ returns: r, stampNs: stamp, extrinsic: ext }],
      tick,
      straight(15),
      { v: 15, w: 0 },
      true,
    );
    // Truth at the tick: 30 - (15 + 5) * 0.08 = 28.4 m ahead.
    close(out.data[0]!, 28.4, 1e-4, "x at tick");
    close(out.data[3]!, -5, 1e-5, "target's own radial velocity");
    // Without target motion only the ego part: 30 - 15 * 0.08 = 28.8.
    const o2 = buildRadar(
      [{ returns: r, stampNs: stamp, extrinsic: ext }],
      tick,
      straight(15),
      { v: 15, w: 0 },
      false,
    );
    close(o2.data[0]!, 28.8, 1e-4);
    // No motion source (compensation off): as measured.
    const o3 = buildRadar(
      [{ returns: r, stampNs: stamp, extrinsic: ext }],
      tick,
      null,
      { v: 15, w: 0 },
      true,
    );
    close(o3.data[0]!, 30, 1e-6);
  });

  it("radar: a tracked crossing target's motion across the line of sight comes from its track", () => {
    const ext = extrinsicToRigid({ translation_m: [0, 0, 0], rotation_rpy_rad: [0, 0, 0] });
    const tick = 10e9;
    const stamp = tick - 40e6;
    // Ego parked; a car 20 m ahead crosses right to left at 12 m/s: the radar sees vr = 0.
    const r = packed(["range", "azimuth", "radial_velocity", "rcs"], new Float32Array([20, 0, 0, 10]));
    const still: MotionSource = { relativeMotion: () => ({ dx: 0, dy: 0, dyaw: 0 }) };
    const radar = (tracks: ReturnType<typeof trackBoxesAt> | null) =>
      buildRadar([{ returns: r, stampNs: stamp, extrinsic: ext }], tick, still, { v: 0, w: 0 }, true, tracks);
    // Without feedback the return stays where it was measured: 0.48 m behind the car.
    close(radar(null).data[1]!, 0, 1e-6, "uncompensated y");
    // Track of the previous frame (100 ms before the tick): centre 1.2 m further right.
    const car = { x: 21, y: -1.2, length: 4.5, width: 1.9, yaw: Math.PI / 2, vx: 0, vy: 12 };
    const tracks = trackBoxesAt({ stampNs: tick - 100e6, objects: [car] }, tick, still, 1, 2);
    close(tracks.data[1]!, 0, 1e-9, "track predicted to the tick");
    const out = radar(tracks);
    close(out.data[0]!, 20, 1e-5, "x unchanged (no radial motion)");
    close(out.data[1]!, 12 * 0.04, 1e-5, "moved by the track's velocity across the line of sight");
    // A return whose radial velocity disagrees with the track (a static post beside it) is not moved.
    const post = packed(["range", "azimuth", "radial_velocity", "rcs"], new Float32Array([20, 0, 5, 10]));
    const o2 = buildRadar(
      [{ returns: post, stampNs: stamp, extrinsic: ext }],
      tick,
      still,
      { v: 0, w: 0 },
      true,
      tracks,
    );
    close(o2.data[1]!, 0, 1e-6, "vr gate");
    // A track elsewhere leaves it alone; no motion source (compensation off) ignores tracks.
    const far = trackBoxesAt({ stampNs: tick, objects: [{ ...car, x: 40 }] }, tick, still, 1, 2);
    close(radar(far).data[1]!, 0, 1e-6, "outside every box");
    const off = buildRadar(
      [{ returns: r, stampNs: stamp, extrinsic: ext }],
      tick,
      null,
      { v: 0, w: 0 },
      true,
      tracks,
    );
    close(off.data[1]!, 0, 1e-6, "no motion compensation");
  });

  it("tracks are carried to the tick by their velocity and the ego motion", () => {
    // Ego drove 1 m forward and turned 0.1 rad left since the frame; the object moved 0.5 m along x.
    const mo: MotionSource = { relativeMotion: () => ({ dx: -1, dy: 0, dyaw: -0.1 }) };
    const t = trackBoxesAt(
      { stampNs: 0, objects: [{ x: 10, y: 0, length: 4, width: 2, yaw: 0, vx: 5, vy: 0 }] },
      100e6,
      mo,
      0.5,
      2,
    );
    const c = Math.cos(-0.1);
    const s = Math.sin(-0.1);
    close(t.data[0]!, c * 10.5 - 1, 1e-9);
    close(t.data[1]!, s * 10.5, 1e-9);
    close(t.data[4]!, 2.5, 1e-12, "half length with margin");
    close(t.data[6]!, c * 5, 1e-9, "velocity rotated into the tick frame");
    close(t.data[7]!, s * 5, 1e-9);
  });

  it("radar: elevation and a yawed mount", () => {
    const ext = extrinsicToRigid({ translation_m: [1, 1, 0], rotation_rpy_rad: [0, 0, Math.PI / 2] });
    const r = packed(
      ["range", "azimuth", "elevation", "radial_velocity", "rcs"],
      new Float32Array([10, 0, Math.asin(0.6), 0, 1]),
    );
    const out = buildRadar([{ returns: r, stampNs: 0, extrinsic: ext }], 0, null, { v: 0, w: 0 }, false);
    close(out.data[0]!, 1, 1e-5); // looks along +y
    close(out.data[1]!, 1 + 8, 1e-5); // horizontal range 8
    close(out.data[2]!, 6, 1e-5);
  });

  it("camera: extrinsic carried to the tick time by the ego motion", () => {
    const ext = extrinsicToRigid({ translation_m: [1.5, 0, 1.4], rotation_rpy_rad: [0, 0, 0] });
    const obs = buildCamera(
      {
        sensorId: "cam",
        payload: { kind: "camera_detections", width: 640, height: 480, detections: [] },
        stampNs: 1e9 - 50e6,
        status: "present",
        extrinsic: ext,
        intrinsics: { fx: 500, fy: 500, cx: 320, cy: 240 },
      },
      1e9,
      straight(20),
    );
    // 1 m driven since the image: the camera was 1 m further back in the tick's frame.
    close(obs.vehicleFromCamera!.t[0], 0.5, 1e-9);
    close(obs.vehicleFromCamera!.t[2], 1.4, 1e-9);
    assert.equal(obs.status, "present");
  });
});
