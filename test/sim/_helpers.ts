/** Helpers shared by the simulator tests. */
import { createHash } from "node:crypto";
import { decodeSensorMessage } from "../../src/msg/codec.ts";
import type { SensorMessage } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import { DEFAULT_SIM_OPTIONS, type SimEvent, type SimOptions, Simulation } from "../../sim/index.ts";

export const START_NS = DEFAULT_SIM_OPTIONS.startNs;

export function simOptions(over: Partial<SimOptions> & { rigName?: string } = {}): SimOptions {
  const { rigName, ...rest } = over;
  return { ...DEFAULT_SIM_OPTIONS, rig: loadRig(rigName ?? "sim"), ...rest };
}

/** Every event of the first `seconds` simulated seconds. */
export function runFor(opts: SimOptions, seconds: number): SimEvent[] {
  return new Simulation(opts).until(START_NS + seconds * 1e9);
}

/**
 * sha256 of the events' topics, send times and payloads. A payload's leading alignment pad (field 2,
 * written by the encoder since DECISIONS H9) is left out: it moves bytes, it carries nothing, and the
 * digests pinned before it must still hold.
 */
export function digest(events: SimEvent[]): string {
  const h = createHash("sha256");
  for (const e of events) {
    h.update(`${e.topic}|${e.sendNs}|${e.qos}|`);
    const p = e.payload;
    h.update(p[0] === 0x12 && p.length > 1 ? p.subarray(2 + p[1]!) : p);
  }
  return h.digest("hex");
}

export function decodeOk(e: SimEvent): SensorMessage {
  const r = decodeSensorMessage(e.payload, { vehicle: e.vehicle, sensorId: e.sensorId! });
  if (!r.ok) throw new Error(`${e.topic}: ${r.error.code} ${r.error.message}`);
  return r.value;
}

export const ofSensor = (events: SimEvent[], id: string) => events.filter((e) => e.sensorId === id);
