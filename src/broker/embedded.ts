/**
 * The embedded MQTT broker (aedes) of the default run mode. Tests of broker behaviour use mosquitto.
 *
 * Security (issue 18): with a password file (mosquitto_passwd format, or plain `user:password`
 * lines) every client must log in; without one it listens on loopback only (a non-loopback
 * address is refused). Packets larger than `maxPacketBytes` close the sender's connection as soon
 * as their header is read, before the body is buffered (aedes has no such limit of its own).
 */
import { pbkdf2Sync, createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, isIP, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";

export interface EmbeddedBrokerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 1883; 0 picks a free port. */
  port?: number;
  /** Password file: lines `user:<mosquitto_passwd hash>` ($6$ or $7$), or `user:password`. */
  passwordFile?: string;
  /** Largest packet accepted from a client, bytes. Default 8 MiB. */
  maxPacketBytes?: number;
  /** One-line warnings (plain-text passwords in the file). */
  warn?: (line: string) => void;
}

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** Credentials for the service's own clients (random per start) when a password file is in use. */
  internal: { username: string; password: string } | null;
  /** Connections closed for an oversized packet, and logins refused. */
  stats: { oversized: number; authFailures: number };
  close(): Promise<void>;
}

export class PortInUseError extends Error {
  readonly code = "E_PORT_IN_USE";
}

export class BrokerConfigError extends Error {
  readonly code = "E_CONFIG";
}

/** true for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1" || host === "[::1]";
}

type Verifier = (password: Buffer) => boolean;

function safeEq(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Parse a password file into user -> verifier. Errors name the file and line. */
export function loadPasswordFile(path: string, warn?: (l: string) => void): Map<string, Verifier> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new BrokerConfigError(`password file '${path}': ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const users = new Map<string, Verifier>();
  let plain = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const k = line.indexOf(":");
    if (k <= 0) throw new BrokerConfigError(`password file '${path}' line ${i + 1}: expected user:password`);
    const user = line.slice(0, k);
    const rest = line.slice(k + 1);
    const p = rest.split("$");
    if (rest.startsWith("$7$") && p.length === 5) {
      const iter = Number(p[2]);
      const salt = Buffer.from(p[3]!, "base64");
      const hash = Buffer.from(p[4]!, "base64");
      if (!Number.isInteger(iter) || iter < 1 || iter > 10_000_000)
        throw new BrokerConfigError(`password file '${path}' line ${i + 1}: bad iteration count`);
      users.set(user, (pw) => safeEq(pbkdf2Sync(pw, salt, iter, hash.length, "sha512"), hash));
    } else if (rest.startsWith("$6$") && p.length === 4) {
      const salt = Buffer.from(p[2]!, "base64");
      const hash = Buffer.from(p[3]!, "base64");
      users.set(user, (pw) => safeEq(createHash("sha512").update(pw).update(salt).digest(), hash));
    } else if (rest.startsWith("$")) {
      throw new BrokerConfigError(
        `password file '${path}' line ${i + 1}: unknown hash (use mosquitto_passwd)`,
      );
    } else {
      plain++;
      const want = Buffer.from(rest, "utf8");
      users.set(user, (pw) => safeEq(pw, want));
    }
  });
  if (users.size === 0) throw new BrokerConfigError(`password file '${path}' has no users`);
  if (plain)
    warn?.(`password file '${path}': ${plain} plain-text password(s); hash them with mosquitto_passwd -U`);
  return users;
}

/**
 * Reads MQTT fixed headers from a connection's bytes (fed as they are read) and reports a packet
 * whose remaining length exceeds `max` as soon as its header is seen, before its body arrives.
 */
export class PacketSizeGuard {
  private need = 0; // body bytes of the current packet still to skip
  private hdr: number[] = []; // fixed header bytes being read (type byte + length varint)
  tripped = false;
  constructor(
    private readonly max: number,
    private readonly onOversize: (len: number) => void,
  ) {}
  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && !this.tripped) {
      if (this.need > 0) {
        const k = Math.min(this.need, chunk.length - i);
        this.need -= k;
        i += k;
        continue;
      }
      this.hdr.push(chunk[i++]!);
      if (this.hdr.length === 1) continue;
      if (this.hdr[this.hdr.length - 1]! & 0x80 && this.hdr.length < 5) continue;
      let len = 0;
      for (let j = this.hdr.length - 1; j >= 1; j--) len = len * 128 + (this.hdr[j]! & 0x7f);
      this.hdr = [];
      if (len > this.max) {
        this.tripped = true;
        this.onOversize(len);
        return;
      }
      this.need = len;
    }
  }
}

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 1883;
  const maxPacket = opts.maxPacketBytes ?? 8 * 1024 * 1024;
  const users = opts.passwordFile ? loadPasswordFile(opts.passwordFile, opts.warn) : null;
  if (!users && !isLoopback(host))
    throw new BrokerConfigError(
      `the embedded MQTT broker listens on ${host} beyond loopback only with a password file (--broker-password-file)`,
    );
  const internal = users
    ? {
        username: `_fusion_${randomBytes(4).toString("hex")}`,
        password: randomBytes(24).toString("base64url"),
      }
    : null;
  const stats = { oversized: 0, authFailures: 0 };
  const aedes = await Aedes.createBroker();
  if (users && internal) {
    const internalPw = Buffer.from(internal.password);
    aedes.authenticate = (_client, username, password, callback) => {
      const pw = password ?? Buffer.alloc(0);
      const ok =
        username === internal.username
          ? safeEq(pw, internalPw)
          : username !== undefined && (users.get(username)?.(pw) ?? false);
      if (!ok) {
        stats.authFailures++;
        const err = Object.assign(new Error("bad username or password"), { returnCode: 4 });
        return callback(err as never, false);
      }
      callback(null, true);
    };
  }
  const server: Server = createServer((socket: Socket) => {
    socket.setNoDelay(true); // see src/mqtt/connect.ts noDelay (DECISIONS H8)
    aedes.handle(socket);
    // With aedes' 'readable' listener in place, 'data' fires for each chunk aedes reads: the header
    // of an oversized packet closes the connection before its body is buffered.
    const guard = new PacketSizeGuard(maxPacket, () => {
      stats.oversized++;
      socket.destroy();
    });
    socket.on("data", (chunk: Buffer) => guard.feed(chunk));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      aedes.close();
      reject(
        e.code === "EADDRINUSE"
          ? new PortInUseError(
              `MQTT port ${host}:${port} is already in use, probably by another broker (a system mosquitto?): use it with --broker mqtt://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}, or put the embedded broker on another port with --listen ${host}:${port + 1}`,
            )
          : e,
      );
    });
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return {
    url: `mqtt://${urlHost}:${bound}`,
    port: bound,
    internal,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => server.close(() => resolve()));
        // Server.close waits for open sockets; aedes.close ends its clients first.
      }),
  };
}
