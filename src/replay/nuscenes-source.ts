/**
 * nuScenes replay source: the file side of ./nuscenes.ts. `openNuScenes(dataroot, opts)` reads the
 * tables of `<dataroot>/<version>/` (fails at once, saying what was expected, when the layout is
 * not a nuScenes one) and yields the plan of the chosen scene(s) as SensorMessage / GroundTruth
 * items, reading each file when its turn comes. A file that is absent, truncated or corrupt is
 * named once, counted and skipped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { type GroundTruth, ImageEncoding, type SensorMessage, type SensorPayload } from "../msg/types.ts";
import { jpegInfo, pngInfo } from "./images.ts";
import {
  DEFAULT_DERIVED,
  DERIVED_SOURCE,
  type DerivedDetectionOptions,
  DEVKIT_RADAR_FILTERS,
  decodeNuScenesLidar,
  decodeNuScenesRadar,
  deriveDetections,
  egoOfPose,
  NuScenesDb,
  NuScenesError,
  type NsPlanItem,
  type NsTables,
  OPTIONAL_TABLES,
  REQUIRED_TABLES,
  rng,
  samplePose,
  sampleTruth,
  scenePlan,
} from "./nuscenes.ts";
import { type ReplayItem, type ReplaySource, SkipLog } from "./types.ts";

export type CameraMode = "derived" | "images" | "none";

export interface NuScenesSourceOptions {
  /** Table folder under the dataroot (default: the one folder holding scene.json). */
  version?: string;
  /** Scene name or "all" (default). */
  scene?: string;
  vehicle: string;
  /** Camera input: detections derived from annotations (default), JPEG frames, or nothing. */
  camera?: CameraMode;
  derived?: Partial<DerivedDetectionOptions>;
  /** Apply the nuscenes-devkit's default radar state filters. Default false. */
  radarFilter?: boolean;
  /** Include sweep rows (default true). */
  sweeps?: boolean;
  /** Sensor id of the pose stream. Default EGO_POSE. */
  poseSensor?: string;
  /** 1-sigma horizontal position / yaw uncertainty declared on the poses (the tables carry none). */
  poseStdM?: number;
  poseYawStdRad?: number;
  warn?: (line: string) => void;
}

/** The table folder of a dataroot; throws naming the expected layout. */
export function findVersionDir(dataroot: string, version?: string): string {
  if (!existsSync(dataroot) || !statSync(dataroot).isDirectory())
    throw new NuScenesError(
      `nuScenes: ${dataroot} is not a directory (expected a dataroot with <version>/scene.json and samples/)`,
    );
  if (version) {
    const d = join(dataroot, version);
    if (!existsSync(join(d, "scene.json")))
      throw new NuScenesError(
        `nuScenes: ${d}/scene.json not found (expected the JSON tables in <dataroot>/${version}/)`,
      );
    return d;
  }
  const cands = readdirSync(dataroot).filter((n) => existsSync(join(dataroot, n, "scene.json")));
  if (cands.length === 0)
    throw new NuScenesError(
      `nuScenes: no <version>/scene.json under ${dataroot} (expected e.g. ${dataroot}/v1.0-mini/scene.json; pass --version DIR)`,
    );
  if (cands.length > 1)
    throw new NuScenesError(
      `nuScenes: several table folders under ${dataroot} (${cands.join(", ")}): pass --version DIR`,
    );
  return join(dataroot, cands[0]!);
}

/** Read the tables of a version folder (required ones must parse; optional ones may be absent). */
export function readNuScenesTables(dir: string): NsTables {
  const t: Record<string, unknown> = {};
  for (const name of [...REQUIRED_TABLES, ...OPTIONAL_TABLES]) {
    const p = join(dir, `${name}.json`);
    const optional = (OPTIONAL_TABLES as readonly string[]).includes(name);
    if (!existsSync(p)) {
      if (optional) continue;
      throw new NuScenesError(`nuScenes: table ${p} missing (required: ${REQUIRED_TABLES.join(", ")})`);
    }
    try {
      t[name] = JSON.parse(readFileSync(p, "utf8"));
    } catch (e) {
      throw new NuScenesError(`nuScenes: ${p} is not valid JSON: ${(e as Error).message}`);
    }
  }
  return t as unknown as NsTables;
}

export class NuScenesSource implements ReplaySource {
  readonly description: string;
  readonly cameraInput: string;
  readonly skipped: SkipLog;
  readonly db: NuScenesDb;
  readonly dataroot: string;
  readonly scenes: string[];
  private readonly o: NuScenesSourceOptions;
  private readonly derived: DerivedDetectionOptions;

  constructor(dataroot: string, opts: NuScenesSourceOptions) {
    const dir = findVersionDir(dataroot, opts.version);
    this.dataroot = dataroot;
    this.db = new NuScenesDb(readNuScenesTables(dir));
    this.o = opts;
    const scene = opts.scene ?? "all";
    this.scenes = scene === "all" ? this.db.t.scene.map((s) => s.name) : [this.db.sceneByName(scene).name];
    this.skipped = new SkipLog(opts.warn);
    const cam = opts.camera ?? "derived";
    this.derived = { ...DEFAULT_DERIVED, ...opts.derived };
    const d = this.derived;
    const noisy = d.noiseFrac > 0 || d.pMiss > 0 || d.falsePositives > 0;
    this.cameraInput =
      cam === "derived"
        ? `${DERIVED_SOURCE}${noisy ? ` (noise ${d.noiseFrac}, miss ${d.pMiss}, false positives ${d.falsePositives}/frame, seed ${d.seed})` : ""}`
        : cam;
    this.description = `nuScenes ${dir} scene ${this.scenes.join(",")} (camera: ${this.cameraInput})`;
  }

  /** The plan of every chosen scene, scenes one after the other. */
  plan(): NsPlanItem[] {
    return this.scenes.flatMap((s) => scenePlan(this.db, s, { sweeps: this.o.sweeps ?? true }));
  }

  logSpanS(): number | null {
    const p = this.plan();
    return p.length > 1 ? (p[p.length - 1]!.tNs - p[0]!.tNs) / 1e9 : null;
  }

  *items(): Iterable<ReplayItem> {
    const seq = new Map<string, number>();
    const next = (id: string) => {
      const n = seq.get(id) ?? 0;
      seq.set(id, n + 1);
      return n;
    };
    const random = rng(this.derived.seed);
    const vehicle = this.o.vehicle;
    const poseId = this.o.poseSensor ?? "EGO_POSE";
    const sPos = this.o.poseStdM ?? 0.1;
    const sYaw = this.o.poseYawStdRad ?? 0.005;
    let truthSeq = 0;
    const dirExists = new Map<string, boolean>();
    for (const it of this.plan()) {
      if (it.kind === "pose") {
        const cov = new Array(36).fill(0);
        cov[0] = cov[7] = sPos * sPos;
        cov[14] = (2 * sPos) ** 2;
        cov[21] = cov[28] = (2 * sYaw) ** 2;
        cov[35] = sYaw * sYaw;
        const p = it.pose;
        yield {
          kind: "sensor",
          tNs: it.tNs,
          msg: {
            header: { vehicle, sensorId: poseId, frameId: "map", stampNs: it.tNs, seq: next(poseId) },
            payload: {
              kind: "pose",
              position: [p.translation[0]!, p.translation[1]!, p.translation[2]!],
              orientation: [p.rotation[0]!, p.rotation[1]!, p.rotation[2]!, p.rotation[3]!],
              covariance: cov,
            },
          },
        };
        continue;
      }
      if (it.kind === "truth") {
        const pose = samplePose(this.db, it.sample);
        const boxes = sampleTruth(this.db, it.sample);
        const truth: GroundTruth = {
          vehicle,
          stampNs: it.tNs,
          seq: truthSeq++,
          ego: pose
            ? egoOfPose(pose)
            : {
                ...egoOfPose({ token: "", timestamp: 0, translation: [0, 0, 0], rotation: [1, 0, 0, 0] }),
                valid: false,
              },
          objects: boxes.map(
            ({ modelled: _m, category: _c, numLidarPts: _l, numRadarPts: _r, visibility: _v, ...o }) => o,
          ),
          activeFaults: [],
          conditions: "real",
          scenario: `nuscenes:${this.db.t.scene.find((s) => s.token === it.sample.scene_token)?.name ?? ""}`,
        };
        yield {
          kind: "truth",
          tNs: it.tNs,
          truth,
          extra: boxes.map((b) => ({
            modelled: b.modelled,
            category: b.category,
            numPoints: b.numLidarPts + b.numRadarPts,
          })),
        };
        continue;
      }
      if (it.modality === "camera" && this.o.camera === "none") continue;
      const path = join(this.dataroot, it.sd.filename);
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // A whole folder absent (an extract without sweeps/): named once as the folder, every
        // row still counted.
        const dir = dirname(it.sd.filename);
        let dirOk = dirExists.get(dir);
        if (dirOk === undefined) dirExists.set(dir, (dirOk = existsSync(join(this.dataroot, dir))));
        if (code === "ENOENT" && !dirOk) this.skipped.skipIn(`${dir}/`, it.sd.filename, "folder absent");
        else this.skipped.skip(it.sd.filename, code === "ENOENT" ? "absent" : `unreadable (${code})`);
        continue;
      }
      let payload: SensorPayload | null;
      try {
        payload = this.decode(it, bytes, random);
      } catch (e) {
        this.skipped.skip(it.sd.filename, (e as Error).message);
        continue;
      }
      if (!payload) continue;
      yield {
        kind: "sensor",
        tNs: it.tNs,
        msg: {
          header: {
            vehicle,
            sensorId: it.channel,
            frameId: it.channel,
            stampNs: it.tNs,
            seq: next(it.channel),
          },
          payload,
        } satisfies SensorMessage,
      };
    }
  }

  private decode(
    it: Extract<NsPlanItem, { kind: "file" }>,
    bytes: Uint8Array,
    random: () => number,
  ): SensorPayload | null {
    if (it.modality === "lidar") return decodeNuScenesLidar(bytes);
    if (it.modality === "radar")
      return decodeNuScenesRadar(bytes, this.o.radarFilter ? DEVKIT_RADAR_FILTERS : null);
    const info = it.sd.filename.toLowerCase().endsWith(".png") ? pngInfo(bytes) : jpegInfo(bytes);
    if ((this.o.camera ?? "derived") === "images")
      return {
        kind: "camera_image",
        width: info.width,
        height: info.height,
        encoding: info.format === "jpeg" ? ImageEncoding.JPEG : ImageEncoding.UNSPECIFIED,
        data: bytes,
      };
    // Derived detections exist where annotations do: keyframes only.
    if (!it.sd.is_key_frame) return null;
    const sample = this.db.sample.get(it.sd.sample_token);
    const pose = this.db.egoPose.get(it.sd.ego_pose_token);
    const cam = this.db.calib.get(it.sd.calibrated_sensor_token);
    if (!sample || !pose || !cam) return null;
    const detections = deriveDetections(
      sampleTruth(this.db, sample),
      pose,
      cam,
      { width: info.width, height: info.height },
      this.derived,
      random,
    );
    return {
      kind: "camera_detections",
      width: info.width,
      height: info.height,
      detections,
      source: DERIVED_SOURCE,
    };
  }
}
