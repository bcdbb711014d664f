import { z } from "zod";

/** Health-monitor parameters (rig file section `health`). Units are in the names. */
export const healthConfigSchema = z
  .object({
    /** Minimum time a sensor state holds before it may change again (hysteresis). */
    dwell_ms: z.number().min(0).default(1000),
    /** Rate below this fraction of nominal marks a sensor DEGRADED. */
    degraded_rate_ratio: z.number().min(0).max(1).default(0.7),
    /** Window of the moving-average rate estimate. */
    rate_window_ms: z.number().positive().default(2000),
    /** HealthReport publish period when nothing changes. */
    report_period_ms: z.number().positive().default(1000),
  })
  .passthrough();
export type HealthConfig = z.infer<typeof healthConfigSchema>;
