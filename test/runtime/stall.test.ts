/**
 * The service knows when it is the problem: StallMonitor finds its own stalls, and the health
 * monitor neither sends a sensor STALE nor the vehicle to SAFE_STOP for a gap the process caused,
 * while a sensor that really stops still goes STALE on time. Time is driven by hand (ns).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HealthMonitor, SERVICE_OVERLOADED } from "../../src/health/index.ts";
import { SensorState, SystemMode } from "../../src/msg/types.ts";
import { type Stall, StallMonitor } from "../../src/runtime/stall.ts";
import { MS, STAMP0, testRig } from "../align/fixtures.ts";
import { envelope, payloadFor, rng } from "../health/fixtures.ts";

/** Processing and sensor clocks start here (ns). */
const T0 = STAMP0;

describe("stall monitor", () => {
  test("a heartbeat late by more than the threshold is a stall; overlap is measured inside any window", () => {
    let t = 0;
    const seen: Stall[] = [];
    const m = new StallMonitor({
      now: () => t,
      intervalMs: 20,
      thresholdMs: 50,
      onStall: (s) => seen.push(s),
    });
    for (t = 0; t <= 200 * MS; t += 20 * MS) m.beat(t);
    t = 230 * MS; // 30 ms late after the beat at 200: lag, not a stall
    m.beat(t);
    assert.equal(m.stats.stalls, 0);
    // frozen from the beat at 230 ms until 1.25 s: the loop was due at 250 ms
    t = 1250 * MS;
    m.probe(t); // found by a probe (a health timer ran first) ...
    m.probe(1300 * MS); // ... still blocked ...
    assert.equal(seen.length, 0, "announced when the heartbeat runs again");
    m.beat(1300 * MS);
    assert.deepEqual(m.lastStall(), { startNs: 250 * MS, endNs: 1300 * MS });
    assert.equal(seen.length, 1);
    assert.equal(Math.round(seen[0]!.endNs - seen[0]!.startNs) / MS, 1050);
    assert.equal(m.stats.stalls, 1);
    assert.equal(Math.round(m.stats.maxMs), 1050);
    assert.equal(m.overlapNs(0, 250 * MS), 0);
    assert.equal(m.overlapNs(200 * MS, 400 * MS), 150 * MS);
    assert.equal(m.overlapNs(1000 * MS, Number.POSITIVE_INFINITY), 300 * MS);
    m.beat(1320 * MS);
    assert.equal(seen.length, 1, "one announcement per stall");
  });
});

describe("a freeze is measured whole, whatever runs around it", () => {
  // After SIGCONT on a loaded machine the process runs in slices: heartbeats late by a random lag,
  // probes with the read time of messages (which may predate the freeze: stamped, then frozen before
  // health saw them). Whatever the order, the freeze is excused (all but the first heartbeat
  // period, which is not late yet) and reported as one stall covering it: a stall measured shorter
  // than a SIGSTOP would leave part of it to blame on the sensors.
  test("random heartbeat lags and probes around a 1 s freeze, 200 schedules", () => {
    const r = rng(3);
    for (let run = 0; run < 200; run++) {
      const seen: Stall[] = [];
      const m = new StallMonitor({
        now: () => T0,
        intervalMs: 20,
        thresholdMs: 20,
        onStall: (x) => seen.push(x),
      });
      const f0 = T0 + (1000 + r() * 100) * MS;
      const f1 = f0 + 1000 * MS;
      let t = T0;
      let lastRead = T0;
      while (t < f1 + 1500 * MS) {
        t += (20 + (r() < 0.3 ? r() * 80 : r() * 5)) * MS; // the next turn of the loop
        if (t >= f0 && t < f1) t = f1 + r() * 30 * MS; // frozen: the first turn after SIGCONT
        const probes = Math.floor(r() * 3);
        for (let k = 0; k < probes; k++) {
          // a message read at some point since the last read (maybe before the freeze)
          const read = lastRead + r() * (t - lastRead);
          m.probe(read);
          lastRead = read;
        }
        m.beat(t);
      }
      // a stall starts when the next heartbeat was due: up to one period (20 ms) after the freeze did
      const ov = m.overlapNs(f0, f1);
      assert.ok(ov >= f1 - f0 - 20 * MS, `run ${run}: ${ov / MS} ms of the freeze excused`);
      const covering = seen.filter((x) => x.startNs <= f0 + 20 * MS && x.endNs >= f1);
      assert.equal(
        covering.length,
        1,
        `run ${run}: ${seen.map((x) => (x.endNs - x.startNs) / MS).join("/")}`,
      );
    }
  });
});

describe("health does not blame sensors for the service's stalls", () => {
  // LiDAR 10 Hz, stale after 300 ms; the rig's default mode rules send a vehicle without perception
  // to SAFE_STOP.
  const rig = testRig({ sensors: [{ id: "lidar", kind: "lidar", rate_hz: 10, stale_ms: 300 }] });
  const lidar = rig.sensors[0]!;
  const r = rng(7);
  let seq = 0;
  /** A realistic sweep stamped `stampNs`, arriving at `atNs`. */
  const sweepAt = (stampNs: number, atNs: number) =>
    envelope("v1", "lidar", payloadFor(lidar, r), stampNs, atNs, seq++);

  function run(freeze: { fromMs: number; toMs: number } | null, stopAtMs = Number.POSITIVE_INFINITY) {
    let beatAt = T0;
    const stalls = new StallMonitor({ now: () => beatAt, intervalMs: 20, thresholdMs: 50 });
    const h = new HealthMonitor("v1", rig, { stalls });
    const states: { tMs: number; state: SensorState; mode: SystemMode; reasons: string[] }[] = [];
    const evaluate = (tMs: number) => {
      const snap = h.evaluate(T0 + tMs * MS);
      states.push({
        tMs,
        state: snap.sensors[0]!.state,
        mode: snap.mode,
        reasons: [
          ...snap.reasons,
          ...snap.sensors[0]!.reasons.map((x) => `lidar:${x}`),
          `hz=${snap.sensors[0]!.rateHz.toFixed(1)}`,
        ],
      });
    };
    const frozen = (tMs: number) => freeze !== null && tMs >= freeze.fromMs && tMs < freeze.toMs;
    const backlog: number[] = [];
    for (let tMs = 0; tMs <= 4000; tMs += 10) {
      const sent = tMs % 100 === 0 && tMs < stopAtMs; // the sensor publishes every 100 ms
      if (frozen(tMs)) {
        if (sent) backlog.push(tMs); // waits in the broker / socket
        continue;
      }
      beatAt = T0 + tMs * MS;
      stalls.beat(beatAt);
      // after a freeze the expired health timer runs first, then the queued messages
      if (tMs % 50 === 0) evaluate(tMs);
      // sensor clock = processing clock here, plus 5 ms of transport
      const at = T0 + tMs * MS;
      for (const k of backlog.splice(0)) h.onMessage(sweepAt(T0 + k * MS - 5 * MS, at));
      if (sent) h.onMessage(sweepAt(at - 5 * MS, at));
    }
    return states;
  }

  test("a 1 s freeze of the process: no STALE, no SAFE_STOP, the stall reported with its duration", () => {
    const states = run({ fromMs: 1500, toMs: 2500 }).filter((s) => s.tMs >= 1000);
    assert.ok(
      states.every((s) => s.state === SensorState.OK),
      states.map((s) => `${s.tMs}:${s.state}(${s.reasons})`).join(" "),
    );
    assert.ok(states.every((s) => s.mode !== SystemMode.SAFE_STOP));
    const reported = states.filter((s) => s.reasons.some((r) => r.startsWith(SERVICE_OVERLOADED)));
    assert.ok(reported.length > 0, "stall reported");
    assert.match(
      reported[0]!.reasons.find((r) => r.startsWith(SERVICE_OVERLOADED))!,
      /stalled (9[89]\d|10\d\d) ms/,
    );
    assert.equal(reported[0]!.tMs, 2500, "reported at the first evaluation after the freeze");
  });

  test("without the stall monitor the same freeze reads as a sensor outage (the old behaviour)", () => {
    const h = new HealthMonitor("v1", rig);
    for (let tMs = 0; tMs <= 1500; tMs += 100) h.onMessage(sweepAt(T0 + tMs * MS, T0 + tMs * MS));
    assert.equal(h.evaluate(T0 + 1500 * MS).sensors[0]!.state, SensorState.OK);
    assert.equal(h.evaluate(T0 + 2500 * MS).sensors[0]!.state, SensorState.STALE);
  });

  test("a sensor that really stops goes STALE within its timeout (no stall: nothing excused)", () => {
    const states = run(null, 2000);
    const first = states.find((s) => s.tMs > 1000 && s.state === SensorState.STALE)!;
    // last message at 1900 ms, stale after 300 ms of silence: the first evaluation after 2200 ms
    assert.equal(first.tMs, 2250);
    assert.ok(states.filter((s) => s.tMs >= 1000 && s.tMs < 2200).every((s) => s.state === SensorState.OK));
  });

  test("a sensor that stops during a freeze still goes STALE, one timeout after the freeze", () => {
    const states = run({ fromMs: 1500, toMs: 2500 }, 1800);
    const first = states.find((s) => s.tMs > 1000 && s.state === SensorState.STALE)!;
    // last message 1700 ms (read from the backlog at 2500); the freeze is excused, so the sensor
    // has its 300 ms from the end of the freeze: STALE at the first evaluation after 2800 ms
    assert.equal(first.tMs, 2850, `STALE at ${first.tMs}`);
  });
});

describe("a message read after a freeze is not a stale gap because its latency estimate overshoots", () => {
  // The sim rig's sensors: the radar's stale time is 3 periods (231 ms at 13 Hz), so an arrival
  // estimate (stamp + smoothed latency) 154 ms later than the last message's real latency makes a
  // gap of more than 231 ms between two arrivals: that is how radar_front went STALE after a 1 s
  // SIGSTOP on a loaded machine (docs/DECISIONS.md).
  const rig = testRig({
    sensors: [
      { id: "lidar", kind: "lidar", rate_hz: 10, extrinsic: { translation_m: [1, 0, 2] } },
      { id: "radar_front", kind: "radar", rate_hz: 13, extrinsic: { translation_m: [3, 0, 0.5] } },
    ],
  });
  const r = rng(11);
  let seq = 0;

  /**
   * Both sensors publish on time; the service reads each message `latencyMs(sentMs)` after its
   * stamp (a loaded process reads late), nothing while frozen (the messages wait in the broker and
   * the socket and are read at the first turn after the freeze). Heartbeat every 20 ms, health
   * evaluated every 50 ms and after every message.
   */
  function run(freeze: { fromMs: number; toMs: number } | null, latencyMs: (sentMs: number) => number) {
    const stalls = new StallMonitor({ now: () => T0, intervalMs: 20, thresholdMs: 20 });
    const h = new HealthMonitor("v1", rig, { stalls });
    const msgs: { sensor: (typeof rig.sensors)[number]; sentMs: number; readMs: number }[] = [];
    for (const sensor of rig.sensors)
      for (let k = 0; ; k++) {
        const sentMs = (k * 1000) / sensor.rate_hz;
        if (sentMs > 4000) break;
        msgs.push({ sensor, sentMs, readMs: sentMs + latencyMs(sentMs) });
      }
    msgs.sort((a, b) => a.readMs - b.readMs);
    const bad: string[] = [];
    const evaluate = (tMs: number) => {
      const snap = h.evaluate(T0 + tMs * MS);
      const stale = snap.sensors.filter((s) => s.state >= SensorState.STALE);
      if (tMs > 1000 && (stale.length > 0 || snap.mode === SystemMode.SAFE_STOP))
        bad.push(`${tMs}: mode ${snap.mode} ${stale.map((s) => `${s.sensorId}(${s.reasons})`).join(" ")}`);
      return snap;
    };
    let i = 0;
    let last: ReturnType<typeof evaluate> | null = null;
    for (let tMs = 0; tMs <= 4000; tMs++) {
      if (freeze && tMs >= freeze.fromMs && tMs < freeze.toMs) continue;
      const at = T0 + tMs * MS;
      if (tMs % 20 === 0) stalls.beat(at);
      if (tMs % 50 === 0) last = evaluate(tMs);
      while (i < msgs.length && msgs[i]!.readMs <= tMs) {
        const m = msgs[i++]!;
        h.onMessage(envelope("v1", m.sensor.id, payloadFor(m.sensor, r), T0 + m.sentMs * MS, at, seq++));
        last = evaluate(tMs);
      }
    }
    return { bad, last: last!, stalls };
  }

  // A loaded process reads 250 ms late (the smoothed latency follows), then gets the CPU and
  // catches up at 1481 ms: the radar's messages of the last 330 ms before the freeze are read at
  // once (latencies 250 down to 19 ms) while its smoothed latency is still about 230 ms. The first
  // message read after the freeze is estimated at stamp + 230 ms, 287 ms after the last arrival.
  const loaded = (sentMs: number) => (sentMs < 1150 ? 250 : Math.max(19, 1481 - sentMs));

  test("a 1 s freeze right after the read latency dropped: no STALE, no SAFE_STOP", () => {
    const { bad, stalls } = run({ fromMs: 1500, toMs: 2500 }, loaded);
    assert.equal(Math.round((stalls.lastStall()!.endNs - stalls.lastStall()!.startNs) / MS), 1000);
    assert.deepEqual(bad, []);
  });

  test("the same latencies without a freeze: no STALE (the scenario itself is healthy)", () => {
    assert.deepEqual(run(null, loaded).bad, []);
  });

  test("a radar that really stops during the freeze still goes STALE one timeout after it", () => {
    // the same run, and the radar's messages after 1800 ms never come
    const { bad } = run({ fromMs: 1500, toMs: 2500 }, (s) => (s >= 1800 ? 1e9 : loaded(s)));
    const first = bad.find((b) => b.includes("radar_front"));
    assert.ok(first, "radar went STALE");
    // last radar message sent at 1769 ms, read from the backlog at 2500 ms; the freeze is excused,
    // so it has 231 ms from the end of the freeze: STALE at the first evaluation after 2731 ms
    assert.equal(Number(first.split(":")[0]), 2750, first);
  });
});
