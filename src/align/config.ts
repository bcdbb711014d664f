import { z } from "zod";

/**
 * Aligner parameters (rig file section `align`). Units are in the names. Defaults live here and
 * nowhere else; per-sensor parameters (clock offset, jitter window, timeout, stale time) live on
 * each sensor of the rig (src/rig/schema.ts). See docs/align.md for the semantics.
 */
export const egoConfigSchema = z
  .object({
    /** GNSS velocity noise, m/s (1 sigma). */
    gnss_velocity_std_mps: z.number().positive().default(0.2),
    /** GNSS position noise when neither the fix nor the rig's gnss block says, m (1 sigma). */
    gnss_position_std_m: z.number().positive().default(0.5),
    /** Process noise of the yaw rate (continuous white yaw acceleration), rad/s^2. */
    yaw_accel_std_radps2: z.number().positive().default(0.5),
    /** Process noise of the acceleration (continuous white jerk), m/s^3. */
    jerk_std_mps3: z.number().positive().default(2),
    /** Pose history kept for motion compensation, entries (IMU rate x seconds). */
    history_len: z.number().int().min(16).max(10_000).default(400),
  })
  .strict();

export const alignConfigSchema = z
  .object({
    /** What to do with data that arrives after its tick was emitted: use it for the next tick
     *  (status `late`), or drop it. Either way it is counted (reason `late`). */
    late_policy: z.enum(["next", "drop"]).default("drop"),
    /** Out-of-order input within this window is reordered; older input is dropped (`out_of_order`). */
    reorder_window_ms: z.number().min(0).max(1000).default(50),
    /** Stamps further in the future than this, relative to the other sensors' consensus of
     *  arrival minus stamp, are flagged CLOCK_SKEW and dropped (`clock_skew`). */
    max_future_ms: z.number().positive().default(200),
    /** Stamps older than this, relative to the same consensus, are flagged CLOCK_SKEW. */
    max_past_ms: z.number().positive().default(2000),
    /** A backward stamp jump larger than this resets the aligner (looped replay), once the sensors
     *  agree (see `jump_confirm_ms`); a lone message jumping back is dropped (`backward_jump`). */
    reset_backward_jump_ms: z.number().positive().max(3_600_000).default(1000),
    /** A stamp jump (backward, or outside the clock-sanity band) is obeyed only when the jumped
     *  messages of at least two sensors, within this time of each other, outnumber the live sensors
     *  still on the old time (or, with no other live sensor, after three messages of the same
     *  sensor); until then each is dropped and counted. docs/align.md "Stamp jumps". */
    jump_confirm_ms: z.number().positive().max(60_000).default(1000),
    /** Per-sensor message buffer length (messages); oldest dropped first and counted (`buffer_full`). */
    buffer_len: z.number().int().min(2).max(1000).default(64),
    /** Ticks waiting for inputs at once; the oldest is emitted early when exceeded. */
    max_pending_ticks: z.number().int().min(1).max(64).default(4),
    /** Reference lost: a timer tick is opened this long after the reference's expected arrival, ms.
     *  Default: the reference's jitter window (half a period). */
    reference_grace_ms: z.number().positive().optional(),
    /** Timer ticks stop when no input at all arrived for this long (vehicle offline), ms. */
    idle_stop_ms: z.number().positive().default(2000),
    /** Motion compensation of radar, camera and LiDAR (deskew) to the tick time. Off: extrinsics only. */
    motion_compensation: z.boolean().default(true),
    /** Radar: also move each return along its line of sight by its own (ego-compensated) radial
     *  velocity between its stamp and the tick. */
    radar_target_motion: z.boolean().default(true),
    /** Radar: with tracked objects fed back (alignVehicle `objectMotion`), a return inside a track's
     *  box whose radial velocity agrees with the track's also moves by the track velocity's
     *  component across its line of sight, between its stamp and the tick. No feedback: no effect. */
    radar_track_motion: z.boolean().default(true),
    /** Feedback older than this (tick stamp minus the frame's stamp) is ignored, ms. */
    track_motion_max_age_ms: z.number().positive().default(300),
    /** A return belongs to a track when it lies within the track's box grown by this margin, m. */
    track_motion_margin_m: z.number().min(0).default(1),
    /** ... and its radial velocity is within this of the track velocity along its line of sight, m/s. */
    track_motion_vr_gate_mps: z.number().positive().default(2),
    /** Ego-state EKF parameters. */
    ego: egoConfigSchema.default(egoConfigSchema.parse({})),
  })
  .strict();
export type AlignConfig = z.infer<typeof alignConfigSchema>;
