/**
 * e2e: latency from the sensor stamp of the last input a tick needs to the FusedFrame publish,
 * for one nuScenes-like vehicle, through the embedded broker (aedes) and through a real mosquitto.
 * The vehicle is the load generator of the headroom benches (bench/_loadgen.ts: the simulator's
 * traffic for the rig, pre-encoded, stamped at publish time), so the publisher costs little, as
 * issue 18 asks of these benches; until 2026-12-06 it was the simulator running in real time in
 * another process, whose CPU competed with the service's on this 2-core machine (DECISIONS H11).
 * The modelled transport delays are 0, so the figure is the service's own latency (decode, align
 * wait, health, fusion, publish). Also the stamp -> receive latency seen by an MQTT subscriber (one
 * more broker hop).
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchOptions } from "../src/cli/bench.ts";
import { defaultModelPath } from "../src/fusion/learned/index.ts";
import type { FusionMode } from "../src/fusion/types.ts";
import { decodeFusedFrame } from "../src/msg/codec.ts";
import { topics } from "../src/msg/topics.ts";
import { loadRig } from "../src/rig/load.ts";
import { headroomRig, startLoad } from "./_headroom.ts";
import { startService } from "../src/service.ts";
import { silentLogger } from "../src/util/log.ts";
import { startMosquitto } from "../harness/mosquitto.ts";
import { Collector } from "../harness/mqtt-collect.ts";
import { median, p99 } from "./_stats.ts";

/** The load generator's vehicle id. */
const VEHICLE = "load-1";

async function once(rigFile: string, fusion: FusionMode, brokerUrl: string | undefined, seconds: number) {
  const svc = await startService({
    brokerUrl,
    mqttPort: 0,
    rig: loadRig(rigFile),
    sim: false,
    fusion,
    http: null,
    logger: silentLogger,
  });
  // The sensors are another process, as on a vehicle.
  const { gen } = await startLoad(svc.brokerUrl, 1, seconds + 5, rigFile);
  const col = await Collector.connect(svc.brokerUrl, [topics.fused(VEHICLE)]);
  const e2e: number[] = [];
  /** The service's own part: last input arrival to publish (align wait after it, health, fusion, publish). */
  const service: number[] = [];
  /** Where the time goes: each frame.latency stage (align wait, health, fusion, publish, e2e). */
  const stages: Record<string, number[]> = {};
  const sub = svc.frames$.subscribe((f) => {
    for (const x of f.latency) (stages[x.stage] ??= []).push(x.ms);
    const l = f.latency.find((x) => x.stage === "e2e");
    if (l) e2e.push(l.ms);
    let own = 0;
    for (const x of f.latency) if (x.stage !== "e2e") own += x.ms;
    service.push(own);
  });
  await new Promise((r) => setTimeout(r, 3000)); // start-up and warm-up, discarded
  e2e.length = 0;
  service.length = 0;
  for (const k of Object.keys(stages)) delete stages[k];
  svc.engineTimes(true);
  const since = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const recv: number[] = [];
  for (const m of col.on(topics.fused(VEHICLE))) {
    if (m.atMs < since) continue;
    const d = decodeFusedFrame(m.payload);
    if (!d.ok) continue;
    const stamps = d.value.sensors
      .filter((s) => s.used && s.ageMs >= 0)
      .map((s) => d.value.stampNs - s.ageMs * 1e6);
    const last = stamps.length ? Math.max(...stamps) : d.value.stampNs;
    recv.push(((performance.timeOrigin + m.atMs) * 1e6 - last) / 1e6);
  }
  const stats = svc.stats();
  // inside the learned engine: prepare (rasterize + LiDAR clusters), wait, run (model + transfer), post
  const engine = Object.values(svc.engineTimes())[0] ?? {};
  sub.unsubscribe();
  if (gen.exitCode === null) {
    gen.kill("SIGTERM");
    await new Promise((r) => gen.once("exit", r));
  }
  await col.close();
  await svc.stop();
  return { e2e, service, recv, stages, engine, ticks: stats.ticks, fusionDrops: stats.fusionDrops };
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  // no transport delay, the basic simulation profile (as every e2e figure so far)
  const rig = headroomRig();
  const dir = mkdtempSync(join(tmpdir(), "bench-e2e-"));
  const rigFile = join(dir, "nuscenes-zero-delay.json");
  writeFileSync(rigFile, JSON.stringify(rig));
  const seconds = opts.quick ? 5 : 12;
  const reps = opts.quick ? 1 : 3;
  const modes: FusionMode[] = ["classical"];
  if (existsSync(defaultModelPath("intermediate"))) modes.push("intermediate");
  const out: Record<string, unknown> = {
    rig: rig.name,
    publisher: "load generator (bench/_loadgen.ts)",
    seconds_per_run: seconds,
    runs: reps,
  };
  const mosq = await startMosquitto();
  try {
    for (const mode of modes) {
      for (const [broker, url] of [
        ["embedded", undefined],
        ["mosquitto", mosq.url],
      ] as const) {
        const p50s: number[] = [];
        const p99s: number[] = [];
        const maxes: number[] = [];
        const recvP50: number[] = [];
        const serviceP50: number[] = [];
        const serviceP99: number[] = [];
        let drops = 0;
        const stageP50: Record<string, number[]> = {};
        const stageP99: Record<string, number[]> = {};
        const engP50: Record<string, number[]> = {};
        const engP99: Record<string, number[]> = {};
        for (let i = 0; i < reps; i++) {
          const r = await once(rigFile, mode, url, seconds);
          for (const [k, v] of Object.entries(r.engine)) {
            (engP50[k] ??= []).push(v.p50);
            (engP99[k] ??= []).push(v.p99);
          }
          for (const [k, v] of Object.entries(r.stages)) {
            (stageP50[k] ??= []).push(median(v));
            (stageP99[k] ??= []).push(p99(v));
          }
          p50s.push(median(r.e2e));
          p99s.push(p99(r.e2e));
          maxes.push(Math.max(...r.e2e));
          recvP50.push(median(r.recv));
          serviceP50.push(median(r.service));
          serviceP99.push(p99(r.service));
          drops += r.fusionDrops;
          process.stdout.write(
            `  ${mode}/${broker} run ${i + 1}: p50 ${median(r.e2e).toFixed(2)} ms, p99 ${p99(r.e2e).toFixed(2)} ms, max ${Math.max(...r.e2e).toFixed(2)} ms, ${r.e2e.length} frames, recv p50 ${median(r.recv).toFixed(2)} ms, load ${loadavg()[0]!.toFixed(1)}\n`,
          );
        }
        const prefix = broker === "embedded" ? "" : "mosquitto_";
        const res = {
          p50_ms: median(p50s),
          p99_ms: median(p99s),
          max_ms: Math.max(...maxes),
          recv_p50_ms: median(recvP50),
          service_p50_ms: median(serviceP50),
          service_p99_ms: median(serviceP99),
          fusion_drops: drops,
          // e2e = (last input stamp -> its arrival: transport + broker + decode) + align wait + health
          // + fusion + publish; the first part is e2e minus the service's stages.
          ...Object.fromEntries(
            Object.keys(stageP50).flatMap((k) => [
              [`stage_${k}_p50_ms`, median(stageP50[k]!)],
              [`stage_${k}_p99_ms`, median(stageP99[k]!)],
            ]),
          ),
          stage_transport_p50_ms: median(p50s) - median(serviceP50),
          ...Object.fromEntries(
            Object.keys(engP50).flatMap((k) => [
              [`engine_${k}_p50_ms`, median(engP50[k]!)],
              [`engine_${k}_p99_ms`, median(engP99[k]!)],
            ]),
          ),
          load_avg_1m: loadavg()[0],
        };
        if (mode === "classical") for (const [k, v] of Object.entries(res)) out[`${prefix}${k}`] = v;
        else for (const [k, v] of Object.entries(res)) out[`${mode}_${prefix}${k}`] = v;
      }
    }
  } finally {
    await mosq.stop();
  }
  return out;
}
