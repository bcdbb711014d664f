/**
 * The per-client send rule of the dashboard and the Foxglove endpoint: one pending message per
 * channel, the latest wins (a replaced message is a counted drop), and nothing is handed to the
 * socket while its send buffer holds more than `maxBufferedBytes`. A slow client thus sees fewer,
 * newer messages; memory per client stays bounded by channels x message size + the buffer limit.
 */
import type { WebSocket } from "ws";

export interface QueueStats {
  sent: number;
  dropped: number;
}

export class LatestPerChannel {
  private readonly pending = new Map<string, string | Uint8Array>();
  readonly stats: QueueStats = { sent: 0, dropped: 0 };
  constructor(
    private readonly ws: WebSocket,
    private readonly maxBufferedBytes: number,
  ) {}

  /** Queue `data` on `channel`, replacing (and counting) what was still pending there. */
  put(channel: string, data: string | Uint8Array): void {
    if (this.pending.has(channel)) {
      this.stats.dropped++;
      this.pending.delete(channel); // re-insert at the end: channels go out in order of news
    }
    this.pending.set(channel, data);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Send what the socket's buffer allows; the rest waits for the next flush. */
  flush(): void {
    if (this.ws.readyState !== 1) return;
    for (const [ch, data] of this.pending) {
      if (this.ws.bufferedAmount > this.maxBufferedBytes) return;
      this.pending.delete(ch);
      this.ws.send(data);
      this.stats.sent++;
    }
  }
}

/** A binary frame: u32 LE header length, header JSON, zero padding to 4 bytes, float32 body. */
export function binaryFrame(header: Record<string, unknown>, body: Float32Array): Uint8Array {
  const h = Buffer.from(JSON.stringify(header));
  const headLen = 4 + h.length;
  const pad = (4 - (headLen % 4)) % 4;
  const out = new Uint8Array(headLen + pad + body.byteLength);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 4);
  out.set(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), headLen + pad);
  return out;
}
