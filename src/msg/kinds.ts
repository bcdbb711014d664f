/**
 * The sensor-kind registry: every sensor kind the service knows, in one place.
 *
 * Adding a kind:
 *   1. add its payload variant to `SensorPayload` (src/msg/types.ts) and to the codec;
 *   2. add one entry here (modality, payload kinds, role);
 *   3. run `npm run typecheck`: every exhaustive switch and `Record<SensorKind, …>` that does not
 *      handle the new kind yet is listed by the compiler (`assertNever`, missing record keys).
 * No stage may use `default: break` over kinds or payloads: an unknown kind must be a compile
 * error, never a silently swallowed message.
 *
 * Roles:
 *   - `perception`: detects objects; fed to fusion, masked by health (lidar, radar, camera).
 *   - `ego`: feeds the ego-motion estimate only (gnss, imu); never matched to a tick as an input
 *     of fusion, never masked.
 */
import { Modality, type PayloadKind } from "./types.ts";

export type SensorRole = "perception" | "ego";

export interface SensorKindSpec {
  /** The wire modality (proto enum `Modality`) reported for sensors of this kind. */
  readonly modality: Modality;
  /** Payload kinds a sensor of this kind may publish (the first is its main payload). */
  readonly payloads: readonly PayloadKind[];
  readonly role: SensorRole;
  /** A per-kind model block in the rig file (`lidar: {...}`) exists for this kind. */
  readonly modelBlock: boolean;
}

export const SENSOR_KINDS = {
  lidar: { modality: Modality.LIDAR, payloads: ["point_cloud"], role: "perception", modelBlock: true },
  radar: { modality: Modality.RADAR, payloads: ["radar_scan"], role: "perception", modelBlock: true },
  camera: {
    modality: Modality.CAMERA,
    payloads: ["camera_detections", "camera_image"],
    role: "perception",
    modelBlock: true,
  },
  gnss: { modality: Modality.GNSS, payloads: ["gnss_fix"], role: "ego", modelBlock: true },
  imu: { modality: Modality.IMU, payloads: ["imu"], role: "ego", modelBlock: true },
  /** A localisation module's pose (replayed nuScenes ego_pose): ego motion in place of GNSS + IMU. */
  pose: { modality: Modality.POSE, payloads: ["pose"], role: "ego", modelBlock: false },
} as const satisfies Record<string, SensorKindSpec>;

/** A sensor kind of a rig. */
export type SensorKind = keyof typeof SENSOR_KINDS;

/** Every kind, in registry order (a tuple type, so that it can seed a zod enum). */
export const SENSOR_KIND_NAMES = Object.keys(SENSOR_KINDS) as [SensorKind, ...SensorKind[]];

/** The perception kinds: exactly the fusion modalities (one raster / token per kind). */
export type PerceptionKind = {
  [K in SensorKind]: (typeof SENSOR_KINDS)[K]["role"] extends "perception" ? K : never;
}[SensorKind];
/** The ego-motion kinds (fed to the ego estimate only). */
export type EgoKind = Exclude<SensorKind, PerceptionKind>;

export const PERCEPTION_KINDS = SENSOR_KIND_NAMES.filter(
  (k) => SENSOR_KINDS[k].role === "perception",
) as readonly PerceptionKind[];
export const EGO_KINDS = SENSOR_KIND_NAMES.filter(
  (k) => SENSOR_KINDS[k].role === "ego",
) as readonly EgoKind[];

export const isPerceptionKind = (k: SensorKind): k is PerceptionKind => SENSOR_KINDS[k].role === "perception";
export const isEgoKind = (k: SensorKind): k is EgoKind => SENSOR_KINDS[k].role === "ego";

/** Wire modality of each kind. */
export const MODALITY_OF_KIND: Record<SensorKind, Modality> = Object.fromEntries(
  SENSOR_KIND_NAMES.map((k) => [k, SENSOR_KINDS[k].modality]),
) as Record<SensorKind, Modality>;

/** Kind name of a wire modality (dashboards, logs); "?" for UNSPECIFIED or an unknown number. */
export function kindOfModality(m: number): SensorKind | "?" {
  for (const k of SENSOR_KIND_NAMES) if (SENSOR_KINDS[k].modality === m) return k;
  return "?";
}

/** The sensor kind that publishes each payload kind. Exhaustive over payloads (compile-checked). */
export const KIND_OF_PAYLOAD: Record<PayloadKind, SensorKind> = {
  point_cloud: "lidar",
  radar_scan: "radar",
  camera_image: "camera",
  camera_detections: "camera",
  gnss_fix: "gnss",
  imu: "imu",
  pose: "pose",
};

/** Exhaustiveness guard for switches over kinds and payloads: a missing case is a compile error. */
export function assertNever(x: never, what = "value"): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(x)}`);
}
