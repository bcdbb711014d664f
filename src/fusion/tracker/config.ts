import { z } from "zod";

/**
 * Tracker parameters (a rig file could carry them as `fusion.tracker`). Units are in the names.
 * Defaults live here and nowhere else.
 */
export const trackerConfigSchema = z
  .object({
    /** White-acceleration process noise of the constant-velocity model, m/s^2 (1 sigma). */
    accel_std_mps2: z.number().positive().default(3),
    /** Velocity prior of a newborn track without a velocity measurement, m/s (1 sigma): most
     *  objects are slow or parked; fast ones are found by the initiation gate and corrected within
     *  a few hits (or measured at once by radar). */
    init_vel_std_mps: z.number().positive().default(4),
    /** Association gate on the squared Mahalanobis distance of the position innovation (2 dof). */
    gate_chi2: z.number().positive().default(16),
    /** Association gate on the plain distance between prediction and detection, m. */
    gate_max_m: z.number().positive().default(4),
    /** A track's second hit (when it has no velocity yet) may be this fast from its first, m/s,
     *  per class: [unknown, car, truck, pedestrian, cyclist]. */
    init_max_speed_mps: z
      .tuple([
        z.number().positive(),
        z.number().positive(),
        z.number().positive(),
        z.number().positive(),
        z.number().positive(),
      ])
      .default([45, 45, 40, 4, 12]),
    /** Plus this much position slack, m. */
    init_gate_slack_m: z.number().min(0).default(1),
    /** A velocity measurement whose innovation exceeds this squared Mahalanobis distance (2 dof) is
     *  ignored (the position still updates): one radar return off the object must not yank a
     *  settled track. 0 = no gate. */
    vel_gate_chi2: z.number().min(0).default(16),
    /** Cost added when the detection class differs from the track class (in chi2 units). */
    class_mismatch_cost: z.number().min(0).default(4),
    /** Hits needed to confirm a track. */
    confirm_hits: z.number().int().min(1).default(2),
    /** A confirmed track without a hit for this long is deleted, ms. */
    max_coast_ms: z.number().positive().default(600),
    /** A tentative track without a hit for this long is deleted, ms. */
    tentative_max_coast_ms: z.number().positive().default(150),
    /** A track missed this tick is output (coasting) only if it had at least this many hits. */
    coast_min_hits: z.number().int().min(1).default(3),
    /** Detections inside the box of a confirmed track do not start new tracks (split clusters). */
    suppress_fragments: z.boolean().default(true),
    /** Emit tentative tracks too (with their lower score). */
    emit_tentative: z.boolean().default(false),
    /** Smoothing factor of box size and height, 0..1 (weight of the new measurement). */
    shape_alpha: z.number().gt(0).max(1).default(0.3),
    /** Smoothing factor of the track score, 0..1. */
    score_alpha: z.number().gt(0).max(1).default(0.4),
    /** Score multiplier per missed tick while coasting. */
    coast_score_decay: z.number().gt(0).max(1).default(0.8),
    /** Above this speed (and a settled velocity) the box yaw follows the velocity heading, m/s. */
    yaw_from_motion_min_mps: z.number().min(0).default(1.5),
    /** Most tracks per vehicle; births beyond it are dropped and counted. */
    max_tracks: z.number().int().positive().default(512),
    /** Per-tick decay of the class votes (lets a track change class). */
    class_vote_decay: z.number().gt(0).max(1).default(0.9),
    /**
     * The tick interval at which the hit counts above hold (confirm_hits, coast_min_hits), s: the
     * simulated rig's 10 Hz LiDAR, on which they and the classical score calibration were tuned. At
     * a slower tick (the engine's expected interval, then the observed one) they are scaled to the
     * same span of time (scale_to_tick): n hits become round(n * tick_reference_s / interval), at
     * least 1, so a log of 2 Hz keyframes confirms on one hit, as 10 Hz does within 0.2 s. A faster
     * tick keeps the counts. The per-tick smoothing and decay factors are per measurement and not
     * scaled: scaling them to the same time constants was worse on scene-0523's validation half
     * (DECISIONS C12). The classical engine counts track age for its score in reference ticks too.
     */
    tick_reference_s: z.number().positive().default(0.1),
    scale_to_tick: z.boolean().default(true),
  })
  .strict();

export type TrackerConfig = z.infer<typeof trackerConfigSchema>;
export type TrackerConfigInput = z.input<typeof trackerConfigSchema>;
