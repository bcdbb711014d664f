/**
 * The built-in simulator of `npm start`: runs in-process but publishes through the broker with its
 * own MQTT client, exactly as an external sensor gateway would. Stamps follow the wall clock.
 * Wired by the CLI (runtime code under src/ never imports sim/): `startService({ sim: embeddedSim(o) })`.
 */
import { connectMqtt } from "../mqtt/connect.ts";
import type { MqttSecurity } from "../mqtt/security.ts";
import type { RigConfig } from "../rig/schema.ts";
import type { NowNs } from "../util/clock.ts";
import type { Logger } from "../util/log.ts";
import { DEFAULT_SIM_OPTIONS, runSimulation } from "../../sim/index.ts";
import type { SimStarter } from "../service.ts";

export interface SimEmbedOptions {
  scenario?: "urban" | "highway" | "intersection";
  conditions?: "clear" | "rain" | "fog" | "night";
  seed?: number;
  vehicles?: number;
  faults?: string;
  cameraFrames?: boolean;
  /** Multiple of real time. Default 1. */
  rate?: number;
}

/** The simulator as the service's in-process sensor source. */
export function embeddedSim(sim: SimEmbedOptions): SimStarter {
  return (o) => startEmbeddedSim({ ...o, sim });
}

export async function startEmbeddedSim(o: {
  brokerUrl: string;
  security?: MqttSecurity;
  rig: RigConfig;
  sim: SimEmbedOptions;
  logger: Logger;
  now: NowNs;
}): Promise<{ stop(): Promise<void> }> {
  const client = await connectMqtt(o.brokerUrl, {
    security: o.security,
    client: { clientId: `fusion-sim-${process.pid}-${Math.random().toString(16).slice(2, 6)}` },
    giveUpAfterMs: 10_000,
  });
  let dropped = 0;
  const rate = o.sim.rate ?? 1;
  const startNs = Math.round(o.now() + 0.7e9);
  const run = runSimulation({
    ...DEFAULT_SIM_OPTIONS,
    rig: o.rig,
    scenario: o.sim.scenario ?? DEFAULT_SIM_OPTIONS.scenario,
    conditions: o.sim.conditions ?? DEFAULT_SIM_OPTIONS.conditions,
    seed: o.sim.seed ?? DEFAULT_SIM_OPTIONS.seed,
    vehicles: o.sim.vehicles ?? 1,
    faults: o.sim.faults ?? "",
    cameraFrames: o.sim.cameraFrames ?? false,
    // Anchor the schedule to the wall clock, starting a moment ahead (warm-up), so that sensor
    // stamps equal the wall-clock time of publication plus the simulated transport delay.
    startNs,
    now: () => o.now() / 1e6,
    t0Ms: rate > 0 ? startNs / 1e6 : undefined,
    rate,
    publish: (ev) => {
      if (!client.connected) {
        dropped++;
        return;
      }
      client.publish(ev.topic, Buffer.from(ev.payload.buffer, ev.payload.byteOffset, ev.payload.byteLength), {
        qos: ev.qos,
        retain: ev.retain ?? false,
      });
    },
  });
  o.logger.log("info", `simulator publishing ${o.sim.vehicles ?? 1} vehicle(s) on rig ${o.rig.name}`);
  return {
    async stop() {
      run.stop();
      await run.done.catch(() => undefined);
      if (dropped) o.logger.log("info", `simulator dropped ${dropped} messages while disconnected`);
      await client.endAsync(true);
    },
  };
}
