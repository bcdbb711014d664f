/**
 * KITTI replay source (file side of ./kitti.ts). Two layouts, recognised by their folders:
 *  - raw synced drive `<date>_drive_<n>_sync/`: velodyne_points/, oxts/, image_0x/ (each with
 *    timestamps.txt and data/), tracklet_labels.xml; the calibration files calib_*.txt beside the
 *    drive folder (pykitti layout) or in `--calib DIR`;
 *  - 3D-object folder (`training/`): velodyne/, label_2/, calib/ (image_2/), one frame per file
 *    index, replayed as single frames at KITTI's 10 Hz (the files carry no time).
 * Anything else fails at once, saying what was expected.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { compose, extrinsicToRigid, type Rigid } from "../align/geometry.ts";
import {
  type Detection2D,
  type EgoState,
  type GroundTruth,
  ImageEncoding,
  ObjectClass,
  type SensorMessage,
  type SensorPayload,
} from "../msg/types.ts";
import { kittiObjectCalib, kittiRawCalib, rigFromKitti } from "../rig/kitti.ts";
import type { RigConfig, SensorConfig } from "../rig/schema.ts";
import { pngInfo } from "./images.ts";
import {
  decodeKittiVelodyne,
  type KittiBox,
  labelBoxes,
  type OxtsPacket,
  oxtsGnss,
  oxtsImu,
  parseKittiLabels,
  parseKittiTimestamps,
  parseOxts,
  parseTracklets,
  type Tracklet,
  trackletBoxes,
} from "./kitti.ts";
import { DERIVED_SOURCE, NuScenesError, ReplayFileError } from "./nuscenes.ts";
import type { CameraMode } from "./nuscenes-source.ts";
import { type ReplayItem, type ReplaySource, SkipLog } from "./types.ts";

export interface KittiSourceOptions {
  vehicle: string;
  /** Raw drives: folder with calib_cam_to_cam.txt, calib_imu_to_velo.txt, calib_velo_to_cam.txt. */
  calib?: string;
  camera?: CameraMode;
  warn?: (line: string) => void;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
const frameName = (i: number, ext: string) => `${String(i).padStart(10, "0")}.${ext}`;

/** Rate from timestamps: intervals over the span they cover, Hz. */
function rateOf(ts: number[]): number | undefined {
  if (ts.length < 2) return undefined;
  const span = (ts[ts.length - 1]! - ts[0]!) / 1e9;
  return span > 0 ? (ts.length - 1) / span : undefined;
}

/** Local tangent plane (east, north) of a geodetic point about an origin, m (WGS84 radii). */
export function enuOf(o: { lat: number; lon: number; alt: number }, lat: number, lon: number, alt: number) {
  const a = 6378137;
  const e2 = 6.69437999014e-3;
  const phi = (o.lat * Math.PI) / 180;
  const s = Math.sin(phi);
  const rn = (a * (1 - e2)) / (1 - e2 * s * s) ** 1.5;
  const re = a / Math.sqrt(1 - e2 * s * s);
  return {
    e: (((lon - o.lon) * Math.PI) / 180) * re * Math.cos(phi),
    n: (((lat - o.lat) * Math.PI) / 180) * rn,
    u: alt - o.alt,
  };
}

/** Project vehicle-frame boxes with a rig camera (D5 body frame): clipped 2D boxes. */
export function projectBoxes(boxes: readonly KittiBox[], cam: SensorConfig, minHeightPx = 12): Detection2D[] {
  const c = cam.camera;
  if (!c) return [];
  const T = extrinsicToRigid(cam.extrinsic);
  const out: Detection2D[] = [];
  for (const b of boxes) {
    if (b.cls === null) continue;
    let u0 = Infinity;
    let v0 = Infinity;
    let u1 = -Infinity;
    let v1 = -Infinity;
    let behind = false;
    const cs = Math.cos(b.yaw);
    const sn = Math.sin(b.yaw);
    for (const dl of [-0.5, 0.5])
      for (const dw of [-0.5, 0.5])
        for (const dh of [-0.5, 0.5]) {
          const p = [
            b.x + cs * dl * b.length - sn * dw * b.width - T.t[0],
            b.y + sn * dl * b.length + cs * dw * b.width - T.t[1],
            b.z + dh * b.height - T.t[2],
          ];
          // body = R^T (p - t)
          const q = [0, 1, 2].map((i) => T.R[i]! * p[0]! + T.R[3 + i]! * p[1]! + T.R[6 + i]! * p[2]!);
          if (q[0]! <= 0.1) {
            behind = true;
            continue;
          }
          const u = c.cx - (c.fx * q[1]!) / q[0]!;
          const v = c.cy - (c.fy * q[2]!) / q[0]!;
          u0 = Math.min(u0, u);
          v0 = Math.min(v0, v);
          u1 = Math.max(u1, u);
          v1 = Math.max(v1, v);
        }
    if (behind) continue;
    const x0 = Math.max(0, u0);
    const y0 = Math.max(0, v0);
    const x1 = Math.min(c.width, u1);
    const y1 = Math.min(c.height, v1);
    if (!(x1 > x0 && y1 - y0 >= minHeightPx)) continue;
    out.push({ xMin: x0, yMin: y0, xMax: x1, yMax: y1, cls: b.cls, score: b.occlusion >= 2 ? 0.6 : 0.9 });
  }
  return out;
}

function toTruth(
  vehicle: string,
  stampNs: number,
  seq: number,
  boxes: KittiBox[],
  ego: EgoState,
  scenario: string,
): { truth: GroundTruth; extra: { modelled: boolean; category: string; numPoints: number | null }[] } {
  const c = Math.cos(ego.yaw);
  const s = Math.sin(ego.yaw);
  return {
    truth: {
      vehicle,
      stampNs,
      seq,
      ego,
      objects: boxes.map((b) => ({
        id: b.id,
        cls: b.cls ?? ObjectClass.UNKNOWN,
        x: ego.x + c * b.x - s * b.y,
        y: ego.y + s * b.x + c * b.y,
        z: ego.z + b.z,
        length: b.length,
        width: b.width,
        height: b.height,
        yaw: ego.yaw + b.yaw,
        vx: 0,
        vy: 0,
      })),
      activeFaults: [],
      conditions: "real",
      scenario,
    },
    extra: boxes.map((b) => ({ modelled: b.cls !== null, category: b.type, numPoints: null })),
  };
}

const NO_EGO: EgoState = {
  valid: false,
  x: 0,
  y: 0,
  z: 0,
  yaw: 0,
  vx: 0,
  vy: 0,
  yawRate: 0,
  speed: 0,
  positionStdM: 0,
};

export class KittiSource implements ReplaySource {
  readonly description: string;
  readonly cameraInput: string;
  readonly skipped: SkipLog;
  readonly rig: RigConfig;
  readonly layout: "raw" | "object";
  private readonly path: string;
  private readonly o: KittiSourceOptions;
  private readonly ts: Record<string, number[]> = {};
  private tracklets: Tracklet[] = [];
  private readonly objectIds: string[] = [];
  private readonly objectCalib = new Map<string, ReturnType<typeof kittiObjectCalib>>();

  constructor(path: string, opts: KittiSourceOptions) {
    this.path = path;
    this.o = opts;
    this.skipped = new SkipLog(opts.warn);
    const cam = opts.camera ?? "derived";
    this.cameraInput = cam === "derived" ? DERIVED_SOURCE : cam;
    if (!isDir(path))
      throw new NuScenesError(
        `KITTI: ${path} is not a directory (expected a raw drive or an object training folder)`,
      );
    if (isDir(join(path, "velodyne_points")) || isDir(join(path, "oxts"))) {
      this.layout = "raw";
      this.rig = this.openRaw();
    } else if (isDir(join(path, "velodyne")) && isDir(join(path, "calib"))) {
      this.layout = "object";
      this.rig = this.openObject();
    } else {
      throw new NuScenesError(
        `KITTI: ${path} is neither a raw drive (velodyne_points/, oxts/, image_0x/ with timestamps.txt) nor an object folder (velodyne/, label_2/, calib/)`,
      );
    }
    this.description = `KITTI ${this.layout} ${path} (camera: ${this.cameraInput})`;
  }

  private openRaw(): RigConfig {
    const read = (sub: string) => {
      const p = join(this.path, sub, "timestamps.txt");
      if (!existsSync(p)) return;
      try {
        this.ts[sub] = parseKittiTimestamps(readFileSync(p, "utf8"));
      } catch (e) {
        this.skipped.skip(join(basename(this.path), sub, "timestamps.txt"), (e as Error).message);
      }
    };
    for (const sub of ["velodyne_points", "oxts", "image_00", "image_01", "image_02", "image_03"]) read(sub);
    if (!this.ts.velodyne_points && !this.ts.oxts)
      throw new NuScenesError(
        `KITTI raw: ${this.path} has neither velodyne_points/timestamps.txt nor oxts/timestamps.txt`,
      );
    const cands = this.o.calib
      ? [this.o.calib]
      : [dirname(this.path), this.path, dirname(dirname(this.path))];
    const calibDir = cands.find((d) => existsSync(join(d, "calib_cam_to_cam.txt")));
    if (!calibDir)
      throw new NuScenesError(
        `KITTI raw: calib_cam_to_cam.txt not found in ${cands.join(" or ")} (pass --calib DIR with the three calib_*.txt)`,
      );
    const txt = (n: string) => readFileSync(join(calibDir, n), "utf8");
    const calib = kittiRawCalib({
      camToCam: txt("calib_cam_to_cam.txt"),
      imuToVelo: txt("calib_imu_to_velo.txt"),
      veloToCam: txt("calib_velo_to_cam.txt"),
    });
    const tl = join(this.path, "tracklet_labels.xml");
    if (existsSync(tl)) {
      try {
        this.tracklets = parseTracklets(readFileSync(tl, "utf8"));
      } catch (e) {
        this.skipped.skip(join(basename(this.path), "tracklet_labels.xml"), (e as Error).message);
      }
    }
    const lidarRate = rateOf(this.ts.velodyne_points ?? []) ?? rateOf(this.ts.image_02 ?? []) ?? 10;
    return rigFromKitti(calib, {
      name: `kitti-${basename(this.path)}`,
      rate_hz: lidarRate,
      oxts_rate_hz: rateOf(this.ts.oxts ?? []) ?? lidarRate,
    });
  }

  private openObject(): RigConfig {
    const ids = readdirSync(join(this.path, "velodyne"))
      .filter((f) => f.endsWith(".bin"))
      .map((f) => f.slice(0, -4))
      .sort();
    if (ids.length === 0)
      throw new NuScenesError(`KITTI object: no .bin files in ${join(this.path, "velodyne")}`);
    this.objectIds.push(...ids);
    const first = join(this.path, "calib", `${ids[0]}.txt`);
    if (!existsSync(first)) throw new NuScenesError(`KITTI object: ${first} missing`);
    const calib = kittiObjectCalib(readFileSync(first, "utf8"));
    // No GNSS/IMU in object frames: the rig keeps them (unused); single frames at 10 Hz.
    return rigFromKitti(calib, { name: "kitti-object", rate_hz: 10, cameras: [2] });
  }

  logSpanS(): number | null {
    if (this.layout === "object") return (this.objectIds.length - 1) * 0.1;
    const all = Object.values(this.ts).flat();
    return all.length > 1 ? (Math.max(...all) - Math.min(...all)) / 1e9 : null;
  }

  *items(): Iterable<ReplayItem> {
    if (this.layout === "object") yield* this.objectItems();
    else yield* this.rawItems();
  }

  private sensor(id: string) {
    return this.rig.sensors.find((s) => s.id === id);
  }

  private *rawItems(): Iterable<ReplayItem> {
    const v = this.o.vehicle;
    const drive = basename(this.path);
    const events: { tNs: number; order: number; make: () => ReplayItem[] }[] = [];
    const seqs = new Map<string, number>();
    const seq = (id: string) => {
      const n = seqs.get(id) ?? 0;
      seqs.set(id, n + 1);
      return n;
    };
    const msg = (id: string, tNs: number, payload: SensorPayload): ReplayItem => ({
      kind: "sensor",
      tNs,
      msg: {
        header: { vehicle: v, sensorId: id, frameId: id, stampNs: tNs, seq: seq(id) },
        payload,
      } as SensorMessage,
    });
    const readRel = (rel: string): Uint8Array | null => {
      try {
        return readFileSync(join(this.path, rel));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        this.skipped.skip(join(drive, rel), code === "ENOENT" ? "absent" : `unreadable (${code})`);
        return null;
      }
    };
    const oxts: (OxtsPacket | null)[] = [];
    const oxtsAt = (i: number): OxtsPacket | null => {
      if (oxts[i] !== undefined) return oxts[i]!;
      const rel = join("oxts", "data", frameName(i, "txt"));
      const b = readRel(rel);
      let p: OxtsPacket | null = null;
      if (b)
        try {
          p = parseOxts(new TextDecoder().decode(b));
        } catch (e) {
          this.skipped.skip(join(drive, rel), (e as Error).message);
        }
      oxts[i] = p;
      return p;
    };
    // OXTS: GNSS + IMU, and the ENU origin of the truth (the first packet, as the EKF does).
    let origin: { lat: number; lon: number; alt: number } | null = null;
    const oxTs = this.ts.oxts ?? [];
    oxTs.forEach((t, i) => {
      events.push({
        tNs: t,
        order: 0,
        make: () => {
          const p = oxtsAt(i);
          if (!p) return [];
          return [msg("oxts_gnss", t, oxtsGnss(p)), msg("oxts_imu", t, oxtsImu(p))];
        },
      });
    });
    const veloStart = this.startStamps("velodyne_points");
    const vts = this.ts.velodyne_points ?? [];
    vts.forEach((t, i) => {
      events.push({
        tNs: t,
        order: 1,
        make: () => {
          const rel = join("velodyne_points", "data", frameName(i, "bin"));
          const b = readRel(rel);
          if (!b) return [];
          try {
            return [msg("velo", t, decodeKittiVelodyne(b, veloStart?.[i] ?? 0))];
          } catch (e) {
            this.skipped.skip(join(drive, rel), (e as Error).message);
            return [];
          }
        },
      });
    });
    const cams = (this.o.camera ?? "derived") === "none" ? [] : [2, 3].filter((i) => this.sensor(`cam${i}`));
    const veloFromVehicle: Rigid = extrinsicToRigid(this.sensor("velo")!.extrinsic);
    for (const ci of cams) {
      const ts = this.ts[`image_0${ci}`] ?? [];
      const cam = this.sensor(`cam${ci}`)!;
      ts.forEach((t, i) => {
        events.push({
          tNs: t,
          order: 2,
          make: () => {
            const rel = join(`image_0${ci}`, "data", frameName(i, "png"));
            const b = readRel(rel);
            if (!b) return [];
            let info: ReturnType<typeof pngInfo>;
            try {
              info = pngInfo(b);
            } catch (e) {
              this.skipped.skip(join(drive, rel), (e as Error).message);
              return [];
            }
            if (this.o.camera === "images")
              return [
                msg(`cam${ci}`, t, {
                  kind: "camera_image",
                  width: info.width,
                  height: info.height,
                  encoding: ImageEncoding.UNSPECIFIED,
                  data: b,
                }),
              ];
            const boxes = trackletBoxes(this.tracklets, i, veloFromVehicle);
            return [
              msg(`cam${ci}`, t, {
                kind: "camera_detections",
                width: info.width,
                height: info.height,
                detections: projectBoxes(boxes, cam),
                source: DERIVED_SOURCE,
              }),
            ];
          },
        });
      });
    }
    // Truth at each Velodyne frame with tracklets.
    let truthSeq = 0;
    const prevWorld = new Map<number, { t: number; x: number; y: number }>();
    if (this.tracklets.length)
      vts.forEach((t, i) => {
        events.push({
          tNs: t,
          order: 3,
          make: () => {
            const p = oxtsAt(i);
            const p0 = oxtsAt(0);
            if (p0 && !origin) origin = { lat: p0.lat, lon: p0.lon, alt: p0.alt };
            let ego = NO_EGO;
            if (p && origin) {
              // Vehicle origin: the IMU lowered to the ground (src/rig/kitti.ts).
              const enu = enuOf(origin, p.lat, p.lon, p.alt);
              ego = {
                valid: true,
                x: enu.e,
                y: enu.n,
                z: enu.u,
                yaw: p.yaw,
                vx: p.ve,
                vy: p.vn,
                yawRate: p.wz,
                speed: Math.hypot(p.ve, p.vn),
                positionStdM: p.posAccuracy,
              };
            }
            const boxes = trackletBoxes(this.tracklets, i, veloFromVehicle);
            const r = toTruth(v, t, truthSeq++, boxes, ego, `kitti:${drive}`);
            // Velocity over ground from the previous frame's world position (same tracklet id).
            for (const o of r.truth.objects) {
              const q = prevWorld.get(o.id);
              if (q && t > q.t) {
                o.vx = (o.x - q.x) / ((t - q.t) / 1e9);
                o.vy = (o.y - q.y) / ((t - q.t) / 1e9);
              }
              prevWorld.set(o.id, { t, x: o.x, y: o.y });
            }
            return [{ kind: "truth", tNs: t, truth: r.truth, extra: r.extra }];
          },
        });
      });
    events.sort((a, b) => a.tNs - b.tNs || a.order - b.order);
    for (const e of events) yield* e.make();
  }

  private startStamps(sub: string): number[] | null {
    const p = join(this.path, sub, "timestamps_start.txt");
    if (!existsSync(p)) return null;
    try {
      return parseKittiTimestamps(readFileSync(p, "utf8"));
    } catch {
      return null;
    }
  }

  private *objectItems(): Iterable<ReplayItem> {
    const v = this.o.vehicle;
    const velo = this.sensor("velo")!;
    const vehicleFromVelo = extrinsicToRigid(velo.extrinsic);
    const cam2 = this.sensor("cam2");
    let i = 0;
    for (const id of this.objectIds) {
      const tNs = 1e18 + i * 1e8;
      const rel = (d: string, ext: string) => join(d, `${id}.${ext}`);
      const read = (r: string): Uint8Array | null => {
        try {
          return readFileSync(join(this.path, r));
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          this.skipped.skip(r, code === "ENOENT" ? "absent" : `unreadable (${code})`);
          return null;
        }
      };
      const header = (sid: string) => ({ vehicle: v, sensorId: sid, frameId: sid, stampNs: tNs, seq: i });
      const b = read(rel("velodyne", "bin"));
      if (b) {
        try {
          yield { kind: "sensor", tNs, msg: { header: header("velo"), payload: decodeKittiVelodyne(b) } };
        } catch (e) {
          this.skipped.skip(rel("velodyne", "bin"), (e as Error).message);
        }
      }
      const lb = read(rel("label_2", "txt"));
      let boxes: KittiBox[] = [];
      let labels: ReturnType<typeof parseKittiLabels> = [];
      if (lb) {
        try {
          labels = parseKittiLabels(new TextDecoder().decode(lb));
          let calib = this.objectCalib.get(id);
          if (!calib) {
            const cb = read(rel("calib", "txt"));
            if (!cb) throw new ReplayFileError("no calib for its labels");
            calib = kittiObjectCalib(new TextDecoder().decode(cb));
            this.objectCalib.set(id, calib);
          }
          // Labels are in this frame's own camera frame: through its calib, then the rig's Velodyne.
          boxes = labelBoxes(labels, calib, vehicleFromVelo);
        } catch (e) {
          this.skipped.skip(rel("label_2", "txt"), (e as Error).message);
        }
      }
      if (cam2 && (this.o.camera ?? "derived") !== "none") {
        const ib = read(rel("image_2", "png"));
        let info: ReturnType<typeof pngInfo> | null = null;
        if (ib)
          try {
            info = pngInfo(ib);
          } catch (e) {
            this.skipped.skip(rel("image_2", "png"), (e as Error).message);
          }
        if (ib && info) {
          const payload: SensorPayload =
            this.o.camera === "images"
              ? {
                  kind: "camera_image",
                  width: info.width,
                  height: info.height,
                  encoding: ImageEncoding.UNSPECIFIED,
                  data: ib,
                }
              : {
                  kind: "camera_detections",
                  width: info.width,
                  height: info.height,
                  // The labels' own 2D boxes (annotated in image_2).
                  detections: labels
                    .map((l) => ({ l, cls: boxes.find((_, k) => labels[k] === l)?.cls ?? null }))
                    .filter((x) => x.cls !== null)
                    .map(({ l, cls }) => ({
                      xMin: l.bbox[0],
                      yMin: l.bbox[1],
                      xMax: l.bbox[2],
                      yMax: l.bbox[3],
                      cls: cls!,
                      score: l.occlusion >= 2 ? 0.6 : 0.9,
                    })),
                  source: DERIVED_SOURCE,
                };
          yield { kind: "sensor", tNs, msg: { header: header("cam2"), payload } };
        }
      }
      if (lb) {
        const r = toTruth(v, tNs, i, boxes, NO_EGO, `kitti-object:${id}`);
        yield { kind: "truth", tNs, truth: r.truth, extra: r.extra };
      }
      i++;
    }
  }
}

export { compose };
