/** Starts a real InfluxDB 1.x (`influxd`, Debian package `influxdb`) on free loopback ports. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/util/net.ts";
import { requireProgram } from "../../harness/programs.ts";

export interface Influxd {
  url: string;
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startInfluxd(opts: { dir?: string; port?: number } = {}): Promise<Influxd> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "influxd-"));
  const port = opts.port ?? (await freePort());
  const rpc = await freePort();
  const conf = join(dir, "influxdb.conf");
  writeFileSync(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
[monitor]
  store-enabled = false
`,
  );
  const proc = spawn(requireProgram("influxd"), ["-config", conf], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  proc.once("error", (e) => {
    err += e.message;
  });
  proc.stderr?.on("data", (d) => {
    err = (err + d).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`influxd exited: ${err}`);
    try {
      const r = await fetch(`${url}/ping`);
      if (r.status === 204) break;
    } catch {}
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`influxd did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          if (!opts.dir) rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (proc.exitCode !== null) return done();
        proc.once("exit", done);
        proc.kill("SIGTERM");
      }),
  };
}
