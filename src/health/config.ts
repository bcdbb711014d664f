import { z } from "zod";
import { SENSOR_KIND_NAMES } from "../msg/kinds.ts";

/**
 * Health-monitor parameters (rig file section `health`). Units are in the names.
 * Defaults live here and nowhere else (the monitor reads the parsed config only).
 * Per-sensor staleness (`stale_ms`) lives on each sensor of the rig (src/rig/schema.ts).
 */

// ------------------------------------------------------------------------------------------------
// System-mode rule set: a small fault tree. A rule fires when its `when` condition holds; the system
// mode is the most severe mode among the fired rules (NOMINAL when none fires), and the reasons are
// the fired rules' reasons, most severe first, each followed by the leaf atoms that made it true.
//
// Atoms are `<subject>.<predicate>`:
//   subject: lidar | radar | camera | gnss | imu | pose (the rig's sensors of that kind),
//            perception (lidar + radar + camera sensors), any (every sensor)
//   predicate:
//     lost         the rig has sensors of the subject and none of them is usable
//                  (usable = OK or DEGRADED, and no masking reason such as `frozen`)
//     unavailable  no usable sensor of the subject (also true when the rig has none)
//     partial      some, but not all, sensors of the subject are unusable
//     degraded     some sensor of the subject is not OK (DEGRADED, STALE or FAILED)
//     stale        some sensor of the subject is STALE or FAILED
//     failed       some sensor of the subject is FAILED
//     drift        some sensor of the subject carries a drift reason
//     skew         some sensor of the subject carries a clock_skew reason
// Gates: { any: [...] }, { all: [...] }, { not: ... }, { at_least: n, of: [...] }.
// ------------------------------------------------------------------------------------------------

/** Rule subjects: every sensor kind of the registry, plus the two groups. */
export const RULE_SUBJECTS = [...SENSOR_KIND_NAMES, "perception", "any"] as const;
export type RuleSubject = (typeof RULE_SUBJECTS)[number];
export const RULE_PREDICATES = [
  "lost",
  "unavailable",
  "partial",
  "degraded",
  "stale",
  "failed",
  "drift",
  "skew",
] as const;
export type RulePredicate = (typeof RULE_PREDICATES)[number];

const ATOM_RE = new RegExp(`^(${RULE_SUBJECTS.join("|")})\\.(${RULE_PREDICATES.join("|")})$`);

export type RuleCondition =
  | string
  | { any: RuleCondition[] }
  | { all: RuleCondition[] }
  | { not: RuleCondition }
  | { at_least: number; of: RuleCondition[] };

const atomSchema = z
  .string()
  .regex(
    ATOM_RE,
    `atom must be <subject>.<predicate> with subject in ${RULE_SUBJECTS.join("|")} and predicate in ${RULE_PREDICATES.join("|")}`,
  );

export const ruleConditionSchema: z.ZodType<RuleCondition> = z.lazy(() =>
  z.union([
    atomSchema,
    z.object({ any: z.array(ruleConditionSchema).min(1) }).strict(),
    z.object({ all: z.array(ruleConditionSchema).min(1) }).strict(),
    z.object({ not: ruleConditionSchema }).strict(),
    z
      .object({ at_least: z.number().int().min(1), of: z.array(ruleConditionSchema).min(1) })
      .strict()
      .refine((g) => g.at_least <= g.of.length, { message: "at_least is larger than the list" }),
  ]),
);

export const modeRuleSchema = z
  .object({
    /** Mode the system is put in when the condition holds. */
    mode: z.enum(["DEGRADED", "MINIMAL", "SAFE_STOP"]),
    /** Stable reason code reported with the mode (e.g. `perception_lost`). */
    reason: z.string().regex(/^[a-z0-9_]+$/, "reason must be snake_case"),
    when: ruleConditionSchema,
  })
  .strict();
export type ModeRule = z.infer<typeof modeRuleSchema>;

/** Default rule set (the issue's examples plus the obvious neighbours). */
const DEFAULT_MODE_RULES: ModeRule[] = [
  { mode: "SAFE_STOP", reason: "perception_lost", when: "perception.lost" },
  { mode: "SAFE_STOP", reason: "lidar_and_radar_lost", when: { all: ["lidar.lost", "radar.lost"] } },
  {
    mode: "MINIMAL",
    reason: "single_perception_modality",
    when: { at_least: 2, of: ["lidar.lost", "radar.lost", "camera.lost"] },
  },
  // Ego motion comes from GNSS + IMU, or from a localisation pose stream (replayed logs).
  { mode: "MINIMAL", reason: "ego_lost", when: { any: [{ all: ["gnss.lost", "imu.lost"] }, "pose.lost"] } },
  {
    mode: "DEGRADED",
    reason: "perception_degraded",
    when: { any: ["lidar.degraded", "radar.degraded", "camera.degraded"] },
  },
  {
    mode: "DEGRADED",
    reason: "localisation_degraded",
    when: { any: ["gnss.degraded", "imu.degraded", "pose.degraded"] },
  },
];

/** Sensor reasons that make a sensor unusable for fusion even though its state is only DEGRADED. */
const DEFAULT_MASK_REASONS = ["frozen", "black_frame", "invalid_points"];

export const healthConfigSchema = z
  .object({
    // -- state machine --------------------------------------------------------------------------
    /** Minimum time a sensor state holds before it may change again, and how long a better condition
     *  must hold before a state improves (hysteresis). Escalation to STALE/FAILED is immediate. */
    dwell_ms: z.number().min(0).default(1000),
    /** STALE for this long -> FAILED. */
    failed_after_ms: z.number().positive().default(10_000),
    /** HealthReport publish period when nothing changes. */
    report_period_ms: z.number().positive().default(1000),

    // -- rate, jitter, latency -------------------------------------------------------------------
    /** Window of the moving-average rate estimate. */
    rate_window_ms: z.number().positive().default(2000),
    /** Rate below this fraction of nominal marks a sensor DEGRADED (`rate_low`). */
    degraded_rate_ratio: z.number().min(0).max(1).default(0.7),
    /** `rate_low` clears when the rate is back above this fraction of nominal (hysteresis). */
    recover_rate_ratio: z.number().min(0).max(1).default(0.85),
    /** Rate above this multiple of nominal marks a sensor DEGRADED (`rate_high`, e.g. two publishers). */
    max_rate_ratio: z.number().min(1).default(1.6),
    /** Smoothed inter-arrival jitter (RFC 3550 style, over arrival vs. stamp spacing) above this -> `jitter`. */
    max_jitter_ms: z.number().positive().default(50),
    /** Smoothed latency (arrival minus clock-corrected stamp) above this -> `latency`. Latency beyond the
     *  aligner's `max_past_ms` / before `-max_future_ms` is reported as `clock_skew` instead. */
    max_latency_ms: z.number().positive().default(300),
    /** Fraction of a sensor's payloads that failed to decode in the rate window above this -> `decode_errors`. */
    max_decode_error_ratio: z.number().min(0).max(1).default(0.2),
    /** Aligner drops per received message in the rate window above this -> `drops`. */
    max_drop_ratio: z.number().min(0).default(0.3),

    // -- content checks ----------------------------------------------------------------------------
    /** This many consecutive identical payloads (hash of a sample of the bytes) -> `frozen`. */
    frozen_count: z.number().int().min(2).default(3),
    /** LiDAR sweeps with fewer points -> `low_points`. Also flagged below `min_count_ratio` of the
     *  reference median once the drift reference is complete. */
    lidar_min_points: z.number().int().min(0).default(100),
    /** Point / return count below this fraction of the reference median -> `low_points` / `low_returns`. */
    min_count_ratio: z.number().min(0).max(1).default(0.25),
    /** Fraction of sampled LiDAR points at (near) zero range or beyond 1.5 x max range -> `invalid_points`. */
    max_invalid_ratio: z.number().min(0).max(1).default(0.2),
    /** Consecutive radar scans without returns -> `no_returns`. */
    radar_empty_scans: z.number().int().min(1).default(20),
    /** Mean sampled pixel value (0..255) of raw camera frames below this -> `black_frame`. */
    camera_black_level: z.number().min(0).max(255).default(8),
    /** GNSS fixes worse than this -> `no_fix`. */
    gnss_min_fix: z.enum(["FIX_2D", "FIX_3D", "DGPS", "RTK_FLOAT", "RTK_FIXED"]).default("FIX_3D"),
    /** Horizontal position standard deviation from the covariance above this -> `covariance`. */
    gnss_max_std_m: z.number().positive().default(5),
    /** Apparent speed between consecutive fixes above this -> `jump`. */
    gnss_max_speed_mps: z.number().positive().default(80),
    /** Any accelerometer axis at or beyond this -> `saturated`. Default 16 g. */
    imu_accel_max_mps2: z.number().positive().default(156.9),
    /** Any gyro axis at or beyond this -> `saturated`. Default 2000 deg/s. */
    imu_gyro_max_radps: z.number().positive().default(34.9),

    // -- drift -----------------------------------------------------------------------------------
    /** Samples per statistic collected (from the first data) as the reference distribution. */
    drift_reference_n: z.number().int().min(10).default(300),
    /** Samples in the sliding current window compared against the reference. Under no drift the PSI is
     *  about (1/window + 1/reference) * chi2(bins - 1): 300/150 with 5 bins keeps 0.25 a ~1e-4 tail. */
    drift_window_n: z.number().int().min(10).default(150),
    /** Histogram bins (reference quantiles) of the population stability index. */
    drift_bins: z.number().int().min(2).max(20).default(5),
    /** PSI above this raises `drift:<statistic>`; it clears below half of it. 0.25 = "significant shift". */
    drift_psi_threshold: z.number().positive().default(0.25),
    /** false (default): a drift is reported (sensor reason `drift:<stat>`, `snapshot.drift`) but leaves the
     *  sensor state OK, because scene-dependent statistics (point, return and detection counts) also move
     *  with the environment; mode rules may still use `<subject>.drift`. true: a drift makes the sensor
     *  DEGRADED. */
    drift_degrades: z.boolean().default(false),

    // -- outputs ---------------------------------------------------------------------------------
    /** Sensor reasons that mask a sensor from fusion although its state is only DEGRADED. */
    mask_reasons: z.array(z.string()).default(DEFAULT_MASK_REASONS),
    /** System-mode rule set (see the comment above). Replaces the default list when given. */
    mode_rules: z.array(modeRuleSchema).default(DEFAULT_MODE_RULES),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.recover_rate_ratio < c.degraded_rate_ratio)
      ctx.addIssue({
        code: "custom",
        path: ["recover_rate_ratio"],
        message: "must be >= degraded_rate_ratio (hysteresis)",
      });
    if (c.drift_window_n > c.drift_reference_n)
      ctx.addIssue({ code: "custom", path: ["drift_window_n"], message: "must be <= drift_reference_n" });
  });
export type HealthConfig = z.infer<typeof healthConfigSchema>;
