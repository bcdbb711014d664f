/**
 * Plays replay items out: pacing (real time by default, `rate` x real time, or as fast as the sink
 * takes them with `rate` 0: every publish is awaited, so nothing is ever dropped), `startS` /
 * `durationS` windows (relative to the first item of the log), `loop` (the log again from the
 * start: its stamps jump back, which the aligner handles as a reset). I/O-free: the sink and the
 * clock are injected.
 */
import { encodeGroundTruth, encodeSensorMessage } from "../msg/codec.ts";
import { restampPayload } from "./mcap.ts";
import { topics } from "../msg/topics.ts";
import type { ReplayItem } from "./types.ts";

export interface PlayOptions {
  /** Multiple of real time; 0 = as fast as possible (with backpressure). Default 1. */
  rate: number;
  loop: boolean;
  /** Skip this many seconds of log time at the start. Default 0. */
  startS: number;
  /** Play at most this many seconds of log time per pass (default: all). */
  durationS?: number;
  /** Publish one message; the returned promise is awaited at rate 0 (backpressure). */
  publish: (topic: string, payload: Uint8Array) => Promise<void> | void;
  /** Wall clock, ms (default performance.now). */
  nowMs?: () => number;
  sleepMs?: (ms: number) => Promise<void>;
  /** Called after every message: log time played in this pass (s), the pass length (s, or null), messages sent. */
  onProgress?: (playedS: number, totalS: number | null, messages: number) => void;
  /** Log time of one pass when known before playing (s); the progress total until a pass ends. */
  spanS?: number | null;
  /** Stops at the next item. */
  signal?: AbortSignal;
  /**
   * "now" (default): each pass's stamps are moved so that its first message carries the wall-clock
   * time it is published at (a live service then sees sensible latencies); "log": stamps as logged
   * (a loop then jumps back in time, which the aligner handles with a reset).
   */
  stamps?: "now" | "log";
  /** Wall clock since the epoch, ns (default performance.timeOrigin + now). */
  epochNs?: () => number;
}

export interface PlayStats {
  messages: number;
  bytes: number;
  /** Log time covered, s (all passes). */
  logS: number;
  wallS: number;
  /** logS / wallS. */
  rtf: number;
  passes: number;
}

/** Encode an item to its topic and bytes, its stamps moved by `shiftNs` (0: as logged). */
export function encodeItem(it: ReplayItem, shiftNs = 0): { topic: string; payload: Uint8Array } {
  switch (it.kind) {
    case "sensor": {
      let msg = it.msg;
      if (shiftNs) {
        const p = msg.payload;
        msg = {
          header: { ...msg.header, stampNs: msg.header.stampNs + shiftNs },
          payload:
            p.kind === "point_cloud" && p.sweepStartNs ? { ...p, sweepStartNs: p.sweepStartNs + shiftNs } : p,
        };
      }
      return {
        topic: topics.sensor(msg.header.vehicle, msg.header.sensorId),
        payload: encodeSensorMessage(msg),
      };
    }
    case "truth":
      return {
        topic: topics.truth(it.truth.vehicle),
        payload: encodeGroundTruth(shiftNs ? { ...it.truth, stampNs: it.truth.stampNs + shiftNs } : it.truth),
      };
    case "raw":
      return {
        topic: it.topic,
        payload: shiftNs ? restampPayload(it.topic, it.payload, shiftNs) : it.payload,
      };
  }
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function play(items: () => Iterable<ReplayItem>, o: PlayOptions): Promise<PlayStats> {
  const now = o.nowMs ?? (() => performance.now());
  const sleep = o.sleepMs ?? realSleep;
  const epochNs = o.epochNs ?? (() => (performance.timeOrigin + performance.now()) * 1e6);
  const stats: PlayStats = { messages: 0, bytes: 0, logS: 0, wallS: 0, rtf: 0, passes: 0 };
  const wall0 = now();
  // Pacing anchor: wall time at which log time `anchorNs` is due (moves on at each pass).
  let anchorWall = wall0;
  let total: number | null =
    o.durationS !== undefined
      ? Math.min(o.durationS, o.spanS ?? Number.POSITIVE_INFINITY)
      : (o.spanS ?? null);
  if (total !== null && o.spanS && o.startS) total = Math.min(total, Math.max(0, o.spanS - o.startS));
  do {
    let firstNs: number | null = null;
    let passStartNs: number | null = null;
    let lastNs = 0;
    let any = false;
    let shiftNs = 0;
    for (const it of items()) {
      if (o.signal?.aborted) break;
      firstNs ??= it.tNs;
      const rel = (it.tNs - firstNs) / 1e9;
      if (rel < o.startS) continue;
      if (o.durationS !== undefined && rel - o.startS > o.durationS) break;
      if (passStartNs === null) {
        passStartNs = it.tNs;
        shiftNs = (o.stamps ?? "now") === "now" ? Math.round(epochNs() - it.tNs) : 0;
      }
      if (o.rate > 0) {
        const due = anchorWall + (it.tNs - passStartNs) / 1e6 / o.rate;
        const wait = due - now();
        if (wait > 1) await sleep(wait);
      }
      const { topic, payload } = encodeItem(it, shiftNs);
      const r = o.publish(topic, payload);
      if (o.rate === 0 && r) await r;
      stats.messages++;
      stats.bytes += payload.byteLength;
      lastNs = it.tNs;
      any = true;
      o.onProgress?.((it.tNs - passStartNs) / 1e9, total, stats.messages);
    }
    if (!any) break;
    const passS = (lastNs - passStartNs!) / 1e9;
    stats.logS += passS;
    total ??= passS;
    stats.passes++;
    anchorWall += (passS * 1000) / (o.rate || 1);
    if (o.rate > 0) anchorWall = Math.max(anchorWall, now());
  } while (o.loop && !o.signal?.aborted);
  stats.wallS = (now() - wall0) / 1000;
  stats.rtf = stats.wallS > 0 ? stats.logS / stats.wallS : Number.POSITIVE_INFINITY;
  return stats;
}
