/**
 * Rig configuration: one file per vehicle (YAML or JSON), validated at start-up.
 * Defaults live here, in the schema, and nowhere else. Each stage owns its parameter section.
 */
import { z } from "zod";
import { SENSOR_KIND_NAMES } from "../msg/kinds.ts";
import { alignConfigSchema } from "../align/config.ts";
import { classicalConfigSchema } from "../fusion/classical/config.ts";
import { LEARNED_CONFIG_DEFAULTS, learnedConfigSchema } from "../fusion/learned/config.ts";
import { healthConfigSchema } from "../health/config.ts";

const bounded = (max: number, what: string) =>
  z
    .number()
    .min(-max, `${what}: at most ${max} in magnitude`)
    .max(max, `${what}: at most ${max} in magnitude`);
const vec3 = (max: number, what: string) =>
  z.tuple([bounded(max, what), bounded(max, what), bounded(max, what)]);

/** Largest magnitude of any number in a rig file (a generic guard against 1e308 and the like). */
export const MAX_CONFIG_MAGNITUDE = 1e7;

export const extrinsicSchema = z
  .object({
    /** Sensor origin in the vehicle frame (x forward, y left, z up), m; within 100 m of the origin. */
    translation_m: vec3(100, "a sensor mounted more than 100 m from the vehicle origin").default([0, 0, 0]),
    /** Sensor orientation in the vehicle frame as roll, pitch, yaw (rad, applied Z-Y-X), within 2 pi. */
    rotation_rpy_rad: vec3(2 * Math.PI, "an angle beyond 2 pi rad").default([0, 0, 0]),
  })
  .strict();

/** Every number in `v` with its path, for the generic magnitude guard. */
function* numbers(v: unknown, path: (string | number)[] = []): Generator<[(string | number)[], number]> {
  if (typeof v === "number") yield [path, v];
  else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield* numbers(v[i], [...path, i]);
  else if (v && typeof v === "object")
    for (const [k, x] of Object.entries(v)) yield* numbers(x, [...path, k]);
}

export const lidarModelSchema = z
  .object({
    beams: z.number().int().min(1).max(256).default(32),
    /** Azimuth samples per revolution per beam. */
    azimuth_steps: z.number().int().min(16).max(8192).default(1085),
    /** Lowest and highest beam elevation, deg. */
    vertical_fov_deg: z.tuple([z.number(), z.number()]).default([-30.67, 10.67]),
    max_range_m: z.number().positive().default(70),
    /**
     * Time of one revolution, s; absent: 1 / rate_hz (one message per revolution). A log that keeps
     * one sweep in several (nuScenes keyframes: 2 Hz of a 20 Hz LiDAR) still sweeps in one
     * revolution: when a point was seen within its sweep (the engines' measurement times) follows
     * this, not the message rate.
     */
    sweep_period_s: z.number().positive().optional(),
    range_noise_m: z.number().min(0).default(0.02),
    dropout: z.number().min(0).max(1).default(0.05),
    /** Simulator: std of the intensity noise (intensity is reflectance in [0, 1]). */
    intensity_noise: z.number().min(0).default(0.02),
    /** Simulator: capture-to-publish delay and its jitter (std), ms. */
    latency_ms: z.number().min(0).default(8),
    latency_jitter_ms: z.number().min(0).default(1),
  })
  .strict();

export const radarModelSchema = z
  .object({
    fov_deg: z.number().positive().max(360).default(90),
    max_range_m: z.number().positive().default(150),
    range_noise_m: z.number().min(0).default(0.25),
    azimuth_noise_deg: z.number().min(0).default(1.0),
    velocity_noise_mps: z.number().min(0).default(0.1),
    p_detect: z.number().min(0).max(1).default(0.9),
    clutter_per_scan: z.number().min(0).default(3),
    /** Simulator: elevation noise (deg), RCS noise (dB), capture-to-publish delay and jitter (ms). */
    elevation_noise_deg: z.number().min(0).default(1.0),
    rcs_noise_db: z.number().min(0).default(2.0),
    latency_ms: z.number().min(0).default(5),
    latency_jitter_ms: z.number().min(0).default(1),
  })
  .strict();

export const cameraModelSchema = z
  .object({
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    fx: z.number().positive(),
    fy: z.number().positive(),
    cx: z.number(),
    cy: z.number(),
    p_detect: z.number().min(0).max(1).default(0.9),
    max_range_m: z.number().positive().default(80),
    /** Simulator: mean false positives per frame, class confusion probability, box noise (fraction of size). */
    false_positives_per_frame: z.number().min(0).default(0.2),
    p_class_confusion: z.number().min(0).max(1).default(0.04),
    box_noise_frac: z.number().min(0).default(0.03),
    /** Simulator: capture-to-publish delay (detector inference) and jitter, ms. */
    /** Simulator: width of the JPEG frames published with --camera-frames, px (height keeps the aspect). */
    frame_width_px: z.number().int().min(16).max(4096).default(320),
    latency_ms: z.number().min(0).default(25),
    latency_jitter_ms: z.number().min(0).default(3),
  })
  .strict();

export const gnssModelSchema = z
  .object({
    /** ENU origin used by the simulator, deg / m. */
    origin_lat_deg: z.number().min(-90).max(90).default(48.137),
    origin_lon_deg: z.number().min(-180).max(180).default(11.575),
    origin_alt_m: z.number().default(520),
    noise_m: z.number().min(0).default(0.5),
    /** Simulator: fix type when healthy, multipath jump rate (1/s) and size (m), delay and jitter (ms). */
    fix_type: z.enum(["fix_3d", "dgps", "rtk_float", "rtk_fixed"]).default("dgps"),
    multipath_rate_hz: z.number().min(0).default(0.02),
    multipath_m: z.number().min(0).default(4),
    latency_ms: z.number().min(0).default(20),
    latency_jitter_ms: z.number().min(0).default(2),
  })
  .strict();

export const imuModelSchema = z
  .object({
    accel_noise_mps2: z.number().min(0).default(0.05),
    gyro_noise_radps: z.number().min(0).default(0.002),
    /** Simulator: bias std (drawn once per run), delay and jitter (ms). */
    accel_bias_mps2: z.number().min(0).default(0.03),
    gyro_bias_radps: z.number().min(0).default(0.0005),
    latency_ms: z.number().min(0).default(1),
    latency_jitter_ms: z.number().min(0).default(0.2),
  })
  .strict();

export const sensorKindSchema = z.enum(SENSOR_KIND_NAMES);

export const sensorSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_-]+$/, "sensor id may contain letters, digits, _ and - only"),
    kind: sensorKindSchema,
    /** Nominal message rate, Hz. */
    rate_hz: z.number().positive().max(10_000),
    extrinsic: extrinsicSchema.default({ translation_m: [0, 0, 0], rotation_rpy_rad: [0, 0, 0] }),
    /** Sensor clock minus reference (vehicle) clock, ms: corrected stamp = stamp - offset. */
    clock_offset_ms: bounded(86_400_000, "clock_offset_ms beyond a day").default(0),
    /** A message matches a tick when |corrected stamp - tick| <= this window, ms. Default: half a period. */
    jitter_window_ms: z.number().positive().optional(),
    /** How long the aligner waits for this sensor after a tick, ms. Default: 1.5 periods, at most 150 ms. */
    timeout_ms: z.number().positive().optional(),
    /** Health: no message for this long -> STALE, ms. Default: 3 periods, at least 200 ms (event-loop stalls under load must not flap a 100 Hz IMU). */
    stale_ms: z.number().positive().optional(),
    lidar: lidarModelSchema.optional(),
    radar: radarModelSchema.optional(),
    camera: cameraModelSchema.optional(),
    gnss: gnssModelSchema.optional(),
    imu: imuModelSchema.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.kind === "camera" && !s.camera)
      ctx.addIssue({
        code: "custom",
        path: ["camera"],
        message: "camera sensors need intrinsics (camera: {...})",
      });
    for (const k of ["lidar", "radar", "camera", "gnss", "imu"] as const) {
      if (s[k] && s.kind !== k)
        ctx.addIssue({ code: "custom", path: [k], message: `a ${s.kind} sensor cannot have a '${k}' block` });
    }
  })
  .transform((s) => {
    const periodMs = 1000 / s.rate_hz;
    return {
      ...s,
      jitter_window_ms: s.jitter_window_ms ?? periodMs / 2,
      timeout_ms: s.timeout_ms ?? Math.min(1.5 * periodMs, 150),
      stale_ms: s.stale_ms ?? Math.max(3 * periodMs, 200),
      lidar: s.kind === "lidar" ? (s.lidar ?? lidarModelSchema.parse({})) : undefined,
      radar: s.kind === "radar" ? (s.radar ?? radarModelSchema.parse({})) : undefined,
      gnss: s.kind === "gnss" ? (s.gnss ?? gnssModelSchema.parse({})) : undefined,
      imu: s.kind === "imu" ? (s.imu ?? imuModelSchema.parse({})) : undefined,
    };
  });

export const rigSchema = z
  .object({
    name: z.string().min(1),
    /** Sensor whose sweeps define the tick (usually the LiDAR). */
    reference: z.string().min(1),
    sensors: z.array(sensorSchema).min(1),
    /**
     * Simulator only: how the built-in simulator renders this rig's world and sensors. `basic`: the
     * simulator's own world (buildings, poles, box agents; the models' training distribution).
     * `realistic`: scene clutter, LiDAR ring output, intensity and radar densities measured on a real
     * urban scene (sim/realism.ts, docs/sim.md "Realistic profile").
     */
    simulation: z
      .object({ profile: z.enum(["basic", "realistic"]).default("basic") })
      .strict()
      .default({ profile: "basic" }),
    align: alignConfigSchema.default(alignConfigSchema.parse({})),
    health: healthConfigSchema.default(healthConfigSchema.parse({})),
    /** Fusion parameters: the classical engine (including its tracker), the learned engines. */
    fusion: z
      .object({
        classical: classicalConfigSchema.default(classicalConfigSchema.parse({})),
        learned: learnedConfigSchema.default(LEARNED_CONFIG_DEFAULTS),
      })
      .strict()
      .default({ classical: classicalConfigSchema.parse({}), learned: LEARNED_CONFIG_DEFAULTS }),
  })
  .strict()
  .superRefine((r, ctx) => {
    const ids = new Set<string>();
    r.sensors.forEach((s, i) => {
      if (ids.has(s.id))
        ctx.addIssue({ code: "custom", path: ["sensors", i, "id"], message: `duplicate id '${s.id}'` });
      ids.add(s.id);
    });
    if (!ids.has(r.reference))
      ctx.addIssue({ code: "custom", path: ["reference"], message: `no sensor with id '${r.reference}'` });
    // Absurd numbers anywhere (1e308 in a stage parameter): refused with the field's path.
    for (const [path, x] of numbers(r))
      if (Math.abs(x) > MAX_CONFIG_MAGNITUDE) {
        ctx.addIssue({
          code: "custom",
          path,
          message: `${x} is beyond ${MAX_CONFIG_MAGNITUDE} in magnitude`,
        });
        break;
      }
  });

export type RigConfig = z.infer<typeof rigSchema>;
export type SensorConfig = RigConfig["sensors"][number];
