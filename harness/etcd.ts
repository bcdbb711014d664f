/**
 * Starts a real single-node etcd (Debian `etcd-server`, binary `etcd`) on free loopback ports with a
 * temporary data dir, for fleet tests. Tests pass `{ skip: needs("etcd") }` (./programs.ts).
 * `pause()`/`resume()` freeze it (SIGSTOP/SIGCONT): a partition from every worker at once;
 * `stop()` kills it and removes the data dir.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../src/util/net.ts";
import { requireProgram } from "./programs.ts";

export interface Etcd {
  url: string;
  proc: ChildProcess;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function startEtcd(): Promise<Etcd> {
  const bin = requireProgram("etcd");
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "etcd-"));
    const client = await freePort();
    const peer = await freePort();
    const url = `http://127.0.0.1:${client}`;
    const purl = `http://127.0.0.1:${peer}`;
    const proc = spawn(
      bin,
      [
        "--name",
        "test",
        "--data-dir",
        join(dir, "data"),
        "--listen-client-urls",
        url,
        "--advertise-client-urls",
        url,
        "--listen-peer-urls",
        purl,
        "--initial-advertise-peer-urls",
        purl,
        "--initial-cluster",
        `test=${purl}`,
        "--log-level",
        "error",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    proc.stderr?.on("data", (d) => {
      stderr = (stderr + d).slice(-4000);
    });
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    const deadline = Date.now() + 15_000;
    let up = false;
    while (Date.now() < deadline && proc.exitCode === null) {
      if (await portOpen(client)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (up)
      return {
        url,
        proc,
        pause: () => proc.kill("SIGSTOP"),
        resume: () => proc.kill("SIGCONT"),
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill("SIGCONT");
            proc.kill("SIGKILL");
            await exited;
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    proc.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
    if (attempt === 4) throw new Error(`etcd (${bin}) did not start: ${stderr.trim() || "no output"}`);
  }
  throw new Error("unreachable");
}
