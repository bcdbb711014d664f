/**
 * `fusion record <file.mcap> [--topics …] [--duration S]`: subscribe to the service's topics
 * (sensors, fused, health, truth, service status) and write them to MCAP with @mcap/core:
 * protobuf schemas embedded, chunked, zstd-compressed. Ctrl-C (or --duration) ends the file
 * cleanly. Play it back with `fusion replay mcap <file>`.
 */
import type mqtt from "mqtt";
import { connectMqtt } from "../mqtt/connect.ts";
import { McapRecorder } from "../replay/mcap.ts";
import { type FlagSpecs, helpText, numFlag, parseFlags, UsageError } from "./args.ts";
import { MQTT_FLAGS, mqttFromFlags } from "./mqtt-options.ts";

const SPECS: FlagSpecs = {
  ...MQTT_FLAGS,
  broker: {
    type: "string",
    arg: "URL",
    help: "MQTT broker to record from",
    default: "mqtt://127.0.0.1:1883",
  },
  topics: {
    type: "string",
    arg: "FILTERS",
    help: "comma-separated MQTT topic filters",
    default: "fusion/+/sensors/+,fusion/+/fused,fusion/+/health,fusion/+/truth,fusion/_service/+/status",
  },
  duration: { type: "string", arg: "S", help: "stop after S seconds (default: until Ctrl-C)" },
  compression: { type: "string", arg: "zstd|none", help: "chunk compression", default: "zstd" },
  "max-pending": {
    type: "string",
    arg: "N",
    help: "messages waiting for the disk before new ones are dropped (counted)",
    default: "10000",
  },
};

const SUMMARY =
  "Record the service's MQTT topics to an MCAP file (protobuf schemas embedded, chunked, compressed).";

export async function recordCommand(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags(argv, SPECS, true);
  if (help) {
    process.stdout.write(helpText("record <file.mcap>", SUMMARY, SPECS));
    return 0;
  }
  const [file, ...extra] = positionals;
  if (!file) throw new UsageError("expected: fusion record <file.mcap>");
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  const durationS =
    values.duration === undefined ? undefined : numFlag("duration", values.duration, { min: 0 });
  const compression = String(values.compression);
  if (compression !== "zstd" && compression !== "none")
    throw new UsageError(`--compression: expected zstd or none, got '${compression}'`);
  const maxPending = numFlag("max-pending", values["max-pending"], { min: 1, int: true });
  const filters = String(values.topics)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (filters.length === 0) throw new UsageError("--topics: no topic filter given");
  const { url, security } = mqttFromFlags(values, String(values.broker));
  const client: mqtt.MqttClient = await connectMqtt(url, {
    security,
    client: { clientId: `fusion-record-${process.pid}` },
    giveUpAfterMs: 10_000,
    onRetry: (line) => process.stderr.write(`fusion record: ${line}\n`),
  });
  const rec = await McapRecorder.create(file, compression);
  let pending = 0;
  let dropped = 0;
  let failed: Error | null = null;
  const t0 = performance.now();
  client.on("message", (topic, payload) => {
    if (pending >= maxPending) {
      dropped++;
      return;
    }
    pending++;
    const timeNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    rec
      .add(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength), timeNs)
      .catch((e: Error) => {
        failed ??= e;
      })
      .finally(() => {
        pending--;
      });
  });
  await client.subscribeAsync(
    filters
      .map((f) => ({ topic: f, qos: 1 as const }))
      .reduce(
        (a, t) => Object.assign(a, { [t.topic]: { qos: t.qos } }),
        {} as Record<string, { qos: 0 | 1 }>,
      ),
  );
  process.stderr.write(`fusion record: ${filters.join(", ")} from ${url} -> ${file}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    if (durationS !== undefined) setTimeout(stop, durationS * 1000).unref();
  });
  await client.endAsync();
  await rec.close();
  const s = rec.stats;
  process.stderr.write(
    `fusion record: ${s.messages} messages, ${(s.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${file}; ignored (other topics) ${s.ignored}, dropped (disk behind) ${dropped}\n`,
  );
  if (failed) throw failed;
  return 0;
}
