/**
 * health: how quickly a lost sensor is noticed, whether the output keeps its rate while it is gone,
 * and how quickly a distribution change is flagged as drift.
 *
 * Three parts:
 *  1. live service (the headline figures): `startService` with the embedded broker and the built-in
 *     simulator dropping one sensor after another for 1 s each (lidar, radar, camera, gnss, imu, ...).
 *     For each drop: the sensor's age (now - last arrival) in the first HealthReport that shows it
 *     STALE = time from its last message to STALE (`stale_detect_ms_*`), and that minus the sensor's
 *     `stale_ms` (`stale_excess_ms_*`, target <= 50). Fused frames whose tick stamp falls inside the
 *     drop windows, over the ticks expected at the reference rate = `tick_continuity` (target 1).
 *  2. virtual time (deterministic, faster than real time): the I/O-free simulator core -> decode ->
 *     aligner (arrival clock) -> HealthMonitor, with the same kind of drops, evaluated (a) on every
 *     tick plus 1 Hz, as the wiring does, and (b) additionally at `nextDeadlineNs()`, as a timer
 *     would. Isolates the monitor's own detection delay from event-loop effects.
 *  3. drift: simulator traffic (highway scenario), then at t = 50 s (after the reference window) LiDAR
 *     intensities are scaled by 1.25 (a calibration change) or 30 % of the points vanish (occlusion).
 *     Delay from the change to a rising edge of `drift:<stat>` on that statistic (missed when it never
 *     rises within 30 s, e.g. because it was already raised); raises of any statistic before the change
 *     are false alarms.
 * Parts 2 and 3 drive the HealthMonitor directly, not the fleet runtime: part 2 compares two
 * evaluation policies, the runtime has one; part 3 needs no aligner (docs/DECISIONS.md D16).
 */
import { from, tap } from "rxjs";
import { DEFAULT_SIM_OPTIONS, Simulation } from "../sim/index.ts";
import { alignVehicle } from "../src/align/index.ts";
import type { AlignedTick } from "../src/align/types.ts";
import type { BenchOptions } from "../src/cli/bench.ts";
import { HealthMonitor } from "../src/health/index.ts";
import type { HealthSnapshot } from "../src/health/types.ts";
import { decodeGroundTruth, decodeSensorMessage } from "../src/msg/codec.ts";
import { topics } from "../src/msg/topics.ts";
import { type HealthReport, type SensorEnvelope, SensorState } from "../src/msg/types.ts";
import { loadRig } from "../src/rig/load.ts";
import type { RigConfig } from "../src/rig/schema.ts";
import { median, p99 } from "./_stats.ts";

const S = 1e9;
const MS = 1e6;
const START_NS = 1.7e18;

interface Drop {
  sensor: string;
  startS: number;
  endS: number;
}

function dropSchedule(rig: RigConfig, n: number, firstS: number, everyS: number, lenS: number): Drop[] {
  const order = rig.sensors.map((s) => s.id);
  return Array.from({ length: n }, (_, k) => ({
    sensor: order[k % order.length]!,
    startS: firstS + k * everyS,
    endS: firstS + k * everyS + lenS,
  }));
}
const faultString = (drops: Drop[]) =>
  drops.map((d) => `${d.sensor}:drop@${d.startS}s+${Math.round((d.endS - d.startS) * 1000)}ms`).join(",");

/** Ticks with stamps inside the drop windows, over the ticks expected at the reference rate. */
function continuity(tickStampsS: number[], drops: Drop[], refHz: number): number {
  let expected = 0;
  let got = 0;
  for (const d of drops) {
    expected += Math.round((d.endS - d.startS) * refHz);
    got += Math.min(
      Math.round((d.endS - d.startS) * refHz),
      tickStampsS.filter((t) => t >= d.startS && t < d.endS).length,
    );
  }
  return expected ? got / expected : Number.NaN;
}

/** Age at the first STALE state of each drop, from a stream of (time, sensors) observations. */
function staleAges(
  drops: Drop[],
  obs: { tS: number; sensors: { sensorId: string; state: number; ageMs: number }[] }[],
  rig: RigConfig,
): { ageMs: number[]; excessMs: number[]; missed: number } {
  const ageMs: number[] = [];
  const excessMs: number[] = [];
  let missed = 0;
  for (const d of drops) {
    const staleMs = rig.sensors.find((s) => s.id === d.sensor)!.stale_ms;
    const hit = obs.find(
      (o) =>
        o.tS >= d.startS &&
        o.tS < d.endS + 0.5 &&
        (o.sensors.find((s) => s.sensorId === d.sensor)?.state ?? 0) >= SensorState.STALE,
    );
    if (!hit) {
      missed++;
      continue;
    }
    const age = hit.sensors.find((s) => s.sensorId === d.sensor)!.ageMs;
    if (process.env.BENCH_HEALTH_DEBUG)
      process.stdout.write(
        `    ${d.sensor} drop@${d.startS}s: STALE at ${hit.tS.toFixed(3)} s, age ${age.toFixed(1)} ms\n`,
      );
    ageMs.push(age);
    excessMs.push(age - staleMs);
  }
  return { ageMs, excessMs, missed };
}

// ------------------------------------------------------------------------------------------------
// 1. live service
// ------------------------------------------------------------------------------------------------

async function liveRun(rig: RigConfig, drops: Drop[], endS: number) {
  const [{ startService }, { embeddedSim }, mqtt, { createLogger }] = await Promise.all([
    import("../src/service.ts"),
    import("../src/cli/embedded-sim.ts"),
    import("mqtt"),
    import("../src/util/log.ts"),
  ]);
  const svc = await startService({
    mqttPort: 0,
    rig,
    sim: embeddedSim({ faults: faultString(drops), seed: 11, rate: 1 }),
    fusion: "classical",
    http: null,
    instance: "bench-health",
    logger: createLogger({ level: "error" }),
  });
  const reports: HealthReport[] = [];
  const tickStamps: number[] = [];
  svc.health$.subscribe((h) => reports.push(h));
  svc.frames$.subscribe((f) => tickStamps.push(f.stampNs));
  const client = await mqtt.default.connectAsync(svc.brokerUrl, { reconnectPeriod: 0 });
  let simT0 = Number.NaN;
  let lastTruthS = 0;
  client.on("message", (_t, payload) => {
    const g = decodeGroundTruth(payload);
    if (!g.ok) return;
    if (Number.isNaN(simT0)) simT0 = g.value.stampNs - (g.value.seq + 1) * (S / refRate(rig));
    lastTruthS = (g.value.stampNs - simT0) / S;
  });
  await client.subscribeAsync(topics.truth("sim-1"), { qos: 0 });
  const deadline = performance.now() + (endS + 30) * 1000;
  while (lastTruthS < endS && performance.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await client.endAsync(true);
  await svc.stop();
  const obs = reports.map((r) => ({ tS: (r.stampNs - simT0) / S, sensors: r.sensors }));
  return {
    ...staleAges(drops, obs, rig),
    continuity: continuity(
      tickStamps.map((t) => (t - simT0) / S),
      drops,
      refRate(rig),
    ),
  };
}

const refRate = (rig: RigConfig) => rig.sensors.find((s) => s.id === rig.reference)!.rate_hz;

// ------------------------------------------------------------------------------------------------
// 2. virtual time
// ------------------------------------------------------------------------------------------------

function* simEnvelopes(
  rig: RigConfig,
  opts: { seed: number; faults: string; endS: number; scenario?: "urban" | "highway" | "intersection" },
  mutate?: (env: SensorEnvelope, tS: number) => void,
): Generator<SensorEnvelope> {
  const sim = new Simulation({
    ...DEFAULT_SIM_OPTIONS,
    rig,
    seed: opts.seed,
    faults: opts.faults,
    scenario: opts.scenario ?? DEFAULT_SIM_OPTIONS.scenario,
    startNs: START_NS,
  });
  const end = START_NS + opts.endS * S;
  for (;;) {
    if (sim.peekSendNs() > end) return;
    const ev = sim.next();
    if (!ev) return;
    if (!ev.sensorId) continue;
    const r = decodeSensorMessage(ev.payload);
    if (!r.ok) continue;
    const env: SensorEnvelope = { msg: r.value, arrivalNs: ev.sendNs, bytes: ev.payload.byteLength };
    mutate?.(env, (ev.sendNs - START_NS) / S);
    yield env;
  }
}

function virtualRun(rig: RigConfig, drops: Drop[], endS: number, seed: number) {
  const tickOnly = new HealthMonitor("sim-1", rig);
  const withTimer = new HealthMonitor("sim-1", rig);
  const obsTick: { tS: number; sensors: HealthSnapshot["sensors"] }[] = [];
  const obsTimer: { tS: number; sensors: HealthSnapshot["sensors"] }[] = [];
  const tickStamps: number[] = [];
  const evalUs: number[] = [];
  const msgUs: number[] = [];
  let nextSecond = START_NS + S;
  const rel = (ns: number) => (ns - START_NS) / S;
  const evaluate = (m: HealthMonitor, at: number, obs: typeof obsTick) => {
    const snap = m.evaluate(at);
    obs.push({ tS: rel(at), sensors: snap.sensors });
  };
  from(simEnvelopes(rig, { seed, faults: faultString(drops), endS }))
    .pipe(
      tap((env) => {
        const t = env.arrivalNs;
        // the wiring's 1 Hz report timer, and (withTimer only) a timer at the next stale deadline
        while (nextSecond <= t) {
          evaluate(tickOnly, nextSecond, obsTick);
          evaluate(withTimer, nextSecond, obsTimer);
          nextSecond += S;
        }
        for (let d = withTimer.nextDeadlineNs(); d <= t; d = withTimer.nextDeadlineNs())
          evaluate(withTimer, d, obsTimer);
        const t0 = performance.now();
        tickOnly.onMessage(env);
        msgUs.push((performance.now() - t0) * 1000);
        withTimer.onMessage(env);
      }),
      alignVehicle(rig, { vehicle: "sim-1", clock: "arrival" }),
    )
    .subscribe((tick: AlignedTick) => {
      tickStamps.push(rel(tick.stampNs));
      const t0 = performance.now();
      tickOnly.onTick(tick);
      evaluate(tickOnly, tick.emittedNs, obsTick);
      evalUs.push((performance.now() - t0) * 1000);
      withTimer.onTick(tick);
      evaluate(withTimer, tick.emittedNs, obsTimer);
    });
  // cost of one evaluation in steady state (all sensors fresh), isolated from the simulator's garbage
  const probe = new HealthMonitor("sim-1", rig);
  const probeEnvs = [...simEnvelopes(rig, { seed, faults: "", endS: 3 })];
  for (const e of probeEnvs) probe.onMessage(e);
  const tProbe = probeEnvs.at(-1)!.arrivalNs;
  const probeUs: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const t0 = performance.now();
    probe.evaluate(tProbe + i * 1000);
    probeUs.push((performance.now() - t0) * 1000);
  }
  return {
    probeUs,
    tick: staleAges(drops, obsTick, rig),
    timer: staleAges(drops, obsTimer, rig),
    continuity: continuity(tickStamps, drops, refRate(rig)),
    evalUs,
    msgUs,
  };
}

// ------------------------------------------------------------------------------------------------
// 3. drift
// ------------------------------------------------------------------------------------------------

type Change = "intensity" | "points";

function driftRun(rig: RigConfig, change: Change, seed: number, changeS: number, endS: number) {
  const mon = new HealthMonitor("sim-1", rig);
  const lidar = rig.sensors.find((s) => s.kind === "lidar")!.id;
  const stat = change === "intensity" ? "intensity" : "points";
  let detectedS = Number.NaN;
  let falseAlarms = 0;
  const raised = new Set<string>();
  let nextEval = START_NS + 100 * MS;
  const check = (at: number) => {
    const snap = mon.evaluate(at);
    const tS = (at - START_NS) / S;
    for (const d of snap.drift) {
      const key = `${d.subject}.${d.stat}`;
      if (d.drifting && !raised.has(key)) {
        raised.add(key);
        if (tS < changeS) falseAlarms++;
        else if (d.subject === lidar && d.stat === stat && Number.isNaN(detectedS)) detectedS = tS - changeS;
      }
      if (!d.drifting) raised.delete(key);
    }
  };
  // highway: the least scene-driven variation of the simulator's scenarios (docs/health.md, known limits)
  for (const env of simEnvelopes(rig, { seed, faults: "", endS, scenario: "highway" }, (e, tS) => {
    if (tS < changeS || e.msg.payload.kind !== "point_cloud") return;
    const p = e.msg.payload.points;
    if (change === "points") {
      const keep = Math.floor(p.count * 0.7);
      e.msg.payload.points = { ...p, count: keep, data: p.data.subarray(0, keep * p.stride) };
    } else {
      const fi = p.fields["intensity"];
      if (fi !== undefined) for (let i = 0; i < p.count; i++) p.data[i * p.stride + fi]! *= 1.25;
    }
  })) {
    while (nextEval <= env.arrivalNs) {
      check(nextEval);
      nextEval += 100 * MS;
    }
    mon.onMessage(env);
    if (!Number.isNaN(detectedS)) break;
  }
  return { delayS: detectedS, falseAlarms };
}

// ------------------------------------------------------------------------------------------------

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const rig = loadRig("sim");
  const out: Record<string, unknown> = {};

  // 2. virtual
  const vDrops = dropSchedule(rig, opts.quick ? 10 : 30, 3, 2, 1);
  const vEnd = vDrops.at(-1)!.endS + 2;
  const v = virtualRun(rig, vDrops, vEnd, 3);
  out["virtual_stale_excess_ms_p99_tick_eval"] = p99(v.tick.excessMs);
  out["virtual_stale_excess_ms_p99_deadline_timer"] = p99(v.timer.excessMs);
  out["virtual_stale_detect_ms_p99_deadline_timer"] = p99(v.timer.ageMs);
  out["virtual_stale_missed"] = v.tick.missed + v.timer.missed;
  out["virtual_tick_continuity"] = v.continuity;
  out["evaluate_us_p50"] = median(v.probeUs);
  out["evaluate_us_p99"] = p99(v.probeUs);
  // onTick + evaluate inside the running pipeline, after 50 warm-up ticks; includes GC pauses of the
  // simulator and aligner that happen to land in it
  out["tick_health_us_p50_in_pipeline"] = median(v.evalUs.slice(50));
  out["tick_health_us_p99_in_pipeline"] = p99(v.evalUs.slice(50));
  out["on_message_us_p99"] = p99(v.msgUs);
  out["virtual_drops"] = vDrops.length;
  process.stdout.write(`  virtual: ${vDrops.length} drops over ${vEnd} s simulated\n`);

  // 3. drift (the reference window needs drift_reference_n samples: 30 s of a 10 Hz LiDAR)
  const changes: Change[] = opts.quick ? ["intensity"] : ["intensity", "points"];
  const seeds = opts.quick ? [1] : [1, 2];
  const changeS = Math.ceil((rig.health.drift_reference_n + rig.health.drift_window_n) / refRate(rig)) + 5;
  for (const c of changes) {
    const delays: number[] = [];
    let fa = 0;
    for (const seed of seeds) {
      const r = driftRun(rig, c, seed, changeS, changeS + 30);
      if (!Number.isNaN(r.delayS)) delays.push(r.delayS);
      fa += r.falseAlarms;
    }
    out[`drift_delay_s_${c}_p50`] = delays.length ? median(delays) : Number.NaN;
    out[`drift_delay_s_${c}_max`] = delays.length ? Math.max(...delays) : Number.NaN;
    out[`drift_missed_${c}`] = seeds.length - delays.length;
    out[`drift_false_alarms_${c}_runs`] = fa;
  }
  out["drift_detect_delay_s"] = out["drift_delay_s_intensity_p50"];
  process.stdout.write(`  drift: change at ${changeS} s, ${seeds.length} seed(s) x ${changes.join(", ")}\n`);

  // 1. live service (headline)
  const lDrops = dropSchedule(rig, opts.quick ? 5 : 10, 4, 2.5, 1);
  const lEnd = lDrops.at(-1)!.endS + 1.5;
  const live = await liveRun(rig, lDrops, lEnd);
  out["stale_detect_ms_p50"] = median(live.ageMs);
  out["stale_detect_ms_p99"] = p99(live.ageMs);
  out["stale_excess_ms_p50"] = median(live.excessMs);
  out["stale_excess_ms_p99"] = p99(live.excessMs);
  out["stale_missed"] = live.missed;
  out["tick_continuity"] = live.continuity;
  out["live_drops"] = lDrops.length;
  out["stale_ms_by_sensor"] = Object.fromEntries(rig.sensors.map((s) => [s.id, s.stale_ms]));
  process.stdout.write(`  live: ${lDrops.length} drops over ${lEnd} s real time\n`);
  return out;
}
