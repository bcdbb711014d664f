/**
 * `fusion echo <topic filter>`: subscribe and print each message decoded, as one JSON line
 * (`{"topic", "type", "message"}`), like `ros2 topic echo`. int64 stamps print as strings (exact),
 * enums by name, and bulk bytes (points, pixels, radar returns) as a summary `{"bytes": N}`.
 */
import type mqtt from "mqtt";
import type protobuf from "protobufjs";
import { PB } from "../msg/codec.ts";
import { connectMqtt } from "../mqtt/connect.ts";
import { ROOT } from "../msg/topics.ts";
import { type FlagSpecs, helpText, numFlag, parseFlags, UsageError } from "./args.ts";
import { MQTT_FLAGS, mqttFromFlags } from "./mqtt-options.ts";

const SPECS: FlagSpecs = {
  broker: { type: "string", arg: "URL", help: "MQTT broker", default: "mqtt://127.0.0.1:1883" },
  count: { type: "string", short: "n", arg: "N", help: "exit after N messages (default: until Ctrl-C)" },
  timeout: { type: "string", arg: "SECONDS", help: "exit after this long even if fewer messages came" },
  ...MQTT_FLAGS,
};

const SUMMARY = `Print the messages on an MQTT topic filter as JSON lines, decoded by topic:
sensors -> SensorMessage, fused -> FusedFrame, health -> HealthReport, truth -> GroundTruth,
_service/<id>/status -> ServiceStatus. Bulk byte fields are summarised as {"bytes": N}.
Example: fusion echo 'fusion/sim-1/fused' -n 3`;

/** The protobuf type of a topic of this project, or null (printed as a byte count). */
export function typeOfTopic(topic: string): protobuf.Type | null {
  const p = topic.split("/");
  if (p[0] !== ROOT) return null;
  if (p[1] === "_service" && p[3] === "status") return PB.ServiceStatus;
  if (p.length === 4 && p[2] === "sensors") return PB.SensorMessage;
  if (p.length === 3)
    return p[2] === "fused"
      ? PB.FusedFrame
      : p[2] === "health"
        ? PB.HealthReport
        : p[2] === "truth"
          ? PB.GroundTruth
          : null;
  return null;
}

function summariseBytes(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: v.byteLength };
  if (Array.isArray(v)) return v.map(summariseBytes);
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = summariseBytes(x);
    return o;
  }
  return v;
}

/** One JSON line for a message; a payload that does not decode gives `error` instead of `message`. */
export function echoLine(topic: string, payload: Uint8Array): string {
  const t = typeOfTopic(topic);
  if (!t) return JSON.stringify({ topic, bytes: payload.byteLength });
  try {
    const m = t.decode(payload);
    const obj = t.toObject(m, { longs: String, enums: String, defaults: false });
    return JSON.stringify({ topic, type: t.fullName.replace(/^\./, ""), message: summariseBytes(obj) });
  } catch (e) {
    return JSON.stringify({ topic, bytes: payload.byteLength, error: (e as Error).message });
  }
}

export async function echoCommand(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags(argv, SPECS, true);
  if (help) {
    process.stdout.write(helpText("echo <topic filter>", SUMMARY, SPECS));
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError("expected one topic filter, e.g. fusion echo 'fusion/sim-1/fused'");
  const filter = positionals[0]!;
  const count = values.count === undefined ? Infinity : numFlag("count", values.count, { int: true, min: 1 });
  const timeoutS = values.timeout === undefined ? undefined : numFlag("timeout", values.timeout, { min: 0 });
  const { url, security } = mqttFromFlags(values, String(values.broker));
  // Waits for the broker with backoff (10 s at most), one line per failed attempt, no secrets.
  const client: mqtt.MqttClient = await connectMqtt(url, {
    security,
    client: { clientId: `fusion-echo-${process.pid}` },
    giveUpAfterMs: 10_000,
    onRetry: (line) => process.stderr.write(`fusion echo: ${line}\n`),
  });
  let seen = 0;
  return new Promise<number>((resolve) => {
    const finish = () => {
      process.off("SIGINT", finish);
      process.off("SIGTERM", finish);
      client.end(true, {}, () => resolve(0));
    };
    process.once("SIGINT", finish);
    process.once("SIGTERM", finish);
    if (timeoutS !== undefined) setTimeout(finish, timeoutS * 1000).unref();
    client.on("message", (topic, payload) => {
      if (seen >= count) return;
      seen++;
      process.stdout.write(`${echoLine(topic, payload)}\n`);
      if (seen >= count) finish();
    });
    client.subscribe(filter, { qos: 1 }, (err) => {
      if (err) {
        process.stderr.write(`fusion echo: cannot subscribe to '${filter}': ${err.message}\n`);
        client.end(true, {}, () => resolve(1));
      }
    });
  });
}
