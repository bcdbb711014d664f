/**
 * Second stage of the learned decoder: box refinement from LiDAR geometry. The network finds,
 * classifies and scores objects on a 1 m raster; where the tick's LiDAR points form a cluster at a
 * detection, the detection's centre, footprint and yaw are re-measured from those points (the
 * measured outline, completed to the detected class's size away from the sensor), which places
 * it to a few centimetres instead of a fraction of a raster cell. Two-stage detectors refine boxes
 * from points the same way (PointRCNN, CenterPoint's second stage); here the refinement is
 * geometric, reusing the classical engine's clusterer and box completion (docs/DECISIONS.md L9).
 *
 * Each cluster refines at most one detection (highest score first). A cluster only refines a
 * detection whose centre lies within `refine_gate_m` of the completed box's outline, and whose size
 * does not contradict the class (a cluster longer than twice the class's length is structure or
 * several objects). Detections without a matching cluster stay as the network placed them.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import { type ClassicalConfig, classicalConfigSchema } from "../classical/config.ts";
import { type LidarCluster, LidarClusterer } from "../classical/lidar.ts";
import { CLASS_PRIOR_DIMS, completeBox, wrapPi } from "../classical/shape.ts";
import { lidarMount, referenceLidar } from "../lidar-geometry.ts";
import type { Decoded } from "./decode.ts";

export interface RefineOptions {
  /** Largest distance from a detection's centre to a cluster's completed box, m (per class). */
  refine_gate_m: readonly [number, number, number, number];
  /** Position std handed to the tracker for a refined detection, m. */
  refined_pos_std_m: number;
}

export const DEFAULT_REFINE: RefineOptions = Object.freeze({
  refine_gate_m: [1.2, 1.5, 0.6, 0.8] as const,
  refined_pos_std_m: 0.15,
});

export class LidarRefiner {
  private readonly clusterer: LidarClusterer;
  private readonly sx: number;
  private readonly sy: number;
  /** Clusters refined / detections seen, cumulative. */
  readonly stats = { detections: 0, refined: 0 };

  constructor(
    rig: RigConfig,
    private readonly opts: RefineOptions = DEFAULT_REFINE,
    cfg: ClassicalConfig = classicalConfigSchema.parse({}),
  ) {
    const mount = lidarMount(referenceLidar(rig));
    this.sx = mount.x;
    this.sy = mount.y;
    this.clusterer = new LidarClusterer(cfg, mount);
  }

  /** The tick's LiDAR clusters (vehicle frame), the input of `refine`. */
  cluster(tick: AlignedTick): LidarCluster[] {
    return tick.lidar && tick.lidar.count > 0 ? this.clusterer.cluster(tick.lidar) : [];
  }

  /** Refine `dets` (decoder output) in place from the tick's clusters (`cluster(tick)`). */
  refine(dets: Decoded[], clusters: readonly LidarCluster[]): void {
    this.stats.detections += dets.length;
    if (clusters.length === 0 || dets.length === 0) return;
    const taken = new Uint8Array(clusters.length);
    const order = dets.map((_, i) => i).sort((a, b) => dets[b]!.score - dets[a]!.score);
    for (const di of order) {
      const d = dets[di]!;
      if (!d.shapeMeasured) continue; // no LiDAR support
      const [Lp] = CLASS_PRIOR_DIMS[d.cls];
      const gate = this.opts.refine_gate_m[d.cls - 1] ?? 1;
      let best = -1;
      let bestD = gate;
      let bestBox: ReturnType<typeof completeBox> | null = null;
      for (let c = 0; c < clusters.length; c++) {
        if (taken[c]) continue;
        const cl = clusters[c]!;
        if (cl.length > 2 * Lp + 1) continue;
        // cheap pre-gate on the raw centre
        if (Math.abs(cl.cx - d.x) > Lp + gate + 1 || Math.abs(cl.cy - d.y) > Lp + gate + 1) continue;
        const box = completeBox(
          { cx: cl.cx, cy: cl.cy, length: cl.length, width: cl.width, yaw: cl.yaw },
          d.cls,
          this.sx,
          this.sy,
          d.yaw,
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
      // the fit's yaw is pi-ambiguous: keep the network's direction
      d.yaw = Math.cos(bestBox.yaw - d.yaw) >= 0 ? bestBox.yaw : wrapPi(bestBox.yaw + Math.PI);
      const s2 = this.opts.refined_pos_std_m ** 2;
      d.covXX = s2;
      d.covXY = 0;
      d.covYY = s2;
    }
  }
}
