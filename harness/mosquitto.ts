/**
 * Starts a real mosquitto broker on a free loopback port for a test, and stops it after.
 * Needs `mosquitto` on PATH (Debian package `mosquitto`, installed by .ci/run): tests pass
 * `{ skip: needs("mosquitto") }` (harness/programs.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireProgram } from "./programs.ts";
import { freePort } from "../src/util/net.ts";

export interface Mosquitto {
  url: string;
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startMosquitto(): Promise<Mosquitto> {
  const bin = requireProgram("mosquitto");
  const dir = mkdtempSync(join(tmpdir(), "mosq-"));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const conf = join(dir, "mosquitto.conf");
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 10000",
        "set_tcp_nodelay true", // a deployed broker should set it too (README, DECISIONS H8)
        "",
      ].join("\n"),
    );
    // The broker is not the service: it does not take allocator tuning meant for the service
    // (MALLOC_MMAP_THRESHOLD_, opt-in, docs/DECISIONS.md H1; a broker under it mmaps every large
    // message, which tripled its CPU in the capacity bench).
    const { MALLOC_MMAP_THRESHOLD_: _svc, ...env } = process.env;
    const proc = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"], env });
    let stderr = "";
    proc.once("error", (e) => {
      stderr += e.message;
    });
    proc.stderr?.on("data", (d) => {
      stderr = (stderr + d).slice(-4000); // bounded: a broker runs for a whole bench
    });
    const ok = await waitForPort(port, proc, 5000);
    if (ok) {
      return {
        url: `mqtt://127.0.0.1:${port}`,
        port,
        proc,
        stop: () =>
          new Promise<void>((resolve) => {
            if (proc.exitCode !== null) return resolve();
            proc.once("exit", () => {
              rmSync(dir, { recursive: true, force: true });
              resolve();
            });
            proc.kill("SIGTERM");
          }),
      };
    }
    proc.kill("SIGKILL");
    if (attempt === 4) throw new Error(`mosquitto (${bin}) did not start: ${stderr.trim() || "no output"}`);
  }
  throw new Error("unreachable");
}

async function waitForPort(port: number, proc: ChildProcess, timeoutMs: number): Promise<boolean> {
  const { connect } = await import("node:net");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) return false;
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
