/** Types shared by the learned engine's decode stages (decode, Doppler, refinement). */
import type { TrackDetection } from "../tracker/index.ts";

/** One detection decoded from the network's output, before tracking. */
export interface Decoded extends TrackDetection {
  /** Heatmap probability of the peak (before tracking). */
  peak: number;
  /**
   * Length of the predicted orientation vector (sin 2yaw, cos 2yaw), 0..1: how sure the network is
   * of the box's axis (1 after LiDAR refinement).
   */
  yawConf: number;
}
