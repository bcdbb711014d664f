/**
 * Second stage of the learned decoder: box refinement from LiDAR geometry. The network finds,
 * classifies and scores objects on a 1 m raster; where the tick's LiDAR points form a cluster at a
 * detection, the detection's centre, footprint and yaw are re-measured from those points (the
 * measured outline, completed to the detected class's size away from the sensor), which places
 * it to a few centimetres instead of a fraction of a raster cell. Two-stage detectors refine boxes
 * from points the same way (PointRCNN, CenterPoint's second stage); here the refinement is
 * geometric, with the shared LiDAR library's clusterer and box completion (src/fusion/lidar/, the
 * classical engine's too; docs/DECISIONS.md L12).
 *
 * Which side of the cluster is the object's length comes from the motion heading of a moving track
 * at the detection (as in the classical detector), else from the network's orientation when it is
 * sure of it, else from the cluster's shape.
 *
 * Each cluster refines at most one detection (highest score first). A cluster only refines a
 * detection whose centre lies within `refine_gate_m` of the completed box's outline, and whose size
 * does not contradict the class (a cluster longer than twice the class's length, or wider than the
 * class by more than `max_extra_width_m`, is structure or several objects). Detections without a
 * matching cluster stay as the network placed them.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import { LIDAR_CLUSTER_DEFAULTS, type LidarClusterOptions } from "../lidar/config.ts";
import { type LidarCluster, LidarClusterer } from "../lidar/cluster.ts";
import { lidarMount, referenceLidar } from "../lidar/geometry.ts";
import { CLASS_PRIOR_DIMS, completeBox, wrapPi } from "../lidar/shape.ts";
import { motionHeading, nearestHint } from "../tracker/hints.ts";
import type { TrackPrediction } from "../tracker/index.ts";
import { DEFAULT_REFINE, type RefineOptions } from "./config.ts";
import type { Decoded } from "./decode.ts";

export { DEFAULT_REFINE, type RefineOptions } from "./config.ts";

export class LidarRefiner {
  private readonly clusterer: LidarClusterer;
  private readonly sx: number;
  private readonly sy: number;
  /** Clusters refined / detections seen, cumulative. */
  readonly stats = { detections: 0, refined: 0 };

  constructor(
    rig: RigConfig,
    private readonly opts: RefineOptions = DEFAULT_REFINE,
    cfg: LidarClusterOptions = LIDAR_CLUSTER_DEFAULTS,
  ) {
    const mount = lidarMount(referenceLidar(rig));
    this.sx = mount.x;
    this.sy = mount.y;
    this.clusterer = new LidarClusterer(cfg, mount);
  }

  /** The tick's LiDAR clusters (vehicle frame), the input of `refine`. */
  cluster(tick: Pick<AlignedTick, "lidar">): LidarCluster[] {
    return tick.lidar && tick.lidar.count > 0 ? this.clusterer.cluster(tick.lidar) : [];
  }

  /**
   * Refine `dets` (decoder output) in place from the tick's clusters (`cluster(tick)`). `hints`:
   * the tracker's tracks predicted to the tick; a moving track's heading tells which side of a
   * cluster is the length, before the network's orientation does.
   */
  refine(dets: Decoded[], clusters: readonly LidarCluster[], hints: readonly TrackPrediction[] = []): void {
    this.stats.detections += dets.length;
    if (clusters.length === 0 || dets.length === 0) return;
    const taken = new Uint8Array(clusters.length);
    const order = dets.map((_, i) => i).sort((a, b) => dets[b]!.score - dets[a]!.score);
    for (const di of order) {
      const d = dets[di]!;
      if (!d.shapeMeasured) continue; // no LiDAR support
      const [Lp, Wp] = CLASS_PRIOR_DIMS[d.cls];
      const gate = this.opts.refine_gate_m[d.cls - 1] ?? 1;
      const heading = this.headingOf(d, hints);
      let best = -1;
      let bestD = gate;
      let bestBox: ReturnType<typeof completeBox> | null = null;
      for (let c = 0; c < clusters.length; c++) {
        if (taken[c]) continue;
        const cl = clusters[c]!;
        if (cl.length > 2 * Lp + 1) continue;
        if (cl.width > Wp + this.opts.max_extra_width_m) continue;
        // cheap pre-gate on the raw centre
        if (Math.abs(cl.cx - d.x) > Lp + gate + 1 || Math.abs(cl.cy - d.y) > Lp + gate + 1) continue;
        const box = completeBox(
          { cx: cl.cx, cy: cl.cy, length: cl.length, width: cl.width, yaw: cl.yaw },
          d.cls,
          this.sx,
          this.sy,
          heading,
        );
        const dist = Math.hypot(box.cx - d.x, box.cy - d.y);
        if (dist < bestD) {
          bestD = dist;
          best = c;
          bestBox = box;
        }
      }
      if (best < 0 || !bestBox) continue;
      taken[best] = 1;
      this.stats.refined++;
      d.x = bestBox.cx;
      d.y = bestBox.cy;
      d.length = bestBox.length;
      d.width = bestBox.width;
      // the fit's yaw is pi-ambiguous: keep the direction of the heading it was completed with
      const dir = heading ?? d.yaw;
      d.yaw = Math.cos(bestBox.yaw - dir) >= 0 ? bestBox.yaw : wrapPi(bestBox.yaw + Math.PI);
      d.yawConf = 1;
      const s2 = this.opts.refined_pos_std_m ** 2;
      d.covXX = s2;
      d.covXY = 0;
      d.covYY = s2;
    }
  }

  /** The heading that tells a cluster's length axis for `d`, or null (decide by shape). */
  private headingOf(d: Decoded, hints: readonly TrackPrediction[]): number | null {
    // the moving track where the detection was seen (dtS before the tick)
    const hint = nearestHint(hints, d.x, d.y, CLASS_PRIOR_DIMS[d.cls][0], d.dtS ?? 0);
    const heading = motionHeading(hint, this.opts.motion_min_speed_mps);
    if (heading !== null) return heading;
    return d.yawConf >= this.opts.min_yaw_conf ? d.yaw : null;
  }
}
