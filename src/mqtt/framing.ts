/**
 * MQTT packet framing for plain-TCP connections (docs/DECISIONS.md H10).
 *
 * Node reads a socket into a new 64 KB buffer per read; mqtt.js's parser keeps those in a list and,
 * for a packet spanning several of them, copies the packet out into a new buffer of its size. A
 * nuScenes LiDAR sweep (~0.7 MB) thus cost a dozen allocations, and their memory was freed only when
 * the garbage collector got to it: the churn behind most of the heap growth of the soak (H1).
 *
 * Here the socket reads into one reusable buffer (`net.Socket` `onread`); `PacketFramer` copies
 * the bytes of each packet into one allocation of the packet's size, and the stream hands mqtt.js
 * whole packets, which its parser slices without copying. Small packets that complete in the same
 * read travel to mqtt.js as one chunk. A large PUBLISH's payload is placed at a multiple of 8 bytes,
 * so that the packed floats of an aligned SensorMessage (H9) are read in place.
 *
 * TLS and websocket connections keep mqtt.js's own streams.
 */
import net from "node:net";
import { Duplex } from "node:stream";

/** PUBLISH control packet type (the high nibble of a packet's first byte). */
const PUBLISH = 3;
/**
 * A completed packet at least this long travels to mqtt.js alone, never concatenated, and only such
 * packets get their payload aligned.
 */
const BIG_PACKET_BYTES = 16 * 1024;

export interface FramerStats {
  /** Whole packets handed on. */
  packets: number;
}

/**
 * The I/O-free core: bytes in, whole MQTT packets out, each in a Buffer of its own (for a PUBLISH,
 * with the payload at a multiple of 8 bytes of its ArrayBuffer). Throws on a malformed remaining
 * length (more than 4 bytes), which the stream turns into an error.
 */
export class PacketFramer {
  readonly stats: FramerStats = { packets: 0 };
  /** The fixed header while it arrives: first byte and up to 4 bytes of remaining length. */
  private readonly hdr = new Uint8Array(5);
  private hdrLen = 0;
  /** The allocation of the packet being filled (7 bytes of slack in front for alignment). */
  private base: Buffer | null = null;
  private lead = 0;
  private total = 0;
  private filled = 0;
  private fixedLen = 0;
  /** The payload position is settled (or does not matter). */
  private placed = true;

  constructor(
    private readonly onPacket: (packet: Buffer) => void,
    /** MQTT 5 has properties between a PUBLISH's topic and its payload. */
    private readonly protocolVersion: () => number,
    /**
     * Align the payload of PUBLISH packets of at least this many bytes (smaller ones are left where
     * they land). Default 0: every PUBLISH.
     */
    private readonly alignFromBytes = 0,
  ) {}

  /** True between packets (no partial packet held). */
  get idle(): boolean {
    return this.base === null && this.hdrLen === 0;
  }

  feed(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.base === null) {
        const b = chunk[i++]!;
        this.hdr[this.hdrLen++] = b;
        if (this.hdrLen === 1 || b & 0x80) {
          if (this.hdrLen === 5) throw new Error("malformed MQTT packet: remaining length over 4 bytes");
          continue;
        }
        let rem = 0;
        for (let k = 1, mul = 1; k < this.hdrLen; k++, mul *= 128) rem += (this.hdr[k]! & 0x7f) * mul;
        this.fixedLen = this.hdrLen;
        this.total = this.hdrLen + rem;
        this.base = Buffer.allocUnsafe(this.total + 7);
        this.lead = 0;
        this.base.set(this.hdr.subarray(0, this.hdrLen), 0);
        this.filled = this.hdrLen;
        this.hdrLen = 0;
        this.placed = this.hdr[0]! >> 4 !== PUBLISH || this.total < this.alignFromBytes;
      }
      const take = Math.min(n - i, this.total - this.filled);
      if (take > 0) {
        this.base.set(chunk.subarray(i, i + take), this.lead + this.filled);
        this.filled += take;
        i += take;
      }
      if (!this.placed) this.place();
      if (this.filled === this.total) {
        const p = this.base.subarray(this.lead, this.lead + this.total);
        this.base = null;
        this.stats.packets++;
        this.onPacket(p);
      }
    }
  }

  /**
   * Once the bytes before a PUBLISH payload have arrived: where the payload starts, and, if that is
   * not a multiple of 8 in the allocation, move what has arrived so far (a few KB at most, once).
   */
  private place(): void {
    const b = this.base!;
    const at = (k: number) => b[this.lead + k]!;
    let pos = this.fixedLen;
    if (this.filled < pos + 2) return;
    pos += 2 + ((at(pos) << 8) | at(pos + 1));
    if ((this.hdr[0]! >> 1) & 3) pos += 2; // packet identifier (QoS 1, 2)
    if (this.protocolVersion() === 5) {
      let len = 0;
      for (let k = 0, mul = 1; ; k++, mul *= 128) {
        if (k === 4 || pos + k >= this.total) {
          this.placed = true; // malformed: left to mqtt.js's parser to report
          return;
        }
        if (this.filled <= pos + k) return;
        const v = at(pos + k);
        len += (v & 0x7f) * mul;
        if (!(v & 0x80)) {
          pos += k + 1 + len;
          break;
        }
      }
    }
    this.placed = true;
    if (pos > this.total) return;
    const lead = (8 - ((b.byteOffset + pos) % 8)) % 8;
    if (lead === this.lead) return;
    b.copyWithin(lead, this.lead, this.lead + this.filled);
    this.lead = lead;
  }
}

export interface FramedSocketOptions {
  host: string;
  port: number;
  /** MQTT protocol version of the connection, read at each PUBLISH (mqtt.js may fall back). */
  protocolVersion: () => number;
  /** Bytes of the reusable read buffer. Default 256 KiB. */
  readBufferBytes?: number;
}

/**
 * A TCP connection as a Duplex of whole MQTT packets on its readable side (object mode: one Buffer
 * per chunk, never merged by the stream) and bytes on its writable side, for mqtt.js's
 * `streamBuilder`. Backpressure: when mqtt.js stops reading, the socket pauses.
 */
export class FramedSocket extends Duplex {
  readonly socket: net.Socket;
  readonly framer: PacketFramer;
  private small: Buffer[] = [];
  private smallBytes = 0;
  private paused = false;

  constructor(o: FramedSocketOptions) {
    super({ readableObjectMode: true, allowHalfOpen: false });
    // small packets are concatenated into one chunk (onPacket), which would undo their alignment
    this.framer = new PacketFramer((p) => this.onPacket(p), o.protocolVersion, BIG_PACKET_BYTES);
    const buffer = Buffer.allocUnsafe(o.readBufferBytes ?? 256 * 1024);
    this.socket = net.createConnection({
      host: o.host,
      port: o.port,
      onread: {
        buffer,
        callback: (nread: number, buf: Uint8Array) => {
          try {
            this.framer.feed(buf.subarray(0, nread));
          } catch (e) {
            this.destroy(e as Error);
            return false;
          }
          this.flushSmall();
          if (this.paused) return false;
          return true;
        },
      },
    });
    this.socket.on("end", () => {
      this.flushSmall();
      this.push(null);
    });
    this.socket.on("error", (e) => this.destroy(e));
    this.socket.on("close", () => this.destroy());
    // writableLength: bytes written and not yet handed to the kernel, this stream's queue and the
    // socket's (the simulator watches it for backpressure)
    const own = Object.getOwnPropertyDescriptor(Duplex.prototype, "writableLength")!.get!;
    Object.defineProperty(this, "writableLength", {
      get: () => (own.call(this) as number) + this.socket.writableLength,
    });
  }

  private onPacket(p: Buffer): void {
    if (p.length < BIG_PACKET_BYTES) {
      this.small.push(p);
      this.smallBytes += p.length;
      return;
    }
    this.flushSmall();
    if (!this.push(p)) this.paused = true;
  }

  private flushSmall(): void {
    if (this.small.length === 0) return;
    const c = this.small.length === 1 ? this.small[0]! : Buffer.concat(this.small, this.smallBytes);
    this.small = [];
    this.smallBytes = 0;
    if (!this.push(c)) this.paused = true;
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.socket.write(chunk)) cb();
    else this.socket.once("drain", () => cb());
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.socket.cork();
    let ok = true;
    for (const c of chunks) ok = this.socket.write(c.chunk);
    this.socket.uncork();
    if (ok) cb();
    else this.socket.once("drain", () => cb());
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.socket.end(() => cb());
  }

  override _destroy(e: Error | null, cb: (e?: Error | null) => void): void {
    this.socket.destroy();
    cb(e);
  }

  setNoDelay(on = true): this {
    this.socket.setNoDelay(on);
    return this;
  }
}
