/**
 * MQTT client security shared by every command that connects (serve, sim, replay, record, echo):
 * credentials and TLS material loaded from files or the environment (never from a flag value, which
 * `ps` shows), the mqtt.js options built from them, redaction of secrets in anything printed, and
 * one clear line for a connection failure. The CLI flags live in src/cli/mqtt-options.ts.
 */
import { readFileSync, statSync } from "node:fs";
import type { IClientOptions } from "mqtt";

/** Environment variable holding the MQTT password (alternative to a password file). */
export const MQTT_PASSWORD_ENV = "FUSION_MQTT_PASSWORD";

/** Largest MQTT packet the service accepts or sends, bytes: a nuScenes sweep is ~0.7 MB. */
export const DEFAULT_MAX_PACKET_BYTES = 8 * 1024 * 1024;

export interface MqttSecurity {
  username?: string;
  password?: string;
  /** PEM CA bundle(s) trusted for mqtts:// and wss:// (default: the system's). */
  ca?: Buffer;
  /** PEM client certificate and key (mutual TLS). */
  cert?: Buffer;
  key?: Buffer;
}

export interface MqttSecuritySources {
  username?: string;
  passwordFile?: string;
  /** Environment to read MQTT_PASSWORD_ENV from (default process.env). */
  env?: NodeJS.ProcessEnv;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Called with a one-line warning (e.g. a password file others can read). */
  warn?: (line: string) => void;
}

export class MqttConfigError extends Error {
  readonly code = "E_CONFIG";
}

function readSecretFile(flag: string, path: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new MqttConfigError(`--${flag}: cannot read '${path}' (${err.code ?? err.message})`);
  }
  if (buf.length === 0) throw new MqttConfigError(`--${flag}: '${path}' is empty`);
  return buf;
}

/** Load credentials and TLS material; every problem is one MqttConfigError line naming the flag. */
export function loadMqttSecurity(src: MqttSecuritySources): MqttSecurity {
  const env = src.env ?? process.env;
  const sec: MqttSecurity = {};
  if (src.username !== undefined) {
    if (src.username === "" || src.username.length > 256 || /[\r\n\0]/.test(src.username))
      throw new MqttConfigError(
        "--mqtt-username: expected a non-empty name (at most 256 characters, one line)",
      );
    sec.username = src.username;
  }
  if (src.passwordFile !== undefined) {
    const buf = readSecretFile("mqtt-password-file", src.passwordFile);
    // One line; a trailing newline (echo > file) is not part of the password.
    sec.password = buf.toString("utf8").replace(/\r?\n$/, "");
    if (/[\r\n]/.test(sec.password))
      throw new MqttConfigError(`--mqtt-password-file: '${src.passwordFile}' must hold one line`);
    try {
      if ((statSync(src.passwordFile).mode & 0o077) !== 0)
        src.warn?.(`--mqtt-password-file: '${src.passwordFile}' is readable by other users (chmod 600 it)`);
    } catch {
      // stat after a successful read: nothing to add
    }
  } else if (env[MQTT_PASSWORD_ENV] !== undefined && env[MQTT_PASSWORD_ENV] !== "") {
    sec.password = env[MQTT_PASSWORD_ENV];
  }
  if (sec.password !== undefined && sec.username === undefined)
    throw new MqttConfigError(`an MQTT password needs --mqtt-username`);
  if (src.caFile !== undefined) sec.ca = readSecretFile("mqtt-ca", src.caFile);
  if (src.certFile !== undefined) sec.cert = readSecretFile("mqtt-cert", src.certFile);
  if (src.keyFile !== undefined) sec.key = readSecretFile("mqtt-key", src.keyFile);
  if ((sec.cert === undefined) !== (sec.key === undefined))
    throw new MqttConfigError("--mqtt-cert and --mqtt-key go together (client certificate and its key)");
  for (const [flag, b] of [
    ["mqtt-ca", sec.ca],
    ["mqtt-cert", sec.cert],
  ] as const)
    if (b && !b.includes("-----BEGIN CERTIFICATE-----"))
      throw new MqttConfigError(`--${flag}: expected a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (sec.key && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(sec.key.toString("latin1")))
    throw new MqttConfigError("--mqtt-key: expected a PEM private key");
  return sec;
}

/**
 * Credentials inside a broker URL (mqtt://user:pass@host) are taken out of it: the URL that is
 * printed and passed on never carries them. A password there is visible in `ps`; `warn` says so.
 */
export function splitUrlCredentials(
  url: string,
  sec: MqttSecurity = {},
  warn?: (line: string) => void,
): { url: string; security: MqttSecurity } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, security: sec };
  }
  if (!u.username && !u.password) return { url, security: sec };
  const out: MqttSecurity = { ...sec };
  if (u.username && out.username === undefined) out.username = decodeURIComponent(u.username);
  if (u.password) {
    if (out.password === undefined) out.password = decodeURIComponent(u.password);
    warn?.(
      `the MQTT password in the broker URL is visible to other users (ps); use --mqtt-password-file or ${MQTT_PASSWORD_ENV}`,
    );
  }
  u.username = "";
  u.password = "";
  return { url: u.toString().replace(/\/$/, ""), security: out };
}

/** A URL with any user:password replaced (for printing). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/i, "$1***@");
}

/** `text` with the secrets of `sec` and any URL credentials replaced by ***. */
export function redact(text: string, sec: MqttSecurity = {}): string {
  let s = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/gi, "$1***@");
  if (sec.password && sec.password.length >= 1) s = s.split(sec.password).join("***");
  return s;
}

/** mqtt.js options of `sec`: credentials, TLS trust and client certificate. */
export function securityClientOptions(sec: MqttSecurity): Partial<IClientOptions> {
  const o: Partial<IClientOptions> = {};
  if (sec.username !== undefined) o.username = sec.username;
  if (sec.password !== undefined) o.password = sec.password;
  if (sec.ca) o.ca = sec.ca;
  if (sec.cert) o.cert = sec.cert;
  if (sec.key) o.key = sec.key;
  if (sec.ca || sec.cert) o.rejectUnauthorized = true;
  return o;
}

/** CONNACK return codes of MQTT 3.1.1 and reason codes of MQTT 5 that mean "check your credentials". */
const AUTH_CODES = new Map<number, string>([
  [4, "bad username or password"],
  [5, "not authorized"],
  [134, "bad username or password"],
  [135, "not authorized"],
  [140, "bad authentication method"],
]);

const TLS_HINTS: Record<string, string> = {
  SELF_SIGNED_CERT_IN_CHAIN: "the broker's certificate is not trusted (pass its CA with --mqtt-ca)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the broker's certificate is self-signed (pass it or its CA with --mqtt-ca)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the broker's certificate is not trusted (pass its CA with --mqtt-ca)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the broker's certificate is not trusted (pass its CA with --mqtt-ca)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the broker's certificate does not name this host",
  CERT_HAS_EXPIRED: "the broker's certificate has expired",
  ECONNREFUSED: "connection refused (is the broker up?)",
  ENOTFOUND: "host not found",
  ECONNRESET: "connection reset by the broker (TLS or protocol mismatch?)",
  EPROTO: "TLS handshake failed (mqtts:// to a plain port, or a client certificate the broker refused?)",
};

/** One line (no secrets) describing why a connection failed. `auth` is true for credential errors. */
export function describeMqttError(e: unknown, sec: MqttSecurity = {}): { line: string; auth: boolean } {
  const err = e as Error & { code?: string | number };
  if (typeof err.code === "number" && AUTH_CODES.has(err.code))
    return { line: `${AUTH_CODES.get(err.code)} (check --mqtt-username and the password)`, auth: true };
  const hint = typeof err.code === "string" ? TLS_HINTS[err.code] : undefined;
  const msg = (err.message ?? String(e)).split("\n")[0]!;
  if (/not authori[sz]ed|bad user ?name or password/i.test(msg))
    return { line: `${redact(msg, sec)} (check --mqtt-username and the password)`, auth: true };
  return { line: redact(hint ? `${hint} [${err.code}]` : msg, sec), auth: false };
}
