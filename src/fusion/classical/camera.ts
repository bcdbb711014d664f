/**
 * Stage 3 of the classical detector: camera detections go to the best candidate by bearing and
 * monocular range (globally cheapest pairs first); the rest become camera-only objects placed by
 * monocular depth, and camera-only objects seen by two overlapping cameras are merged.
 */
import type { CameraObservation } from "../../align/types.ts";
import { type Detection2D, ObjectClass } from "../../msg/types.ts";
import {
  type CameraModel,
  bodyAzimuth,
  depthFromHeight,
  pixelAtDepth,
  pixelAzimuth,
  pixelToGround,
} from "../camera.ts";
import { CLASS_PRIOR_DIMS, surfaceToCentre, wrapPi } from "../lidar/shape.ts";
import { type Candidate, type DetectStats, emptyCandidate } from "./candidate.ts";
import type { ClassicalConfig } from "./config.ts";

export type CameraOptions = Pick<
  ClassicalConfig,
  | "camera_min_score"
  | "camera_border_px"
  | "camera_bearing_gate_rad"
  | "camera_range_rel_std"
  | "lidar_trusted_range_m"
>;

export interface CameraStage {
  /** The camera's model for this observation (`cameraModelFor`). */
  cam: CameraModel;
  obs: CameraObservation;
  /** The tick's candidates; camera-only objects are appended. */
  cands: Candidate[];
  /** LiDAR is used this tick (camera-only objects then only beyond `lidar_trusted_range_m`). */
  lidarUsed: boolean;
  /** The tick's stamp, ns. */
  tickNs: number;
  stats: DetectStats;
}

/** The rig's camera model, with the aligner's motion-compensated pose and intrinsics when given. */
export function cameraModelFor(
  cams: ReadonlyMap<string, CameraModel>,
  obs: CameraObservation,
): CameraModel | null {
  const base = cams.get(obs.sensorId);
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

/** Associate one camera's detections to the tick's candidates and append camera-only objects. */
export function associateCamera(s: CameraStage, cfg: CameraOptions): void {
  const { cam, obs, cands, stats } = s;
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
    if (s.lidarUsed && mono.depth < cfg.lidar_trusted_range_m) continue;
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
    c.dtS = (obs.stampNs - s.tickNs) / 1e9;
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
export function mergeCameraOnly(cands: Candidate[]): void {
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

/** Camera-frame azimuth of a detection's centre column. */
function a0(det: Detection2D, cam: CameraModel): number {
  return pixelAzimuth(cam, (det.xMin + det.xMax) / 2);
}
