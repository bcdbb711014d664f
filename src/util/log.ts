/**
 * Minimal structured logger with per-key rate limiting (one line per key per interval, with
 * a count of what was suppressed). Output: one line per event on stderr.
 */
import type { NowNs } from "./clock.ts";
import { wallNs } from "./clock.ts";

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
  /** Log at most once per `intervalMs` per key; the next line reports how many were suppressed. */
  limited(
    key: string,
    level: Level,
    msg: string,
    fields?: Record<string, unknown>,
    intervalMs?: number,
  ): void;
}

export interface LoggerOptions {
  /** Lowest level printed. Default: env FUSION_LOG or "info". */
  level?: Level;
  /** Sink for lines. Default: process.stderr. */
  write?: (line: string) => void;
  now?: NowNs;
  /** Bound on the number of rate-limit keys kept (oldest forgotten). Default 1000. */
  maxKeys?: number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? ((process.env.FUSION_LOG as Level | undefined) || "info");
  const write = opts.write ?? ((l: string) => process.stderr.write(l));
  const now = opts.now ?? wallNs;
  const maxKeys = opts.maxKeys ?? 1000;
  const last = new Map<string, { atNs: number; suppressed: number }>();
  const out = (lv: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lv] < ORDER[level]) return;
    const f = fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : "";
    write(`${new Date(now() / 1e6).toISOString()} ${lv.toUpperCase()} ${msg}${f}\n`);
  };
  return {
    log: out,
    limited(key, lv, msg, fields, intervalMs = 5000) {
      const t = now();
      const e = last.get(key);
      if (e && t - e.atNs < intervalMs * 1e6) {
        e.suppressed++;
        return;
      }
      const suppressed = e?.suppressed ?? 0;
      last.delete(key);
      if (last.size >= maxKeys) last.delete(last.keys().next().value as string);
      last.set(key, { atNs: t, suppressed: 0 });
      out(lv, suppressed ? `${msg} (+${suppressed} similar suppressed)` : msg, fields);
    },
  };
}

export const silentLogger: Logger = { log() {}, limited() {} };
