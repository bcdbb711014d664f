/** Shared types of the sensor models. */
import type { SensorPayload } from "../../src/msg/types.ts";
import type { SensorConfig } from "../../src/rig/schema.ts";
import type { Rng } from "../rng.ts";
import type { World } from "../world.ts";

export type Conditions = "clear" | "rain" | "fog" | "night";
export const CONDITIONS: readonly Conditions[] = ["clear", "rain", "fog", "night"];

export interface CaptureContext {
  world: World;
  /** True capture time, ns relative to t = 0 (LiDAR: end of sweep). The world is stepped to it. */
  tNs: number;
  /** Noise multiplier from noise-burst faults (1 = nominal). */
  noise: number;
}

/** A sensor model: turns the world at a capture time into one or more payloads. */
export interface SensorModel {
  readonly sensor: SensorConfig;
  capture(ctx: CaptureContext): SensorPayload[];
}

export interface ModelDeps {
  sensor: SensorConfig;
  rng: Rng;
  conditions: Conditions;
  scenario: string;
  /** Rig simulation profile (sim/realism.ts); absent = basic. */
  profile?: "basic" | "realistic";
}
