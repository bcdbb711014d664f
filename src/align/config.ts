import { z } from "zod";

/** Aligner parameters (rig file section `align`). Units are in the names. */
export const alignConfigSchema = z
  .object({
    /** What to do with data that arrives after its tick was emitted: use it for the next tick, or drop it. */
    late_policy: z.enum(["next", "drop"]).default("drop"),
    /** Out-of-order input within this window is reordered. */
    reorder_window_ms: z.number().min(0).max(1000).default(50),
    /** Stamps further in the future than this (vs. arrival) are flagged CLOCK_SKEW. */
    max_future_ms: z.number().positive().default(200),
    /** Stamps older than this (vs. arrival) are flagged CLOCK_SKEW. */
    max_past_ms: z.number().positive().default(2000),
    /** A backward jump of the reference stamp larger than this resets the aligner (looped replay). */
    reset_backward_jump_ms: z.number().positive().default(1000),
    /** Per-sensor message buffer length (messages); oldest dropped first and counted. */
    buffer_len: z.number().int().min(2).max(1000).default(32),
  })
  .strict();
export type AlignConfig = z.infer<typeof alignConfigSchema>;
