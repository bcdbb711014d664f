import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ObjectClass, type SensorPayload } from "../../src/msg/types.ts";
import { parseRig } from "../../src/rig/load.ts";
import type { SensorConfig } from "../../src/rig/schema.ts";
import { mountOf } from "../../sim/frames.ts";
import { enuToGeodetic, geodeticToEnu } from "../../sim/geo.ts";
import { Path } from "../../sim/path.ts";
import { Rng } from "../../sim/rng.ts";
import { CameraModel } from "../../sim/sensors/camera.ts";
import { GnssModel } from "../../sim/sensors/gnss.ts";
import { ImuModel } from "../../sim/sensors/imu.ts";
import { LidarModel } from "../../sim/sensors/lidar.ts";
import { RadarModel } from "../../sim/sensors/radar.ts";
import type { Conditions } from "../../sim/sensors/types.ts";
import { type Agent, type ScenarioSpec, type StaticBox, World } from "../../sim/world.ts";

/** A test world: the ego parked at the origin facing east (or driving east at `egoSpeed`), plus boxes. */
function testWorld(
  boxes: { x: number; y: number; yaw: number; v?: number; cls?: ObjectClass }[],
  egoSpeed = 0,
  statics: StaticBox[] = [],
  markings: ScenarioSpec["markings"] = undefined,
): World {
  const agent = (
    id: number,
    path: number,
    cls: ObjectClass,
    v: number,
    dims: [number, number, number],
  ): Agent => ({
    id,
    cls,
    length: dims[0],
    width: dims[1],
    height: dims[2],
    path,
    s: 1000,
    offset: 0,
    targetOffset: 0,
    lanes: [0],
    v,
    vDesired: v,
    a: 0,
    parked: v === 0,
    obeysSignals: false,
    decideAtS: Number.POSITIVE_INFINITY,
    neighbours: [],
    x: 0,
    sPerM: 1,
    y: 0,
    yaw: 0,
    vx: 0,
    vy: 0,
    yawRate: 0,
  });
  const build = (): ScenarioSpec => {
    const paths = [
      new Path(
        [
          [-1000, 0],
          [1000, 0],
        ],
        false,
      ),
    ];
    const agents = [agent(0, 0, ObjectClass.CAR, egoSpeed, [4.6, 1.9, 1.6])];
    for (const b of boxes) {
      // A straight path through the box centre along its heading; s = 1000 is the centre.
      const c = Math.cos(b.yaw);
      const s = Math.sin(b.yaw);
      paths.push(
        new Path(
          [
            [b.x - 1000 * c, b.y - 1000 * s],
            [b.x + 1000 * c, b.y + 1000 * s],
          ],
          false,
        ),
      );
      agents.push(
        agent(agents.length, paths.length - 1, b.cls ?? ObjectClass.CAR, b.v ?? 0, [4.5, 1.8, 1.5]),
      );
    }
    return { paths, stops: paths.map(() => []), agents, statics, cycleS: 30, markings };
  };
  return new World("urban", 1, build);
}

const rig = parseRig({
  name: "t",
  reference: "lidar",
  sensors: [
    {
      id: "lidar",
      kind: "lidar",
      rate_hz: 10,
      extrinsic: { translation_m: [0.9, 0.2, 1.8], rotation_rpy_rad: [0, 0, 0.3] },
      lidar: { beams: 32, azimuth_steps: 900, vertical_fov_deg: [-25, 5], max_range_m: 80, dropout: 0 },
    },
    {
      id: "radar",
      kind: "radar",
      rate_hz: 13,
      extrinsic: { translation_m: [3.4, 0, 0.5] },
      radar: { p_detect: 1, clutter_per_scan: 0 },
    },
    {
      id: "cam",
      kind: "camera",
      rate_hz: 12,
      extrinsic: { translation_m: [1.7, 0, 1.5] },
      camera: {
        width: 1280,
        height: 720,
        fx: 1000,
        fy: 1000,
        cx: 640,
        cy: 360,
        p_detect: 1,
        false_positives_per_frame: 0,
        p_class_confusion: 0,
        box_noise_frac: 0,
      },
    },
    { id: "gnss", kind: "gnss", rate_hz: 10, gnss: { multipath_rate_hz: 0 } },
    { id: "imu", kind: "imu", rate_hz: 100 },
  ],
});
const sensor = (id: string): SensorConfig => rig.sensors.find((s) => s.id === id)!;
const deps = (id: string, conditions: Conditions = "clear") => ({
  sensor: sensor(id),
  rng: new Rng(7, id),
  conditions,
  scenario: "urban",
});
const only = <K extends SensorPayload["kind"]>(ps: SensorPayload[], kind: K) =>
  ps.find((p) => p.kind === kind) as Extract<SensorPayload, { kind: K }>;

describe("sensor models", () => {
  it("LiDAR: points of a box lie on its surface within the range noise; ground points on the ground", () => {
    const box = { x: 12, y: 4, yaw: 0.4 };
    const world = testWorld([box]);
    const lidar = new LidarModel(deps("lidar"));
    const pc = only(lidar.capture({ world, tNs: 0, noise: 1 }), "point_cloud").points;
    const m = mountOf(sensor("lidar"));
    const noise = sensor("lidar").lidar!.range_noise_m;
    const [fx, fy, fz, ft, fr] = ["x", "y", "z", "t", "ring"].map((k) => pc.fields[k]!);
    let onBox = 0;
    let onGround = 0;
    for (let i = 0; i < pc.count; i++) {
      const o = i * pc.stride;
      const sx = pc.data[o + fx]!;
      const sy = pc.data[o + fy]!;
      const sz = pc.data[o + fz]!;
      assert.ok(pc.data[o + ft]! <= 0 && pc.data[o + ft]! >= -0.1);
      assert.ok(pc.data[o + fr]! >= 0 && pc.data[o + fr]! < 32);
      // Sensor -> vehicle (= world: the ego is parked at the origin facing east).
      const R = m.R;
      const wx = m.t[0] + R[0]! * sx + R[1]! * sy + R[2]! * sz;
      const wy = m.t[1] + R[3]! * sx + R[4]! * sy + R[5]! * sz;
      const wz = m.t[2] + R[6]! * sx + R[7]! * sy + R[8]! * sz;
      if (Math.abs(wz) < 4.5 * noise) {
        onGround++;
        continue;
      }
      // Distance to the box surface, in the box frame.
      const c = Math.cos(box.yaw);
      const s = Math.sin(box.yaw);
      const lx = Math.abs(c * (wx - box.x) + s * (wy - box.y)) - 2.25;
      const ly = Math.abs(-s * (wx - box.x) + c * (wy - box.y)) - 0.9;
      const lz = Math.abs(wz - 0.75) - 0.75;
      const out = Math.hypot(Math.max(lx, 0), Math.max(ly, 0), Math.max(lz, 0));
      const d = out > 0 ? out : -Math.max(lx, ly, lz);
      assert.ok(d <= 4.5 * noise + 1e-3, `point ${i} is ${d.toFixed(3)} m from the box surface`);
      onBox++;
    }
    assert.ok(onBox > 100, `only ${onBox} points on the box`);
    assert.ok(onGround > 10000);
  });

  it("LiDAR: rolling shutter: with the ego pose at each point's time (stamp + t), moving-box points lie on the box", () => {
    // Ego driving east at 10 m/s; a car crossing ahead at 8 m/s, heading north-west.
    const box = { x: 20, y: -6, yaw: 2.2, v: 8 };
    const world = testWorld([box], 10);
    const tEnd = 100_000_000;
    world.advanceTo(tEnd);
    const pc = only(
      new LidarModel(deps("lidar")).capture({ world, tNs: tEnd, noise: 1 }),
      "point_cloud",
    ).points;
    const m = mountOf(sensor("lidar"));
    const noise = sensor("lidar").lidar!.range_noise_m;
    const ego = { x: 0, y: 0, z: 0, yaw: 0, vx: 0, vy: 0, speed: 0, yawRate: 0, accel: 0 };
    const a = world.agents[1]!;
    let onBox = 0;
    for (let i = 0; i < pc.count; i++) {
      const o = i * pc.stride;
      const [sx, sy, sz, t] = [pc.data[o]!, pc.data[o + 1]!, pc.data[o + 2]!, pc.data[o + pc.fields.t!]!];
      const tau = tEnd + t * 1e9;
      world.egoAt(tau, ego);
      const R = m.R;
      const vx = m.t[0] + R[0]! * sx + R[1]! * sy + R[2]! * sz;
      const vy = m.t[1] + R[3]! * sx + R[4]! * sy + R[5]! * sz;
      const wz = m.t[2] + R[6]! * sx + R[7]! * sy + R[8]! * sz;
      if (wz < 4.5 * noise) continue;
      const wx = ego.x + Math.cos(ego.yaw) * vx - Math.sin(ego.yaw) * vy;
      const wy = ego.y + Math.sin(ego.yaw) * vx + Math.cos(ego.yaw) * vy;
      const dt = (tau - world.tNs) / 1e9;
      const bx = a.x + a.vx * dt;
      const by = a.y + a.vy * dt;
      const c = Math.cos(a.yaw);
      const s = Math.sin(a.yaw);
      const lx = Math.abs(c * (wx - bx) + s * (wy - by)) - a.length / 2;
      const ly = Math.abs(-s * (wx - bx) + c * (wy - by)) - a.width / 2;
      const lz = Math.abs(wz - a.height / 2) - a.height / 2;
      const out = Math.hypot(Math.max(lx, 0), Math.max(ly, 0), Math.max(lz, 0));
      const d = out > 0 ? out : -Math.max(lx, ly, lz);
      assert.ok(d <= 4.5 * noise + 2e-3, `point ${i} is ${d.toFixed(3)} m from the moving box`);
      onBox++;
    }
    assert.ok(onBox > 50, `only ${onBox} points on the box`);
  });

  it("LiDAR: road paint returns brighter than asphalt", () => {
    const world = testWorld([], 0, [], { lines: [{ path: 0, offset: -3.1 }], patches: [] });
    const pc = only(new LidarModel(deps("lidar")).capture({ world, tNs: 0, noise: 1 }), "point_cloud").points;
    const m = mountOf(sensor("lidar"));
    const R = m.R;
    const paint: number[] = [];
    const asphalt: number[] = [];
    for (let i = 0; i < pc.count; i++) {
      const o = i * pc.stride;
      const [sx, sy, sz] = [pc.data[o]!, pc.data[o + 1]!, pc.data[o + 2]!];
      const wy = m.t[1] + R[3]! * sx + R[4]! * sy + R[5]! * sz;
      const wx = m.t[0] + R[0]! * sx + R[1]! * sy + R[2]! * sz;
      if (Math.abs(wx) > 20) continue;
      // The line is painted into the 0.2 m cell [-3.2, -3.0) (the raster starts 20 m below y = 0).
      if (Math.abs(wy + 3.1) < 0.05) paint.push(pc.data[o + pc.fields.intensity!]!);
      else if (Math.abs(wy + 3.1) > 0.5) asphalt.push(pc.data[o + pc.fields.intensity!]!);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(paint.length > 5, `${paint.length} points on the paint`);
    assert.ok(mean(paint) > 3 * mean(asphalt), `paint ${mean(paint)} vs asphalt ${mean(asphalt)}`);
  });

  it("LiDAR: fog collapses range and returns, rain drops returns", () => {
    const world = testWorld([{ x: 12, y: 4, yaw: 0.4 }]);
    const count = (c: Conditions) => {
      const pc = only(
        new LidarModel(deps("lidar", c)).capture({ world, tNs: 0, noise: 1 }),
        "point_cloud",
      ).points;
      let far = 0;
      for (let i = 0; i < pc.count; i++) {
        const o = i * pc.stride;
        if (Math.hypot(pc.data[o]!, pc.data[o + 1]!, pc.data[o + 2]!) > 30) far++;
      }
      return { n: pc.count, far };
    };
    const clear = count("clear");
    const fog = count("fog");
    const rain = count("rain");
    assert.ok(fog.n < 0.6 * clear.n, `fog ${fog.n} vs clear ${clear.n}`);
    assert.ok(fog.far < 0.1 * clear.far, `fog far ${fog.far} vs clear ${clear.far}`);
    assert.ok(rain.n < 0.95 * clear.n);
  });

  it("conditions: night and fog cost camera detections, rain adds radar clutter", () => {
    const cars = Array.from({ length: 8 }, (_, i) => ({ x: 15 + 7 * i, y: i % 2 ? 3.5 : -3.5, yaw: 0 }));
    const world = testWorld(cars);
    const camDets = (c: Conditions) => {
      const cam = new CameraModel(deps("cam", c), false);
      let n = 0;
      for (let k = 0; k < 40; k++)
        n += only(cam.capture({ world, tNs: k * 1e8, noise: 1 }), "camera_detections").detections.length;
      return n;
    };
    const clear = camDets("clear");
    assert.ok(camDets("night") < 0.8 * clear, `night ${camDets("night")} vs clear ${clear}`);
    assert.ok(camDets("fog") < 0.8 * clear);
    const radarN = (c: Conditions) => {
      const r = new RadarModel({
        ...deps("radar", c),
        sensor: { ...sensor("radar"), radar: { ...sensor("radar").radar!, clutter_per_scan: 3 } },
      });
      let n = 0;
      for (let k = 0; k < 40; k++)
        n += only(r.capture({ world, tNs: k * 1e8, noise: 1 }), "radar_scan").returns.count;
      return n;
    };
    assert.ok(
      radarN("rain") > radarN("clear") + 40 * 3,
      `rain ${radarN("rain")} vs clear ${radarN("clear")}`,
    );
  });

  it("scenery occludes: a car behind a wall is invisible to radar and camera", () => {
    const car = { x: 40, y: 0, yaw: 0 };
    const wall: StaticBox = {
      x: 20,
      y: 0,
      z: 2,
      yaw: 0,
      length: 0.5,
      width: 10,
      height: 4,
      reflectivity: 0.5,
    };
    const radarHits = (statics: StaticBox[]) => {
      const world = testWorld([car], 0, statics);
      const r = new RadarModel(deps("radar"));
      let far = 0;
      for (let k = 0; k < 20; k++) {
        const scan = only(r.capture({ world, tNs: k * 1e8, noise: 1 }), "radar_scan").returns;
        for (let i = 0; i < scan.count; i++) if (scan.data[i * scan.stride + scan.fields.range!]! > 30) far++;
      }
      return far;
    };
    assert.ok(radarHits([]) >= 15);
    assert.equal(radarHits([wall]), 0);
    const camDets = (statics: StaticBox[]) =>
      only(
        new CameraModel(deps("cam"), false).capture({
          world: testWorld([car], 0, statics),
          tNs: 0,
          noise: 1,
        }),
        "camera_detections",
      ).detections.length;
    assert.equal(camDets([]), 1);
    assert.equal(camDets([wall]), 0);
  });

  it("radar: range, azimuth and raw Doppler of an approaching car; ego motion appears as Doppler", () => {
    // Car 30 m ahead of the radar, driving towards us at 10 m/s; the ego drives at 5 m/s.
    const world = testWorld([{ x: 3.4 + 30 + 2.25, y: 0, yaw: Math.PI, v: 10 }], 5);
    const scan = only(
      new RadarModel(deps("radar")).capture({ world, tNs: 0, noise: 1 }),
      "radar_scan",
    ).returns;
    assert.ok(scan.count >= 1);
    const f = scan.fields;
    const o = 0;
    assert.ok(Math.abs(scan.data[o + f.range!]! - 30) < 1.5, `range ${scan.data[o + f.range!]}`);
    assert.ok(Math.abs(scan.data[o + f.azimuth!]!) < 0.1);
    assert.ok(
      Math.abs(scan.data[o + f.radial_velocity!]! + 15) < 1,
      `vr ${scan.data[o + f.radial_velocity!]}`,
    );
    assert.ok(scan.data[o + f.rcs!]! > 0);
  });

  it("camera: a box ahead projects through the intrinsics (u = cx - fx y/x) with its class", () => {
    const world = testWorld([{ x: 1.7 + 20, y: 0, yaw: 0, cls: ObjectClass.CAR }]);
    const cam = new CameraModel(deps("cam"), true);
    const out = cam.capture({ world, tNs: 0, noise: 1 });
    const det = only(out, "camera_detections");
    assert.equal(det.detections.length, 1);
    const d = det.detections[0]!;
    assert.equal(d.cls, ObjectClass.CAR);
    // Near face at x = 20 - 2.25: half width 0.9 m -> +-52 px around cx.
    const near = 20 - 2.25;
    assert.ok(Math.abs(d.xMin - (640 - (1000 * 0.9) / near)) < 1, `xMin ${d.xMin}`);
    assert.ok(Math.abs(d.xMax - (640 + (1000 * 0.9) / near)) < 1, `xMax ${d.xMax}`);
    assert.ok(Math.abs(d.yMax - (360 + (1000 * 1.5) / near)) < 1, `yMax ${d.yMax}`);
    const img = only(out, "camera_image");
    assert.equal(img.width, 320);
    assert.deepEqual([...img.data.subarray(0, 2)], [0xff, 0xd8]);
    // A box to the left projects left of the centre.
    const left = testWorld([{ x: 21.7, y: 5, yaw: 0 }]);
    const dl = only(
      new CameraModel(deps("cam"), false).capture({ world: left, tNs: 0, noise: 1 }),
      "camera_detections",
    );
    assert.ok(dl.detections[0]!.xMax < 640);
  });

  it("GNSS: lat/lon/alt around the origin within the noise; ENU <-> geodetic round-trips", () => {
    const world = testWorld([]);
    const g = sensor("gnss").gnss!;
    const origin = { latDeg: g.origin_lat_deg, lonDeg: g.origin_lon_deg, altM: g.origin_alt_m };
    const model = new GnssModel(deps("gnss"));
    const errs: number[] = [];
    for (let k = 0; k < 50; k++) {
      const fix = only(model.capture({ world, tNs: k * 1e8, noise: 1 }), "gnss_fix");
      const enu = geodeticToEnu(origin, fix.latitudeDeg, fix.longitudeDeg, fix.altitudeM);
      errs.push(Math.hypot(enu.east, enu.north));
      assert.equal(fix.covariance!.length, 9);
    }
    assert.ok(Math.max(...errs) < 6 * g.noise_m, `max horizontal error ${Math.max(...errs)}`);
    const p = enuToGeodetic(origin, 1234.5, -987.25, 12);
    const back = geodeticToEnu(origin, p.latDeg, p.lonDeg, p.altM);
    assert.ok(
      Math.abs(back.east - 1234.5) < 1e-6 &&
        Math.abs(back.north + 987.25) < 1e-6 &&
        Math.abs(back.up - 12) < 1e-9,
    );
    // 0.001 deg of latitude is ~111 m.
    const q = enuToGeodetic(origin, 0, 111.2, 0);
    assert.ok(Math.abs(q.latDeg - origin.latDeg - 0.001) < 2e-6);
  });

  it("IMU: gravity on z at rest, biases and noise small", () => {
    const world = testWorld([]);
    const imu = new ImuModel(deps("imu"));
    const s = only(imu.capture({ world, tNs: 0, noise: 1 }), "imu");
    assert.ok(Math.abs(s.accel[2] - 9.80665) < 0.3);
    assert.ok(Math.abs(s.accel[0]) < 0.3 && Math.abs(s.accel[1]) < 0.3);
    assert.ok(s.gyro.every((g) => Math.abs(g) < 0.02));
  });
});
