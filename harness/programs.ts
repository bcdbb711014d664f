/**
 * Finds the system programs some tests need (mosquitto, chromium, influxd, etcd, openssl) on PATH,
 * never at fixed absolute paths. A normal user's PATH often lacks the sbin folders (Debian puts
 * mosquitto in /usr/sbin), so for every PATH entry ending in /bin its sibling /sbin is searched too.
 *
 * `needs(name)` is what a test passes as `{ skip }`: false when the program is there, else one line
 * saying what is missing and how to install it. Under CI=true a missing program is never skipped: the
 * test runs and fails on the start helper's one-line error, so CI still covers everything.
 * Each skip is appended to the file named by FUSION_TEST_SKIPS (set by scripts/run-tests.mjs), which
 * prints a summary of what was skipped at the end of the run.
 */
import { accessSync, appendFileSync, constants, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";

export interface ProgramSpec {
  /** Names to look for, in order. */
  names: string[];
  /** Environment variable that may name the executable directly. */
  env: string;
  /** How to get it, one short phrase. */
  install: string;
  /** Which tests need it, for the message. */
  usedBy: string;
}

export const PROGRAMS = {
  mosquitto: {
    names: ["mosquitto"],
    env: "MOSQUITTO_BIN",
    install: "apt-get install mosquitto (macOS: brew install mosquitto)",
    usedBy: "real-broker tests",
  },
  chromium: {
    names: ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"],
    env: "CHROMIUM_BIN",
    install: "apt-get install chromium, or set CHROMIUM_BIN to a Chrome/Chromium executable",
    usedBy: "dashboard browser tests",
  },
  influxd: {
    names: ["influxd"],
    env: "INFLUXD_BIN",
    install: "apt-get install influxdb (InfluxDB 1.x)",
    usedBy: "telemetry tests",
  },
  mosquitto_passwd: {
    names: ["mosquitto_passwd"],
    env: "MOSQUITTO_PASSWD_BIN",
    install: "apt-get install mosquitto",
    usedBy: "MQTT password-file tests",
  },
  etcd: {
    names: ["etcd"],
    env: "ETCD_BIN",
    install: "apt-get install etcd-server",
    usedBy: "fleet ownership tests",
  },
  openssl: {
    names: ["openssl"],
    env: "OPENSSL_BIN",
    install: "apt-get install openssl",
    usedBy: "TLS tests",
  },
} satisfies Record<string, ProgramSpec>;

export type ProgramName = keyof typeof PROGRAMS;

export class MissingProgramError extends Error {
  readonly code = "E_MISSING_PROGRAM";
}

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The folders searched for `PATH`: each entry, and for entries ending in /bin also their /sbin sibling. */
export function searchDirs(path: string | undefined): string[] {
  const dirs: string[] = [];
  for (const d of (path ?? "").split(delimiter)) {
    if (!d) continue;
    dirs.push(d);
    if (d.endsWith("/bin")) dirs.push(join(dirname(d), "sbin"));
  }
  return [...new Set(dirs)];
}

/** Absolute path of the program, or null. `env` defaults to process.env (PATH and the override variable). */
export function findProgram(name: ProgramName, env: NodeJS.ProcessEnv = process.env): string | null {
  const spec: ProgramSpec = PROGRAMS[name];
  const override = env[spec.env];
  if (override) return isExecutable(override) ? override : null;
  for (const dir of searchDirs(env.PATH))
    for (const n of spec.names) {
      const p = join(dir, n);
      if (isExecutable(p)) return p;
    }
  return null;
}

/** The one-line message for a missing program. */
export function missingMessage(name: ProgramName, env: NodeJS.ProcessEnv = process.env): string {
  const spec: ProgramSpec = PROGRAMS[name];
  const where = env[spec.env]
    ? `${spec.env}=${env[spec.env]} is not an executable`
    : `${spec.names.join("/")} not found on PATH (or its sbin folders)`;
  return `${name}: ${where}; ${spec.usedBy} skipped; install: ${spec.install}`;
}

/** Path of the program, or a MissingProgramError with the one-line message (start helpers use this). */
export function requireProgram(name: ProgramName, env: NodeJS.ProcessEnv = process.env): string {
  const p = findProgram(name, env);
  if (!p) throw new MissingProgramError(missingMessage(name, env));
  return p;
}

const noted = new Set<string>();

/**
 * For `{ skip }` of a test or describe: false when every program is present (or under CI=true,
 * where a missing one must fail), else the skip line, which is also recorded for the run's summary.
 */
export function needs(...names: ProgramName[]): false | string {
  return needsIn(process.env, ...names);
}

export function needsIn(env: NodeJS.ProcessEnv, ...names: ProgramName[]): false | string {
  const missing = names.filter((n) => findProgram(n, env) === null);
  if (missing.length === 0) return false;
  if (env.CI === "true") return false;
  const msg = missing.map((n) => missingMessage(n, env)).join(" | ");
  noteSkip(msg, env);
  return msg;
}

/** Record a skip line for the run's summary (scripts/run-tests.mjs), once per process. */
export function noteSkip(msg: string, env: NodeJS.ProcessEnv = process.env): void {
  const file = env.FUSION_TEST_SKIPS;
  if (!file || noted.has(msg)) return;
  noted.add(msg);
  const from = (process.argv[1] ?? "").replace(/^.*?(test[/\\])/, "$1");
  try {
    appendFileSync(file, `${msg}\t${from}\n`);
  } catch {}
}
