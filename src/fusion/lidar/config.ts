/**
 * Parameters of the shared LiDAR library (ground segmentation and clustering). The classical engine
 * carries them flat in its own section (`fusion.classical`, src/fusion/classical/config.ts spreads
 * `lidarClusterFields` into its schema); the learned engine's refinement stage uses the defaults.
 * Units are in the names; defaults live here and nowhere else.
 */
import { z } from "zod";

/** Ground segmentation: a flat ground plane at z = 0 of the vehicle frame. */
export const groundFields = {
  /** Points lower than this above the ground plane (z = 0 in the vehicle frame) are ground, m. */
  ground_height_m: z.number().default(0.3),
  /** Points higher than this belong to no object (buildings, trees, overhangs), m. */
  max_height_m: z.number().default(4.0),
  /** Local ground: heights relative to a ground height per `ground_cell_m` cell (its lowest point,
   *  allowed to rise at most `ground_max_step_m` above a neighbour's), for sloped and kerbed real
   *  streets; false: the flat plane z = 0 (ground.ts). */
  ground_local: z.boolean().default(false),
  ground_cell_m: z.number().positive().default(2),
  ground_max_step_m: z.number().min(0).default(0.4),
};

/** Ground segmentation plus BEV-grid clustering (src/fusion/lidar/cluster.ts). */
export const lidarClusterFields = {
  ...groundFields,
  /** A cluster with more than this fraction of its cells under such points is structure, not an object. */
  max_tall_cell_fraction: z.number().min(0).max(1).default(0.25),
  /** Half-size of the square BEV grid around the vehicle, m. */
  grid_half_size_m: z.number().positive().default(64),
  /** BEV grid cell size, m. */
  cell_m: z.number().positive().default(0.3),
  /** Points inside this vehicle-frame box are the ego vehicle itself: [xmin, xmax, ymin, ymax], m. */
  ego_box_m: z.tuple([z.number(), z.number(), z.number(), z.number()]).default([-1.2, 4.6, -1.1, 1.1]),
  /** Cells whose highest point is lower than this (kerbs, barriers, guard rails) are not clustered, m. */
  cluster_min_top_m: z.number().default(1.1),
  /** Within near_range_m of the LiDAR, cells with fewer points than near_min_cell_points are
   *  weather backscatter (rain, fog), not surfaces. */
  near_range_m: z.number().min(0).default(10),
  near_min_cell_points: z.number().int().min(1).default(3),
  /** Occupied cells closer than this join one cluster (rounded to whole cells), m. */
  cluster_link_m: z.number().positive().default(0.9),
  /** The same beyond cluster_far_range_m, where returns are sparser, m. */
  cluster_link_far_m: z.number().positive().default(1.2),
  cluster_far_range_m: z.number().positive().default(25),
  /** Fewest points of a cluster. */
  min_cluster_points: z.number().int().min(1).default(4),
  /** Clusters with a longer footprint side are structure (walls, hedges), not objects, m. */
  max_object_length_m: z.number().positive().default(12),
};

export const lidarClusterSchema = z.object(lidarClusterFields).strict();
export type LidarClusterOptions = z.infer<typeof lidarClusterSchema>;
export type GroundOptions = Pick<
  LidarClusterOptions,
  "ground_height_m" | "max_height_m" | "ground_local" | "ground_cell_m" | "ground_max_step_m"
>;

/** The defaults (what the learned engine's refinement stage clusters with). */
export const LIDAR_CLUSTER_DEFAULTS: LidarClusterOptions = Object.freeze(lidarClusterSchema.parse({}));
