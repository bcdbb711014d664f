/**
 * Minimal structured logger with per-key rate limiting (one line per key per interval, with
 * a count of what was suppressed). Output: one line per event on stderr.
 *
 * Hostile input reaches log lines (topics, ids, error messages): every line is made safe here.
 * Control characters (a newline could forge a line) are escaped, a message is truncated to
 * `maxLineChars`, and `limited` lines share one budget across all keys (`burst` lines, refilled at
 * `linesPerSec`), so attacker-chosen keys (60,000 fake vehicle ids) cannot add a line each.
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
  /** Longest message (and longest fields JSON), characters; the rest is cut with a count. Default 500. */
  maxLineChars?: number;
  /** Shared budget of `limited` lines across all keys: burst, and refill per second. Default 20, 2. */
  burst?: number;
  linesPerSec?: number;
}

/** `s` with control characters escaped and cut to `max` characters (with a note of the cut). */
export function sanitize(s: string, max = 500): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point
  const esc = cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
  return s.length > max ? `${esc}...(+${s.length - max} chars)` : esc;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? ((process.env.FUSION_LOG as Level | undefined) || "info");
  const write = opts.write ?? ((l: string) => process.stderr.write(l));
  const now = opts.now ?? wallNs;
  const maxKeys = opts.maxKeys ?? 1000;
  const maxChars = opts.maxLineChars ?? 500;
  const burst = opts.burst ?? 20;
  const refillPerNs = (opts.linesPerSec ?? 2) / 1e9;
  let tokens = burst;
  let tokensAtNs = Number.NaN;
  let overBudget = 0;
  const last = new Map<string, { atNs: number; suppressed: number }>();
  const out = (lv: Level, msg: string, fields?: Record<string, unknown>, note = "") => {
    if (ORDER[lv] < ORDER[level]) return;
    const f = fields && Object.keys(fields).length ? ` ${sanitize(JSON.stringify(fields), maxChars)}` : "";
    write(
      `${new Date(now() / 1e6).toISOString()} ${lv.toUpperCase()} ${sanitize(msg, maxChars)}${note}${f}\n`,
    );
  };
  return {
    log: (lv, msg, fields) => out(lv, msg, fields),
    limited(key, lv, msg, fields, intervalMs = 5000) {
      const t = now();
      const e = last.get(key);
      if (e && t - e.atNs < intervalMs * 1e6) {
        e.suppressed++;
        return;
      }
      // Shared budget across keys (token bucket).
      tokens = Number.isNaN(tokensAtNs) ? burst : Math.min(burst, tokens + (t - tokensAtNs) * refillPerNs);
      tokensAtNs = t;
      if (tokens < 1) {
        overBudget++;
        return;
      }
      tokens -= 1;
      const suppressed = e?.suppressed ?? 0;
      last.delete(key);
      if (last.size >= maxKeys) last.delete(last.keys().next().value as string);
      last.set(key, { atNs: t, suppressed: 0 });
      const notes: string[] = [];
      if (suppressed) notes.push(`+${suppressed} similar suppressed`);
      if (overBudget) notes.push(`+${overBudget} other lines suppressed: log budget`);
      overBudget = 0;
      out(lv, msg, fields, notes.length ? ` (${notes.join("; ")})` : "");
    },
  };
}

export const silentLogger: Logger = { log() {}, limited() {} };
