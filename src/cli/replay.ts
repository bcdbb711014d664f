/**
 * `fusion replay nuscenes <dataroot> | kitti <path> | mcap <file>`: publish a recorded log over
 * MQTT as the service's sensor topics (SensorMessage on fusion/<vehicle>/sensors/<sensor>) and its
 * annotations as GroundTruth on fusion/<vehicle>/truth. Readers: src/replay/.
 */
import cliProgress from "cli-progress";
import type mqtt from "mqtt";
import { connectMqtt } from "../mqtt/connect.ts";
import { KittiSource } from "../replay/kitti-source.ts";
import { McapFileSource } from "../replay/mcap.ts";
import type { DerivedDetectionOptions } from "../replay/nuscenes.ts";
import { type CameraMode, NuScenesSource } from "../replay/nuscenes-source.ts";
import { play } from "../replay/player.ts";
import type { ReplaySource } from "../replay/types.ts";
import { type FlagSpecs, helpText, numFlag, oneOf, parseFlags, UsageError } from "./args.ts";
import { MQTT_FLAGS, mqttFromFlags } from "./mqtt-options.ts";

const SPECS: FlagSpecs = {
  ...MQTT_FLAGS,
  broker: { type: "string", arg: "URL", help: "MQTT broker to publish to", default: "mqtt://127.0.0.1:1883" },
  vehicle: {
    type: "string",
    arg: "ID",
    help: "vehicle id of the published topics and headers",
    default: "replay-1",
  },
  rate: {
    type: "string",
    arg: "X",
    help: "speed as a multiple of real time; 0 = as fast as the broker takes it (backpressure, no drops)",
    default: "1",
  },
  loop: { type: "boolean", help: "start over at the end (stamps jump back; the aligner resets)" },
  start: { type: "string", arg: "S", help: "skip the first S seconds of the log", default: "0" },
  duration: { type: "string", arg: "S", help: "play at most S seconds of the log (per pass)" },
  version: {
    type: "string",
    arg: "DIR",
    help: "nuScenes: table folder under the dataroot (default: the one with scene.json)",
  },
  scene: { type: "string", arg: "NAME|all", help: "nuScenes: scene to play", default: "all" },
  camera: {
    type: "string",
    arg: "MODE",
    help: "camera input: derived (2D boxes projected from the 3D annotations, marked derived), images (the JPEG/PNG frames), none",
    default: "derived",
  },
  "derived-noise": {
    type: "string",
    arg: "FRAC",
    help: "derived camera boxes: corner noise, fraction of the box size (1 sigma)",
    default: "0",
  },
  "derived-miss": {
    type: "string",
    arg: "P",
    help: "derived camera boxes: probability of a miss",
    default: "0",
  },
  "derived-fp": {
    type: "string",
    arg: "N",
    help: "derived camera boxes: mean false positives per frame",
    default: "0",
  },
  seed: { type: "string", arg: "N", help: "seed of the derived boxes' noise", default: "1" },
  "radar-filter": {
    type: "boolean",
    help: "nuScenes: apply the nuscenes-devkit's default radar state filters",
  },
  "no-sweeps": { type: "boolean", help: "nuScenes: keyframes only (skip sweep rows)" },
  calib: {
    type: "string",
    arg: "DIR",
    help: "KITTI raw: folder with calib_*.txt (default: beside the drive)",
  },
  topics: {
    type: "string",
    arg: "FILTERS",
    help: "MCAP: comma-separated topic filters to play (default all)",
  },
  stamps: {
    type: "string",
    arg: "now|log",
    help: "now: each pass re-stamped to the wall clock at its start (what a live service expects); log: stamps as recorded",
    default: "now",
  },
  quiet: { type: "boolean", help: "no progress bar and no per-file skip lines" },
};

const SUMMARY = `Replay a recorded log through MQTT: fusion replay nuscenes <dataroot> | kitti <path> | mcap <file>.
Sensor data is published as SensorMessage on fusion/<vehicle>/sensors/<sensor>, annotations as
GroundTruth on fusion/<vehicle>/truth. nuScenes ego poses are published as a pose stream (EGO_POSE).
Serve it with the rig from the same data: fusion serve --rig nuscenes:<dataroot>/<version>#<scene>.`;

export const FORMATS = ["nuscenes", "kitti", "mcap"] as const;

/** Open the source of a replay / eval (shared with `fusion eval --data`). */
export function openSource(
  format: string,
  path: string,
  o: {
    vehicle: string;
    version?: string;
    scene?: string;
    camera?: CameraMode;
    radarFilter?: boolean;
    sweeps?: boolean;
    derived?: Partial<DerivedDetectionOptions>;
    calib?: string;
    topics?: string[];
    warn?: (l: string) => void;
  },
): ReplaySource {
  switch (oneOf("format", format, FORMATS)) {
    case "nuscenes":
      return new NuScenesSource(path, {
        vehicle: o.vehicle,
        version: o.version,
        scene: o.scene,
        camera: o.camera,
        radarFilter: o.radarFilter,
        sweeps: o.sweeps,
        derived: o.derived,
        warn: o.warn,
      });
    case "kitti":
      return new KittiSource(path, { vehicle: o.vehicle, calib: o.calib, camera: o.camera, warn: o.warn });
    case "mcap":
      return new McapFileSource(path, { vehicle: o.vehicle, topics: o.topics, warn: o.warn });
  }
}

/** The derived camera boxes' noise options from the flags (shared with fusion eval --data). */
export function derivedFlags(values: Record<string, unknown>): Partial<DerivedDetectionOptions> {
  return {
    noiseFrac: numFlag("derived-noise", values["derived-noise"] ?? "0", { min: 0, max: 1 }),
    pMiss: numFlag("derived-miss", values["derived-miss"] ?? "0", { min: 0, max: 1 }),
    falsePositives: numFlag("derived-fp", values["derived-fp"] ?? "0", { min: 0, max: 50 }),
    seed: numFlag("seed", values.seed ?? "1", { min: 0, max: 2 ** 32 - 1, int: true }),
  };
}

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags(argv, SPECS, true);
  if (help) {
    process.stdout.write(helpText("replay nuscenes|kitti|mcap <path>", SUMMARY, SPECS));
    return 0;
  }
  const [format, path, ...extra] = positionals;
  if (!format || !path) throw new UsageError("expected: fusion replay nuscenes|kitti|mcap <path>");
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  oneOf("format", format, FORMATS);
  const rate = numFlag("rate", values.rate, { min: 0, max: 1e6 });
  const startS = numFlag("start", values.start, { min: 0 });
  const durationS =
    values.duration === undefined ? undefined : numFlag("duration", values.duration, { min: 0 });
  const camera = oneOf("camera", values.camera, ["derived", "images", "none"] as const);
  const stamps = oneOf("stamps", values.stamps, ["now", "log"] as const);
  const vehicle = String(values.vehicle);
  if (!/^[A-Za-z0-9_-]+$/.test(vehicle))
    throw new UsageError(`--vehicle: letters, digits, _ and - only, got '${vehicle}'`);
  const quiet = Boolean(values.quiet);
  const tty = process.stderr.isTTY && !quiet;
  let bar: cliProgress.SingleBar | null = null;
  const warn = (l: string) => {
    if (quiet) return;
    // A line while the bar is drawn: take the bar down, print, and let the next update redraw it.
    if (bar) {
      bar.stop();
      bar = null;
    }
    process.stderr.write(`fusion replay: ${l}\n`);
  };
  if (format === "mcap") await McapFileSource.ready();
  const source = openSource(format, path, {
    vehicle,
    version: values.version as string | undefined,
    scene: String(values.scene),
    camera,
    radarFilter: Boolean(values["radar-filter"]),
    sweeps: !values["no-sweeps"],
    derived: derivedFlags(values),
    calib: values.calib as string | undefined,
    topics: typeof values.topics === "string" ? values.topics.split(",").filter(Boolean) : undefined,
    warn,
  });
  const { url, security } = mqttFromFlags(values, String(values.broker));
  // Waits for the broker with backoff (10 s at most), one line per failed attempt, no secrets.
  const client: mqtt.MqttClient = await connectMqtt(url, {
    security,
    client: { clientId: `fusion-replay-${process.pid}` },
    giveUpAfterMs: 10_000,
    onRetry: (line) => process.stderr.write(`fusion replay: ${line}\n`),
  });
  process.stderr.write(
    `fusion replay: ${source.description} -> ${url} as ${vehicle}, rate ${rate}${values.loop ? ", loop" : ""}\n`,
  );
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let publishErrors = 0;
  let lastBar = 0;
  const stats = await play(() => source.items(), {
    rate,
    loop: Boolean(values.loop),
    stamps,
    spanS: source.logSpanS?.() ?? null,
    startS,
    durationS,
    signal: ac.signal,
    publish: (topic, payload) => {
      const p = client.publishAsync(
        topic,
        Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        {
          qos: 0,
        },
      );
      if (rate === 0) return p.then(() => undefined);
      p.catch(() => {
        publishErrors++;
      });
    },
    onProgress: tty
      ? (played, total, msgs) => {
          const t = performance.now();
          if (t - lastBar < 100) return;
          lastBar = t;
          if (!bar) {
            bar = new cliProgress.SingleBar(
              {
                format: "replay [{bar}] {value}/{total} s log time | {msgs} msgs",
                hideCursor: true,
                clearOnComplete: true,
              },
              cliProgress.Presets.shades_classic,
            );
            bar.start(Math.round(total ?? 0), 0, { msgs: 0 });
          }
          if (total !== null) bar.setTotal(Math.round(total));
          bar.update(Math.round(played), { msgs });
        }
      : undefined,
  });
  (bar as cliProgress.SingleBar | null)?.stop();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await client.endAsync();
  const folders = [...source.skipped.folders].map(([f, n]) => `${f} ${n}`).join(", ");
  process.stderr.write(
    `fusion replay: ${stats.messages} messages, ${(stats.bytes / 1e6).toFixed(1)} MB, ${stats.logS.toFixed(1)} s of log in ${stats.wallS.toFixed(3)} s (real-time factor ${stats.rtf.toFixed(2)}), ${source.skipped.count} files skipped${folders ? ` (in absent folders: ${folders})` : ""}, camera input ${source.cameraInput}${publishErrors ? `, publish errors ${publishErrors}` : ""}\n`,
  );
  return 0;
}
