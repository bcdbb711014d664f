import { z } from "zod";
import { trackerConfigSchema } from "../tracker/config.ts";

/**
 * Classical detector parameters (a rig file could carry them as `fusion.classical`).
 * Units are in the names; defaults live here and nowhere else.
 */
export const classicalConfigSchema = z
  .object({
    // --- LiDAR ---
    /** Points lower than this above the ground plane (z = 0 in the vehicle frame) are ground, m. */
    ground_height_m: z.number().default(0.3),
    /** Points higher than this are ignored (overhangs, trees), m. */
    max_height_m: z.number().default(4.0),
    /** Half-size of the square BEV grid around the vehicle, m. */
    grid_half_size_m: z.number().positive().default(64),
    /** BEV grid cell size, m. */
    cell_m: z.number().positive().default(0.3),
    /** Points inside this vehicle-frame box are the ego vehicle itself: [xmin, xmax, ymin, ymax], m. */
    ego_box_m: z.tuple([z.number(), z.number(), z.number(), z.number()]).default([-1.2, 4.6, -1.1, 1.1]),
    /** Fewest points of a cluster. */
    min_cluster_points: z.number().int().min(1).default(4),
    /** Clusters with a longer footprint side are structure (walls, hedges), not objects, m. */
    max_object_length_m: z.number().positive().default(16),
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
    radar_gate_m: z.number().positive().default(1.2),
    /** Radar returns within this distance of each other form one radar object, m. */
    radar_cluster_m: z.number().positive().default(2.5),
    /** Radar-only objects need this many returns, or one return moving faster than radar_moving_mps. */
    radar_min_returns: z.number().int().min(1).default(2),
    radar_moving_mps: z.number().min(0).default(1.0),
    /** With LiDAR in use, radar/camera-only objects are made only beyond this range, m. */
    lidar_trusted_range_m: z.number().positive().default(50),
    // --- camera ---
    /** Bearing gate slack of camera-to-object association beyond half the box's angular width, rad. */
    camera_bearing_gate_rad: z.number().positive().default(0.035),
    /** Relative range disagreement (monocular vs object) that doubles the association cost. */
    camera_range_rel_std: z.number().positive().default(0.35),
    /** Camera detections below this score are ignored. */
    camera_min_score: z.number().min(0).max(1).default(0.3),
    /** Camera detections touching the image border by less than this many pixels are truncated. */
    camera_border_px: z.number().min(0).default(3),
    tracker: trackerConfigSchema.default(trackerConfigSchema.parse({})),
  })
  .strict();

export type ClassicalConfig = z.infer<typeof classicalConfigSchema>;
export type ClassicalConfigInput = z.input<typeof classicalConfigSchema>;
