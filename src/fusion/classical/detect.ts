/**
 * Classical per-tick detector: LiDAR clusters as anchors, radar returns and camera boxes
 * associated to them by gated nearest neighbour, radar-only and camera-only objects where LiDAR
 * is masked (or beyond its trusted range), and inverse-variance fusion of position and velocity.
 * Output: TrackDetection[] in the vehicle frame for the tracker.
 *
 * The stages, one file each, take what they need as arguments (option objects) and keep nothing
 * between ticks: lidar-candidates.ts (LiDAR clusters -> candidates), radar.ts, camera.ts (association
 * and radar-/camera-only objects), fuse.ts (candidate -> detection). The tick's candidates and
 * counters are made here and handed from stage to stage. The detector itself holds only what the
 * rig fixes (camera models, LiDAR mount and sweep timing) and the clusterer's reused scratch.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { PerceptionModality } from "../../health/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import { type CameraModel, cameraModelOf } from "../camera.ts";
import { LidarClusterer } from "../lidar/cluster.ts";
import {
  type SweepTiming,
  lidarMount,
  referenceLidar,
  sweepTimeOffset,
  sweepTimingOf,
} from "../lidar/geometry.ts";
import { nearestHint } from "../tracker/hints.ts";
import type { TrackPrediction } from "../tracker/index.ts";
import type { TrackDetection } from "../tracker/types.ts";
import { associateCamera, cameraModelFor, mergeCameraOnly } from "./camera.ts";
import { type DetectStats, emptyStats } from "./candidate.ts";
import type { ClassicalConfig } from "./config.ts";
import { fuseCandidate } from "./fuse.ts";
import { lidarCandidates } from "./lidar-candidates.ts";
import { associateRadar } from "./radar.ts";
import { correctRadarEgo, radarEgoResidual } from "./radar-ego.ts";

export type { DetectStats } from "./candidate.ts";

/** One tick's detections and the counters of how they were made. */
export interface DetectResult {
  detections: TrackDetection[];
  stats: DetectStats;
}

export class ClassicalDetector {
  private readonly clusterer: LidarClusterer;
  private readonly cams = new Map<string, CameraModel>();
  /** LiDAR origin in the vehicle frame (for box completion), m. */
  private readonly sx: number;
  private readonly sy: number;
  /** When the spinning LiDAR saw a point (0 without a LiDAR or with `lidar_rotation: none`). */
  private readonly lidarTimeOffset: (x: number, y: number) => number;

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
    const sweep: SweepTiming | null =
      cfg.lidar_rotation === "none"
        ? null
        : sweepTimingOf(lidarSensor, cfg.lidar_rotation, cfg.lidar_sweep_start_azimuth_rad);
    // When the LiDAR saw a point at (x, y), relative to the sweep's end stamp, s (<= 0).
    this.lidarTimeOffset = sweep ? (x, y) => sweepTimeOffset(sweep, x, y) : () => 0;
  }

  /**
   * LiDAR points above the ground within `r` of (x, y) (vehicle frame) in the sweep of the last
   * detect() that used LiDAR; the caller knows whether that was this tick.
   */
  lidarPointsNear(x: number, y: number, r: number): number {
    return this.clusterer.pointsNear(x, y, r);
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
  ): DetectResult {
    const cfg = this.cfg;
    const stats = emptyStats();

    // 1. LiDAR clusters.
    const cands =
      use.lidar && tick.lidar
        ? lidarCandidates(this.clusterer.cluster(tick.lidar), hints, {
            cfg,
            timeOffset: this.lidarTimeOffset,
          })
        : [];
    if (use.lidar && tick.lidar) stats.lidarClusters = cands.length;
    const nLidar = cands.length;

    // 2. Radar returns: to the nearest LiDAR box, the rest into radar objects.
    if (use.radar && tick.radar) {
      // Returns of several radars arrive merged, without their stamps; with one radar, its stamp
      // dates the radar-only objects.
      const radars = tick.inputs.filter((i) => i.kind === "radar" && i.stampNs !== null);
      const dtS = radars.length === 1 ? (radars[0]!.stampNs! - tick.stampNs) / 1e9 : 0;
      let radar = tick.radar;
      if (cfg.radar_ego_correction) {
        const e = radarEgoResidual(radar);
        if (e) {
          radar = correctRadarEgo(radar, e);
          stats.radarEgoResidualMps = Math.hypot(e.ex, e.ey);
        }
      }
      associateRadar({ radar, cands, nLidar, lidarUsed: use.lidar, dtS, stats }, cfg);
    }

    // 3. Camera detections: to the best object by bearing and range, the rest into camera-only objects.
    if (use.camera) {
      for (const obs of tick.cameras) {
        const cam = cameraModelFor(this.cams, obs);
        if (cam) associateCamera({ cam, obs, cands, lidarUsed: use.lidar, tickNs: tick.stampNs, stats }, cfg);
      }
      mergeCameraOnly(cands);
    }

    // 4. Fuse each candidate.
    const detections: TrackDetection[] = [];
    const fuseOpts = { cfg, sensorX: this.sx, sensorY: this.sy };
    for (const c of cands) {
      const h = nearestHint(hints, c.ax, c.ay, 2);
      if (h && h.velStdMps <= 1.5) c.speedHint = Math.hypot(h.vx, h.vy);
      const d = fuseCandidate(c, fuseOpts);
      if (d) detections.push(d);
    }
    return { detections, stats };
  }
}
