/**
 * Telemetry to InfluxDB 1.x (`--influx http://host:8086/db`). Points are buffered (bounded: the
 * oldest are dropped and counted when InfluxDB is slow or down) and written in batches every
 * `flush_ms`. An outage never blocks or breaks the pipeline; writes resume when InfluxDB returns.
 */
import Influx from "influx";
import { type FusedFrame, type HealthReport, SENSOR_STATE_NAMES, SYSTEM_MODE_NAMES } from "../msg/types.ts";
import type { AlignDiagnostics } from "../align/types.ts";
import type { Logger } from "../util/log.ts";

export interface TelemetryOptions {
  /** http://host:port/database */
  url: string;
  /** Batch period, ms. Default 1000. */
  flushMs?: number;
  /** Largest number of buffered points; the oldest are dropped beyond it. Default 20,000. */
  maxBufferedPoints?: number;
  logger: Logger;
}

export interface TelemetryStats {
  written: number;
  dropped: number;
  failedWrites: number;
  buffered: number;
}

export function parseInfluxUrl(url: string): {
  host: string;
  port: number;
  database: string;
  protocol: "http" | "https";
} {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--influx: not a URL: '${url}'`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new Error(`--influx: expected http(s)://host:port/db, got '${url}'`);
  const database = u.pathname.replace(/^\/+|\/+$/g, "") || "fusion";
  return {
    host: u.hostname,
    port: Number(u.port || 8086),
    database,
    protocol: u.protocol === "https:" ? "https" : "http",
  };
}

export class InfluxTelemetry {
  readonly stats: TelemetryStats = { written: 0, dropped: 0, failedWrites: 0, buffered: 0 };
  private buf: Influx.IPoint[] = [];
  private readonly db: Influx.InfluxDB;
  private readonly database: string;
  private readonly max: number;
  private timer: NodeJS.Timeout;
  private dbReady = false;
  private writing = false;

  constructor(private readonly o: TelemetryOptions) {
    const p = parseInfluxUrl(o.url);
    this.database = p.database;
    this.db = new Influx.InfluxDB({ host: p.host, port: p.port, protocol: p.protocol, database: p.database });
    this.max = o.maxBufferedPoints ?? 20_000;
    this.timer = setInterval(() => void this.flush(), o.flushMs ?? 1000);
    this.timer.unref();
  }

  private push(p: Influx.IPoint) {
    if (this.buf.length >= this.max) {
      this.buf.shift();
      this.stats.dropped++;
    }
    this.buf.push(p);
    this.stats.buffered = this.buf.length;
  }

  frame(f: FusedFrame) {
    const fields: Record<string, number | string> = {
      objects: f.objects.length,
      mode: SYSTEM_MODE_NAMES[f.mode],
      seq: f.seq,
      ego_speed: f.ego.speed,
    };
    for (const l of f.latency) fields[`${l.stage}_ms`] = l.ms;
    for (const s of f.sensors) fields[`gate_${s.sensorId}`] = s.gateWeight;
    if (f.guard) {
      // the OOD guard: state, engine served, distance now and the one that triggered a fallback
      fields["guard_state"] = f.guard.state;
      fields["guard_served"] = f.guard.served;
      fields["guard_fallback"] = f.guard.state === "fallback" ? 1 : 0;
      if (f.guard.distance >= 0) fields["guard_distance"] = f.guard.distance;
      if (f.guard.state === "fallback" && f.guard.triggerDistance >= 0) {
        fields["guard_trigger_distance"] = f.guard.triggerDistance;
        fields["guard_trigger"] = `${f.guard.triggerModality}/${f.guard.triggerFeature}`;
      }
      for (const [m, d] of Object.entries(f.guard.distances)) if (d >= 0) fields[`guard_distance_${m}`] = d;
    }
    this.push({
      measurement: "fused",
      tags: { vehicle: f.vehicle, fusion: f.fusion, trigger: f.trigger },
      fields,
      timestamp: new Date(Math.floor(f.stampNs / 1e6)),
    });
  }

  private lastAlignNs = new Map<string, number>();

  /** Aligner diagnostics (cumulative counters), at most once per second per vehicle. */
  align(vehicle: string, stampNs: number, d: AlignDiagnostics) {
    const last = this.lastAlignNs.get(vehicle);
    if (last !== undefined && stampNs - last < 1e9 && stampNs >= last) return;
    this.lastAlignNs.set(vehicle, stampNs);
    const ts = new Date(Math.floor(stampNs / 1e6));
    this.push({
      measurement: "align",
      tags: { vehicle },
      fields: {
        resets: d.resets,
        clock_skew: d.clockSkew.join(","),
        ticks_reference: d.ticks?.reference ?? 0,
        ticks_timer: d.ticks?.timer ?? 0,
      },
      timestamp: ts,
    });
    for (const [sensor, reasons] of Object.entries(d.drops)) {
      const fields: Record<string, number> = { unused: d.unused?.[sensor] ?? 0 };
      for (const [reason, n] of Object.entries(reasons)) fields[`drop_${reason}`] = n;
      this.push({ measurement: "align_drops", tags: { vehicle, sensor }, fields, timestamp: ts });
    }
  }

  health(h: HealthReport) {
    const ts = new Date(Math.floor(h.stampNs / 1e6));
    this.push({
      measurement: "system",
      tags: { vehicle: h.vehicle },
      fields: {
        mode: SYSTEM_MODE_NAMES[h.mode],
        reasons: h.reasons.join("; "),
        ...(h.guard
          ? {
              guard_state: h.guard.state,
              guard_served: h.guard.served,
              ...(h.guard.distance >= 0 ? { guard_distance: h.guard.distance } : {}),
              ...(h.guard.triggerDistance >= 0 ? { guard_trigger_distance: h.guard.triggerDistance } : {}),
            }
          : {}),
      },
      timestamp: ts,
    });
    for (const s of h.sensors) {
      this.push({
        measurement: "sensor_health",
        tags: { vehicle: h.vehicle, sensor: s.sensorId },
        fields: {
          state: SENSOR_STATE_NAMES[s.state],
          rate_hz: s.rateHz,
          jitter_ms: s.jitterMs,
          latency_ms: s.latencyMs,
          age_ms: s.ageMs,
          decode_errors: s.decodeErrors,
          drops: s.drops,
        },
        timestamp: ts,
      });
    }
  }

  async flush(): Promise<void> {
    if (this.writing || this.buf.length === 0) return;
    this.writing = true;
    const batch = this.buf.splice(0, 5000);
    try {
      if (!this.dbReady) {
        await this.db.createDatabase(this.database);
        this.dbReady = true;
      }
      await this.db.writePoints(batch, { precision: "ms" });
      this.stats.written += batch.length;
    } catch (e) {
      this.stats.failedWrites++;
      // InfluxDB may come back without the database (a fresh data directory, a DROP): create it
      // again before the next write (CREATE DATABASE of an existing one is a no-op).
      this.dbReady = false;
      // Put the batch back in front (still bounded: drop the oldest beyond the limit).
      this.buf = batch.concat(this.buf);
      const over = this.buf.length - this.max;
      if (over > 0) {
        this.buf.splice(0, over);
        this.stats.dropped += over;
      }
      this.o.logger.limited(
        "influx",
        "warn",
        `InfluxDB write failed (${(e as Error).message}); buffering ${this.buf.length} points`,
      );
    } finally {
      this.stats.buffered = this.buf.length;
      this.writing = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, 300))]);
  }
}
