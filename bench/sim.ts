/**
 * Benchmark `sim`: CPU to simulate one nuScenes-like vehicle in real time (no camera frames),
 * message rates achieved vs. configured, pacing lateness, payload sizes per sensor, and the
 * as-fast-as-possible throughput. Keys required by PRODUCT.md: cpu_pct_one_core, rate_error_pct_max.
 */
import { cpus, loadavg } from "node:os";
import type { BenchOptions } from "../src/cli/bench.ts";
import { loadRig } from "../src/rig/load.ts";
import { DEFAULT_SIM_OPTIONS, runSimulation, type SimEvent } from "../sim/index.ts";
import { startMosquitto } from "../harness/mosquitto.ts";
import { median, p99 } from "./_stats.ts";

interface RealTimeRun {
  cpuPct: number;
  /** |wall interval between consecutive reference-sensor messages - period|, p99, ms. */
  intervalJitterP99Ms: number;
  rateErrPctMax: number;
  latenessP99Ms: number;
  perSensor: Record<
    string,
    { configured_hz: number; achieved_hz: number; mean_bytes: number; max_bytes: number }
  >;
}

async function realTime(
  durationS: number,
  cameraFrames: boolean,
  publishTo?: (ev: SimEvent) => void,
): Promise<RealTimeRun> {
  const rig = loadRig("nuscenes");
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  const count = new Map<string, number>();
  const bytes = new Map<string, number>();
  const maxBytes = new Map<string, number>();
  const refTimes: number[] = [];
  // Warm-up is part of runSimulation (before its clock starts); measure CPU around the whole run.
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const run = runSimulation({
    ...DEFAULT_SIM_OPTIONS,
    rig,
    seed: 17,
    cameraFrames,
    rate: 1,
    durationS,
    publish: (ev) => {
      const id = ev.sensorId ?? "truth";
      const now = performance.now();
      if (!first.has(id)) first.set(id, now);
      if (id === rig.reference) refTimes.push(now);
      last.set(id, now);
      count.set(id, (count.get(id) ?? 0) + 1);
      bytes.set(id, (bytes.get(id) ?? 0) + ev.payload.byteLength);
      maxBytes.set(id, Math.max(maxBytes.get(id) ?? 0, ev.payload.byteLength));
      publishTo?.(ev);
    },
  });
  const stats = await run.done;
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - w0;
  const perSensor: RealTimeRun["perSensor"] = {};
  let rateErr = 0;
  for (const s of [
    ...rig.sensors.map((x) => ({ id: x.id, hz: x.rate_hz })),
    { id: "truth", hz: rig.sensors[0]!.rate_hz },
  ]) {
    const n = count.get(s.id) ?? 0;
    const span = ((last.get(s.id) ?? 0) - (first.get(s.id) ?? 0)) / 1000;
    const achieved = n > 1 && span > 0 ? (n - 1) / span : 0;
    rateErr = Math.max(rateErr, (Math.abs(achieved - s.hz) / s.hz) * 100);
    perSensor[s.id] = {
      configured_hz: s.hz,
      achieved_hz: Number(achieved.toFixed(3)),
      mean_bytes: Math.round((bytes.get(s.id) ?? 0) / Math.max(1, n)),
      max_bytes: maxBytes.get(s.id) ?? 0,
    };
  }
  const periodMs = 1000 / rig.sensors.find((s) => s.id === rig.reference)!.rate_hz;
  const dev = refTimes.slice(1).map((t, i) => Math.abs(t - refTimes[i]! - periodMs));
  return {
    intervalJitterP99Ms: p99(dev),
    cpuPct: ((c.user + c.system) / 1000 / wallMs) * 100,
    rateErrPctMax: rateErr,
    latenessP99Ms: stats.latenessMsP99,
    perSensor,
  };
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const reps = opts.quick ? 1 : 3;
  const durationS = opts.quick ? 4 : 10;
  // Discarded warm-up run: JIT-compiles every model so that the measured runs are steady state.
  await realTime(2, false);
  const load0 = loadavg()[0]!;
  const runs: RealTimeRun[] = [];
  for (let i = 0; i < reps; i++) runs.push(await realTime(durationS, false));
  const cpu = runs.map((r) => r.cpuPct);
  const err = runs.map((r) => r.rateErrPctMax);
  const late = runs.map((r) => r.latenessP99Ms);
  process.stdout.write(
    `  nuScenes-like, real time, no frames: cpu % per run ${cpu.map((x) => x.toFixed(1)).join(", ")}\n`,
  );

  // Same, with camera frames.
  const frames = await realTime(opts.quick ? 3 : 6, true);

  // Same, publishing to a real mosquitto (client-side CPU of this process).
  let mqttCpu = Number.NaN;
  let mqttRateErr = Number.NaN;
  try {
    const broker = await startMosquitto();
    const mqtt = (await import("mqtt")).default;
    const client = await mqtt.connectAsync(broker.url);
    const r = await realTime(opts.quick ? 3 : 6, false, (ev) => {
      client.publish(ev.topic, Buffer.from(ev.payload.buffer, ev.payload.byteOffset, ev.payload.byteLength), {
        qos: ev.qos,
      });
    });
    mqttCpu = r.cpuPct;
    mqttRateErr = r.rateErrPctMax;
    await client.endAsync();
    await broker.stop();
  } catch (e) {
    process.stdout.write(`  (mosquitto run skipped: ${(e as Error).message})\n`);
  }

  // As fast as possible: simulated seconds per wall second, one nuScenes-like vehicle.
  const fastS = opts.quick ? 5 : 20;
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  await runSimulation({
    ...DEFAULT_SIM_OPTIONS,
    rig: loadRig("nuscenes"),
    seed: 18,
    rate: 0,
    durationS: fastS,
    publish: () => {},
  }).done;
  const fastWall = (performance.now() - w0) / 1000;
  const fastCpu = process.cpuUsage(c0);

  return {
    cpu_pct_one_core: median(cpu),
    cpu_pct_one_core_p99: p99(cpu),
    rate_error_pct_max: Math.max(...err),
    rate_error_pct_median: median(err),
    lateness_ms_p99_median: median(late),
    lidar_interval_jitter_ms_p99_median: median(runs.map((r) => r.intervalJitterP99Ms)),
    cpu_pct_one_core_camera_frames: frames.cpuPct,
    cpu_pct_one_core_mqtt_mosquitto: mqttCpu,
    rate_error_pct_max_mqtt_mosquitto: mqttRateErr,
    as_fast_as_possible_rtf: fastS / fastWall,
    as_fast_as_possible_cpu_pct: ((fastCpu.user + fastCpu.system) / 1000 / (fastWall * 1000)) * 100,
    runs: reps,
    host_load_avg_1m: Number(load0.toFixed(2)),
    host_cpus: cpus().length,
    duration_s: durationS,
    per_sensor: runs[0]!.perSensor,
    per_sensor_camera_frames: Object.fromEntries(
      Object.entries(frames.perSensor).filter(([k]) => k.startsWith("CAM")),
    ),
  };
}
