/**
 * System processes for the fleet bench: mosquitto, a single-node etcd and `fusion` CLI children, on
 * free loopback ports with temporary dirs. Kept apart from test/helpers on purpose (benches must not
 * import the test harness, .dependency-cruiser.cjs); programs are found on PATH and its sbin
 * siblings, or through MOSQUITTO_BIN / ETCD_BIN.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../src/util/net.ts";

const BIN = fileURLToPath(new URL("../bin/fusion.js", import.meta.url));
const REPO = fileURLToPath(new URL("..", import.meta.url));

export function findProgram(name: string, envVar: string): string | null {
  const override = process.env[envVar];
  const dirs: string[] = [];
  for (const d of (process.env.PATH ?? "").split(delimiter))
    if (d) dirs.push(d, ...(d.endsWith("/bin") ? [join(dirname(d), "sbin")] : []));
  for (const p of override ? [override] : dirs.map((d) => join(d, name)))
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  return null;
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

export interface Proc {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

async function startDaemon(bin: string, args: (dir: string, port: number) => string[]): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), "bench-fleet-"));
  const port = await freePort();
  const proc = spawn(bin, args(dir, port), { stdio: ["ignore", "ignore", "ignore"] });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${bin} did not start`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: String(port),
    proc,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startMosquitto(): Promise<Proc> {
  const bin = findProgram("mosquitto", "MOSQUITTO_BIN");
  if (!bin) throw new Error("mosquitto not found (apt-get install mosquitto)");
  const p = await startDaemon(bin, (dir, port) => {
    const conf = join(dir, "mosquitto.conf");
    writeFileSync(
      conf,
      `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\n`,
    );
    return ["-c", conf];
  });
  return { ...p, url: `mqtt://127.0.0.1:${p.url}` };
}

export async function startEtcd(): Promise<Proc> {
  const bin = findProgram("etcd", "ETCD_BIN");
  if (!bin) throw new Error("etcd not found (apt-get install etcd-server)");
  const peer = await freePort();
  const p = await startDaemon(bin, (dir, port) => [
    "--name",
    "bench",
    "--data-dir",
    join(dir, "data"),
    "--listen-client-urls",
    `http://127.0.0.1:${port}`,
    "--advertise-client-urls",
    `http://127.0.0.1:${port}`,
    "--listen-peer-urls",
    `http://127.0.0.1:${peer}`,
    "--initial-advertise-peer-urls",
    `http://127.0.0.1:${peer}`,
    "--initial-cluster",
    `bench=http://127.0.0.1:${peer}`,
    "--log-level",
    "error",
  ]);
  return { ...p, url: `http://127.0.0.1:${p.url}` };
}

export interface Child {
  proc: ChildProcess;
  output(): string;
  waitFor(re: RegExp, timeoutMs: number): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** `node bin/fusion.js <args>` as a child process. */
export function fusion(args: string[]): Child {
  const proc = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const on = (d: Buffer) => {
    out = (out + d).slice(-200_000);
  };
  proc.stdout!.on("data", on);
  proc.stderr!.on("data", on);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return {
    proc,
    output: () => out,
    async waitFor(re, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (proc.exitCode !== null || Date.now() > deadline)
          throw new Error(`fusion ${args[0]}: no ${re} (${out.slice(-1000)})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async kill(signal) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
