/**
 * Acceptance of issue 6 (health monitor and graceful degradation): the whole service with the
 * built-in simulator injecting faults, on a real mosquitto. One run, one fault timeline (sim time;
 * the first seconds are left to start-up transients):
 *
 *   6-11 s     LiDAR dropped            -> STALE within stale_ms + one period, frames keep coming,
 *                                         mode DEGRADED, back to OK after recovery and a dwell
 *   14-17 s    GNSS outage              -> localisation degraded
 *   19-22 s    LiDAR payload frozen     -> DEGRADED with reason frozen, masked from fusion
 *   24-27 s    radar clock +3 s         -> clock skew flagged
 *   30-34 s    LiDAR flapping at 2 Hz   -> at most one state change per dwell
 *   36.5-38.5  all perception dropped   -> SAFE_STOP, frames still coming
 *
 * Timing bounds are generous (a shared 2-core CI machine); the benchmark measures the real figures.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import mqtt from "mqtt";
import { decodeGroundTruth, decodeHealthReport } from "../../src/msg/codec.ts";
import { topics } from "../../src/msg/topics.ts";
import {
  type FusedFrame,
  type HealthReport,
  SENSOR_STATE_NAMES,
  SensorState,
  SystemMode,
} from "../../src/msg/types.ts";
import { embeddedSim } from "../../src/cli/embedded-sim.ts";
import { loadRig } from "../../src/rig/load.ts";
import { type Service, startService } from "../../src/service.ts";
import { wallNs } from "../../src/util/clock.ts";
import { createLogger } from "../../src/util/log.ts";
import { type Mosquitto, startMosquitto } from "../../harness/mosquitto.ts";
import { Collector } from "../../harness/mqtt-collect.ts";
import { needs } from "../../harness/programs.ts";

const S = 1e9;
const MS = 1e6;
const VEHICLE = "sim-1";
const rig = loadRig("sim");
const lidar = rig.sensors.find((s) => s.id === "lidar")!;
const LIDAR_PERIOD_S = 1 / lidar.rate_hz;
const STALE_S = lidar.stale_ms / 1000;
const DWELL_S = rig.health.dwell_ms / 1000;
/** Slack for a loaded 2-core machine on top of every timing bound. */
const SLACK_S = 1.0;
const END_S = 39;
/** Reasons that say the service itself lags (an overloaded machine), not that the sensor is at fault. */
const LOAD_REASONS = new Set(["latency", "jitter", "rate_low", "rate_high", "drops", "recovering"]);

const flapping = Array.from({ length: 8 }, (_, i) => `lidar:drop@${30 + i * 0.5}s+250ms`);
const FAULTS = [
  "lidar:drop@6s+5s",
  "gnss:outage@14s+3s",
  "lidar:freeze@19s+3s",
  "radar_front:clock=3000@24s+3s",
  ...flapping,
  "lidar:drop@36.5s+2s",
  "radar:drop@36.5s+2s",
  "camera:drop@36.5s+2s",
].join(",");

interface Seen<T> {
  v: T;
  /** Processing time when the service emitted it, ns. */
  atNs: number;
}

describe("health acceptance: simulator faults through the service on a real mosquitto", {
  skip: needs("mosquitto"),
}, () => {
  let broker: Mosquitto;
  let svc: Service;
  let col: Collector;
  const frames: Seen<FusedFrame>[] = [];
  const reports: Seen<HealthReport>[] = [];
  const logLines: string[] = [];
  /** Sim time zero on the wall clock (ns), from the first ground truth. */
  let simT0 = 0;
  const simS = (ns: number) => (ns - simT0) / S;
  const between = <T>(xs: Seen<T>[], fromS: number, toS: number) =>
    xs.filter((x) => simS(x.atNs) >= fromS && simS(x.atNs) < toS);
  const lidarState = (r: HealthReport) => r.sensors.find((s) => s.sensorId === "lidar")!;

  before(async () => {
    broker = await startMosquitto();
    col = await Collector.connect(broker.url, [topics.truth(VEHICLE)]);
    svc = await startService({
      brokerUrl: broker.url,
      rig,
      sim: embeddedSim({ faults: FAULTS, seed: 5, rate: 1 }),
      fusion: "classical",
      http: null,
      instance: "health-acceptance",
      logger: createLogger({ write: (l) => logLines.push(l), level: "info" }),
    });
    svc.frames$.subscribe((f) => frames.push({ v: f, atNs: wallNs() }));
    svc.health$.subscribe((h) => reports.push({ v: h, atNs: wallNs() }));
    await col.until(() => col.messages.length > 0, 10_000, "first ground truth");
    const g = decodeGroundTruth(col.messages[0]!.payload);
    assert.ok(g.ok);
    simT0 = g.value.stampNs - (g.value.seq + 1) * (S / lidar.rate_hz);
    await col.until(
      () => {
        const last = col.messages.at(-1);
        if (!last) return false;
        const r = decodeGroundTruth(last.payload);
        return r.ok && simS(r.value.stampNs) >= END_S;
      },
      (END_S + 20) * 1000,
      "end of the fault timeline",
    );
  });

  after(async () => {
    await svc?.stop();
    await col?.close();
    await broker?.stop();
    if (process.env.HEALTH_ACCEPTANCE_LOG) process.stderr.write(logLines.join(""));
  });

  const sensorOf = (r: HealthReport, id: string) => r.sensors.find((s) => s.sensorId === id)!;
  /** Reports by evaluation time (their stamp: processing time of the evaluation). */
  const reportsIn = (fromS: number, toS: number) =>
    reports.filter((r) => simS(r.v.stampNs) >= fromS && simS(r.v.stampNs) < toS).map((r) => r.v);
  const describeReports = (rs: HealthReport[]) =>
    rs
      .map(
        (r) =>
          `${simS(r.stampNs).toFixed(2)} ${r.mode} ${r.sensors.map((s) => `${s.sensorId}=${SENSOR_STATE_NAMES[s.state]}(${s.reasons})`).join(" ")}`,
      )
      .join("\n");

  test("LiDAR dropped 5 s: STALE within stale_ms + one period, frames keep coming, DEGRADED, OK after recovery", () => {
    const stale = reportsIn(6, 11).find((r) => lidarState(r).state === SensorState.STALE);
    assert.ok(stale, `lidar never STALE:\n${describeReports(reportsIn(5, 12))}`);
    const detectS = simS(stale.stampNs) - 6;
    assert.ok(detectS <= STALE_S + LIDAR_PERIOD_S + SLACK_S, `STALE ${detectS.toFixed(3)} s after the drop`);
    assert.equal(lidarState(stale).reasons[0], "stale");
    for (const r of reportsIn(simS(stale.stampNs), 11)) {
      assert.equal(lidarState(r).state, SensorState.STALE);
      assert.equal(r.mode, SystemMode.DEGRADED);
      assert.ok(
        r.reasons.some((x) => x.startsWith("perception_degraded: lidar.degraded")),
        r.reasons.join("; "),
      );
    }
    // output continuity: frames at the nominal tick rate while the LiDAR is gone
    const during = between(frames, 7, 10.5);
    assert.ok(during.length >= 0.85 * 3.5 * lidar.rate_hz, `${during.length} frames in 3.5 s`);
    for (const f of during) {
      const s = f.v.sensors.find((x) => x.sensorId === "lidar")!;
      assert.equal(s.used, false);
      assert.equal(s.gateWeight, 0);
      assert.equal(f.v.mode, SystemMode.DEGRADED);
    }
    // recovery: out of STALE no sooner than a dwell after data is back; then OK and NOMINAL before the
    // next fault, unless the machine is so loaded that the service itself lags (latency, jitter, rate)
    const back = reportsIn(11, 14).find((r) => lidarState(r).state < SensorState.STALE);
    assert.ok(back, `lidar still STALE after recovery:\n${describeReports(reportsIn(11, 14))}`);
    assert.ok(simS(back.stampNs) >= 11 + DWELL_S - 0.1, `left STALE at ${simS(back.stampNs)} s`);
    const settled = reportsIn(13, 14).at(-1)!;
    const l = lidarState(settled);
    if (l.reasons.every((x) => LOAD_REASONS.has(x)) && l.reasons.length > 0) {
      process.stderr.write(`# lidar ${l.reasons.join(",")} at 14 s: the service lags (machine overloaded)\n`);
    } else {
      assert.equal(l.state, SensorState.OK, describeReports(reportsIn(11, 14)));
      assert.equal(settled.mode, SystemMode.NOMINAL, describeReports(reportsIn(11, 14)));
    }
  });

  test("GNSS outage: localisation degraded", () => {
    const rs = reportsIn(14 + 1, 17);
    assert.ok(rs.length >= 1);
    for (const r of rs) {
      assert.ok(sensorOf(r, "gnss").state >= SensorState.STALE, describeReports([r]));
      assert.equal(r.mode, SystemMode.DEGRADED);
      assert.ok(
        r.reasons.some((x) => x.startsWith("localisation_degraded") && x.includes("gnss")),
        r.reasons.join("; "),
      );
    }
    const f = between(frames, 15, 17);
    assert.ok(
      f.length > 0 && f.every((x) => x.v.sensors.find((s) => s.sensorId === "lidar")!.gateWeight >= 0),
    );
  });

  test("frozen LiDAR payload: DEGRADED with reason frozen, masked from fusion", () => {
    const hit = reportsIn(19, 22).find((r) => lidarState(r).reasons.includes("frozen"));
    assert.ok(hit, describeReports(reportsIn(19, 22)));
    assert.equal(lidarState(hit).state, SensorState.DEGRADED);
    assert.ok(
      simS(hit.stampNs) <= 19 + 3 * LIDAR_PERIOD_S + SLACK_S,
      `frozen flagged at ${simS(hit.stampNs)} s`,
    );
    const masked = between(frames, simS(hit.stampNs) + 0.2, 22);
    assert.ok(masked.length > 0);
    for (const f of masked) assert.equal(f.v.sensors.find((s) => s.sensorId === "lidar")!.used, false);
  });

  test("clock skew flagged", () => {
    const rs = reportsIn(24, 27.5);
    // The first three skewed messages are held as stamp outliers (src/health/sensor.ts), about 230 ms
    // at 13 Hz; on a loaded machine that can pass stale_ms, so the skew may first show beside STALE.
    // What must hold: the skew is flagged and the sensor settles DEGRADED (usable), not lost.
    const flagged = rs.filter((r) => sensorOf(r, "radar_front").reasons.includes("clock_skew"));
    assert.ok(flagged.length > 0, describeReports(rs));
    const hit = flagged.find((r) => sensorOf(r, "radar_front").state === SensorState.DEGRADED);
    assert.ok(hit, describeReports(flagged));
    assert.ok(reportsIn(20, 24).every((r) => !sensorOf(r, "radar_front").reasons.includes("clock_skew")));
  });

  test("a sensor flapping at 2 Hz changes state at most once per dwell period", () => {
    const rs = reportsIn(29.5, 36.4);
    const changes: number[] = [];
    for (let i = 1; i < rs.length; i++)
      if (lidarState(rs[i]!).state !== lidarState(rs[i - 1]!).state) changes.push(rs[i]!.stampNs);
    assert.ok(changes.length >= 1, `flapping not noticed:\n${describeReports(rs)}`);
    for (let i = 1; i < changes.length; i++)
      assert.ok(changes[i]! - changes[i - 1]! >= DWELL_S * S - 1 * MS, describeReports(rs));
    // never reported OK while it flaps
    assert.ok(
      reportsIn(30.5, 34).every((r) => lidarState(r).state !== SensorState.OK),
      describeReports(rs),
    );
  });

  test("all perception sensors lost: SAFE_STOP, frames still published", () => {
    const rs = reportsIn(36.5, 38.5);
    const hit = rs.find((r) => r.mode === SystemMode.SAFE_STOP);
    assert.ok(hit, describeReports(rs));
    // With deadline-timed evaluation, LiDAR+radar may be seen lost a moment before the camera:
    // the first SAFE_STOP may name that rule; once all three are lost the reason is perception_lost.
    assert.ok(
      rs.some((r) => r.mode === SystemMode.SAFE_STOP && r.reasons[0]!.startsWith("perception_lost")),
      describeReports(rs),
    );
    assert.ok(simS(hit.stampNs) <= 36.5 + 0.3 + SLACK_S, `SAFE_STOP at ${simS(hit.stampNs)} s`);
    const f = between(frames, 37.2, 38.4);
    assert.ok(f.length >= 0.85 * 1.2 * lidar.rate_hz, `${f.length} frames`);
    assert.ok(f.every((x) => x.v.mode === SystemMode.SAFE_STOP));
  });

  test("HealthReport is published retained; reports arrive at least at 1 Hz", async () => {
    const gaps: number[] = [];
    const rs = reportsIn(6, END_S);
    for (let i = 1; i < rs.length; i++) gaps.push((rs[i]!.stampNs - rs[i - 1]!.stampNs) / S);
    assert.ok(
      Math.max(...gaps) <= rig.health.report_period_ms / 1000 + SLACK_S,
      `max gap ${Math.max(...gaps)}`,
    );
    const c = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      const got = new Promise<{ payload: Buffer; retain: boolean }>((resolve) =>
        c.on("message", (_t, payload, packet) => resolve({ payload, retain: packet.retain })),
      );
      await c.subscribeAsync(topics.health(VEHICLE), { qos: 1 });
      const m = await got;
      assert.equal(m.retain, true);
      const r = decodeHealthReport(m.payload);
      assert.ok(r.ok);
      if (r.ok) {
        assert.equal(r.value.vehicle, VEHICLE);
        assert.equal(r.value.sensors.length, rig.sensors.length);
      }
    } finally {
      await c.endAsync(true);
    }
  });

  test("every state transition is logged once", () => {
    const lines = logLines
      .filter((l) => l.includes(`health ${VEHICLE}: `))
      .map((l) => l.split(`health ${VEHICLE}: `)[1]!);
    assert.ok(lines.length >= 10, lines.join(""));
    // per sensor (and the mode) the logged transitions form a chain: each starts where the last ended
    const lastTo = new Map<string, string>();
    for (const l of lines) {
      const m = /^(\S+) (\w+) -> (\w+)/.exec(l);
      assert.ok(m, l);
      const [, who, from, to] = m;
      const prev = lastTo.get(who!);
      if (prev !== undefined)
        assert.equal(from, prev, `${who}: logged '${l.trim()}' after a transition to ${prev}`);
      lastTo.set(who!, to!);
    }
  });
});
