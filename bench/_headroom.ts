/**
 * Shared trial of the headroom benchmarks (capacity, soak): one service process (this one, with
 * `startService`, external broker: a real mosquitto when installed, else the embedded one) under N
 * nuScenes-like vehicles replayed by the load generator (bench/_loadgen.ts, another process).
 * Measures end-to-end latency (stamp of the last input a tick needs -> publish), shed ticks (fusion
 * busy), tick continuity, event-loop lag and resident memory.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { FusionMode } from "../src/fusion/types.ts";
import { loadRig } from "../src/rig/load.ts";
import { startService } from "../src/service.ts";
import { silentLogger } from "../src/util/log.ts";
import { startMosquitto } from "../test/helpers/mosquitto.ts";
import { median, p99 } from "./_stats.ts";
import { zeroDelay } from "./_loadgen.ts";

const LOADGEN = fileURLToPath(new URL("./_loadgen.ts", import.meta.url));
const MOSQUITTO = process.env.MOSQUITTO_BIN ?? "/usr/sbin/mosquitto";

export interface TrialResult {
  vehicles: number;
  fusion: FusionMode;
  frames: number;
  e2e_p50_ms: number;
  e2e_p99_ms: number;
  e2e_max_ms: number;
  /** Ticks shed because fusion was busy, during the window. */
  shed: number;
  /** Frames per vehicle per second over the reference rate. */
  tick_ratio: number;
  loop_lag_p99_ms: number;
  rss_start_mb: number;
  rss_end_mb: number;
  published: number;
  /** Stage breakdown, ms (p50 / p99 of each frame.latency stage). */
  stages: Record<string, { p50: number; p99: number }>;
  /** RSS samples over the window (soak), MB. */
  rss_mb: number[];
  /** Inside the engine (learned): p50 / p99 per stage over the window, ms (src/fusion/learned/batcher.ts). */
  engine: Record<string, { p50: number; p99: number }>;
  /** CPU over the window, % of one core: this process (service, all its threads) and the load generator. */
  cpu_service_pct: number;
  cpu_loadgen_pct: number;
  /** 1-minute load average at the end of the window (the machine is shared). */
  load_avg_1m: number;
}

/** CPU time of a process (utime + stime), s; NaN where /proc is not there. */
function procCpuS(pid: number | undefined): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ
  } catch {
    return Number.NaN;
  }
}

export interface Broker {
  url: string | undefined;
  name: string;
  stop(): Promise<void>;
}

export async function broker(): Promise<Broker> {
  if (existsSync(MOSQUITTO)) {
    const m = await startMosquitto();
    return { url: m.url, name: "mosquitto", stop: () => m.stop() };
  }
  return { url: undefined, name: "embedded", stop: async () => {} };
}

export function rigFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "bench-headroom-"));
  const file = join(dir, "nuscenes-zero-delay.json");
  writeFileSync(file, JSON.stringify(zeroDelay(loadRig("nuscenes"))));
  return file;
}

export async function trial(o: {
  brokerUrl: string | undefined;
  rigFile: string;
  fusion: FusionMode;
  vehicles: number;
  warmS: number;
  windowS: number;
  /** Sample RSS every this many seconds (soak). */
  rssEveryS?: number;
  log?: (line: string) => void;
}): Promise<TrialResult> {
  const rig = loadRig(o.rigFile);
  const svc = await startService({
    brokerUrl: o.brokerUrl,
    mqttPort: 0,
    rig,
    sim: false,
    fusion: o.fusion,
    http: null,
    logger: silentLogger,
    maxVehicles: Math.max(64, o.vehicles),
  });
  const refHz = rig.sensors.find((s) => s.id === rig.reference)!.rate_hz;
  const gen = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      LOADGEN,
      svc.brokerUrl,
      String(o.vehicles),
      String(o.warmS + o.windowS + 1),
      o.rigFile,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let genOut = "";
  gen.stdout!.on("data", (d) => {
    genOut += d;
  });
  while (!genOut.includes("ready")) {
    if (gen.exitCode !== null) throw new Error(`load generator exited: ${genOut}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const e2e: number[] = [];
  const stageVals: Record<string, number[]> = {};
  let counting = false;
  const sub = svc.frames$.subscribe((f) => {
    if (!counting) return;
    for (const l of f.latency) (stageVals[l.stage] ??= []).push(l.ms);
    const l = f.latency.find((x) => x.stage === "e2e");
    if (l) e2e.push(l.ms);
  });
  await new Promise((r) => setTimeout(r, o.warmS * 1000));
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const shed0 = svc.stats().fusionDrops;
  counting = true;
  global.gc?.();
  svc.engineTimes(true);
  const cpu0 = process.cpuUsage();
  const gen0 = procCpuS(gen.pid);
  const rss: number[] = [process.memoryUsage().rss / 2 ** 20];
  const t0 = performance.now();
  while (performance.now() - t0 < o.windowS * 1000) {
    await new Promise((r) =>
      setTimeout(
        r,
        Math.min(1000 * (o.rssEveryS ?? o.windowS), o.windowS * 1000 - (performance.now() - t0) + 1),
      ),
    );
    if (o.rssEveryS) {
      rss.push(process.memoryUsage().rss / 2 ** 20);
      o.log?.(
        `    t=${((performance.now() - t0) / 1000).toFixed(0)} s rss ${rss.at(-1)!.toFixed(0)} MB, frames ${e2e.length}, e2e p99 ${p99(e2e).toFixed(1)} ms`,
      );
    }
  }
  counting = false;
  lag.disable();
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const genCpu = procCpuS(gen.pid) - gen0;
  const engineTimes = Object.values(svc.engineTimes())[0] ?? {};
  const shed = svc.stats().fusionDrops - shed0;
  const rssEnd = process.memoryUsage().rss / 2 ** 20;
  if (!o.rssEveryS) rss.push(rssEnd);
  sub.unsubscribe();
  await new Promise((r) => (gen.exitCode !== null ? r(null) : gen.once("exit", r)));
  const published = Number(/"published":(\d+)/.exec(genOut)?.[1] ?? 0);
  await svc.stop();
  const stages: Record<string, { p50: number; p99: number }> = {};
  for (const [k, v] of Object.entries(stageVals)) stages[k] = { p50: median(v), p99: p99(v) };
  return {
    vehicles: o.vehicles,
    fusion: o.fusion,
    frames: e2e.length,
    e2e_p50_ms: median(e2e),
    e2e_p99_ms: p99(e2e),
    e2e_max_ms: e2e.length ? Math.max(...e2e) : Number.NaN,
    shed,
    tick_ratio: e2e.length / (o.vehicles * refHz * elapsedS),
    loop_lag_p99_ms: lag.percentile(99) / 1e6,
    rss_start_mb: rss[0]!,
    rss_end_mb: rssEnd,
    published,
    stages,
    rss_mb: rss,
    engine: Object.fromEntries(Object.entries(engineTimes).map(([k, v]) => [k, { p50: v.p50, p99: v.p99 }])),
    cpu_service_pct: ((cpu.user + cpu.system) / 1e6 / elapsedS) * 100,
    cpu_loadgen_pct: (genCpu / elapsedS) * 100,
    load_avg_1m: loadavg()[0]!,
  };
}

/** The capacity criterion: p99 e2e under 100 ms, no shed tick, >= 95 % of the expected ticks. */
export const sustains = (r: TrialResult) => r.e2e_p99_ms < 100 && r.shed === 0 && r.tick_ratio >= 0.95;
