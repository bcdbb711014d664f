/**
 * Vehicle discovery for fleet workers (docs/fleet.md, DECISIONS F1), I/O-free: topics in, the set
 * of known vehicles out. A worker must know every vehicle of the fleet (to compute who owns it)
 * without receiving every vehicle's sensor data. Two light sources:
 *  - the retained birth message `fusion/<vehicle>/rig` (a vehicle's gateway publishes it when it
 *    connects and clears it, an empty retained payload, when it leaves; its last will does so when
 *    it dies): a new worker learns every vehicle at once from the broker's retained store;
 *  - optionally, traffic of one light sensor of every vehicle (`fusion/+/sensors/<id>`, e.g. `gnss`, 10 Hz
 *    of ~100 bytes), for gateways that publish no birth message; such a vehicle is forgotten after
 *    `forgetAfterMs` without traffic.
 * Vehicle ids are checked as admission checks them; the set is bounded (`maxVehicles`), refusals
 * are counted, never keyed by the refused id.
 */
import { vehicleIdProblem } from "../runtime/admission.ts";
import { ROOT } from "../msg/topics.ts";

export interface DiscoveryOptions {
  /** Sensor id whose traffic also discovers vehicles; null = birth messages only (default). */
  sensor?: string | null;
  /** A vehicle known only from traffic is forgotten after this long without it, ms. Default 30000. */
  forgetAfterMs?: number;
  /** Vehicles known at most; more are refused and counted. Default 10000. */
  maxVehicles?: number;
}

export const DISCOVERY_DEFAULTS = {
  sensor: null as string | null,
  forgetAfterMs: 30_000,
  maxVehicles: 10_000,
} as const;

export type DiscoveryChange = { type: "discovered" | "forgotten"; vehicle: string };

export interface DiscoveryStats {
  known: number;
  births: number;
  refused: { invalid_id: number; capacity: number };
}

interface Entry {
  birth: boolean;
  lastTrafficMs: number;
}

export class Discovery {
  private readonly entries = new Map<string, Entry>();
  private readonly sensor: string | null;
  private readonly forgetAfterMs: number;
  private readonly max: number;
  private readonly refused = { invalid_id: 0, capacity: 0 };

  constructor(o: DiscoveryOptions = {}) {
    this.sensor = o.sensor === undefined ? DISCOVERY_DEFAULTS.sensor : o.sensor;
    this.forgetAfterMs = o.forgetAfterMs ?? DISCOVERY_DEFAULTS.forgetAfterMs;
    this.max = o.maxVehicles ?? DISCOVERY_DEFAULTS.maxVehicles;
  }

  /** The MQTT subscription filters this discovery needs. */
  filters(): string[] {
    return this.sensor ? [`${ROOT}/+/rig`, `${ROOT}/+/sensors/${this.sensor}`] : [`${ROOT}/+/rig`];
  }

  /** One message of a discovery subscription; returns the change it makes, if any. */
  onMessage(topic: string, payloadBytes: number, nowMs: number): DiscoveryChange | null {
    const p = topic.split("/");
    let birth: boolean;
    if (p.length === 3 && p[0] === ROOT && p[2] === "rig") birth = true;
    else if (p.length === 4 && p[0] === ROOT && p[2] === "sensors" && p[3] === this.sensor) birth = false;
    else return null;
    const v = p[1]!;
    const e = this.entries.get(v);
    if (birth && payloadBytes === 0) {
      // The birth message was cleared: the vehicle left (traffic may still keep it for a while).
      if (!e) return null;
      e.birth = false;
      if (nowMs - e.lastTrafficMs < this.forgetAfterMs) return null;
      this.entries.delete(v);
      return { type: "forgotten", vehicle: v };
    }
    if (e) {
      if (birth) e.birth = true;
      else e.lastTrafficMs = nowMs;
      return null;
    }
    if (vehicleIdProblem(v)) {
      this.refused.invalid_id++;
      return null;
    }
    if (this.entries.size >= this.max) {
      this.refused.capacity++;
      return null;
    }
    this.entries.set(v, { birth, lastTrafficMs: birth ? Number.NEGATIVE_INFINITY : nowMs });
    return { type: "discovered", vehicle: v };
  }

  /** Vehicles known only from traffic and silent for `forgetAfterMs` are forgotten. */
  sweep(nowMs: number): string[] {
    const out: string[] = [];
    for (const [v, e] of this.entries)
      if (!e.birth && nowMs - e.lastTrafficMs >= this.forgetAfterMs) {
        this.entries.delete(v);
        out.push(v);
      }
    return out;
  }

  vehicles(): string[] {
    return [...this.entries.keys()];
  }

  stats(): DiscoveryStats {
    let births = 0;
    for (const e of this.entries.values()) if (e.birth) births++;
    return { known: this.entries.size, births, refused: { ...this.refused } };
  }
}

/** The retained birth message of a vehicle on `fusion/<vehicle>/rig`: JSON `{vehicle, rig}`. */
export function birthPayload(vehicle: string, rig: string): Buffer {
  return Buffer.from(JSON.stringify({ vehicle, rig }));
}
