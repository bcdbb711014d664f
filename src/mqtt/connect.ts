/**
 * Connecting to a broker: waits for it with exponential backoff (a service started before its
 * broker keeps trying instead of exiting), says why each attempt failed in one line without
 * secrets, and once connected lets mqtt.js reconnect at a steady period. Used by every command that
 * connects, through the options of src/mqtt/security.ts.
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import {
  DEFAULT_MAX_PACKET_BYTES,
  describeMqttError,
  type MqttSecurity,
  redactUrl,
  securityClientOptions,
} from "./security.ts";
import { FramedSocket } from "./framing.ts";

export interface ConnectOptions {
  security?: MqttSecurity;
  /** Extra mqtt.js options (clientId, will, queueQoSZero, ...). */
  client?: IClientOptions;
  /** First retry delay, ms (doubles per failure up to maxDelayMs). Default 500. */
  initialDelayMs?: number;
  /** Default 15000. */
  maxDelayMs?: number;
  /** Give up after this long, ms (rejects with the last reason). Default: never. */
  giveUpAfterMs?: number;
  /** Per-attempt limit on TCP + TLS + CONNACK, ms. Default 5000. */
  attemptTimeoutMs?: number;
  /** Reconnect period once connected, ms. Default 1000. */
  reconnectPeriodMs?: number;
  /** One line per failed attempt (already redacted). */
  onRetry?: (line: string, attempt: number, delayMs: number) => void;
  /** Aborts the wait (rejects). */
  signal?: AbortSignal;
  /**
   * Largest packet the broker may send to this client, bytes: asks for MQTT 5 and sets its
   * Maximum Packet Size, so the broker drops larger messages for us instead of delivering them.
   * A broker without MQTT 5 (aedes, the embedded one, which has its own limit) is retried at once
   * with MQTT 3.1.1. Undefined: MQTT 3.1.1, no limit asked.
   */
  maxPacketBytes?: number;
}

export class MqttConnectError extends Error {
  readonly code = "E_BROKER";
  constructor(
    msg: string,
    readonly auth: boolean,
  ) {
    super(msg);
  }
}

/** mqtt.js options for `url` with the shared defaults (bounded offline queue, packet limit). */
export function clientOptions(o: ConnectOptions = {}): IClientOptions {
  return {
    connectTimeout: o.attemptTimeoutMs ?? 5000,
    queueQoSZero: false,
    ...securityClientOptions(o.security ?? {}),
    ...o.client,
  };
}

function attempt(url: string, opts: IClientOptions, timeoutMs: number): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { ...opts, reconnectPeriod: 0, manualConnect: true });
    framePlainTcp(c);
    c.connect();
    let done = false;
    const fail = (e: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.removeAllListeners("connect");
      c.on("error", () => {}); // late errors of a discarded attempt
      c.end(true);
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    timer.unref();
    c.once("connect", () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.removeAllListeners("error");
      resolve(c);
    });
    c.on("error", fail);
    c.once("close", () => fail(new Error("connection closed")));
  });
}

/**
 * Plain-TCP connections (mqtt://, tcp://) read through `FramedSocket` (src/mqtt/framing.ts,
 * docs/DECISIONS.md H10): one allocation per received packet instead of a 64 KB buffer per read and
 * a copy per large packet. Every reconnect builds its stream the same way. TLS, websockets, unix
 * sockets and SOCKS proxies keep mqtt.js's own streams.
 */
function framePlainTcp(c: MqttClient): void {
  type Builder = (client: MqttClient) => unknown;
  const cb = c as unknown as { streamBuilder: Builder };
  const inner = cb.streamBuilder;
  cb.streamBuilder = (client) => {
    const o = client.options;
    if ((o.protocol === "mqtt" || o.protocol === "tcp") && !o.socksProxy && !o.unixSocket)
      return new FramedSocket({
        host: o.hostname ?? o.host ?? "localhost",
        port: Number(o.port ?? 1883),
        protocolVersion: () => client.options.protocolVersion ?? 4,
      });
    return inner(client);
  };
}

/**
 * Nagle's algorithm off on the client's socket (TCP and TLS; ws sets it on its own sockets). A large
 * publish (a LiDAR sweep, ~0.7 MB) ends in a short segment that Nagle holds until the previous one
 * is acknowledged, and the receiver delays that acknowledgement: ~20 ms per message on loopback
 * (docs/DECISIONS.md H8).
 */
export function noDelay(c: MqttClient): void {
  (c.stream as { setNoDelay?: (on: boolean) => unknown } | undefined)?.setNoDelay?.(true);
}

/**
 * Connect to `url`, retrying with exponential backoff until it answers (or `giveUpAfterMs`).
 * The returned client reconnects by itself every `reconnectPeriodMs` after a later loss.
 */
export async function connectMqtt(url: string, o: ConnectOptions = {}): Promise<MqttClient> {
  let opts = clientOptions(o);
  if (o.maxPacketBytes !== undefined)
    opts = {
      ...opts,
      protocolVersion: 5,
      properties: { ...opts.properties, maximumPacketSize: o.maxPacketBytes },
    };
  const timeoutMs = o.attemptTimeoutMs ?? 5000;
  const t0 = Date.now();
  let delay = o.initialDelayMs ?? 500;
  for (let n = 1; ; n++) {
    if (o.signal?.aborted) throw new MqttConnectError(`connecting to ${redactUrl(url)} aborted`, false);
    try {
      const c = await attempt(url, opts, timeoutMs);
      noDelay(c);
      c.on("connect", () => noDelay(c)); // every reconnect has a new socket
      c.options.reconnectPeriod = o.reconnectPeriodMs ?? 1000;
      // A refusal on a later reconnect (credentials rotated) keeps retrying instead of stopping.
      c.options.reconnectOnConnackError = true;
      return c;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (opts.protocolVersion === 5 && (code === 1 || code === 132 || code === 129)) {
        // Unsupported protocol version (3.1.1 code 1; MQTT 5 code 132; aedes answers a v5 CONNECT
        // with a malformed-packet refusal on some versions): speak 3.1.1.
        const { properties: _p, ...v4 } = opts;
        opts = { ...v4, protocolVersion: 4 };
        n--;
        continue;
      }
      const { line, auth } = describeMqttError(e, o.security);
      const msg = `cannot connect to MQTT broker ${redactUrl(url)}: ${line}`;
      if (o.giveUpAfterMs !== undefined && Date.now() - t0 + delay > o.giveUpAfterMs)
        throw new MqttConnectError(msg, auth);
      o.onRetry?.(`${msg}; retrying in ${(delay / 1000).toFixed(1)} s`, n, delay);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        o.signal?.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        });
      });
      delay = Math.min(delay * 2, o.maxDelayMs ?? 15_000);
    }
  }
}

export { DEFAULT_MAX_PACKET_BYTES };
