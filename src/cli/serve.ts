/** `fusion serve`: run the service. Default of `npm start`: embedded broker + simulator + dashboard. */
import { checkFaultTargets, parseFaults } from "../../sim/faults.ts";
import { EP_CHOICES, type EpChoice, FUSION_MODES } from "../fusion/index.ts";
import type { FusionMode } from "../fusion/types.ts";
import { isLoopbackHost, readTokenFile, TOKEN_ENV } from "../dashboard/access.ts";
import { loadRig } from "../rig/load.ts";
import { loadRigMap } from "../rig/map.ts";
import { startService } from "../service.ts";
import { parseInfluxUrl } from "../telemetry/influx.ts";
import { createLogger } from "../util/log.ts";
import { isLoopback } from "../broker/embedded.ts";
import { type MqttSecurity, redactUrl } from "../mqtt/security.ts";
import { embeddedSim, type SimEmbedOptions } from "./embedded-sim.ts";
import { type FlagSpecs, helpText, hostPort, numFlag, oneOf, parseFlags, UsageError } from "./args.ts";
import { MQTT_FLAGS, mqttFromFlags } from "./mqtt-options.ts";
import { OWNERSHIP_DEFAULTS } from "../cluster/ownership.ts";
import { DISCOVERY_DEFAULTS } from "../cluster/discovery.ts";
import type { ClusterOptions } from "../service.ts";

export const SERVE_FLAGS: FlagSpecs = {
  broker: {
    type: "string",
    arg: "URL",
    help: "use an external MQTT broker (mqtt://, mqtts://, ws://, wss://host:port); no embedded broker",
  },
  ...MQTT_FLAGS,
  listen: {
    type: "string",
    arg: "HOST:PORT",
    help: "address of the embedded MQTT broker (ignored with --broker); beyond loopback needs --broker-password-file",
    default: "127.0.0.1:1883",
  },
  "broker-password-file": {
    type: "string",
    arg: "FILE",
    help: "embedded broker: clients must log in (mosquitto_passwd file, or user:password lines)",
  },
  rig: {
    type: "string",
    arg: "FILE|PRESET",
    help: "rig config file (YAML/JSON) or preset: sim, nuscenes, kitti",
    default: "sim",
  },
  "rig-map": {
    type: "string",
    arg: "FILE",
    help: "rig per vehicle: YAML/JSON map of vehicle id or pattern (* ?) to rig file or preset, plus an optional default (docs/runtime.md); --rig stays the simulator's rig",
  },
  "max-vehicles": {
    type: "string",
    arg: "N",
    help: "vehicles served at once; messages of further vehicles are dropped and counted",
    default: "64",
  },
  "idle-evict-s": {
    type: "string",
    arg: "S",
    help: "a vehicle silent this long is released and its retained health cleared (0 = never)",
    default: "30",
  },
  "no-sim": { type: "boolean", help: "do not start the built-in simulator" },
  worker: {
    type: "boolean",
    help: "fleet worker: share the vehicles with the other workers of --etcd (needs --broker and --etcd; no simulator); docs/fleet.md",
  },
  etcd: {
    type: "string",
    arg: "URL",
    help: "etcd endpoints of the worker pool, e.g. http://10.0.0.1:2379 (comma-separated); only with --worker",
  },
  "etcd-prefix": {
    type: "string",
    arg: "P",
    help: "etcd key prefix of this fleet (workers/ and owners/ under it)",
    default: OWNERSHIP_DEFAULTS.prefix,
  },
  "lease-s": {
    type: "string",
    arg: "S",
    help: "worker lease TTL, s: a dead worker's vehicles move after about this long",
    default: String(OWNERSHIP_DEFAULTS.leaseS),
  },
  "discover-sensor": {
    type: "string",
    arg: "ID|none",
    help: "worker: besides retained birth messages (fusion/<vehicle>/rig), discover vehicles from this sensor's traffic (fusion/+/sensors/<ID>); none = births only",
    default: DISCOVERY_DEFAULTS.sensor ?? "none",
  },
  fusion: {
    type: "string",
    arg: "MODE",
    help: `fusion strategy: ${FUSION_MODES.join("|")} (auto: the intermediate model where it was trained for the rig and its input is in distribution, else classical)`,
    default: "classical",
  },
  ep: {
    type: "string",
    arg: "EP",
    help: `inference provider for learned fusion: ${EP_CHOICES.join("|")}`,
    default: "auto",
  },
  http: {
    type: "string",
    arg: "HOST:PORT",
    help: "dashboard and Foxglove endpoint address ('off' disables it); beyond loopback it needs --token-file",
    default: "127.0.0.1:8080",
  },
  "token-file": {
    type: "string",
    arg: "FILE",
    help: `dashboard access token (first line, >= 16 characters; or env ${TOKEN_ENV}); required when --http is not loopback`,
  },
  influx: {
    type: "string",
    arg: "URL",
    help: "write telemetry to InfluxDB 1.x at URL (e.g. http://127.0.0.1:8086/fusion)",
  },
  instance: {
    type: "string",
    arg: "ID",
    help: "service instance id for fusion/_service/<id>/status (default fusion-<pid>)",
  },
  scenario: {
    type: "string",
    arg: "NAME",
    help: "simulator scenario: urban|highway|intersection",
    default: "urban",
  },
  conditions: {
    type: "string",
    arg: "NAME",
    help: "simulator conditions: clear|rain|fog|night",
    default: "clear",
  },
  seed: { type: "string", arg: "N", help: "simulator seed", default: "1" },
  vehicles: { type: "string", arg: "N", help: "simulated vehicles (sim-1..sim-N)", default: "1" },
  faults: { type: "string", arg: "SPEC", help: "simulator fault script, e.g. 'lidar:drop@10s+5s'" },
  "camera-frames": { type: "boolean", help: "simulator also publishes small JPEG camera frames" },
};

export interface ParsedServe {
  brokerUrl?: string;
  mqtt: MqttSecurity;
  listen: { host: string; port: number };
  brokerPasswordFile?: string;
  rigName: string;
  rigMap?: string;
  maxVehicles: number;
  idleEvictMs: number;
  sim: SimEmbedOptions | false;
  fusion: FusionMode;
  ep: EpChoice;
  http: { host: string; port: number; token: string | null } | null;
  influx?: string;
  instance?: string;
  cluster?: ClusterOptions;
}

function parseFaultFlag(v: unknown): string {
  const faults = (v as string | undefined) ?? "";
  try {
    parseFaults(faults);
  } catch (e) {
    throw new UsageError(`--faults: ${(e as Error).message}`);
  }
  return faults;
}

export function parseServeArgs(argv: string[]): ParsedServe | "help" {
  const { values, help } = parseFlags(argv, SERVE_FLAGS);
  if (help) return "help";
  const rawBroker = values.broker as string | undefined;
  if (rawBroker !== undefined && !/^(mqtts?|wss?|tcp):\/\/[^/]+/.test(rawBroker))
    throw new UsageError(`--broker: expected a URL like mqtt://host:1883, got '${redactUrl(rawBroker)}'`);
  const conn = mqttFromFlags(values, rawBroker);
  const brokerUrl = rawBroker === undefined ? undefined : conn.url;
  const listen = hostPort("listen", values.listen as string);
  const brokerPasswordFile = values["broker-password-file"] as string | undefined;
  if (rawBroker === undefined && !brokerPasswordFile && !isLoopback(listen.host))
    throw new UsageError(
      `--listen ${listen.host}: the embedded broker listens beyond loopback only with --broker-password-file`,
    );
  let cluster: ClusterOptions | undefined;
  if (values.worker || values.etcd !== undefined) {
    if (!values.worker) throw new UsageError("--etcd: only with --worker");
    const etcd = values.etcd as string | undefined;
    if (etcd === undefined) throw new UsageError("--worker: needs --etcd URL (the worker pool's etcd)");
    for (const u of etcd.split(","))
      if (!/^https?:\/\/[^/\s]+\/?$/.test(u.trim()))
        throw new UsageError(`--etcd: expected URLs like http://host:2379, got '${u.trim()}'`);
    if (rawBroker === undefined)
      throw new UsageError(
        "--worker: needs --broker URL (workers share an external broker; no embedded one)",
      );
    const prefix = values["etcd-prefix"] as string;
    if (!/^[A-Za-z0-9_./-]{1,128}$/.test(prefix))
      throw new UsageError(`--etcd-prefix: 1-128 characters of A-Z a-z 0-9 _ . / -, got '${prefix}'`);
    const ds = values["discover-sensor"] as string;
    if (ds !== "none" && !/^[A-Za-z0-9_-]+$/.test(ds))
      throw new UsageError(`--discover-sensor: a sensor id (letters, digits, _ -) or none, got '${ds}'`);
    cluster = {
      etcd,
      prefix: prefix.endsWith("/") ? prefix : `${prefix}/`,
      leaseS: numFlag("lease-s", values["lease-s"], { int: true, min: 1, max: 3600 }),
      discoverSensor: ds === "none" ? null : ds,
    };
  }
  const httpArg = values.http as string;
  if (values.influx !== undefined) {
    try {
      parseInfluxUrl(values.influx as string);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  let http: ParsedServe["http"] = null;
  if (httpArg !== "off") {
    const hp = hostPort("http", httpArg);
    const tokenFile = values["token-file"] as string | undefined;
    const envToken = process.env[TOKEN_ENV]?.trim();
    let token: string | null = null;
    if (tokenFile !== undefined) token = readTokenFile(tokenFile);
    else if (envToken) {
      if (envToken.length < 16)
        throw new UsageError(`${TOKEN_ENV}: the token must have at least 16 characters`);
      token = envToken;
    }
    if (token === null && !isLoopbackHost(hp.host))
      throw new UsageError(
        `--http ${httpArg} is beyond loopback: give the dashboard a token with --token-file FILE (or ${TOKEN_ENV})`,
      );
    http = { ...hp, token };
  }
  return {
    brokerUrl,
    mqtt: conn.security,
    listen,
    brokerPasswordFile,
    rigName: values.rig as string,
    rigMap: values["rig-map"] as string | undefined,
    maxVehicles: numFlag("max-vehicles", values["max-vehicles"], { int: true, min: 1, max: 100_000 }),
    idleEvictMs: numFlag("idle-evict-s", values["idle-evict-s"], { min: 0, max: 86_400 }) * 1000,
    cluster,
    sim:
      values["no-sim"] || cluster
        ? false
        : {
            scenario: oneOf("scenario", values.scenario, ["urban", "highway", "intersection"] as const),
            conditions: oneOf("conditions", values.conditions, ["clear", "rain", "fog", "night"] as const),
            seed: numFlag("seed", values.seed, { int: true, min: 0 }),
            vehicles: numFlag("vehicles", values.vehicles, { int: true, min: 1, max: 1000 }),
            faults: parseFaultFlag(values.faults),
            cameraFrames: Boolean(values["camera-frames"]),
          },
    fusion: oneOf("fusion", values.fusion, FUSION_MODES),
    ep: oneOf("ep", values.ep, EP_CHOICES),
    http,
    influx: values.influx as string | undefined,
    instance: values.instance as string | undefined,
  };
}

export async function serveCommand(argv: string[]): Promise<number> {
  const p = parseServeArgs(argv);
  if (p === "help") {
    process.stdout.write(
      helpText(
        "serve",
        "Run the fusion service: subscribe to fusion/+/sensors/+, publish fusion/<vehicle>/fused and /health,\nserve the dashboard. Without --broker an embedded MQTT broker is started.",
        SERVE_FLAGS,
      ),
    );
    return 0;
  }
  const rig = loadRig(p.rigName);
  const rigMap = p.rigMap ? loadRigMap(p.rigMap) : undefined;
  // Everything is checked before anything connects: a bad flag exits 2 at once.
  if (p.sim && p.sim.faults !== undefined && p.sim.faults !== "") {
    try {
      checkFaultTargets(parseFaults(p.sim.faults), rig.sensors);
    } catch (e) {
      throw new UsageError(`--faults: ${(e as Error).message}`);
    }
  }
  const logger = createLogger();
  // Signal handlers go in before anything starts: a signal during start-up (or right after the
  // "running" line) must lead to a clean stop, never to Node's default kill.
  let signalled: string | null = null;
  let onSignal: (sig: string) => void = (sig) => {
    signalled = sig;
  };
  const handlers = { SIGINT: () => onSignal("SIGINT"), SIGTERM: () => onSignal("SIGTERM") };
  process.on("SIGINT", handlers.SIGINT);
  process.on("SIGTERM", handlers.SIGTERM);
  let service: Awaited<ReturnType<typeof startService>>;
  try {
    service = await startService({
      rigMap,
      maxVehicles: p.maxVehicles,
      idleEvictMs: p.idleEvictMs,
      brokerUrl: p.brokerUrl,
      mqtt: p.mqtt,
      mqttHost: p.listen.host,
      mqttPort: p.listen.port,
      mqttPasswordFile: p.brokerPasswordFile,
      rig,
      sim: p.sim ? embeddedSim(p.sim) : false,
      fusion: p.fusion,
      ep: p.ep,
      http: p.http,
      influx: p.influx,
      instance: p.instance,
      cluster: p.cluster,
      logger,
    });
  } catch (e) {
    process.off("SIGINT", handlers.SIGINT);
    process.off("SIGTERM", handlers.SIGTERM);
    throw e;
  }
  const svc = service;
  logger.log(
    "info",
    `fusion service '${svc.instance}' running: broker ${svc.brokerUrl}${svc.httpUrl ? `, dashboard ${svc.httpUrl}` : ""}`,
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      logger.log("info", `${sig}: shutting down`);
      const force = setTimeout(() => {
        logger.log("warn", "shutdown took longer than 1.5 s; exiting anyway");
        process.exit(0);
      }, 1500);
      force.unref();
      svc.stop().then(
        () => {
          clearTimeout(force);
          resolve(0);
          // Sockets of libraries may keep the loop alive a moment longer; nothing is left to do.
          setImmediate(() => process.exit(0));
        },
        (e) => {
          logger.log("error", `shutdown failed: ${(e as Error).message}`);
          resolve(1);
        },
      );
    };
    if (signalled) onSignal(signalled);
  });
}
