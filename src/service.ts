/**
 * The service wiring: broker connection, decode, the fleet runtime (src/runtime), outputs, dashboard
 * and an optional in-process sensor source (the CLI passes the built-in simulator). This module only
 * joins parts; admission, eviction, isolation, clocks and the per-vehicle pipeline live in the runtime.
 */
import { filter, map, merge, type Observable, Subject, type Subscription, share, tap } from "rxjs";
import { type EmbeddedBroker, startEmbeddedBroker } from "./broker/embedded.ts";
import { connectMqtt, DEFAULT_MAX_PACKET_BYTES } from "./mqtt/connect.ts";
import { type MqttSecurity, redact, redactUrl } from "./mqtt/security.ts";
import { type Dashboard, startDashboard } from "./dashboard/server.ts";
import { createEngine, type EpChoice } from "./fusion/index.ts";
import type { FusionEngine, FusionMode } from "./fusion/types.ts";
import type { RigMap } from "./rig/map.ts";
import { toReport } from "./health/index.ts";
import { topics } from "./msg/topics.ts";
import type { FusedFrame, HealthReport, OodGuardInfo } from "./msg/types.ts";
import { Publisher, serviceWill } from "./outputs/publisher.ts";
import type { RigConfig } from "./rig/schema.ts";
import type { FleetEngine } from "./runtime/vehicle.ts";
import {
  type Fleet,
  type FleetInput,
  type FleetStats,
  fleetPipeline,
  type RigResolver,
} from "./runtime/fleet.ts";
import { lastInputStampNs } from "./runtime/frame.ts";
import { StallMonitor, type StallStats } from "./runtime/stall.ts";
import { decodeSensors } from "./streams/decode-sensors.ts";
import { fromMqttMessages } from "./streams/mqtt-source.ts";
import type { DecodeFailure } from "./streams/types.ts";
import { type NowNs, wallNs, wallScheduler } from "./util/clock.ts";
import { createLogger, type Logger } from "./util/log.ts";
import { InfluxTelemetry } from "./telemetry/influx.ts";
import { Discovery, type DiscoveryStats } from "./cluster/discovery.ts";
import {
  type Ownership,
  type OwnershipProof,
  type OwnershipStats,
  startOwnership,
} from "./cluster/ownership.ts";
import { vehicleOfTopic } from "./msg/topics.ts";
import type { MqttClient } from "mqtt";

export const VERSION = "0.1.0";

/**
 * An in-process sensor source started with the service (publishing through the broker like an
 * external gateway). The CLI passes the built-in simulator (src/cli/embedded-sim.ts).
 */
export type SimStarter = (o: {
  brokerUrl: string;
  /** Credentials of the broker the service uses (the embedded broker's per-start ones). */
  security?: MqttSecurity;
  rig: RigConfig;
  logger: Logger;
  now: NowNs;
}) => Promise<{ stop(): Promise<void> }>;

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
  /** The default rig (every vehicle, unless `rigMap` says otherwise; also the simulator's). */
  rig: RigConfig;
  /** Rig per vehicle (a rig map, src/rig/map.ts); null = not admitted. Default: `rig` for all. */
  rigMap?: RigMap;
  /** An in-process sensor source (publishing through the broker). false = none. */
  sim: SimStarter | false;
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
  /** A vehicle silent this long is released and its retained health cleared, ms. Default 30000. */
  idleEvictMs?: number;
  /**
   * Fleet worker mode (docs/fleet.md): vehicles are shared with the other workers of the same etcd
   * prefix; this process subscribes to and publishes for the vehicles it owns only. Needs
   * `brokerUrl` (no embedded broker) and `sim: false`. Absent: one process owns every vehicle.
   */
  cluster?: ClusterOptions;
  logger?: Logger;
  now?: NowNs;
}

export interface ClusterOptions {
  /** etcd endpoints, e.g. `http://10.0.0.1:2379` (comma-separated). */
  etcd: string;
  /** Key prefix of the fleet. Default `/fusion/`. */
  prefix?: string;
  /** Lease TTL, s. Default 3. */
  leaseS?: number;
  /** Sensor id whose traffic discovers vehicles (besides birth messages); null = births only (default). */
  discoverSensor?: string | null;
}

export interface ServiceStats {
  received: number;
  /** Decode failures by code, all traffic (per vehicle and sensor: `fleet.vehicles[v].decodeErrors`). */
  decodeErrors: Record<string, number>;
  vehicles: string[];
  /** Messages of vehicles that were not admitted (details in `fleet.unadmitted`). */
  rejectedVehicles: number;
  ticks: number;
  fusionDrops: number;
  fleet: FleetStats;
  /** The service's own stalls (event loop blocked or process stopped). */
  stalls: StallStats;
  published: Publisher["stats"] | null;
  dashboard: Dashboard["stats"] | null;
  telemetry: InfluxTelemetry["stats"] | null;
  /** Fleet worker mode: ownership, discovery, and frames and reports withheld for want of proof. */
  cluster: {
    ownership: OwnershipStats;
    discovery: DiscoveryStats;
    /** Frames not published: this worker could not prove it owned the vehicle (lease not valid). */
    fencedFrames: number;
    fencedHealth: number;
    /** Sensor messages of vehicles this worker does not own (in flight after a release). */
    notOwned: number;
  } | null;
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
  /**
   * Where ticks' time goes inside each engine that measures it (the learned engines: recent p50/p99
   * per stage, ms), keyed by rig name. Not part of `stats()`: it sorts recent samples. `reset`:
   * start afresh after reading (a benchmark's window after its warm-up).
   */
  engineTimes(
    reset?: boolean,
  ): Record<string, Record<string, { p50: number; p99: number; mean: number; n: number }>>;
  stop(): Promise<void>;
}

/**
 * Decode failures for the status: `<vehicle>/<sensor>/<code>` for admitted vehicles (a sensor not in
 * the vehicle's rig counts as `_unknown_sensor`), `_unadmitted/<code>` for all other traffic: keys
 * an attacker chooses never grow the map.
 */
function decodeErrorsOf(fs: FleetStats | null, byCode: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  const admitted: Record<string, number> = {};
  for (const [v, c] of Object.entries(fs?.vehicles ?? {}))
    for (const [k, n] of Object.entries(c.decodeErrors)) {
      out[`${v}/${k}`] = n;
      const code = k.slice(k.lastIndexOf("/") + 1);
      admitted[code] = (admitted[code] ?? 0) + n;
    }
  for (const [code, n] of Object.entries(byCode)) {
    const rest = n - (admitted[code] ?? 0);
    if (rest > 0) out[`_unadmitted/${code}`] = rest;
  }
  return out;
}

export async function startService(o: ServiceOptions): Promise<Service> {
  const logger = o.logger ?? createLogger();
  const now = o.now ?? wallNs;
  const instance = o.instance ?? `fusion-${process.pid}`;
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

  if (o.cluster && (!o.brokerUrl || o.sim))
    throw new Error("fleet worker mode needs an external broker and no built-in simulator");
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

    // One engine per rig (each is built for its rig's sensors); vehicles go to their rig's engine.
    const rigs = new Map<string, RigConfig>([[o.rig.name, o.rig]]);
    for (const r of o.rigMap?.rigs ?? []) rigs.set(r.name, r);
    const engines = new Map<string, FusionEngine>();
    for (const [name, r] of rigs) {
      const e = await createEngine(o.fusion, r, { ep: o.ep ?? "auto", logger });
      engines.set(name, e);
      cleanups.push(() => e.close());
    }
    const rigOf: RigResolver = o.rigMap ? (v) => o.rigMap!.rigFor(v) : () => o.rig;
    const first = engines.get(o.rig.name)!;
    const engine: FleetEngine =
      engines.size === 1
        ? first
        : {
            mode: first.mode,
            fuse: (tick, inputs) => engines.get(rigOf(tick.vehicle)?.name ?? o.rig.name)!.fuse(tick, inputs),
            release: (v) => {
              for (const e of engines.values()) e.release?.(v);
            },
          };

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
    const serviceStats = (): ServiceStats => {
      const fs = fleet?.stats() ?? null;
      const u = fs?.unadmitted;
      return {
        ...stats,
        decodeErrors: decodeErrorsOf(fs, stats.decodeErrors),
        vehicles: fleet?.vehicles() ?? [],
        rejectedVehicles: u ? u.messages : 0,
        ticks: fs?.ticks ?? 0,
        fusionDrops: fs?.fusionDrops ?? 0,
        fleet: fs as FleetStats,
        stalls: { ...stalls.stats },
        published: publisher.stats,
        dashboard: dashboard?.stats ?? null,
        telemetry: telemetry?.stats ?? null,
        cluster:
          ownership && discovery
            ? {
                ownership: ownership.stats(),
                discovery: discovery.stats(),
                ...clusterCounts,
              }
            : null,
      };
    };
    const http = o.http === undefined ? { host: "127.0.0.1", port: 8080 } : o.http;

    const frames$ = new Subject<FusedFrame>();
    const health$ = new Subject<HealthReport>();
    const stalls = new StallMonitor({
      now,
      scheduler: wallScheduler,
      onStall: (s) => {
        const ms = Math.round((s.endNs - s.startNs) / 1e6);
        const line = `SERVICE_OVERLOADED: the process stalled ${ms} ms (event loop blocked or process stopped); sensors are not blamed for it`;
        // every long stall gets its line; short ones (load) are rate-limited
        if (ms >= 500) logger.log("warn", line);
        else logger.limited("service-stall", "warn", line);
      },
    }).start();
    cleanups.push(() => stalls.stop());
    const stats = { received: 0, decodeErrors: {} as Record<string, number> };

    const kindOf = new Map(o.rig.sensors.map((s) => [s.id, s.kind] as const));
    const failures$ = new Subject<DecodeFailure>();
    // Fleet worker mode: ownership (etcd) and discovery; the worker sees only its own vehicles.
    let ownership: Ownership | null = null;
    let discovery: Discovery | null = null;
    const clusterCounts = { fencedFrames: 0, fencedHealth: 0, notOwned: 0 };
    /** Vehicles whose next published frame is the first of a fresh aligner and tracker. */
    const fresh = new Set<string>();
    const localProof: OwnershipProof = { worker: instance, revision: 0 };
    const proofOf = (v: string): OwnershipProof | null => (ownership ? ownership.proof(v) : localProof);
    const raw$ = fromMqttMessages(client, now).pipe(share());
    const envelopes$ = raw$.pipe(
      filter((m) => {
        if (!ownership) return true;
        const v = vehicleOfTopic(m.topic);
        if (v !== null && ownership.owns(v)) return true;
        clusterCounts.notOwned++;
        return false;
      }),
      tap(() => {
        stats.received++;
      }),
      decodeSensors({
        kindOf: o.rigMap ? undefined : (id) => kindOf.get(id),
        onFailure: (f) => {
          // keyed by code only: vehicle and sensor ids of unadmitted traffic are untrusted
          stats.decodeErrors[f.code] = (stats.decodeErrors[f.code] ?? 0) + 1;
          logger.limited(
            `decode:${f.code}`,
            "warn",
            `rejected payload on ${f.topic.slice(0, 160)}: ${f.code}: ${f.message}`,
          );
          failures$.next(f);
        },
      }),
      share(),
    );
    const inputs$: Observable<FleetInput> = merge(
      envelopes$,
      failures$.pipe(map((failure) => ({ failure }))),
    );

    let fleet: Fleet | null = null;
    let vehicles: string[] = [];
    const publishStatus = () =>
      publisher.status({ instance, online: true, stampNs: now(), version: VERSION, vehicles });
    const guarded = (what: string, f: () => void) => {
      try {
        f();
      } catch (e) {
        logger.limited(`output:${what}`, "error", `${what} failed: ${(e as Error).stack ?? e}`);
      }
    };
    // The OOD guard of a learned engine, per vehicle: its latest state goes into the health report;
    // a switch (model <-> classical) is logged and republished in the health report at once.
    const guardOf = new Map<string, OodGuardInfo>();
    const lastReport = new Map<string, HealthReport>();
    const noteGuard = (frame: FusedFrame) => {
      const g = frame.guard;
      if (!g) return;
      const prev = guardOf.get(frame.vehicle);
      guardOf.set(frame.vehicle, g);
      if (prev?.state === g.state) return;
      if (g.state === "fallback")
        logger.log(
          "warn",
          g.reason
            ? `guard ${frame.vehicle}: serving classical: ${g.reason}`
            : `guard ${frame.vehicle}: input out of distribution for the model (${g.triggerModality} ${g.triggerFeature} distance ${g.triggerDistance.toFixed(1)} > ${g.threshold}): serving classical`,
        );
      else if (g.state === "unguarded") logger.log("warn", `guard ${frame.vehicle}: ${g.reason}`);
      else if (prev)
        logger.log(
          "info",
          `guard ${frame.vehicle}: input back in distribution (distance ${g.distance.toFixed(1)}): serving ${g.served}`,
        );
      const r = lastReport.get(frame.vehicle);
      if (r && prev) {
        const report = { ...r, stampNs: frame.stampNs, guard: g };
        lastReport.set(frame.vehicle, report);
        publisher.health(report);
        telemetry?.health(report);
        health$.next(report);
      }
    };
    const pipelineSub: Subscription = fleetPipeline(
      inputs$,
      {
        mode: "live",
        rig: o.rigMap ? rigOf : o.rig,
        engine,
        scheduler: wallScheduler,
        now,
        logger,
        maxVehicles: o.maxVehicles,
        idleEvictMs: o.idleEvictMs,
        stalls,
      },
      (f) => {
        fleet = f;
      },
    ).subscribe({
      next: (ev) => {
        switch (ev.type) {
          case "frame":
            return guarded("frame output", () => {
              const { frame, tick } = ev;
              const proof = proofOf(ev.vehicle);
              if (!proof) {
                // Not provably ours now (lease not renewed in time): another worker may own it.
                clusterCounts.fencedFrames++;
                return;
              }
              frame.worker = proof.worker;
              frame.ownershipRevision = proof.revision;
              frame.freshStart = fresh.delete(ev.vehicle);
              // e2e ends just before encoding and publishing; the "publish" stage (encode + client
              // publish call) can only be known afterwards, so it is in frames$ and telemetry, not in
              // the published message.
              const t0 = now();
              const e2eMs = (t0 - lastInputStampNs(tick)) / 1e6;
              frame.latency.push({ stage: "e2e", ms: e2eMs });
              noteGuard(frame);
              publisher.fused(frame);
              frame.latency.push({ stage: "publish", ms: (now() - t0) / 1e6 });
              frames$.next(frame);
              telemetry?.frame(frame);
              telemetry?.align(frame.vehicle, tick.stampNs, tick.diagnostics);
            });
          case "health":
            return guarded("health output", () => {
              const snap = ev.snapshot;
              for (const t of snap.transitions ?? []) logger.log("info", `health ${ev.vehicle}: ${t}`);
              if (!snap.changed && !ev.periodic) return;
              if (!proofOf(ev.vehicle)) {
                clusterCounts.fencedHealth++;
                return;
              }
              const report = toReport(snap);
              const g = guardOf.get(ev.vehicle);
              if (g) report.guard = g;
              lastReport.set(ev.vehicle, report);
              publisher.health(report);
              telemetry?.health(report);
              health$.next(report);
            });
          case "admitted":
          case "evicted":
          case "released":
            vehicles = fleet?.vehicles() ?? [];
            if (ev.type === "admitted") fresh.add(ev.vehicle);
            else fresh.delete(ev.vehicle);
            // an evicted vehicle's retained health would describe it forever: clear it (a released
            // one's is the next owner's to write)
            if (ev.type === "evicted" && proofOf(ev.vehicle)) publisher.clearHealth(ev.vehicle);
            if (ev.type !== "admitted") {
              guardOf.delete(ev.vehicle);
              lastReport.delete(ev.vehicle);
            }
            publishStatus();
            return;
          case "restarted":
            fresh.add(ev.vehicle);
            return;
        }
      },
      error: (e) => logger.log("error", `fleet runtime failed: ${(e as Error).stack ?? e}`),
    });
    cleanups.push(() => pipelineSub.unsubscribe());

    if (o.cluster) {
      const c = o.cluster;
      const disc = new Discovery({
        sensor: c.discoverSensor,
        forgetAfterMs: o.idleEvictMs === 0 ? Number.POSITIVE_INFINITY : o.idleEvictMs,
      });
      discovery = disc;
      const dataClient = client;
      ownership = await startOwnership({
        etcd: c.etcd,
        prefix: c.prefix,
        leaseS: c.leaseS,
        instance,
        logger,
        maxOwned: o.maxVehicles,
        onAcquire: (v) => {
          dataClient.subscribe(topics.vehicleSensors(v), { qos: 0 }, (e) => {
            if (e) logger.log("warn", `subscribe to ${v} failed: ${e.message}`);
          });
        },
        onRelease: (v, why) => {
          dataClient.unsubscribe(topics.vehicleSensors(v));
          fleet?.release(v);
          logger.log("info", `vehicle ${v} released (${why})`);
        },
      });
      const own = ownership;
      cleanups.push(() => own.stop());
      // Discovery has its own connection: a wildcard on one sensor id overlapping the per-vehicle
      // subscriptions would make the broker deliver those messages twice on one connection.
      const discClient: MqttClient = await connectMqtt(brokerUrl, {
        security,
        client: { clientId: `${instance}-disc-${Math.random().toString(16).slice(2, 8)}` },
        giveUpAfterMs: o.brokerWaitMs,
        onRetry: (line) => logger.log("warn", line),
      });
      cleanups.push(() => new Promise<void>((resolve) => discClient.end(true, {}, () => resolve())));
      const nowMs = () => now() / 1e6;
      discClient.on("message", (topic: string, payload: Buffer) => {
        const ch = disc.onMessage(topic, payload.length, nowMs());
        if (ch?.type === "discovered") own.discover(ch.vehicle);
        else if (ch?.type === "forgotten") own.forget(ch.vehicle);
      });
      const sweep = setInterval(() => {
        for (const v of disc.sweep(nowMs())) own.forget(v);
      }, 1000);
      sweep.unref();
      cleanups.push(() => clearInterval(sweep));
      await discClient.subscribeAsync(disc.filters(), { qos: 0 });
      logger.log(
        "info",
        `fleet worker ${instance}: etcd ${c.etcd}, discovery on ${disc.filters().join(", ")}`,
      );
    } else await client.subscribeAsync(topics.allSensors, { qos: 0 });
    publishStatus();
    // After a broker restart the retained `online` (and any session) is gone: say it again on every
    // reconnect (mqtt.js resubscribes by itself). The last will covers the other direction.
    client.on("connect", () => {
      logger.log("info", "MQTT reconnected; status republished");
      publishStatus();
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
          ...serviceStats(),
        }),
      });
      const d = dashboard;
      cleanups.push(() => d.close());
      logger.log("info", `dashboard on ${dashboard.url}`);
    }

    if (o.sim) {
      const sim = await o.sim({ brokerUrl, security, rig: o.rig, logger, now });
      cleanups.push(() => sim.stop());
    }

    const service: Service = {
      brokerUrl: redactUrl(brokerUrl),
      httpUrl: dashboard?.url ?? null,
      instance,
      frames$,
      health$,
      stats: serviceStats,
      engineTimes: (reset = false) => {
        const out: ReturnType<Service["engineTimes"]> = {};
        for (const [name, e] of engines) {
          const t = (
            e as { times?: { summary(): ReturnType<Service["engineTimes"]>[string]; reset(): void } }
          ).times;
          if (!t) continue;
          out[name] = t.summary();
          if (reset) t.reset();
        }
        return out;
      },
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
