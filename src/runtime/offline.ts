/**
 * Offline helpers over the fleet runtime: run recorded or simulated envelopes through the live
 * pipeline in replay mode (event time, backpressure, no shedding) and collect what it produces.
 * Evaluation, dataset export, benches and tests use these instead of re-assembling the stages.
 */
import { lastValueFrom, toArray } from "rxjs";
import { filter, map } from "rxjs/operators";
import type { AlignedTick } from "../align/types.ts";
import type { FusionInputs, FusionResult } from "../fusion/types.ts";
import type { FusedFrame } from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";
import { createLogger } from "../util/log.ts";
import { type FleetInput, fleetReplay, type ReplayOptions } from "./fleet.ts";
import type { FleetEngine } from "./vehicle.ts";

const NO_OBJECTS: FusionResult = { objects: [], gates: { lidar: 0, radar: 0, camera: 0 } };

/**
 * An engine that fuses nothing: it lets the pipeline run to the fusion stage (aligner, live health
 * monitor) and hands each tick and what fusion would get from health (mask, features) to `onTick`.
 */
export function recordingEngine(onTick: (tick: AlignedTick, inputs: FusionInputs) => void): FleetEngine {
  return {
    mode: "record",
    fuse: (tick, inputs) => {
      onTick(tick, inputs);
      return Promise.resolve(NO_OBJECTS);
    },
  };
}

/**
 * Run `inputs` through the live pipeline in replay mode with `engine`; `onFrame` gets every fused
 * frame with its tick, in order. Resolves when the input is exhausted.
 */
export function replayFrames(
  rig: RigConfig,
  engine: FleetEngine,
  inputs: Iterable<FleetInput> | AsyncIterable<FleetInput>,
  onFrame: (tick: AlignedTick, frame: FusedFrame) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    fleetReplay(inputs, { rig, engine, logger: createLogger({ level: "error" }), idleEvictMs: 0 }).subscribe({
      next: (ev) => {
        if (ev.type === "frame") onFrame(ev.tick, ev.frame);
      },
      error: reject,
      complete: resolve,
    }),
  );
}

/** Every aligned tick of `inputs` with what fusion would get from the live health monitor, in order. */
export async function replayTicks(
  rig: RigConfig,
  inputs: Iterable<FleetInput> | AsyncIterable<FleetInput>,
  opts: Partial<ReplayOptions> = {},
): Promise<{ tick: AlignedTick; fusion: FusionInputs }[]> {
  const out: { tick: AlignedTick; fusion: FusionInputs }[] = [];
  await lastValueFrom(
    fleetReplay(inputs, {
      rig,
      engine: recordingEngine((tick, fusion) => out.push({ tick, fusion })),
      logger: createLogger({ level: "error" }),
      idleEvictMs: 0,
      // fusion is instant here: a deeper queue only saves promise turns
      maxPendingTicks: 64,
      ...opts,
    }).pipe(
      filter((e) => e.type === "frame"),
      map(() => null),
      toArray(),
    ),
    { defaultValue: [] },
  );
  return out;
}
