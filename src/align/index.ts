/** Public surface of the align stage (docs/align.md). */
export { type AlignVehicleOptions, alignVehicle } from "./alignVehicle.ts";
export { Collector, type DropReason } from "./collector.ts";
export { type AlignConfig, alignConfigSchema } from "./config.ts";
export { EgoEkf } from "./ego.ts";
export * from "./geometry.ts";
export { LIDAR_FIELDS, RADAR_FIELDS } from "./spatial.ts";
export type * from "./types.ts";
