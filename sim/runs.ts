/**
 * Simulated runs as decoded sensor envelopes and ground truth, for offline tools (evaluation, dataset
 * export, calibration, benches, tests). Envelopes arrive at the simulated send time; the fleet
 * runtime replays them (src/runtime/offline.ts), so every offline path runs the live pipeline.
 */
import type { GroundTruth, SensorEnvelope } from "../src/msg/types.ts";
import { decodeGroundTruth, decodeSensorMessage } from "../src/msg/codec.ts";
import type { RigConfig } from "../src/rig/schema.ts";
import { replayTicks } from "../src/runtime/offline.ts";
import { pairTruth, type RunSpec, type SimFrame } from "../src/eval/truth.ts";
import type { EvalSource } from "../src/eval/run.ts";
import { DEFAULT_SIM_OPTIONS, SCENARIOS as SCENARIOS_LIST, type SimOptions, Simulation } from "./index.ts";

export { SCENARIOS } from "./index.ts";

/** Simulate `durationS` of vehicle sim-1: its decoded sensor envelopes and ground truth, in order. */
export function simulateEnvelopes(
  rig: RigConfig,
  opts: Partial<Omit<SimOptions, "rig" | "vehicles">>,
  durationS: number,
): { envs: SensorEnvelope[]; truths: GroundTruth[] } {
  const so: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...opts, rig, vehicles: 1 };
  const sim = new Simulation(so);
  const events = sim.until(so.startNs + durationS * 1e9);
  const envs: SensorEnvelope[] = [];
  const truths: GroundTruth[] = [];
  for (const ev of events) {
    if (ev.sensorId === null) {
      if (ev.topic.endsWith("/truth")) {
        const g = decodeGroundTruth(ev.payload);
        if (g.ok) truths.push(g.value);
      }
      continue;
    }
    const r = decodeSensorMessage(ev.payload);
    if (r.ok) envs.push({ msg: r.value, arrivalNs: ev.sendNs, bytes: ev.payload.byteLength });
  }
  return { envs, truths };
}

/** The envelopes of a run spec (the evaluation's source of simulated runs). */
export function simulatedRun(rig: RigConfig, spec: RunSpec) {
  return simulateEnvelopes(
    rig,
    {
      seed: spec.seed,
      scenario: spec.scenario as SimOptions["scenario"],
      conditions: spec.conditions as SimOptions["conditions"],
      faults: spec.faults,
    },
    spec.durationS,
  );
}

/**
 * Simulate and align vehicle sim-1 through the fleet runtime (replay mode: event time, the live
 * aligner and health monitor): the aligned ticks and every ground-truth message, in order.
 */
export async function simulateAligned(
  rig: RigConfig,
  opts: Partial<Omit<SimOptions, "rig" | "vehicles">>,
  durationS: number,
) {
  const { envs, truths } = simulateEnvelopes(rig, opts, durationS);
  const frames = await replayTicks(rig, envs);
  return { ticks: frames.map((f) => f.tick), truths };
}

/** Simulate one run of vehicle sim-1 and align it; frames without truth nearby are left out. */
export async function simulateRun(rig: RigConfig, spec: RunSpec): Promise<SimFrame[]> {
  const { ticks, truths } = await simulateAligned(
    rig,
    {
      seed: spec.seed,
      scenario: spec.scenario as SimOptions["scenario"],
      conditions: spec.conditions as SimOptions["conditions"],
      faults: spec.faults,
    },
    spec.durationS,
  );
  return pairTruth(ticks, truths);
}

/** The evaluation's source of simulated runs (wired by the CLI into `fusion eval`). */
export const SIM_EVAL_SOURCE = {
  scenarios: SCENARIOS_LIST,
  scenarioOf: (seed: number) => SCENARIOS_LIST[seed % SCENARIOS_LIST.length]!,
  run: (rig: RigConfig, spec: RunSpec) => simulatedRun(rig, spec),
} satisfies EvalSource;
