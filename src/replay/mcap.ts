/**
 * MCAP recordings of the service's topics, with @mcap/core: protobuf schemas embedded (a
 * FileDescriptorSet of proto/fusion.proto per message type), chunked (4 MiB) and zstd-compressed
 * (@foxglove/wasm-zstd). Log and publish time are the recorder's receive time (ns); playback paces
 * by log time. `McapFileSource` reads a file back in bounded memory (sync reads, one chunk of the
 * file at a time) and yields raw payloads with their topics.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { McapStreamReader, McapWriter, type TypedMcapRecord } from "@mcap/core";
import zstd from "@foxglove/wasm-zstd";
import descriptor from "protobufjs/ext/descriptor.js";
import { PB, PROTO_ROOT } from "../msg/codec.ts";
import { ROOT } from "../msg/topics.ts";
import { NuScenesError } from "./nuscenes.ts";
import { type ReplayItem, type ReplaySource, SkipLog } from "./types.ts";

/** Message type of a service topic, or null for topics outside the layout. */
export function schemaOfTopic(topic: string): keyof typeof PB | null {
  const p = topic.split("/");
  if (p[0] !== ROOT || p.length < 3) return null;
  if (p[1] === "_service" && p[3] === "status") return "ServiceStatus";
  if (p.length === 4 && p[2] === "sensors") return "SensorMessage";
  if (p.length !== 3) return null;
  switch (p[2]) {
    case "fused":
      return "FusedFrame";
    case "health":
      return "HealthReport";
    case "truth":
      return "GroundTruth";
    default:
      return null;
  }
}

let fdsCache: Uint8Array | null = null;
function fileDescriptorSet(): Uint8Array {
  if (!fdsCache) {
    // biome-ignore lint/suspicious/noExplicitAny: protobufjs ext typing
    const fds = (PROTO_ROOT as any).toDescriptor("proto3");
    // biome-ignore lint/suspicious/noExplicitAny: protobufjs ext typing
    fdsCache = (descriptor as any).FileDescriptorSet.encode(fds).finish() as Uint8Array;
  }
  return fdsCache;
}

class FileWritable {
  private pos = 0n;
  constructor(private readonly fh: FileHandle) {}
  async write(buffer: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buffer.byteLength) {
      const { bytesWritten } = await this.fh.write(buffer, off, buffer.byteLength - off);
      off += bytesWritten;
    }
    this.pos += BigInt(buffer.byteLength);
  }
  position(): bigint {
    return this.pos;
  }
}

export interface RecorderStats {
  messages: number;
  bytes: number;
  /** Messages on topics outside the layout (not recorded). */
  ignored: number;
}

/**
 * Writes messages to an MCAP file. Calls are serialised internally (the writer needs each call to
 * finish before the next): `add` returns a promise, and the queue is bounded by the caller awaiting.
 */
export class McapRecorder {
  readonly stats: RecorderStats = { messages: 0, bytes: 0, ignored: 0 };
  private writer!: McapWriter;
  private fh!: FileHandle;
  private readonly schemas = new Map<string, number>();
  private readonly channels = new Map<string, number>();
  private readonly seqs = new Map<number, number>();
  private chain: Promise<void> = Promise.resolve();

  static async create(file: string, compression: "zstd" | "none" = "zstd"): Promise<McapRecorder> {
    const r = new McapRecorder();
    if (compression === "zstd") await zstd.isLoaded;
    r.fh = await open(file, "w");
    r.writer = new McapWriter({
      writable: new FileWritable(r.fh),
      useChunks: true,
      chunkSize: 4 * 1024 * 1024,
      ...(compression === "zstd"
        ? { compressChunk: (d: Uint8Array) => ({ compression: "zstd", compressedData: zstd.compress(d, 3) }) }
        : {}),
    });
    await r.writer.start({ profile: "", library: "fusion record (@mcap/core)" });
    return r;
  }

  /** Record one message (ignored, and counted, when the topic is not one of the service's). */
  add(topic: string, payload: Uint8Array, timeNs: bigint): Promise<void> {
    const p = this.chain.then(() => this.addNow(topic, payload, timeNs));
    this.chain = p.catch(() => {});
    return p;
  }

  private async addNow(topic: string, payload: Uint8Array, timeNs: bigint): Promise<void> {
    const type = schemaOfTopic(topic);
    if (!type) {
      this.stats.ignored++;
      return;
    }
    let ch = this.channels.get(topic);
    if (ch === undefined) {
      const name = `fusion.v1.${type}`;
      let sid = this.schemas.get(name);
      if (sid === undefined) {
        sid = await this.writer.registerSchema({ name, encoding: "protobuf", data: fileDescriptorSet() });
        this.schemas.set(name, sid);
      }
      ch = await this.writer.registerChannel({
        topic,
        schemaId: sid,
        messageEncoding: "protobuf",
        metadata: new Map(),
      });
      this.channels.set(topic, ch);
    }
    const sequence = this.seqs.get(ch) ?? 0;
    this.seqs.set(ch, sequence + 1);
    await this.writer.addMessage({
      channelId: ch,
      sequence,
      logTime: timeNs,
      publishTime: timeNs,
      data: payload,
    });
    this.stats.messages++;
    this.stats.bytes += payload.byteLength;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.writer.end();
    await this.fh.close();
  }
}

export const DECOMPRESS = {
  zstd: (buf: Uint8Array, size: bigint) => zstd.decompress(buf, Number(size)),
};

/** Records of an MCAP file, read sync in 1 MiB pieces (zstd must be loaded: await zstd.isLoaded). */
export function* readMcapRecords(file: string): Iterable<TypedMcapRecord> {
  const reader = new McapStreamReader({ decompressHandlers: DECOMPRESS });
  const fd = openSync(file, "r");
  try {
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.byteLength, null);
      if (n === 0) break;
      reader.append(buf.slice(0, n));
      for (let r = reader.nextRecord(); r; r = reader.nextRecord()) yield r;
    }
    if (!reader.done()) throw new NuScenesError(`MCAP ${file}: truncated (no footer)`);
  } finally {
    closeSync(fd);
  }
}

export interface McapSourceOptions {
  /** Replace the vehicle level of each topic (and the vehicle inside each message). */
  vehicle?: string;
  /** Topic filter (MQTT wildcards + and #); default all. */
  topics?: string[];
  warn?: (line: string) => void;
}

/** MQTT topic filter match (+ one level, # the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * An encoded service message with its stamps moved by `shiftNs` (sensor header stamp and sweep
 * start, truth / fused / health stamp). Payloads that do not decode are returned unchanged.
 */
export function restampPayload(topic: string, payload: Uint8Array, shiftNs: number): Uint8Array {
  const type = schemaOfTopic(topic);
  if (!type) return payload;
  try {
    const T = PB[type];
    // biome-ignore lint/suspicious/noExplicitAny: protobufjs message objects
    const m = T.toObject(T.decode(payload), { longs: Number }) as any;
    if (type === "SensorMessage") {
      if (m.header?.stampNs) m.header.stampNs = Number(m.header.stampNs) + shiftNs;
      if (m.pointCloud?.sweepStartNs) m.pointCloud.sweepStartNs = Number(m.pointCloud.sweepStartNs) + shiftNs;
    } else if (m.stampNs) m.stampNs = Number(m.stampNs) + shiftNs;
    return T.encode(T.fromObject(m)).finish();
  } catch {
    return payload;
  }
}

/** Plays an MCAP recording back: raw payloads in log-time order of the file. */
export class McapFileSource implements ReplaySource {
  readonly description: string;
  readonly cameraInput = "as recorded";
  readonly skipped: SkipLog;
  constructor(
    private readonly file: string,
    private readonly o: McapSourceOptions = {},
  ) {
    this.skipped = new SkipLog(o.warn);
    this.description = `MCAP ${file}`;
  }

  static async ready(): Promise<void> {
    await zstd.isLoaded;
  }

  *items(): Iterable<ReplayItem> {
    const channels = new Map<number, string>();
    for (const r of readMcapRecords(this.file)) {
      if (r.type === "Channel") channels.set(r.id, r.topic);
      if (r.type !== "Message") continue;
      let topic = channels.get(r.channelId);
      if (topic === undefined) {
        this.skipped.skip(`${this.file}#channel${r.channelId}`, "message of an unknown channel");
        continue;
      }
      if (this.o.topics && !this.o.topics.some((f) => topicMatches(f, topic!))) continue;
      let payload = r.data;
      if (this.o.vehicle) {
        const parts = topic.split("/");
        const type = schemaOfTopic(topic);
        if (type && type !== "ServiceStatus") {
          parts[1] = this.o.vehicle;
          topic = parts.join("/");
          try {
            const T = PB[type];
            // biome-ignore lint/suspicious/noExplicitAny: protobufjs message objects
            const m = T.decode(payload) as any;
            if (type === "SensorMessage") m.header = { ...m.header, vehicle: this.o.vehicle };
            else m.vehicle = this.o.vehicle;
            payload = T.encode(m).finish();
          } catch (e) {
            this.skipped.skip(`${this.file}#${topic}`, `undecodable message: ${(e as Error).message}`);
            continue;
          }
        }
      }
      yield { kind: "raw", tNs: Number(r.logTime), topic, payload };
    }
  }
}
