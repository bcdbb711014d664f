/**
 * Replay readers: small fixtures in the real layouts (test/fixtures, written by
 * make-replay-fixtures.ts) and the genuine files of ../shared/realdata.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeSensorMessage, encodeSensorMessage } from "../../src/msg/codec.ts";
import type { SensorMessage } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import { jpegInfo, pngInfo } from "../../src/replay/images.ts";
import { KittiSource } from "../../src/replay/kitti-source.ts";
import { parseKittiTime, parseOxts, parseTracklets } from "../../src/replay/kitti.ts";
import { NuScenesSource } from "../../src/replay/nuscenes-source.ts";
import {
  DEVKIT_RADAR_FILTERS,
  decodeNuScenesLidar,
  decodeNuScenesRadar,
  ReplayFileError,
} from "../../src/replay/nuscenes.ts";
import { parsePcd, PcdError } from "../../src/replay/pcd.ts";
import type { ReplayItem } from "../../src/replay/types.ts";
import {
  KITTI_OBJECT,
  KITTI_RAW_CALIB,
  KITTI_RAW_DRIVE,
  NUSC_ROOT,
  NUSC_TABLES,
  realdataSkip,
} from "../helpers/realdata.ts";

const FIX = fileURLToPath(new URL("../fixtures/", import.meta.url));
const NS_FIX = `${FIX}nuscenes`;
const KITTI_FIX = `${FIX}kitti_raw/2011_01_01/2011_01_01_drive_0001_sync`;

const sensors = (items: ReplayItem[]) =>
  items.filter((i): i is Extract<ReplayItem, { kind: "sensor" }> => i.kind === "sensor").map((i) => i.msg);
const radarFile = (n: number) =>
  `${NS_FIX}/samples/RADAR_FRONT/${readdirSync(`${NS_FIX}/samples/RADAR_FRONT`).sort()[n]}`;

describe("replay readers on fixtures", () => {
  it("radar PCD: fields found by name in any order; trailing bytes accepted; truncation refused", () => {
    const a = decodeNuScenesRadar(readFileSync(radarFile(0)));
    const b = decodeNuScenesRadar(readFileSync(radarFile(1)));
    assert.equal(a.kind, "radar_scan");
    assert.equal(b.kind, "radar_scan");
    if (a.kind !== "radar_scan" || b.kind !== "radar_scan") return;
    assert.equal(a.returns.count, 3);
    assert.deepEqual(
      Array.from(a.returns.data),
      Array.from(b.returns.data),
      "same points, other field order",
    );
    const f = a.returns.fields;
    // Point 0: x 10, y 0, vx -3: range 10, azimuth 0, radial velocity -3 (approaching), rcs 5.
    assert.ok(Math.abs(a.returns.data[f.range!]! - 10) < 1e-5);
    assert.ok(Math.abs(a.returns.data[f.radial_velocity!]! + 3) < 1e-5);
    assert.equal(a.returns.data[f.rcs!], 5);
    // Point 1: x 20, y 5, vx -2, vy -1 -> vr = (20*-2 + 5*-1)/hypot(20,5)
    const vr1 = a.returns.data[a.returns.stride + f.radial_velocity!]!;
    assert.ok(Math.abs(vr1 - -45 / Math.hypot(20, 5)) < 1e-5);
    assert.equal(parsePcd(readFileSync(radarFile(0))).trailingBytes, 300);
    const filtered = decodeNuScenesRadar(readFileSync(radarFile(0)), DEVKIT_RADAR_FILTERS);
    assert.equal(
      filtered.kind === "radar_scan" && filtered.returns.count,
      2,
      "devkit filters drop the invalid point",
    );
    assert.throws(() => decodeNuScenesRadar(readFileSync(radarFile(2))), ReplayFileError);
    assert.throws(() => parsePcd(new TextEncoder().encode("VERSION 0.7\nFIELDS x\n")), PcdError);
  });

  it("LiDAR .pcd.bin: 5 floats per point, intensity declared 0-255; truncated files refused", () => {
    const dir = `${NS_FIX}/samples/LIDAR_TOP/`;
    const files = readdirSync(dir).sort();
    const p = decodeNuScenesLidar(readFileSync(dir + files[0]));
    assert.ok(p.kind === "point_cloud");
    if (p.kind !== "point_cloud") return;
    assert.equal(p.points.count, 4);
    assert.equal(p.intensityMax, 255);
    assert.deepEqual(Object.keys(p.points.fields), ["x", "y", "z", "intensity", "ring"]);
    // The declared scale survives the wire.
    const msg: SensorMessage = {
      header: { vehicle: "v", sensorId: "L", frameId: "L", stampNs: 1, seq: 0 },
      payload: p,
    };
    const back = decodeSensorMessage(encodeSensorMessage(msg));
    assert.ok(
      back.ok && back.value.payload.kind === "point_cloud" && back.value.payload.intensityMax === 255,
    );
    assert.throws(() => decodeNuScenesLidar(readFileSync(dir + files[2])), /truncated/);
  });

  it("nuScenes source: keyframes and a sweep, pose stream, derived camera boxes, truth; bad files named once and counted", () => {
    const warned: string[] = [];
    const src = new NuScenesSource(NS_FIX, { vehicle: "fx", warn: (l) => warned.push(l) });
    const items = [...src.items()];
    const msgs = sensors(items);
    const by = (id: string) => msgs.filter((m) => m.header.sensorId === id);
    // LiDAR: samples 0 and 1 plus the present sweep; sample 2 truncated, the other sweep absent.
    assert.equal(by("LIDAR_TOP").length, 3);
    assert.equal(by("RADAR_FRONT").length, 2);
    // Camera: derived boxes on the two valid keyframe JPEGs; the corrupt one skipped.
    const cams = by("CAM_FRONT");
    assert.equal(cams.length, 2);
    for (const c of cams) {
      assert.ok(c.payload.kind === "camera_detections");
      if (c.payload.kind !== "camera_detections") continue;
      assert.equal(c.payload.source, "derived:annotations");
      // The car (visibility 4) is in view; the cone is not modelled.
      assert.equal(c.payload.detections.length, 1);
      assert.equal(c.payload.detections[0]!.cls, 1);
    }
    // One pose per LiDAR row (keyframes and sweeps, files or not): 5.
    const poses = by("EGO_POSE");
    assert.equal(poses.length, 5);
    assert.ok(poses.every((p) => p.payload.kind === "pose" && p.header.frameId === "map"));
    const truths = items.filter((i) => i.kind === "truth");
    assert.equal(truths.length, 3);
    const t0 = truths[0]!;
    if (t0.kind === "truth") {
      assert.equal(t0.truth.objects.length, 2);
      const car = t0.truth.objects.find((o) => o.cls === 1)!;
      assert.ok(Math.abs(car.vx - 7) < 1e-6, `car vx ${car.vx} (devkit centre difference)`);
      assert.deepEqual(
        t0.extra.map((e) => e.modelled),
        t0.truth.objects.map((o) => o.cls !== 0),
      );
    }
    assert.equal(src.skipped.count, 4, [...src.skipped.files.keys()].join(", "));
    assert.equal(warned.length, 4, "each file named once");
    assert.ok(warned.some((l) => /LIDAR_TOP__1600000001000000/.test(l) && /truncated/.test(l)));
    assert.ok(warned.some((l) => /CAM_FRONT__1600000001020000/.test(l) && /JPEG/.test(l)));
    // Stamps: ordered; every sensor message is a valid wire message.
    for (let i = 1; i < items.length; i++) assert.ok(items[i]!.tNs >= items[i - 1]!.tNs);
    for (const m of msgs) assert.ok(decodeSensorMessage(encodeSensorMessage(m)).ok);
  });

  it("derived camera boxes: misses, false positives and noise on request, named in the camera input", () => {
    const dets = (derived: object) => {
      const src = new NuScenesSource(NS_FIX, { vehicle: "fx", derived, warn: () => {} });
      const cams = sensors([...src.items()]).filter((m) => m.payload.kind === "camera_detections");
      return {
        src,
        d: cams.flatMap((m) => (m.payload.kind === "camera_detections" ? m.payload.detections : [])),
      };
    };
    const clean = dets({});
    assert.equal(clean.src.cameraInput, "derived:annotations");
    assert.equal(dets({ pMiss: 1 }).d.length, 0);
    const fp = dets({ falsePositives: 20, seed: 3 });
    assert.ok(fp.d.length > clean.d.length + 10, `${fp.d.length} boxes with ~20 false positives per frame`);
    assert.match(
      fp.src.cameraInput,
      /^derived:annotations \(noise 0, miss 0, false positives 20\/frame, seed 3\)$/,
    );
    const noisy = dets({ noiseFrac: 0.1 }).d;
    assert.equal(noisy.length, clean.d.length);
    assert.ok(
      noisy.some((b, i) => Math.abs(b.xMin - clean.d[i]!.xMin) > 0.01),
      "boxes moved by the noise",
    );
  });

  it("a directory that is not a nuScenes dataroot fails at once, saying what was expected", () => {
    assert.throws(() => new NuScenesSource(FIX, { vehicle: "v" }), /expected e\.g\. .*scene\.json/);
    assert.throws(
      () => new NuScenesSource(NS_FIX, { vehicle: "v", scene: "scene-x" }),
      /no scene named 'scene-x'/,
    );
  });

  it("nuScenes rig from the fixture tables: rates from the data and a pose sensor", () => {
    const rig = loadRig(`nuscenes:${NS_FIX}/v1.0-fixture#scene-fixture`);
    const r = Object.fromEntries(rig.sensors.map((s) => [s.id, s]));
    // LiDAR rows with files: t0, +0.25, +0.5, +1.0 s (3 intervals over 1 s).
    assert.ok(Math.abs(r.LIDAR_TOP!.rate_hz - 3) < 1e-3, `lidar ${r.LIDAR_TOP!.rate_hz}`);
    assert.ok(Math.abs(r.RADAR_FRONT!.rate_hz - 2) < 1e-3);
    assert.equal(r.EGO_POSE!.kind, "pose");
    assert.ok(Math.abs(r.EGO_POSE!.rate_hz - 4) < 1e-3, "poses of all 5 LiDAR rows over 1 s");
    assert.ok(!rig.sensors.some((s) => s.kind === "gnss" || s.kind === "imu"), "no invented GNSS/IMU");
  });

  it("KITTI raw drive: OXTS as GNSS + IMU, Velodyne with timestamps, tracklets as truth, rates from timestamps", () => {
    const src = new KittiSource(KITTI_FIX, { vehicle: "k", warn: () => {} });
    assert.equal(src.layout, "raw");
    const items = [...src.items()];
    const msgs = sensors(items);
    const kinds = (id: string) => msgs.filter((m) => m.header.sensorId === id).map((m) => m.payload.kind);
    assert.deepEqual(kinds("oxts_gnss"), ["gnss_fix", "gnss_fix", "gnss_fix"]);
    assert.deepEqual(kinds("oxts_imu"), ["imu", "imu", "imu"]);
    assert.deepEqual(kinds("velo"), ["point_cloud"]);
    const velo = msgs.find((m) => m.header.sensorId === "velo")!;
    assert.ok(velo.payload.kind === "point_cloud" && velo.payload.intensityMax === 1);
    const g = msgs.find((m) => m.header.sensorId === "oxts_gnss")!;
    assert.ok(g.payload.kind === "gnss_fix" && g.payload.fixType === 5 && g.payload.velocityEN?.[0] === 10);
    assert.equal(g.header.stampNs, parseKittiTime("2011-01-01 10:00:00.000000000"));
    // Velodyne frame 1 absent, frame 2 truncated, image 2 truncated: named and counted.
    assert.equal(src.skipped.count, 3, [...src.skipped.files.keys()].join(", "));
    // Camera 2: the PNG frames' sizes, the car's tracklet projected as a derived box.
    const cams = msgs.filter((m) => m.header.sensorId === "cam2");
    assert.equal(cams.length, 2);
    for (const c of cams) {
      assert.ok(c.payload.kind === "camera_detections");
      if (c.payload.kind !== "camera_detections") continue;
      assert.equal(c.payload.source, "derived:annotations");
      assert.deepEqual([c.payload.width, c.payload.height], [1242, 375]);
      const cars = c.payload.detections.filter((d) => d.cls === 1);
      assert.equal(cars.length, 1, "the car; Misc is not modelled");
      // 13 m ahead, centred: around the principal point (600, 180).
      const u = (cars[0]!.xMin + cars[0]!.xMax) / 2;
      assert.ok(Math.abs(u - 600) < 40, `u ${u}`);
    }
    const truths = items.filter((i) => i.kind === "truth");
    assert.equal(truths.length, 3);
    const t1 = truths[1]!;
    assert.ok(t1.kind === "truth");
    if (t1.kind !== "truth") return;
    // Car at tx 12.5 in the Velodyne (0.8 m ahead of the IMU): 13.3 m ahead of the vehicle origin;
    // the ego has moved 1 m east, heading east: world x = 1 + 13.3.
    const car = t1.truth.objects.find((o) => o.cls === 1)!;
    assert.ok(Math.abs(car.x - 14.3) < 0.05, `car x ${car.x}`);
    assert.ok(Math.abs(car.vx - 15) < 0.5, `car vx ${car.vx} (5 m/s relative + 10 m/s ego)`);
    assert.equal(t1.extra.filter((e) => !e.modelled).length, 1, "Misc is an ignore region");
    const velo10 = src.rig.sensors.find((s) => s.id === "velo")!;
    assert.ok(Math.abs(velo10.rate_hz - 10) < 1e-6);
  });

  it("KITTI parsers refuse malformed input with a clear error", () => {
    assert.throws(() => parseOxts("1 2 3"), /30/);
    assert.throws(() => parseKittiTime("yesterday"), /timestamp/);
    assert.throws(() => parseTracklets("<nothing/>"), /tracklets/);
    assert.throws(() => new KittiSource(FIX, { vehicle: "v" }), /neither a raw drive/);
  });

  it("images: sizes from the headers; corrupt and truncated files refused", () => {
    const dir = `${NS_FIX}/samples/CAM_FRONT/`;
    const f = readdirSync(dir).sort();
    assert.deepEqual(jpegInfo(readFileSync(dir + f[0])), { format: "jpeg", width: 160, height: 90 });
    const j = readFileSync(dir + f[0]);
    assert.throws(() => jpegInfo(j.subarray(0, j.length / 2)), /truncated/);
    assert.throws(() => jpegInfo(readFileSync(dir + f[2])), /not a JPEG/);
    assert.throws(() => pngInfo(new Uint8Array(40)), /not a PNG/);
  });
});

describe("replay readers on the genuine files (../shared/realdata)", { skip: realdataSkip() }, () => {
  it("nuScenes scene-0523: 40 keyframes x 12 channels parse; point counts, poses and calibration as documented", () => {
    const src = new NuScenesSource(NUSC_ROOT, { vehicle: "r", scene: "scene-0523", warn: () => {} });
    const items = [...src.items()];
    const msgs = sensors(items);
    const by = (id: string) => msgs.filter((m) => m.header.sensorId === id);
    assert.equal(by("LIDAR_TOP").length, 40);
    for (const ch of [
      "RADAR_FRONT",
      "RADAR_FRONT_LEFT",
      "RADAR_FRONT_RIGHT",
      "RADAR_BACK_LEFT",
      "RADAR_BACK_RIGHT",
    ])
      assert.equal(by(ch).length, 40, ch);
    for (const ch of ["CAM_FRONT", "CAM_BACK"]) assert.equal(by(ch).length, 40, ch);
    assert.equal(items.filter((i) => i.kind === "truth").length, 40);
    // Sweeps are not in the extract: their rows are counted as skipped, never fatal.
    assert.ok(src.skipped.count > 2000);
    // Every LiDAR file: bytes / 20 points (the manifest's check), rings 0..31.
    const dir = `${NUSC_ROOT}samples/LIDAR_TOP/`;
    const lidarFiles = readdirSync(dir).filter((f) => f.includes("n008"));
    for (const m of by("LIDAR_TOP")) {
      const name = lidarFiles.find((f) => f.endsWith(`__${Math.round(m.header.stampNs / 1000)}.pcd.bin`))!;
      const size = readFileSync(dir + name).byteLength;
      assert.ok(m.payload.kind === "point_cloud");
      if (m.payload.kind === "point_cloud") assert.equal(m.payload.points.count, size / 20);
    }
    // Radar: WIDTH points from the header (the manifest: 43 B per point plus trailing zeros).
    const rdir = `${NUSC_ROOT}samples/RADAR_FRONT/`;
    for (const f of readdirSync(rdir)
      .filter((n) => n.includes("n008"))
      .slice(0, 5)) {
      const b = readFileSync(rdir + f);
      const pcd = parsePcd(b);
      assert.equal(pcd.header.recordBytes, 43);
      assert.equal(pcd.header.fields.length, 18);
      assert.ok(pcd.trailingBytes > 0);
      const width = Number(/WIDTH (\d+)/.exec(new TextDecoder().decode(b.subarray(0, 400)))![1]);
      assert.equal(pcd.count, width);
    }
    // Camera frames: 1600 x 900.
    const cam = by("CAM_FRONT")[0]!;
    assert.ok(
      cam.payload.kind === "camera_detections" && cam.payload.width === 1600 && cam.payload.height === 900,
    );
    // Ego speed from consecutive keyframe poses (those at the LiDAR keyframes): 3.78-8.80 m/s, as
    // computed independently from ego_pose.json (the MANIFEST's 3.8-6.2 covers only part of the scene).
    const key = new Set(by("LIDAR_TOP").map((m) => m.header.stampNs));
    const poses = by("EGO_POSE").filter((m) => key.has(m.header.stampNs));
    assert.equal(poses.length, 40);
    const speeds: number[] = [];
    for (let i = 1; i < poses.length; i++) {
      const a = poses[i - 1]!;
      const b = poses[i]!;
      if (a.payload.kind !== "pose" || b.payload.kind !== "pose") continue;
      const d = Math.hypot(
        b.payload.position[0] - a.payload.position[0],
        b.payload.position[1] - a.payload.position[1],
      );
      speeds.push(d / ((b.header.stampNs - a.header.stampNs) / 1e9));
    }
    assert.ok(
      Math.abs(Math.min(...speeds) - 3.776) < 0.01 && Math.abs(Math.max(...speeds) - 8.798) < 0.01,
      `speeds ${speeds.map((s) => s.toFixed(1))}`,
    );
  });

  it("nuScenes rig for scene-0523: 2 Hz from the keyframes, the ego pose stream at 20 Hz", () => {
    const rig = loadRig(`nuscenes:${NUSC_TABLES}#scene-0523`);
    for (const s of rig.sensors) {
      if (s.kind === "pose") assert.ok(Math.abs(s.rate_hz - 20) < 0.1, `${s.id} ${s.rate_hz}`);
      else assert.ok(Math.abs(s.rate_hz - 2) < 0.05, `${s.id} ${s.rate_hz}`);
    }
  });

  it("KITTI object frames: velodyne counts, labels as truth, label boxes as derived camera input", () => {
    const src = new KittiSource(KITTI_OBJECT, { vehicle: "k", warn: () => {} });
    assert.equal(src.layout, "object");
    const items = [...src.items()];
    const velo = sensors(items).filter((m) => m.header.sensorId === "velo");
    assert.equal(velo.length, 3);
    velo.forEach((m, i) => {
      const size = readFileSync(`${KITTI_OBJECT}velodyne/00000${i}.bin`).byteLength;
      assert.ok(m.payload.kind === "point_cloud" && m.payload.points.count === size / 16);
    });
    const t0 = items.find((i) => i.kind === "truth");
    assert.ok(t0 && t0.kind === "truth");
    if (t0?.kind !== "truth") return;
    // 000000: one Pedestrian, 8.41 m ahead of camera 2 (MANIFEST): ~8.4 + 0.27 + 0.81 m ahead of the vehicle origin.
    assert.equal(t0.truth.objects.length, 1);
    assert.equal(t0.truth.objects[0]!.cls, 3);
    assert.ok(Math.abs(t0.truth.objects[0]!.x - 9.5) < 0.3, `x ${t0.truth.objects[0]!.x}`);
  });

  it("KITTI raw drive 0001: OXTS packet 0 as a real GNSS fix; absent Velodyne files counted, not fatal", () => {
    const src = new KittiSource(KITTI_RAW_DRIVE, { vehicle: "k", calib: KITTI_RAW_CALIB, warn: () => {} });
    const msgs = sensors([...src.items()]);
    const gnss = msgs.filter((m) => m.header.sensorId === "oxts_gnss");
    assert.equal(gnss.length, 1);
    const g = gnss[0]!.payload;
    assert.ok(
      g.kind === "gnss_fix" &&
        Math.abs(g.latitudeDeg - 49.015004) < 1e-6 &&
        Math.abs(g.longitudeDeg - 8.434297) < 1e-6,
    );
    // 108 frames listed; the Velodyne .bin and 107 OXTS packets are not in the extract.
    assert.ok(src.skipped.count >= 108 + 107);
    assert.ok(Math.abs(src.rig.sensors.find((s) => s.id === "velo")!.rate_hz - 1 / 0.1031) < 0.1);
  });
});
