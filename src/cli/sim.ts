/**
 * `fusion sim`: run the simulator and publish its sensor streams and ground truth over MQTT.
 * Thin adapter around the I/O-free simulator in sim/ (docs/sim.md).
 */
import type mqtt from "mqtt";
import { checkFaultTargets, parseFaults } from "../../sim/faults.ts";
import {
  CONDITIONS,
  type Conditions,
  DEFAULT_SIM_OPTIONS,
  runSimulation,
  SCENARIOS,
  type ScenarioName,
} from "../../sim/index.ts";
import { loadRig } from "../rig/load.ts";
import { connectMqtt } from "../mqtt/connect.ts";
import { birthPayload } from "../cluster/discovery.ts";
import { topics } from "../msg/topics.ts";
import { type FlagSpecs, helpText, numFlag, parseFlags, UsageError } from "./args.ts";
import { MQTT_FLAGS, mqttFromFlags } from "./mqtt-options.ts";

const SPECS: FlagSpecs = {
  broker: { type: "string", arg: "URL", help: "MQTT broker to publish to", default: "mqtt://127.0.0.1:1883" },
  ...MQTT_FLAGS,
  rig: {
    type: "string",
    arg: "NAME|FILE",
    help: "rig preset (sim, nuscenes, kitti) or rig YAML/JSON file",
    default: "sim",
  },
  scenario: { type: "string", arg: "NAME", help: `scenario: ${SCENARIOS.join(", ")}`, default: "urban" },
  conditions: {
    type: "string",
    arg: "NAME",
    help: `weather/light: ${CONDITIONS.join(", ")}`,
    default: "clear",
  },
  seed: {
    type: "string",
    arg: "N",
    help: "random seed (same seed + options + start = same bytes)",
    default: "1",
  },
  vehicles: {
    type: "string",
    arg: "N",
    help: "number of vehicles, ids sim-1..sim-N, each its own world",
    default: "1",
  },
  rate: {
    type: "string",
    arg: "X",
    help: "speed as a multiple of real time; 0 = as fast as possible",
    default: "1",
  },
  faults: {
    type: "string",
    arg: "LIST",
    help: "fault script TARGET:KIND[=V]@START[+DUR],... e.g. 'lidar:drop@10s+5s,gnss:outage@20s+10s'; kinds: drop|outage, rate, delay, jitter, clock, clockjump, reorder, duplicate, corrupt, freeze, noise",
  },
  duration: {
    type: "string",
    arg: "SECONDS",
    help: "simulated seconds to run, then exit (default: until Ctrl-C)",
  },
  "camera-frames": { type: "boolean", help: "also publish small JPEG frames on camera topics" },
  "start-ns": {
    type: "string",
    arg: "NS",
    help: "true time at t = 0, ns, or 'now' (the wall clock, so a live service sees current stamps); default: 'now' in real time (--rate > 0), 1.7e18 with --rate 0 (reproducible bytes)",
  },
};

/** Send-buffer bound in real-time mode: above it, messages are dropped and counted, bytes. */
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

const SUMMARY = `Simulate vehicles with a sensor rig in a scenario and publish every sensor stream as
fusion/<vehicle>/sensors/<sensor> (SensorMessage) and ground truth as fusion/<vehicle>/truth.`;

export async function simCommand(argv: string[]): Promise<number> {
  const { values, help } = parseFlags(argv, SPECS);
  if (help) {
    process.stdout.write(helpText("sim", SUMMARY, SPECS, "\nFault kinds and syntax: see docs/sim.md.\n"));
    return 0;
  }
  const scenario = String(values.scenario) as ScenarioName;
  if (!SCENARIOS.includes(scenario))
    throw new UsageError(`--scenario: expected one of ${SCENARIOS.join(", ")}, got '${scenario}'`);
  const conditions = String(values.conditions) as Conditions;
  if (!CONDITIONS.includes(conditions))
    throw new UsageError(`--conditions: expected one of ${CONDITIONS.join(", ")}, got '${conditions}'`);
  const seed = numFlag("seed", values.seed, { min: 0, max: 2 ** 32 - 1, int: true });
  const vehicles = numFlag("vehicles", values.vehicles, { min: 1, max: 1000, int: true });
  const rate = numFlag("rate", values.rate, { min: 0, max: 1e6 });
  const durationS =
    values.duration === undefined ? undefined : numFlag("duration", values.duration, { min: 0 });
  const faults = typeof values.faults === "string" ? values.faults : "";
  try {
    parseFaults(faults);
  } catch (e) {
    throw new UsageError(`--faults: ${(e as Error).message}`);
  }
  // Real time defaults to the wall clock: a live service judges stamps against its own clock, and a
  // fixed 2023 start would read as clock skew for ever. As fast as possible keeps the fixed start.
  const startRaw = values["start-ns"] ?? (rate > 0 ? "now" : undefined);
  const startNs =
    startRaw === undefined
      ? DEFAULT_SIM_OPTIONS.startNs
      : startRaw === "now"
        ? Math.round((performance.timeOrigin + performance.now()) * 1e6 + 0.7e9) // after warm-up
        : numFlag("start-ns", startRaw, { min: 1 });
  const rig = loadRig(String(values.rig));
  try {
    checkFaultTargets(parseFaults(faults), rig.sensors);
  } catch (e) {
    throw new UsageError(`--faults: ${(e as Error).message}`);
  }
  const { url, security } = mqttFromFlags(values, String(values.broker));

  // Waits for the broker with backoff (10 s at most), one line per failed attempt, no secrets.
  // While disconnected, QoS 0 sensor data is dropped (and counted), never queued unbounded.
  const ids = Array.from({ length: vehicles }, (_, i) => `sim-${i + 1}`);
  const client: mqtt.MqttClient = await connectMqtt(url, {
    security,
    client: {
      clientId: `fusion-sim-${process.pid}`,
      // One vehicle: its birth message is cleared by the broker if this process dies (a will has
      // one topic; with several vehicles only a clean exit clears them).
      ...(vehicles === 1
        ? { will: { topic: topics.rig(ids[0]!), payload: Buffer.alloc(0), qos: 1 as const, retain: true } }
        : {}),
    },
    giveUpAfterMs: 10_000,
    onRetry: (line) => process.stderr.write(`fusion sim: ${line}\n`),
  });
  // Retained birth messages: fleet workers discover the vehicles from them (docs/fleet.md).
  await Promise.all(
    ids.map((v) => client.publishAsync(topics.rig(v), birthPayload(v, rig.name), { qos: 1, retain: true })),
  );
  let publishErrors = 0;
  let dropped = 0;
  const run = runSimulation({
    ...DEFAULT_SIM_OPTIONS,
    rig,
    scenario,
    conditions,
    seed,
    vehicles,
    faults,
    cameraFrames: Boolean(values["camera-frames"]),
    startNs,
    rate,
    durationS,
    // With --start-ns now, pace against the wall clock so stamps follow it (latency measurable).
    ...(startRaw === "now" && rate > 0
      ? { now: () => performance.timeOrigin + performance.now(), t0Ms: startNs / 1e6 }
      : {}),
    publish: (ev) => {
      // Bounded send buffer: a broker that cannot keep up loses (counted) messages, the clock
      // keeps going; offline, QoS 0 messages are dropped the same way.
      const buffered = (client.stream as { writableLength?: number } | undefined)?.writableLength ?? 0;
      if (!client.connected || (rate > 0 && buffered > MAX_BUFFERED_BYTES)) {
        dropped++;
        return;
      }
      const p = client.publishAsync(
        ev.topic,
        Buffer.from(ev.payload.buffer, ev.payload.byteOffset, ev.payload.byteLength),
        {
          qos: ev.qos,
          retain: ev.retain ?? false,
        },
      );
      // As fast as possible: await each publish (backpressure). Real time: never stall the clock.
      if (rate === 0) return p.then(() => undefined);
      p.catch(() => {
        publishErrors++;
      });
    },
  });
  process.stderr.write(
    `fusion sim: ${vehicles} vehicle(s), rig ${rig.name}, ${scenario}/${conditions}, seed ${seed}, rate ${rate} -> ${url}\n`,
  );
  const onSignal = () => run.stop();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const stats = await run.done;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await Promise.all(
    ids.map((v) => client.publishAsync(topics.rig(v), Buffer.alloc(0), { qos: 1, retain: true })),
  ).catch(() => undefined);
  await client.endAsync();
  process.stderr.write(
    `fusion sim: published ${stats.events} messages (${(stats.bytes / 1e6).toFixed(1)} MB) over ${stats.simulatedS.toFixed(1)} simulated s in ${stats.wallS.toFixed(1)} s; lateness p99 ${stats.latenessMsP99.toFixed(1)} ms; publish errors ${stats.publishErrors + publishErrors}; dropped (offline or send buffer full) ${dropped}\n`,
  );
  return 0;
}
