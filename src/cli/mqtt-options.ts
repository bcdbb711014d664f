/**
 * The MQTT connection flags every command that connects takes (serve, sim, replay, record, echo):
 * spread MQTT_FLAGS into the command's FlagSpecs and call `mqttFromFlags(values, brokerUrl)`.
 * The password comes from a file or the FUSION_MQTT_PASSWORD environment variable, never from a
 * flag value (`ps` shows those). Credentials in a broker URL are taken out of it (with a warning).
 */
import {
  loadMqttSecurity,
  MQTT_PASSWORD_ENV,
  MqttConfigError,
  type MqttSecurity,
  splitUrlCredentials,
} from "../mqtt/security.ts";
import { type FlagSpecs, UsageError } from "./args.ts";

export const MQTT_FLAGS: FlagSpecs = {
  "mqtt-username": { type: "string", arg: "NAME", help: "MQTT user name" },
  "mqtt-password-file": {
    type: "string",
    arg: "FILE",
    help: `file holding the MQTT password (one line; or set ${MQTT_PASSWORD_ENV})`,
  },
  "mqtt-ca": { type: "string", arg: "FILE", help: "PEM CA certificate(s) trusted for mqtts:// and wss://" },
  "mqtt-cert": { type: "string", arg: "FILE", help: "PEM client certificate (mutual TLS; with --mqtt-key)" },
  "mqtt-key": { type: "string", arg: "FILE", help: "PEM private key of --mqtt-cert" },
};

export interface MqttConnection {
  /** Broker URL without credentials (safe to print). */
  url: string;
  security: MqttSecurity;
}

/**
 * Security options of a command from its parsed flags; `url` (optional) is the broker URL, whose
 * credentials are moved into the options. Problems: one UsageError line naming the flag (exit 2).
 */
export function mqttFromFlags(
  values: Record<string, string | boolean | undefined>,
  url?: string,
  opts: { env?: NodeJS.ProcessEnv; warn?: (line: string) => void } = {},
): MqttConnection {
  const warn = opts.warn ?? ((l: string) => process.stderr.write(`warning: ${l}\n`));
  let security: MqttSecurity;
  try {
    security = loadMqttSecurity({
      username: values["mqtt-username"] as string | undefined,
      passwordFile: values["mqtt-password-file"] as string | undefined,
      caFile: values["mqtt-ca"] as string | undefined,
      certFile: values["mqtt-cert"] as string | undefined,
      keyFile: values["mqtt-key"] as string | undefined,
      env: opts.env,
      warn,
    });
  } catch (e) {
    if (e instanceof MqttConfigError) throw new UsageError(e.message);
    throw e;
  }
  if (url === undefined) return { url: "", security };
  const split = splitUrlCredentials(url, security, warn);
  const tlsGiven = security.ca || security.cert;
  if (tlsGiven && !/^(mqtts|wss|tls|ssl):/i.test(split.url))
    throw new UsageError("--mqtt-ca/--mqtt-cert need an mqtts:// or wss:// broker URL");
  return split;
}
