/**
 * The service wiring: broker connection, decode, per-vehicle pipelines, outputs, dashboard and the
 * embedded simulator. This module only joins stages; each stage lives in its own folder.
 */
import { filter, groupBy, mergeMap, Subject, Subscription, share, tap } from "rxjs";
import { type EmbeddedBroker, startEmbeddedBroker } from "./broker/embedded.ts";
import { connectMqtt, DEFAULT_MAX_PACKET_BYTES } from "./mqtt/connect.ts";
import { type MqttSecurity, redact, redactUrl } from "./mqtt/security.ts";
import { type Dashboard, startDashboard } from "./dashboard/server.ts";
import { createEngine, type EpChoice } from "./fusion/index.ts";
import type { FusionEngine, FusionMode } from "./fusion/types.ts";
import { HealthMonitor } from "./health/index.ts";
import { healthTimer } from "./health/timer.ts";
import type { HealthSnapshot } from "./health/types.ts";
import { topics } from "./msg/topics.ts";
import type { FusedFrame, HealthReport } from "./msg/types.ts";
import { Publisher, serviceWill } from "./outputs/publisher.ts";
import { lastInputStampNs } from "./pipeline/frame.ts";
import { vehiclePipeline } from "./pipeline/vehicle.ts";
import type { RigConfig } from "./rig/schema.ts";
import { decodeSensors } from "./streams/decode-sensors.ts";
import { fromMqttMessages } from "./streams/mqtt-source.ts";
import { type NowNs, wallNs, wallScheduler } from "./util/clock.ts";
import { createLogger, type Logger } from "./util/log.ts";
import { InfluxTelemetry } from "./telemetry/influx.ts";

export const VERSION = "0.1.0";

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

export interface ServiceOptions {
  /** External broker URL; when absent an embedded broker listens on `mqttHost:mqttPort`. */
  brokerUrl?: string;
  /** Embedded broker address. Defaults 127.0.0.1 and 1883 (0 = any free port). */
  mqttHost?: string;
  mqttPort?: number;
  /** Embedded broker: password file (mosquitto_passwd format); required beyond loopback. */
  mqttPasswordFile?: string;
  /** Credentials and TLS material for an external broker (src/mqtt/security.ts). */
  mqtt?: MqttSecurity;
  /** Give up waiting for an external broker after this long, ms. Default: wait (with backoff). */
  brokerWaitMs?: number;
  rig: RigConfig;
  /** Run the built-in simulator in-process (publishing through the broker). false = no simulator. */
  sim: SimEmbedOptions | false;
  fusion: FusionMode;
  ep?: EpChoice;
  /** Dashboard address (and its access token, required beyond loopback); null = no dashboard. Default 127.0.0.1:8080. */
  http?: { host: string; port: number; token?: string | null } | null;
  /** InfluxDB 1.x URL for telemetry; undefined = off. */
  influx?: string;
  /** Service instance id (status topic). Default `fusion-<pid>`. */
  instance?: string;
  /** Largest number of vehicles served; messages of further vehicles are dropped and counted. Default 64. */
  maxVehicles?: number;
  logger?: Logger;
  now?: NowNs;
}

export interface ServiceStats {
  received: number;
  decodeErrors: Record<string, number>;
  vehicles: string[];
  rejectedVehicles: number;
  ticks: number;
  fusionDrops: number;
  published: Publisher["stats"] | null;
  dashboard: Dashboard["stats"] | null;
  telemetry: InfluxTelemetry["stats"] | null;
}

export interface Service {
  brokerUrl: string;
  httpUrl: string | null;
  instance: string;
  /** Every fused frame, as published (hot). */
  frames$: Subject<FusedFrame>;
  /** Every health report, as published (hot). */
  health$: Subject<HealthReport>;
  stats(): ServiceStats;
  stop(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<Service> {
  const logger = o.logger ?? createLogger();
  const now = o.now ?? wallNs;
  const instance = o.instance ?? `fusion-${process.pid}`;
  const maxVehicles = o.maxVehicles ?? 64;
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        logger.log("warn", `shutdown step failed: ${(e as Error).message}`);
      }
    }
  };

  try {
    let broker: EmbeddedBroker | null = null;
    let brokerUrl = o.brokerUrl;
    if (!brokerUrl) {
      broker = await startEmbeddedBroker({
        host: o.mqttHost ?? "127.0.0.1",
        port: o.mqttPort ?? 1883,
        passwordFile: o.mqttPasswordFile,
        warn: (l) => logger.log("warn", l),
      });
      cleanups.push(() => broker?.close());
      brokerUrl = broker.url;
      logger.log("info", `embedded MQTT broker on ${brokerUrl}${broker.internal ? " (password file)" : ""}`);
    }
    // The service's own clients log in to the embedded broker with its per-start credentials.
    const security: MqttSecurity = broker?.internal ? { ...broker.internal } : (o.mqtt ?? {});

    const engine: FusionEngine = await createEngine(o.fusion, o.rig, { ep: o.ep ?? "auto", logger });
    cleanups.push(() => engine.close());

    const client = await connectMqtt(brokerUrl, {
      security,
      client: {
        clientId: `${instance}-${Math.random().toString(16).slice(2, 8)}`,
        will: serviceWill(instance),
      },
      giveUpAfterMs: o.brokerWaitMs,
      // The broker drops larger messages for us (MQTT 5), before they are delivered (defect 7).
      maxPacketBytes: DEFAULT_MAX_PACKET_BYTES,
      onRetry: (line) => logger.log("warn", line), // the backoff bounds the rate (15 s at most)
    });
    const publisher = new Publisher(client, (e) =>
      logger.limited("publish-error", "warn", `publish failed: ${e.message}`),
    );
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (!client.connected) return client.end(true, {}, () => resolve());
          publisher.status({ instance, online: false, stampNs: now(), version: VERSION, vehicles: [] });
          client.end(false, {}, () => resolve());
          setTimeout(() => client.end(true, {}, () => resolve()), 500).unref();
        }),
    );
    client.on("error", (e) => logger.limited("mqtt-error", "warn", `MQTT: ${redact(e.message, security)}`));
    client.on("offline", () =>
      logger.limited("mqtt-offline", "warn", "MQTT broker unreachable; reconnecting"),
    );
    client.on("reconnect", () => logger.limited("mqtt-reconnect", "info", "MQTT reconnecting"));

    let telemetry: InfluxTelemetry | null = null;
    if (o.influx) {
      telemetry = new InfluxTelemetry({ url: o.influx, logger });
      const t = telemetry;
      cleanups.push(() => t.close());
      logger.log("info", `telemetry to ${o.influx}`);
    }

    let dashboard: Dashboard | null = null;
    const http = o.http === undefined ? { host: "127.0.0.1", port: 8080 } : o.http;

    const frames$ = new Subject<FusedFrame>();
    const health$ = new Subject<HealthReport>();
    const monitors = new Map<string, HealthMonitor>();
    const stats = {
      received: 0,
      decodeErrors: {} as Record<string, number>,
      rejectedVehicles: 0,
      ticks: 0,
      fusionDrops: 0,
    };
    /** Every health evaluation (tick path and timer path) goes through here: transitions are
     *  logged once each, the report is published on change and periodically. */
    const onHealth = (vehicle: string, snap: HealthSnapshot, periodic: boolean) => {
      for (const t of snap.transitions ?? []) logger.log("info", `health ${vehicle}: ${t}`);
      if (!snap.changed && !periodic) return;
      const report = monitors.get(vehicle)!.toReport(snap);
      publisher.health(report);
      telemetry?.health(report);
      health$.next(report);
    };
    const healthTimers = new Subscription();
    cleanups.push(() => healthTimers.unsubscribe());

    const kindOf = new Map(o.rig.sensors.map((s) => [s.id, s.kind] as const));
    const raw$ = fromMqttMessages(client, now).pipe(share());
    const envelopes$ = raw$.pipe(
      tap(() => {
        stats.received++;
      }),
      decodeSensors({
        kindOf: (id) => kindOf.get(id),
        onFailure: (f) => {
          // Counters and log keys are attacker-chosen only after admission: traffic of vehicles not
          // served shares one bucket, unknown sensors of a served vehicle another (bounded status).
          const served = f.vehicle !== null && monitors.has(f.vehicle);
          const key = !served
            ? `_unadmitted/${f.code}`
            : f.sensorId !== null && kindOf.has(f.sensorId)
              ? `${f.vehicle}/${f.sensorId}/${f.code}`
              : `${f.vehicle}/_unknown_sensor/${f.code}`;
          stats.decodeErrors[key] = (stats.decodeErrors[key] ?? 0) + 1;
          logger.limited(`decode:${key}`, "warn", `rejected payload on ${f.topic}: ${f.code}: ${f.message}`);
          if (f.vehicle && f.sensorId)
            monitors.get(f.vehicle)?.onDecodeError(f.sensorId, f.code, f.arrivalNs);
        },
      }),
    );

    const pipelineSub: Subscription = envelopes$
      .pipe(
        filter((env) => {
          const v = env.msg.header.vehicle;
          if (monitors.has(v)) return true;
          if (monitors.size >= maxVehicles) {
            stats.rejectedVehicles++;
            logger.limited(
              "max-vehicles",
              "warn",
              `vehicle ${v} rejected: ${maxVehicles} vehicles already served`,
            );
            return false;
          }
          const monitor = new HealthMonitor(v, o.rig);
          monitors.set(v, monitor);
          // Evaluate between ticks too: at each sensor's stale deadline and every report period.
          healthTimers.add(
            healthTimer(monitor, {
              now,
              scheduler: wallScheduler,
              periodMs: o.rig.health.report_period_ms,
            }).subscribe(({ snapshot, periodic }) => onHealth(v, snapshot, periodic)),
          );
          logger.log("info", `serving vehicle ${v} (rig ${o.rig.name}, fusion ${engine.mode})`);
          return true;
        }),
        groupBy((env) => env.msg.header.vehicle),
        mergeMap((group) =>
          group.pipe(
            vehiclePipeline({
              vehicle: group.key,
              rig: o.rig,
              engine,
              health: monitors.get(group.key)!,
              scheduler: wallScheduler,
              now,
              logger,
              onFusionDrop: () => {
                stats.fusionDrops++;
                logger.limited(
                  `fusion-drop:${group.key}`,
                  "warn",
                  `fusion busy: shed a tick of ${group.key}`,
                );
              },
            }),
          ),
        ),
      )
      .subscribe({
        next: ({ frame, health, tick }) => {
          stats.ticks++;
          // e2e ends just before encoding and publishing; the "publish" stage (encode + client
          // publish call) can only be known afterwards, so it is in frames$ and telemetry, not in
          // the published message.
          const t0 = now();
          const e2eMs = (t0 - lastInputStampNs(tick)) / 1e6;
          frame.latency.push({ stage: "e2e", ms: e2eMs });
          publisher.fused(frame);
          frame.latency.push({ stage: "publish", ms: (now() - t0) / 1e6 });
          frames$.next(frame);
          telemetry?.frame(frame);
          telemetry?.align(frame.vehicle, tick.stampNs, tick.diagnostics);
          onHealth(frame.vehicle, health, false);
        },
        error: (e) => logger.log("error", `pipeline failed: ${(e as Error).stack ?? e}`),
      });
    cleanups.push(() => pipelineSub.unsubscribe());

    await client.subscribeAsync(topics.allSensors, { qos: 0 });
    publisher.status({ instance, online: true, stampNs: now(), version: VERSION, vehicles: [] });
    // After a broker restart the retained `online` (and any session) is gone: say it again on every
    // reconnect (mqtt.js resubscribes by itself). The last will covers the other direction.
    client.on("connect", () => {
      logger.log("info", "MQTT reconnected; status republished");
      publisher.status({ instance, online: true, stampNs: now(), version: VERSION, vehicles: [] });
    });

    if (http) {
      const dashClient = () =>
        connectMqtt(brokerUrl as string, {
          security,
          client: { clientId: `${instance}-dash-${Math.random().toString(16).slice(2, 8)}` },
          giveUpAfterMs: 5000,
        });
      dashboard = await startDashboard({
        host: http.host,
        port: http.port,
        token: http.token ?? null,
        // The dashboard's whole view of the service: its outputs, its raw input, a client for truth.
        source: { rig: o.rig, frames$, health$, raw$, connectMqtt: dashClient },
        status: () => ({
          instance,
          version: VERSION,
          fusion: engine.mode,
          vehicles: [...monitors.keys()],
          ...stats,
        }),
      });
      const d = dashboard;
      cleanups.push(() => d.close());
      logger.log("info", `dashboard on ${dashboard.url}`);
    }

    if (o.sim) {
      const { startEmbeddedSim } = await import("./pipeline/embedded-sim.ts");
      const sim = await startEmbeddedSim({ brokerUrl, security, rig: o.rig, sim: o.sim, logger, now });
      cleanups.push(() => sim.stop());
    }

    const service: Service = {
      brokerUrl: redactUrl(brokerUrl),
      httpUrl: dashboard?.url ?? null,
      instance,
      frames$,
      health$,
      stats: () => ({
        ...stats,
        vehicles: [...monitors.keys()],
        published: publisher.stats,
        dashboard: dashboard?.stats ?? null,
        telemetry: telemetry?.stats ?? null,
      }),
      async stop() {
        await cleanup();
        frames$.complete();
        health$.complete();
      },
    };
    return service;
  } catch (e) {
    await cleanup();
    throw e;
  }
}
