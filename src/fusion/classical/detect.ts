/**
 * Classical per-tick detector: LiDAR clusters as anchors, radar returns and camera boxes
 * associated to them by gated nearest neighbour, radar-only and camera-only objects where LiDAR
 * is masked (or beyond its trusted range), and inverse-variance fusion of position and velocity.
 * Output: TrackDetection[] in the vehicle frame for the tracker.
 */
import type { AlignedTick, CameraObservation } from "../../align/types.ts";
import type { PerceptionModality } from "../../health/types.ts";
import { type Detection2D, Modality, ObjectClass, type PackedArray } from "../../msg/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import {
  type CameraModel,
  bodyAzimuth,
  cameraModelOf,
  depthFromHeight,
  pixelAtDepth,
  pixelAzimuth,
  pixelToGround,
} from "../camera.ts";
import type { TrackPrediction } from "../tracker/index.ts";
import type { TrackDetection } from "../tracker/types.ts";
import type { ClassicalConfig } from "./config.ts";
import { LidarClusterer } from "./lidar.ts";
import {
  type SweepTiming,
  lidarMount,
  referenceLidar,
  sweepTimeOffset,
  sweepTimingOf,
} from "../lidar-geometry.ts";
import { CLASS_PRIOR_DIMS, classifyBySize, completeBox, wrapPi } from "./shape.ts";

/** One object hypothesis while the tick is being fused (vehicle frame). */
interface Candidate {
  /** Anchor position used for association (raw LiDAR box centre, radar centroid or camera estimate). */
  ax: number;
  ay: number;
  lidar: {
    cx: number;
    cy: number;
    length: number;
    width: number;
    yaw: number;
    height: number;
    points: number;
    cls: ObjectClass;
    conf: number;
    /** Motion heading of the moving track covering this cluster, rad; null when none. */
    heading: number | null;
    /** That track's velocity (0 when none), m/s, and when the LiDAR saw the cluster, s (<= 0). */
    vx: number;
    vy: number;
    dtS: number;
  } | null;
  /** Radar: count, position information sums, velocity information (u u^T / var) and vector. */
  radarN: number;
  rPx: number; // sum of w*x
  rPy: number;
  rW: number; // sum of position weights
  vIxx: number;
  vIxy: number;
  vIyy: number;
  vbx: number;
  vby: number;
  maxAbsVr: number;
  /** Strongest radar cross-section among the returns, dBsm (-Infinity when none). */
  maxRcs: number;
  /** Ground speed of the settled track covering the candidate, m/s; null when none. */
  speedHint: number | null;
  /** Camera: best associated detection. */
  camCls: ObjectClass;
  camScore: number;
  /** When a radar- or camera-only object was measured, relative to the tick, s. */
  dtS: number;
  /** Monocular position estimate and its covariance (camera-only objects). */
  mono: { x: number; y: number; xx: number; xy: number; yy: number } | null;
}

function emptyCandidate(ax: number, ay: number): Candidate {
  return {
    ax,
    ay,
    lidar: null,
    radarN: 0,
    rPx: 0,
    rPy: 0,
    rW: 0,
    vIxx: 0,
    vIxy: 0,
    vIyy: 0,
    vbx: 0,
    vby: 0,
    maxAbsVr: 0,
    maxRcs: Number.NEGATIVE_INFINITY,
    speedHint: null,
    dtS: 0,
    camCls: ObjectClass.UNKNOWN,
    camScore: 0,
    mono: null,
  };
}

export interface DetectStats {
  lidarClusters: number;
  radarAssociated: number;
  radarUnassociated: number;
  /** Returns near an object whose radial velocity disagreed with the object's other returns. */
  radarRejected: number;
  cameraAssociated: number;
  cameraOnly: number;
}

/** Velocity prior across the radar line of sight, m/s (1 sigma): radar says nothing there. */
const VEL_PRIOR_STD_MPS = 15;

export class ClassicalDetector {
  private readonly clusterer: LidarClusterer;
  private readonly cams = new Map<string, CameraModel>();
  /** LiDAR origin in the vehicle frame (for box completion), m. */
  private readonly sx: number;
  private readonly sy: number;
  /** The spinning LiDAR's timing; null without a LiDAR or with `lidar_rotation: none`. */
  private readonly sweep: SweepTiming | null;
  /** Field index of the radar cross-section in this tick's radar array. */
  private rcsField: number | undefined = undefined;
  lastStats: DetectStats = {
    lidarClusters: 0,
    radarAssociated: 0,
    radarUnassociated: 0,
    radarRejected: 0,
    cameraAssociated: 0,
    cameraOnly: 0,
  };

  constructor(
    rig: RigConfig,
    private readonly cfg: ClassicalConfig,
  ) {
    const lidarSensor = referenceLidar(rig);
    this.clusterer = new LidarClusterer(cfg, lidarMount(lidarSensor));
    for (const s of rig.sensors) {
      const m = cameraModelOf(s);
      if (m) this.cams.set(s.id, m);
    }
    const mount = lidarMount(lidarSensor);
    this.sx = mount.x;
    this.sy = mount.y;
    this.sweep =
      cfg.lidar_rotation === "none"
        ? null
        : sweepTimingOf(lidarSensor, cfg.lidar_rotation, cfg.lidar_sweep_start_azimuth_rad);
  }

  /** Which modalities this tick uses: allowed by the mask and present. */
  used(tick: AlignedTick, mask: Record<PerceptionModality, boolean>): Record<PerceptionModality, boolean> {
    return {
      lidar: mask.lidar && tick.lidar !== null && tick.lidar.count > 0,
      radar: mask.radar && tick.radar !== null,
      camera: mask.camera && tick.cameras.some((c) => this.cams.has(c.sensorId)),
    };
  }

  /**
   * Detect objects in one tick. `hints`: the tracker's tracks predicted to this tick (their motion
   * headings tell a car's back from a bicycle's side and which way a box is long).
   */
  detect(
    tick: AlignedTick,
    use: Record<PerceptionModality, boolean>,
    hints: readonly TrackPrediction[] = [],
  ): TrackDetection[] {
    const cfg = this.cfg;
    const stats: DetectStats = {
      lidarClusters: 0,
      radarAssociated: 0,
      radarUnassociated: 0,
      radarRejected: 0,
      cameraAssociated: 0,
      cameraOnly: 0,
    };
    this.lastStats = stats;
    const cands: Candidate[] = [];

    // 1. LiDAR clusters.
    if (use.lidar && tick.lidar) {
      for (const cl of this.clusterer.cluster(tick.lidar)) {
        const hint = nearestHint(hints, cl.cx, cl.cy, cl.length);
        const heading = motionHeading(hint, cfg.motion_min_speed_mps);
        // Far away, the top seen may be a whole beam spacing under the real one: a low cluster
        // there is `unknown` (kept for radar or camera to name) rather than rejected.
        const sparse = cl.vertResM > cfg.sparse_beam_spacing_m;
        const top = sparse ? Math.max(cl.zMax, 0.5) : cl.zMax;
        const sc = classifyBySize(
          cl.length,
          cl.width,
          top,
          cfg.max_object_length_m,
          cl.zMin,
          cfg.max_bottom_height_m,
          heading === null ? null : { yaw: cl.yaw, heading, speed: Math.hypot(hint!.vx, hint!.vy) },
        );
        if (!sc.object) continue;
        const c = emptyCandidate(cl.cx, cl.cy);
        c.lidar = {
          cx: cl.cx,
          cy: cl.cy,
          length: cl.length,
          width: cl.width,
          yaw: cl.yaw,
          height: Math.max(cl.zMax, 0.5),
          points: cl.points,
          cls: sc.cls,
          conf: sc.conf,
          heading,
          vx: hint?.vx ?? 0,
          vy: hint?.vy ?? 0,
          dtS: this.lidarTimeOffset(cl.cx, cl.cy),
        };
        cands.push(c);
      }
      stats.lidarClusters = cands.length;
    }
    const nLidar = cands.length;

    // 2. Radar returns: to the nearest LiDAR box, the rest into radar objects.
    if (use.radar && tick.radar) {
      // Returns of several radars arrive merged, without their stamps; with one radar, its stamp
      // dates the radar-only objects.
      const radars = tick.inputs.filter((i) => i.kind === "radar" && i.stampNs !== null);
      const dtS = radars.length === 1 ? (radars[0]!.stampNs! - tick.stampNs) / 1e9 : 0;
      this.radar(tick.radar, cands, nLidar, use.lidar, stats, dtS);
    }

    // 3. Camera detections: to the best object by bearing and range, the rest into camera-only objects.
    if (use.camera) {
      for (const obs of tick.cameras) {
        const cam = this.cameraFor(obs);
        if (cam) this.camera(cam, obs, cands, use.lidar, stats, tick.stampNs);
      }
      this.mergeCameraOnly(cands);
    }

    // 4. Fuse each candidate.
    const out: TrackDetection[] = [];
    for (const c of cands) {
      const h = nearestHint(hints, c.ax, c.ay, 2);
      if (h && h.velStdMps <= 1.5) c.speedHint = Math.hypot(h.vx, h.vy);
      const d = this.fuse(c);
      if (d) out.push(d);
    }
    return out;
  }

  /** The rig's camera model, with the aligner's motion-compensated pose and intrinsics when given. */
  private cameraFor(obs: CameraObservation): CameraModel | null {
    const base = this.cams.get(obs.sensorId);
    if (!base) return null;
    const vfc = obs.vehicleFromCamera;
    const K = obs.intrinsics;
    if (!vfc && !K) return base;
    return {
      ...base,
      ...(K
        ? {
            fx: K.fx,
            fy: K.fy,
            cx: K.cx,
            cy: K.cy,
            width: obs.width > 0 ? obs.width : base.width,
            height: obs.height > 0 ? obs.height : base.height,
          }
        : {}),
      ...(vfc && vfc.R.length === 9 ? { R: Float64Array.from(vfc.R), t: Float64Array.from(vfc.t) } : {}),
    };
  }

  /** When the LiDAR saw a point at (x, y), relative to the sweep's end stamp, s (<= 0). */
  private lidarTimeOffset(x: number, y: number): number {
    return this.sweep ? sweepTimeOffset(this.sweep, x, y) : 0;
  }

  private radar(
    pa: PackedArray,
    cands: Candidate[],
    nLidar: number,
    lidarUsed: boolean,
    stats: DetectStats,
    dtS: number,
  ): void {
    const cfg = this.cfg;
    const f = pa.fields;
    const fx = f["x"];
    const fy = f["y"];
    const fvr = f["vr"];
    const fux = f["ux"];
    const fuy = f["uy"];
    this.rcsField = f["rcs"];
    if (fx === undefined || fy === undefined || fvr === undefined) return;
    const { data, stride, count } = pa;
    const vrVar = cfg.radar_vr_std_mps ** 2;
    const left: number[] = [];
    // LiDAR boxes moved to the tick time (a spinning LiDAR saw them up to a sweep earlier).
    const bx = new Float64Array(nLidar);
    const by = new Float64Array(nLidar);
    for (let k = 0; k < nLidar; k++) {
      const L = cands[k]!.lidar!;
      bx[k] = L.cx - L.vx * L.dtS;
      by[k] = L.cy - L.vy * L.dtS;
    }
    const byCand: number[][] = Array.from({ length: nLidar }, () => []);
    for (let i = 0, o = 0; i < count; i++, o += stride) {
      const x = data[o + fx]!;
      const y = data[o + fy]!;
      const vr = data[o + fvr]!;
      if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(vr)) continue;
      const r = Math.hypot(x, y);
      const gate = cfg.radar_gate_m + 2 * r * cfg.radar_azimuth_std_rad;
      let best = -1;
      let bestD = gate;
      for (let k = 0; k < nLidar; k++) {
        const L = cands[k]!.lidar!;
        const d = distToBox(x, y, bx[k]!, by[k]!, L.length, L.width, L.yaw);
        if (d <= bestD) {
          bestD = d;
          best = k;
        }
      }
      if (best >= 0) byCand[best]!.push(o);
      else left.push(o);
    }
    // Per object, keep the returns that agree on the radial velocity (a return of the wall behind
    // a car, or of the car beside it, would bias the velocity).
    for (let k = 0; k < nLidar; k++) {
      const offs = byCand[k]!;
      if (offs.length === 0) continue;
      const ref = offs.length >= 2 ? medianOf(offs.map((o) => data[o + fvr]!)) : null;
      for (const o of offs) {
        if (ref !== null && Math.abs(data[o + fvr]! - ref) > cfg.radar_vr_consistency_mps) {
          stats.radarRejected++;
          continue;
        }
        this.addRadar(cands[k]!, data, o, fx, fy, fvr, fux, fuy, vrVar);
        stats.radarAssociated++;
      }
    }
    stats.radarUnassociated = left.length;
    if (left.length === 0) return;

    // Single-linkage clustering of the leftover returns (few per tick: O(n^2) is fine).
    const m = left.length;
    const lab = new Int32Array(m).fill(-1);
    const r2 = cfg.radar_cluster_m ** 2;
    let nl = 0;
    const queue: number[] = [];
    for (let a = 0; a < m; a++) {
      if (lab[a] !== -1) continue;
      lab[a] = nl;
      queue.length = 0;
      queue.push(a);
      while (queue.length) {
        const p = queue.pop()!;
        const op = left[p]!;
        for (let b = 0; b < m; b++) {
          if (lab[b] !== -1) continue;
          const ob = left[b]!;
          const dx = data[op + fx]! - data[ob + fx]!;
          const dy = data[op + fy]! - data[ob + fy]!;
          if (dx * dx + dy * dy <= r2) {
            lab[b] = nl;
            queue.push(b);
          }
        }
      }
      nl++;
    }
    const groups: Candidate[] = [];
    for (let g = 0; g < nl; g++) groups.push(emptyCandidate(0, 0));
    for (let a = 0; a < m; a++) this.addRadar(groups[lab[a]!]!, data, left[a]!, fx, fy, fvr, fux, fuy, vrVar);
    for (const g of groups) {
      g.ax = g.rPx / g.rW;
      g.ay = g.rPy / g.rW;
      g.dtS = dtS;
      // Radar cannot tell a parked car from a wall or a guard rail: alone, it reports movers only.
      if (g.radarN < cfg.radar_min_returns || g.maxAbsVr < cfg.radar_moving_mps) continue;
      if (lidarUsed && Math.hypot(g.ax, g.ay) < cfg.lidar_trusted_range_m) continue;
      cands.push(g);
    }
  }

  private addRadar(
    c: Candidate,
    data: Float32Array,
    o: number,
    fx: number,
    fy: number,
    fvr: number,
    fux: number | undefined,
    fuy: number | undefined,
    vrVar: number,
  ): void {
    const x = data[o + fx]!;
    const y = data[o + fy]!;
    const vr = data[o + fvr]!;
    const r = Math.hypot(x, y);
    let ux = fux !== undefined ? data[o + fux]! : x / (r || 1);
    let uy = fuy !== undefined ? data[o + fuy]! : y / (r || 1);
    const un = Math.hypot(ux, uy);
    if (!(un > 1e-3)) {
      ux = x / (r || 1);
      uy = y / (r || 1);
    } else {
      ux /= un;
      uy /= un;
    }
    // Position weight: the larger of range and cross-range variance (isotropic, conservative).
    const pv = Math.max(this.cfg.radar_range_std_m ** 2, (r * this.cfg.radar_azimuth_std_rad) ** 2);
    c.rPx += x / pv;
    c.rPy += y / pv;
    c.rW += 1 / pv;
    c.vIxx += (ux * ux) / vrVar;
    c.vIxy += (ux * uy) / vrVar;
    c.vIyy += (uy * uy) / vrVar;
    c.vbx += (ux * vr) / vrVar;
    c.vby += (uy * vr) / vrVar;
    if (Math.abs(vr) > c.maxAbsVr) c.maxAbsVr = Math.abs(vr);
    const frcs = this.rcsField;
    if (frcs !== undefined) {
      const rcs = data[o + frcs]!;
      if (rcs > c.maxRcs) c.maxRcs = rcs;
    }
    c.radarN++;
  }

  private camera(
    cam: CameraModel,
    obs: CameraObservation,
    cands: Candidate[],
    lidarUsed: boolean,
    stats: DetectStats,
    tickNs: number,
  ): void {
    const cfg = this.cfg;
    const sx = obs.width > 0 ? obs.width / cam.width : 1;
    const sy = obs.height > 0 ? obs.height / cam.height : 1;
    // Bearing/range of every candidate as seen from this camera.
    const nc = cands.length;
    const az = new Float64Array(nc);
    const rg = new Float64Array(nc);
    const visible = new Uint8Array(nc);
    for (let k = 0; k < nc; k++) {
      const c = cands[k]!;
      if (c.mono) continue; // camera-only objects of other cameras are merged later
      const b = bodyAzimuth(cam, c.ax, c.ay, 0.8);
      const halfFov = Math.atan2(cam.width / 2, cam.fx) + 0.05;
      if (Math.abs(b.az) > halfFov || b.range > cam.maxRangeM * 1.3 || b.range < 0.5) continue;
      az[k] = b.az;
      rg[k] = b.range;
      visible[k] = 1;
    }
    const pairs: { cost: number; d: number; k: number }[] = [];
    const dets: { det: Detection2D; az: number; mono: MonoEstimate | null }[] = [];
    for (const det0 of obs.detections) {
      if (!(det0.score >= cfg.camera_min_score)) continue;
      // Detections arrive in the image's pixel grid; rescale if the image size differs from the rig's.
      const det: Detection2D =
        sx === 1 && sy === 1
          ? det0
          : {
              ...det0,
              xMin: det0.xMin / sx,
              xMax: det0.xMax / sx,
              yMin: det0.yMin / sy,
              yMax: det0.yMax / sy,
            };
      if (!(det.xMax > det.xMin && det.yMax > det.yMin)) continue;
      const uc = (det.xMin + det.xMax) / 2;
      const a = pixelAzimuth(cam, uc);
      const halfW = Math.abs(pixelAzimuth(cam, det.xMin) - pixelAzimuth(cam, det.xMax)) / 2;
      const mono = monocular(cam, det, cfg.camera_border_px);
      const di = dets.length;
      dets.push({ det, az: a, mono });
      const gate = halfW + cfg.camera_bearing_gate_rad;
      for (let k = 0; k < nc; k++) {
        if (!visible[k]) continue;
        const da = Math.abs(wrapPi(az[k]! - a));
        if (da > gate) continue;
        let cost = (da / gate) ** 2;
        if (mono) cost += (Math.log(mono.depth / rg[k]!) / cfg.camera_range_rel_std) ** 2;
        pairs.push({ cost, d: di, k });
      }
    }
    pairs.sort((p, q) => p.cost - q.cost);
    const detUsed = new Uint8Array(dets.length);
    const candUsed = new Uint8Array(nc);
    for (const p of pairs) {
      if (detUsed[p.d] || candUsed[p.k]) continue;
      detUsed[p.d] = 1;
      candUsed[p.k] = 1;
      const c = cands[p.k]!;
      const det = dets[p.d]!.det;
      if (det.score > c.camScore) {
        c.camScore = det.score;
        c.camCls = det.cls;
      }
      stats.cameraAssociated++;
    }
    // Leftover detections: camera-only objects where LiDAR cannot vouch for the area.
    for (let i = 0; i < dets.length; i++) {
      if (detUsed[i]) continue;
      const { det, mono } = dets[i]!;
      if (!mono) continue;
      if (lidarUsed && mono.depth < cfg.lidar_trusted_range_m) continue;
      const [L, W] = CLASS_PRIOR_DIMS[det.cls];
      // The box's nearest face is at the estimated depth; the centre lies beyond it.
      const extra = surfaceToCentre(L, W, Math.atan2(cam.R[3]!, cam.R[0]!) + a0(det, cam));
      const p = pixelAtDepth(cam, (det.xMin + det.xMax) / 2, (det.yMin + det.yMax) / 2, mono.depth + extra);
      const c = emptyCandidate(p[0], p[1]);
      // Covariance: along the ray (depth) and across it (bearing), rotated into the vehicle frame.
      const ray = Math.atan2(p[1] - cam.t[1]!, p[0] - cam.t[0]!);
      const along = mono.depthStd ** 2 + (0.3 * extra) ** 2;
      const across = (mono.depth * 0.01) ** 2 + 0.1;
      const cs = Math.cos(ray);
      const sn = Math.sin(ray);
      c.dtS = (obs.stampNs - tickNs) / 1e9;
      c.mono = {
        x: p[0],
        y: p[1],
        xx: cs * cs * along + sn * sn * across,
        xy: cs * sn * (along - across),
        yy: sn * sn * along + cs * cs * across,
      };
      c.camCls = det.cls;
      c.camScore = det.score;
      cands.push(c);
      stats.cameraOnly++;
    }
  }

  /** Camera-only objects seen by two overlapping cameras become one. */
  private mergeCameraOnly(cands: Candidate[]): void {
    for (let a = 0; a < cands.length; a++) {
      const A = cands[a]!;
      if (!A.mono) continue;
      for (let b = cands.length - 1; b > a; b--) {
        const B = cands[b]!;
        if (!B.mono || B.camCls !== A.camCls) continue;
        const r = Math.hypot(A.mono.x, A.mono.y);
        if (Math.hypot(A.mono.x - B.mono.x, A.mono.y - B.mono.y) > Math.max(2, 0.15 * r)) continue;
        const wa = 1 / (A.mono.xx + A.mono.yy);
        const wb = 1 / (B.mono.xx + B.mono.yy);
        A.mono.x = (wa * A.mono.x + wb * B.mono.x) / (wa + wb);
        A.mono.y = (wa * A.mono.y + wb * B.mono.y) / (wa + wb);
        A.camScore = Math.max(A.camScore, B.camScore);
        cands.splice(b, 1);
      }
    }
  }

  /** Class of a radar-seen object from its strongest RCS, and speed for the small ones. */
  private classByRcs(c: Candidate): ObjectClass {
    const cfg = this.cfg;
    if (c.maxRcs >= cfg.radar_truck_rcs_dbsm) return ObjectClass.TRUCK;
    if (c.maxRcs >= cfg.radar_car_rcs_dbsm || !Number.isFinite(c.maxRcs)) return ObjectClass.CAR;
    const speed = Math.max(c.speedHint ?? 0, c.maxAbsVr);
    return speed > 3 ? ObjectClass.CYCLIST : ObjectClass.PEDESTRIAN;
  }

  private fuse(c: Candidate): TrackDetection | null {
    const cfg = this.cfg;
    // Class: the camera's when it saw the object, else the LiDAR size class, else radar's default.
    let cls: ObjectClass = ObjectClass.UNKNOWN;
    let clsConf = 0;
    if (c.camScore > 0 && c.camCls !== ObjectClass.UNKNOWN) {
      cls = c.camCls;
      clsConf = c.camScore;
    } else if (c.lidar && c.lidar.cls !== ObjectClass.UNKNOWN) {
      cls = c.lidar.cls;
      clsConf = c.lidar.conf;
    } else if (c.radarN > 0 && (!c.lidar || c.maxAbsVr >= cfg.radar_moving_mps)) {
      // radar-only objects, and low or sparse LiDAR clusters that radar sees moving: by RCS and speed
      cls = this.classByRcs(c);
      clsConf = 0.3;
    }
    // A weakly reflecting object that LiDAR took for a car (a thin face) is a bicycle or a walker.
    if (
      cls === ObjectClass.CAR &&
      clsConf <= 0.45 &&
      c.camScore === 0 &&
      c.radarN > 0 &&
      c.maxRcs < cfg.radar_car_rcs_dbsm
    ) {
      cls = this.classByRcs(c);
      clsConf = 0.35;
    }
    if (cls === ObjectClass.UNKNOWN) return null;
    const [pL, pW, pH] = CLASS_PRIOR_DIMS[cls];

    // Position: information-weighted sum of the available estimates.
    let Ixx = 0;
    let Ixy = 0;
    let Iyy = 0;
    let bx = 0;
    let by = 0;
    const addPos = (x: number, y: number, xx: number, xy: number, yy: number) => {
      const det = xx * yy - xy * xy;
      const ixx = yy / det;
      const ixy = -xy / det;
      const iyy = xx / det;
      Ixx += ixx;
      Ixy += ixy;
      Iyy += iyy;
      bx += ixx * x + ixy * y;
      by += ixy * x + iyy * y;
    };
    let length = pL;
    let width = pW;
    let height = pH;
    let yaw = 0;
    let shapeMeasured = false;
    if (c.lidar) {
      const L = c.lidar;
      const box = completeBox(L, cls, this.sx, this.sy, L.heading);
      const r = Math.hypot(box.cx, box.cy);
      const sd = cfg.lidar_pos_std_m * Math.max(1, r / 20);
      addPos(box.cx, box.cy, sd * sd, 0, sd * sd);
      length = box.length;
      width = box.width;
      yaw = box.yaw;
      height = Math.max(L.height, 0.5);
      shapeMeasured = true;
    }
    if (c.radarN > 0 && !c.lidar) {
      // Returns come from the near faces: move the centroid from the surface to the centre, assuming
      // the object is aligned with the ego (most traffic is). Not used next to a LiDAR box, whose
      // centre is an order of magnitude better and unbiased: the radar's surface bias would only hurt.
      const x0 = c.rPx / c.rW;
      const y0 = c.rPy / c.rW;
      const r = Math.hypot(x0, y0) || 1;
      const shift = surfaceToCentre(pL, pW, Math.atan2(y0, x0));
      const v = 1 / c.rW + (0.3 * shift) ** 2;
      addPos(x0 + (shift * x0) / r, y0 + (shift * y0) / r, v, 0, v);
    }
    if (c.mono) addPos(c.mono.x, c.mono.y, c.mono.xx, c.mono.xy, c.mono.yy);
    const detI = Ixx * Iyy - Ixy * Ixy;
    if (!(detI > 0)) return null;
    const covXX = Iyy / detI;
    const covXY = -Ixy / detI;
    const covYY = Ixx / detI;
    const x = covXX * bx + covXY * by;
    const y = covXY * bx + covYY * by;

    // Velocity: least squares over the radial velocities with a weak zero prior across them.
    let vel: TrackDetection["vel"] = null;
    if (c.radarN > 0) {
      const p0 = 1 / VEL_PRIOR_STD_MPS ** 2;
      const a = c.vIxx + p0;
      const b = c.vIxy;
      const d = c.vIyy + p0;
      const det = a * d - b * b;
      vel = {
        vx: (d * c.vbx - b * c.vby) / det,
        vy: (-b * c.vbx + a * c.vby) / det,
        covXX: d / det,
        covXY: -b / det,
        covYY: a / det,
      };
    }

    // Score: independent-evidence combination of per-modality confidences.
    let miss = 1;
    const modalities: Modality[] = [];
    if (c.lidar) {
      miss *= 1 - (0.35 + 0.3 * Math.min(1, c.lidar.points / 40) + 0.2 * c.lidar.conf);
      modalities.push(Modality.LIDAR);
    }
    if (c.radarN > 0) {
      miss *= 1 - Math.min(0.6, 0.25 + 0.1 * c.radarN + (c.maxAbsVr > cfg.radar_moving_mps ? 0.15 : 0));
      modalities.push(Modality.RADAR);
    }
    if (c.camScore > 0) {
      miss *= 1 - 0.85 * c.camScore;
      modalities.push(Modality.CAMERA);
    }
    return {
      x,
      y,
      dtS: c.lidar ? c.lidar.dtS : c.dtS,
      z: height / 2,
      covXX,
      covXY,
      covYY,
      vel,
      length,
      width,
      height,
      yaw,
      shapeMeasured,
      cls,
      clsConf,
      score: 1 - miss,
      modalities,
    };
  }
}

interface MonoEstimate {
  /** Depth of the object's nearest face along the optical axis, m, and its 1-sigma, m. */
  depth: number;
  depthStd: number;
}

/** Monocular depth from the box height (class prior) and from the ground contact of its bottom edge. */
function monocular(cam: CameraModel, det: Detection2D, borderPx: number): MonoEstimate | null {
  const truncTop = det.yMin <= borderPx;
  const truncBottom = det.yMax >= cam.height - borderPx;
  const [, , H] = CLASS_PRIOR_DIMS[det.cls];
  let w = 0;
  let s = 0;
  if (!truncTop && !truncBottom && det.cls !== ObjectClass.UNKNOWN) {
    const d = depthFromHeight(cam, H, det.yMax - det.yMin);
    const sd = 0.12 * d; // class height spread
    w += 1 / (sd * sd);
    s += d / (sd * sd);
  }
  if (!truncBottom) {
    const g = pixelToGround(cam, (det.xMin + det.xMax) / 2, det.yMax, 0);
    if (g) {
      // depth along the optical axis of the ground point
      const dx = g[0] - cam.t[0]!;
      const dy = g[1] - cam.t[1]!;
      const d = cam.R[0]! * dx + cam.R[3]! * dy + cam.R[6]! * (g[2] - cam.t[2]!);
      if (d > 0.5) {
        // 2 px of row error at this depth: dd = d^2 / (fy * h) * dv
        const h = cam.t[2]!;
        const sd = Math.max(0.3, ((d * d) / (cam.fy * Math.max(h, 0.3))) * 2);
        w += 1 / (sd * sd);
        s += d / (sd * sd);
      }
    }
  }
  if (w === 0) return null;
  return { depth: s / w, depthStd: Math.sqrt(1 / w) };
}

/**
 * The track nearest to a cluster centre, within its half length + 0.5 m (at least 1.5 m). `dtS`:
 * when (x, y) was seen relative to the tick (<= 0); the tracks are moved back to it.
 */
export function nearestHint(
  hints: readonly TrackPrediction[],
  x: number,
  y: number,
  length: number,
  dtS = 0,
): TrackPrediction | null {
  let best: TrackPrediction | null = null;
  let bestD = Math.max(1.5, length / 2 + 0.5);
  for (const h of hints) {
    const d = Math.hypot(h.x + h.vx * dtS - x, h.y + h.vy * dtS - y);
    if (d < bestD) {
      bestD = d;
      best = h;
    }
  }
  return best;
}

/** Motion heading of a moving track with a settled velocity; null otherwise. */
export function motionHeading(h: TrackPrediction | null, minSpeedMps: number): number | null {
  if (!h || h.velStdMps > 1 || Math.hypot(h.vx, h.vy) < minSpeedMps) return null;
  return Math.atan2(h.vy, h.vx);
}

function medianOf(xs: number[]): number {
  xs.sort((a, b) => a - b);
  const m = xs.length >> 1;
  return xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
}

/** Camera-frame azimuth of a detection's centre column. */
function a0(det: Detection2D, cam: CameraModel): number {
  return pixelAzimuth(cam, (det.xMin + det.xMax) / 2);
}

/**
 * Distance from the centre of an ego-aligned box (length along the vehicle x axis) to its outline
 * along a ray of vehicle-frame bearing `bearing`: how far behind the first surface hit the centre is.
 */
export function surfaceToCentre(length: number, width: number, bearing: number): number {
  const c = Math.abs(Math.cos(bearing));
  const s = Math.abs(Math.sin(bearing));
  return Math.min(
    c > 1e-6 ? length / 2 / c : Number.POSITIVE_INFINITY,
    s > 1e-6 ? width / 2 / s : Number.POSITIVE_INFINITY,
  );
}

/** Distance from (x, y) to an oriented rectangle's footprint (0 inside). */
export function distToBox(
  x: number,
  y: number,
  cx: number,
  cy: number,
  length: number,
  width: number,
  yaw: number,
): number {
  const c = Math.cos(yaw);
  const s = Math.sin(yaw);
  const dx = x - cx;
  const dy = y - cy;
  const a = Math.abs(c * dx + s * dy) - length / 2;
  const b = Math.abs(-s * dx + c * dy) - width / 2;
  return Math.hypot(Math.max(a, 0), Math.max(b, 0));
}
