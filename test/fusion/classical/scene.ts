/**
 * Synthetic ticks for the classical engine tests: a flat ground, a few boxes (world frame), and the
 * LiDAR points, radar returns and camera boxes an ideal-ish rig would see of them.
 */
import type { AlignedTick, CameraObservation } from "../../../src/align/types.ts";
import { cameraModelOf, projectToPixel } from "../../../src/fusion/camera.ts";
import type { HealthSnapshot, PerceptionModality } from "../../../src/health/types.ts";
import { type Detection2D, type EgoState, type ObjectClass, SystemMode } from "../../../src/msg/types.ts";
import type { RigConfig } from "../../../src/rig/schema.ts";

export interface WorldBox {
  id: number;
  cls: ObjectClass;
  /** World (ENU) centre at t = 0, m, and velocity, m/s. */
  x: number;
  y: number;
  vx: number;
  vy: number;
  yaw: number;
  length: number;
  width: number;
  height: number;
}

export interface EgoPath {
  x: number;
  y: number;
  yaw: number;
  vx: number;
  vy: number;
  yawRate: number;
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function egoAt(p: EgoPath, tS: number): EgoState {
  const yaw = p.yaw + p.yawRate * tS;
  return {
    valid: true,
    x: p.x + p.vx * tS,
    y: p.y + p.vy * tS,
    z: 0,
    yaw,
    vx: p.vx,
    vy: p.vy,
    yawRate: p.yawRate,
    speed: Math.hypot(p.vx, p.vy),
    positionStdM: 0.1,
  };
}

/** Box in the vehicle frame at time tS: centre, yaw and ground velocity in vehicle axes. */
export function boxInVehicle(b: WorldBox, ego: EgoState, tS: number) {
  const wx = b.x + b.vx * tS;
  const wy = b.y + b.vy * tS;
  const c = Math.cos(ego.yaw);
  const s = Math.sin(ego.yaw);
  const dx = wx - ego.x;
  const dy = wy - ego.y;
  return {
    x: c * dx + s * dy,
    y: -s * dx + c * dy,
    yaw: b.yaw - ego.yaw,
    vx: c * b.vx + s * b.vy,
    vy: -s * b.vx + c * b.vy,
  };
}

export interface SceneOptions {
  /** LiDAR origin in the vehicle frame. */
  lidarOrigin?: [number, number, number];
  /** Point spacing on a surface at 10 m, m (scales with range). */
  spacingAt10M?: number;
  groundPoints?: number;
  groundHalfM?: number;
  cameras?: boolean;
  radar?: boolean;
  lidar?: boolean;
  seed?: number;
  /** false: every point at the stamp (global shutter); default: a clockwise sweep ending at it. */
  rollingShutter?: boolean;
  /** Radar origins in the vehicle frame (default: the rig's radars). */
}

/** LiDAR points on the faces of each box that face the sensor, plus ground points. */
function lidarPoints(
  boxes: ReturnType<typeof boxInVehicle>[],
  src: WorldBox[],
  o: [number, number, number],
  spacing10: number,
  groundN: number,
  groundHalf: number,
  rand: () => number,
): Float32Array {
  const pts: number[] = [];
  for (let i = 0; i < groundN; i++) {
    pts.push((rand() * 2 - 1) * groundHalf, (rand() * 2 - 1) * groundHalf, (rand() - 0.5) * 0.06, 0.1);
  }
  boxes.forEach((b, k) => {
    const w = src[k]!;
    const c = Math.cos(b.yaw);
    const s = Math.sin(b.yaw);
    const r = Math.hypot(b.x - o[0], b.y - o[1]);
    const sp = spacing10 * Math.max(0.5, r / 10);
    // four side faces: normal n, centre, tangent extent
    const faces: [number, number, number][] = [
      [1, 0, w.width],
      [-1, 0, w.width],
      [0, 1, w.length],
      [0, -1, w.length],
    ];
    for (const [na, nb, ext] of faces) {
      const nx = c * na - s * nb;
      const ny = s * na + c * nb;
      const off = na !== 0 ? w.length / 2 : w.width / 2;
      const fx = b.x + nx * off;
      const fy = b.y + ny * off;
      if (nx * (o[0] - fx) + ny * (o[1] - fy) <= 0) continue; // back face
      const tx = -ny;
      const ty = nx;
      for (let a = -ext / 2; a <= ext / 2; a += sp)
        for (let z = 0.05; z <= w.height; z += sp) {
          pts.push(fx + tx * a + (rand() - 0.5) * 0.04, fy + ty * a + (rand() - 0.5) * 0.04, z, 0.5);
        }
    }
  });
  return Float32Array.from(pts);
}

export function healthAll(
  vehicle: string,
  mask?: Partial<Record<PerceptionModality, boolean>>,
): HealthSnapshot {
  const m = { lidar: true, radar: true, camera: true, ...mask };
  return {
    vehicle,
    nowNs: 0,
    mode: SystemMode.NOMINAL,
    reasons: [],
    sensors: [],
    mask: m,
    features: { lidar: [1, 1, 1, 1], radar: [1, 1, 1, 1], camera: [1, 1, 1, 1] },
    changed: false,
    usable: {},
    transitions: [],
    drift: [],
  };
}

/** Build the AlignedTick a rig would produce of `world` at time tS. */
export function makeTick(
  rig: RigConfig,
  world: WorldBox[],
  egoPath: EgoPath,
  seq: number,
  tS: number,
  opts: SceneOptions = {},
  vehicle = "v1",
): AlignedTick {
  const rand = rng((opts.seed ?? 1) * 7919 + seq);
  const ego = egoAt(egoPath, tS);
  const vb = world.map((b) => boxInVehicle(b, ego, tS));
  const lidarSensor = rig.sensors.find((s) => s.kind === "lidar");
  const o = opts.lidarOrigin ??
    (lidarSensor?.extrinsic.translation_m as [number, number, number]) ?? [0, 0, 1.8];
  const stampNs = 1_700_000_000_000_000_000 + Math.round(tS * 1e9);

  let lidar: AlignedTick["lidar"] = null;
  if (opts.lidar !== false) {
    // A spinning LiDAR (clockwise from behind, sweep ending at the stamp) sees each box at its own time.
    const sweepS = opts.rollingShutter === false ? 0 : 1 / (lidarSensor?.rate_hz ?? 10);
    const seen = world.map((b, k) => {
      const v = vb[k]!;
      const az = Math.atan2(v.y - o[1], v.x - o[0]);
      const frac = ((((Math.PI - az) / (2 * Math.PI)) % 1) + 1) % 1;
      return boxInVehicle(b, ego, tS - sweepS * (1 - frac));
    });
    const data = lidarPoints(
      seen,
      world,
      o,
      opts.spacingAt10M ?? 0.12,
      opts.groundPoints ?? 20000,
      opts.groundHalfM ?? 50,
      rand,
    );
    lidar = { stride: 4, count: data.length / 4, fields: { x: 0, y: 1, z: 2, intensity: 3 }, data };
  }

  let radar: AlignedTick["radar"] = null;
  if (opts.radar !== false) {
    const radars = rig.sensors.filter((s) => s.kind === "radar");
    const rets: number[] = [];
    for (const rs of radars) {
      const [rx, ry] = rs.extrinsic.translation_m;
      const ryaw = rs.extrinsic.rotation_rpy_rad[2];
      const fov = ((rs.radar?.fov_deg ?? 90) * Math.PI) / 180;
      vb.forEach((b, k) => {
        const w = world[k]!;
        // return from the box point nearest to the radar
        const c = Math.cos(b.yaw);
        const s = Math.sin(b.yaw);
        const dx = rx - b.x;
        const dy = ry - b.y;
        const la = Math.max(-w.length / 2, Math.min(w.length / 2, c * dx + s * dy));
        const lb = Math.max(-w.width / 2, Math.min(w.width / 2, -s * dx + c * dy));
        const px = b.x + c * la - s * lb;
        const py = b.y + s * la + c * lb;
        const az = Math.atan2(py - ry, px - rx) - ryaw;
        const azw = Math.atan2(Math.sin(az), Math.cos(az));
        if (Math.abs(azw) > fov / 2) return;
        const r = Math.hypot(px - rx, py - ry);
        const ux = (px - rx) / r;
        const uy = (py - ry) / r;
        const vr = ux * b.vx + uy * b.vy + (rand() - 0.5) * 0.1;
        rets.push(px, py, 0.5, vr, 10, ux, uy);
      });
    }
    radar = {
      stride: 7,
      count: rets.length / 7,
      fields: { x: 0, y: 1, z: 2, vr: 3, rcs: 4, ux: 5, uy: 6 },
      data: Float32Array.from(rets),
    };
  }

  const cameras: CameraObservation[] = [];
  if (opts.cameras !== false) {
    for (const s of rig.sensors) {
      const cam = cameraModelOf(s);
      if (!cam) continue;
      const dets: Detection2D[] = [];
      vb.forEach((b, k) => {
        const w = world[k]!;
        const c = Math.cos(b.yaw);
        const sn = Math.sin(b.yaw);
        let xMin = Number.POSITIVE_INFINITY;
        let xMax = Number.NEGATIVE_INFINITY;
        let yMin = Number.POSITIVE_INFINITY;
        let yMax = Number.NEGATIVE_INFINITY;
        for (const a of [-1, 1])
          for (const bb of [-1, 1])
            for (const z of [0, w.height]) {
              const la = (a * w.length) / 2;
              const lb = (bb * w.width) / 2;
              const p = projectToPixel(cam, b.x + c * la - sn * lb, b.y + sn * la + c * lb, z);
              if (!p) return;
              xMin = Math.min(xMin, p.u);
              xMax = Math.max(xMax, p.u);
              yMin = Math.min(yMin, p.v);
              yMax = Math.max(yMax, p.v);
            }
        if (xMax < 0 || xMin > cam.width || yMax < 0 || yMin > cam.height) return;
        const uc = (xMin + xMax) / 2;
        if (uc < 0 || uc > cam.width) return;
        dets.push({
          xMin: Math.max(0, xMin),
          xMax: Math.min(cam.width, xMax),
          yMin: Math.max(0, yMin),
          yMax: Math.min(cam.height, yMax),
          cls: w.cls,
          score: 0.9,
        });
      });
      cameras.push({ sensorId: s.id, stampNs, width: cam.width, height: cam.height, detections: dets });
    }
  }

  return {
    vehicle,
    seq,
    stampNs,
    trigger: "reference",
    inputs: [],
    ego,
    lidar,
    radar,
    cameras,
    lastArrivalNs: stampNs,
    emittedNs: stampNs,
    diagnostics: { drops: {}, clockSkew: [], resets: 0 },
  };
}
