/**
 * Shared trial of the headroom benchmarks (capacity, soak): one service process (this one, with
 * `startService`, external broker: a real mosquitto when installed, else the embedded one) under N
 * nuScenes-like vehicles replayed by the load generator (bench/_loadgen.ts, another process).
 * Measures end-to-end latency (stamp of the last input a tick needs -> publish), shed ticks (fusion
 * busy), tick continuity, event-loop lag and resident memory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { FusionMode } from "../src/fusion/types.ts";
import { loadRig } from "../src/rig/load.ts";
import type { RigConfig } from "../src/rig/schema.ts";
import { startService } from "../src/service.ts";
import { silentLogger } from "../src/util/log.ts";
import { startMosquitto } from "../harness/mosquitto.ts";
import { findProgram } from "../harness/programs.ts";
import { Histogram } from "./_stats.ts";
import { zeroDelay } from "./_loadgen.ts";

const LOADGEN = fileURLToPath(new URL("./_loadgen.ts", import.meta.url));

export interface TrialResult {
  vehicles: number;
  fusion: FusionMode;
  frames: number;
  e2e_p50_ms: number;
  e2e_p99_ms: number;
  e2e_max_ms: number;
  /**
   * Learned engines: share of the window's frames the OOD guard served with the classical engine
   * (a capacity figure of the learned engine means little when this is not 0). Absent for classical.
   */
  classical_served_frac?: number;
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
  /** Memory samples over the window (soak): seconds into the window and process.memoryUsage() in MB. */
  mem: {
    t_s: number;
    rss: number;
    heap_used: number;
    heap_total: number;
    external: number;
    array_buffers: number;
  }[];
  /** Inside the engine (learned): p50 / p99 per stage over the window, ms (src/fusion/learned/batcher.ts). */
  engine: Record<string, { p50: number; p99: number }>;
  /** CPU over the window, % of one core: this process (service, all its threads) and the load generator. */
  cpu_service_pct: number;
  cpu_loadgen_pct: number;
  /** 1-minute load average at the end of the window (the machine is shared). */
  load_avg_1m: number;
}

/**
 * The load generator stands for the vehicles, not the service: it does not take the service's
 * allocator tuning (MALLOC_MMAP_THRESHOLD_ where a run sets it for the service in this process, H1).
 */
function loadgenEnv(): NodeJS.ProcessEnv {
  const { MALLOC_MMAP_THRESHOLD_: _svc, ...env } = process.env;
  return env;
}

/**
 * The load generator (bench/_loadgen.ts) as a child process publishing `vehicles` nuScenes-like
 * vehicles (ids load-1..load-N) for `seconds`, resolved once it has encoded its messages and is
 * about to publish. `output()` is what it printed so far (its last line: what it published).
 */
export async function startLoad(
  brokerUrl: string,
  vehicles: number,
  seconds: number,
  rigFile: string,
): Promise<{ gen: ChildProcess; output: () => string }> {
  const gen = spawn(
    process.execPath,
    ["--import", "tsx", LOADGEN, brokerUrl, String(vehicles), String(seconds), rigFile],
    { stdio: ["ignore", "pipe", "inherit"], env: loadgenEnv() },
  );
  let out = "";
  gen.stdout!.on("data", (d) => {
    out += d;
  });
  while (!out.includes("ready")) {
    if (gen.exitCode !== null) throw new Error(`load generator exited: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { gen, output: () => out };
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
  if (findProgram("mosquitto")) {
    const m = await startMosquitto();
    return { url: m.url, name: "mosquitto", stop: () => m.stop() };
  }
  return { url: undefined, name: "embedded", stop: async () => {} };
}

/**
 * The load's rig: nuScenes, no transport delay, and the simulator's `basic` profile, which every
 * headroom figure so far was measured on. The nuScenes rig now defaults to the `realistic` profile
 * (issue 16: scene clutter, ~10x the radar returns), on which the sim-trained models' guard serves
 * the classical engine, so a "learned" run would measure both engines rather than the model.
 */
export function headroomRig(): RigConfig {
  return { ...zeroDelay(loadRig("nuscenes")), simulation: { profile: "basic" } };
}

export function rigFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "bench-headroom-"));
  const file = join(dir, "nuscenes-zero-delay.json");
  writeFileSync(file, JSON.stringify(headroomRig()));
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
  const { gen, output: genOut } = await startLoad(
    svc.brokerUrl,
    o.vehicles,
    o.warmS + o.windowS + 1,
    o.rigFile,
  );
  const e2e = new Histogram();
  const stageVals: Record<string, Histogram> = {};
  let counting = false;
  let guarded = 0;
  let classicalServed = 0;
  const sub = svc.frames$.subscribe((f) => {
    if (!counting) return;
    if (f.guard) {
      guarded++;
      if (f.guard.served === "classical") classicalServed++;
    }
    for (const l of f.latency) (stageVals[l.stage] ??= new Histogram()).add(l.ms);
    const l = f.latency.find((x) => x.stage === "e2e");
    if (l) e2e.add(l.ms);
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
  const MB = 2 ** 20;
  const mem: TrialResult["mem"] = [];
  const sample = (t: number) => {
    const m = process.memoryUsage();
    mem.push({
      t_s: Math.round(t),
      rss: m.rss / MB,
      heap_used: m.heapUsed / MB,
      heap_total: m.heapTotal / MB,
      external: m.external / MB,
      array_buffers: m.arrayBuffers / MB,
    });
    return m.rss / MB;
  };
  const rss: number[] = [sample(0)];
  const t0 = performance.now();
  while (performance.now() - t0 < o.windowS * 1000) {
    await new Promise((r) =>
      setTimeout(
        r,
        Math.min(1000 * (o.rssEveryS ?? o.windowS), o.windowS * 1000 - (performance.now() - t0) + 1),
      ),
    );
    if (o.rssEveryS) {
      const t = (performance.now() - t0) / 1000;
      rss.push(sample(t));
      const m = mem.at(-1)!;
      o.log?.(
        `    t=${t.toFixed(0)} s rss ${m.rss.toFixed(0)} MB (heap ${m.heap_used.toFixed(0)}/${m.heap_total.toFixed(0)}, external ${m.external.toFixed(0)}), frames ${e2e.count}, e2e p99 ${e2e.quantile(0.99).toFixed(1)} ms`,
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
  const published = Number(/"published":(\d+)/.exec(genOut())?.[1] ?? 0);
  await svc.stop();
  const stages: Record<string, { p50: number; p99: number }> = {};
  for (const [k, v] of Object.entries(stageVals)) stages[k] = { p50: v.quantile(0.5), p99: v.quantile(0.99) };
  return {
    vehicles: o.vehicles,
    fusion: o.fusion,
    frames: e2e.count,
    e2e_p50_ms: e2e.quantile(0.5),
    e2e_p99_ms: e2e.quantile(0.99),
    e2e_max_ms: e2e.count ? e2e.max : Number.NaN,
    ...(guarded ? { classical_served_frac: classicalServed / guarded } : {}),
    shed,
    tick_ratio: e2e.count / (o.vehicles * refHz * elapsedS),
    loop_lag_p99_ms: lag.percentile(99) / 1e6,
    rss_start_mb: rss[0]!,
    rss_end_mb: rssEnd,
    published,
    stages,
    rss_mb: rss,
    mem,
    engine: Object.fromEntries(Object.entries(engineTimes).map(([k, v]) => [k, { p50: v.p50, p99: v.p99 }])),
    cpu_service_pct: ((cpu.user + cpu.system) / 1e6 / elapsedS) * 100,
    cpu_loadgen_pct: (genCpu / elapsedS) * 100,
    load_avg_1m: loadavg()[0]!,
  };
}

/** The capacity criterion: p99 e2e under 100 ms, no shed tick, >= 95 % of the expected ticks. */
export const sustains = (r: TrialResult) => r.e2e_p99_ms < 100 && r.shed === 0 && r.tick_ratio >= 0.95;
