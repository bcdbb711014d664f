import { z } from "zod";
import { trackerConfigSchema } from "../tracker/config.ts";
import {
  CALIBRATION_FEATURES,
  type CalibrationFeature,
  type CalibrationWeights,
  OPTIONAL_CALIBRATION_FEATURES,
} from "../calibration.ts";
import { lidarClusterFields } from "../lidar/config.ts";

/** Output of `node --import tsx train/calibrate.ts --seeds 101,102,103,104` (sim rig). */
const DEFAULT_CALIBRATION: CalibrationWeights = {
  bias: -0.282,
  logit_score: 1.2,
  age: 1.052,
  young: -0.467,
  coasting: -0.488,
  lidar: 0.153,
  radar: 0.406,
  camera: -0.279,
  lidar_camera: -0.149,
  truck: -1.353,
  pedestrian: 0.338,
  cyclist: 0.243,
  range: -0.142,
  no_lidar_support: 0,
};

/**
 * Classical detector parameters (a rig file could carry them as `fusion.classical`).
 * Units are in the names; defaults live here and nowhere else.
 */
export const classicalConfigSchema = z
  .object({
    // --- LiDAR ---
    /**
     * Spin of the LiDAR, for the time at which it saw each cluster: "cw" / "ccw" seen from above,
     * or "none" (points already compensated for object motion, or a solid-state sensor). The
     * sweep ends at the stamp; it starts at lidar_sweep_start_azimuth_rad in the LiDAR frame.
     */
    lidar_rotation: z.enum(["cw", "ccw", "none"]).default("cw"),
    lidar_sweep_start_azimuth_rad: z.number().default(Math.PI),
    /** Ground segmentation and clustering (shared LiDAR library, src/fusion/lidar/config.ts):
     *  ground_height_m, max_height_m, max_tall_cell_fraction, grid_half_size_m, cell_m, ego_box_m,
     *  cluster_min_top_m, near_range_m, near_min_cell_points, cluster_link_m, cluster_link_far_m,
     *  cluster_far_range_m, min_cluster_points, max_object_length_m. */
    ...lidarClusterFields,
    /** Where the LiDAR's beams are farther apart than this, a low cluster may be a taller object
     *  seen by one or two beams: it is kept as `unknown` for radar or camera to name, m. */
    sparse_beam_spacing_m: z.number().positive().default(0.4),
    /** A cluster whose lowest point is higher than this floats: a roof or the top of something, m. */
    max_bottom_height_m: z.number().positive().default(1.2),
    /** A track faster than this lends its heading to the cluster it covers (class, box axes), m/s. */
    motion_min_speed_mps: z.number().min(0).default(1.5),
    /** LiDAR box-centre position noise (1 sigma) within 20 m; grows linearly with range beyond, m. */
    lidar_pos_std_m: z.number().positive().default(0.2),
    // --- radar ---
    /** Radar range noise, m (1 sigma). */
    radar_range_std_m: z.number().positive().default(0.4),
    /** Radar azimuth noise, rad (1 sigma). */
    radar_azimuth_std_rad: z.number().positive().default(0.02),
    /** Radar radial-velocity noise, m/s (1 sigma). */
    radar_vr_std_mps: z.number().positive().default(0.2),
    /** Extra slack of the radar-to-box association gate beyond the box outline, m. */
    radar_gate_m: z.number().positive().default(0.6),
    /** Returns of one object whose radial velocity is farther than this from their median are dropped, m/s. */
    radar_vr_consistency_mps: z.number().positive().default(1.5),
    /** Radar cross-section above which a radar object is a car / a truck, dBsm (typical: car ~10,
     *  truck ~20, cyclist ~-3, pedestrian ~-8); below the car's, speed tells a cyclist from a walker. */
    radar_car_rcs_dbsm: z.number().default(3),
    radar_truck_rcs_dbsm: z.number().default(16),
    /** Radar returns within this distance of each other form one radar object, m. */
    radar_cluster_m: z.number().positive().default(2.5),
    /** Radar-only objects need this many returns, and one moving faster than radar_moving_mps. */
    radar_min_returns: z.number().int().min(1).default(1),
    radar_moving_mps: z.number().min(0).default(1.0),
    /** Fit the ego-velocity error the returns show (static returns read e . u instead of 0) and
     *  correct their radial velocities before association (radar-ego.ts, DECISIONS C11). */
    radar_ego_correction: z.boolean().default(true),
    /** With LiDAR in use, radar/camera-only objects are made only beyond this range, m (0: anywhere;
     *  on simulated data LiDAR misses enough at range that suppressing them costs more than it saves). */
    lidar_trusted_range_m: z.number().min(0).default(0),
    // --- camera ---
    /** Bearing gate slack of camera-to-object association beyond half the box's angular width, rad. */
    camera_bearing_gate_rad: z.number().positive().default(0.035),
    /** Relative range disagreement (monocular vs object) that doubles the association cost. */
    camera_range_rel_std: z.number().positive().default(0.35),
    /** Camera detections below this score are ignored. */
    camera_min_score: z.number().min(0).max(1).default(0.3),
    /** Camera detections touching the image border by less than this many pixels are truncated. */
    camera_border_px: z.number().min(0).default(3),
    /**
     * Weights of the score calibration (calibration.ts), fitted by calibrate.ts on simulated seeds
     * 101-104 (all scenarios; clear with each modality masked, rain, fog, night); null = raw scores.
     */
    score_calibration: z
      .object(
        Object.fromEntries(
          CALIBRATION_FEATURES.map((k) => [
            k,
            OPTIONAL_CALIBRATION_FEATURES.includes(k) ? z.number().default(0) : z.number(),
          ]),
        ) as Record<CalibrationFeature, z.ZodNumber>,
      )
      .strict()
      .nullable()
      .default(DEFAULT_CALIBRATION),
    /** Tracker parameters. The classical engine coasts confirmed tracks for 0.9 s (tracker default
     *  0.6 s): on simulated data the recall gained outweighs the ghosts, whose calibrated scores are low
     *  and whose `modalities` are empty. */
    tracker: trackerConfigSchema.default(trackerConfigSchema.parse({ max_coast_ms: 900 })),
  })
  .strict();

export type ClassicalConfig = z.infer<typeof classicalConfigSchema>;
export type ClassicalConfigInput = z.input<typeof classicalConfigSchema>;
