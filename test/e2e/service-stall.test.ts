/**
 * The service knows when it is the problem, as a real process: `fusion serve` on a real mosquitto
 * with the simulator in its own process; the service is frozen with SIGSTOP for 1 s, three times. No
 * sensor may go STALE, no SAFE_STOP may be published, and each stall must be reported (the health
 * report's SERVICE_OVERLOADED reason, and one log line per stall).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeHealthReport } from "../../src/msg/codec.ts";
import { topics } from "../../src/msg/topics.ts";
import { type HealthReport, SENSOR_STATE_NAMES, SensorState, SystemMode } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import { type Running, spawnFusion } from "../../harness/cli.ts";
import { type Mosquitto, startMosquitto } from "../../harness/mosquitto.ts";
import { Collector } from "../../harness/mqtt-collect.ts";
import { needs } from "../../harness/programs.ts";

const VEHICLE = "sim-1";
const rig = loadRig("sim");
const FREEZES = 3;
const FREEZE_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("service stalls: SIGSTOP 1 s x3 while the simulator runs on a real mosquitto", {
  skip: needs("mosquitto"),
}, () => {
  let broker: Mosquitto;
  let svc: Running;
  let sim: Running;
  let col: Collector;
  const windows: { fromMs: number; toMs: number }[] = [];
  let reports: { r: HealthReport; atMs: number }[] = [];
  /** STALE sensor states in reports explained by a real gap of that sensor's stream at the broker. */
  let excusedStale = 0;

  before(async () => {
    broker = await startMosquitto();
    col = await Collector.connect(broker.url, [
      topics.health(VEHICLE),
      topics.fused(VEHICLE),
      `fusion/${VEHICLE}/sensors/+`,
    ]);
    svc = spawnFusion(["serve", "--broker", broker.url, "--no-sim", "--http", "off", "--instance", "stall"]);
    await svc.waitFor(/fusion service .* running/, 30_000);
    sim = spawnFusion(["sim", "--broker", broker.url, "--start-ns", "now", "--seed", "4"]);
    // warm up: every sensor OK (or DEGRADED) in a published report, then a few seconds of fusion
    const healthy = () =>
      col.on(topics.health(VEHICLE)).some((m) => {
        const r = decodeHealthReport(m.payload);
        return (
          r.ok && r.value.sensors.length > 0 && r.value.sensors.every((s) => s.state <= SensorState.DEGRADED)
        );
      });
    await col.until(healthy, 30_000, "a healthy report");
    await sleep(2000);
    const t0 = performance.now();
    for (let i = 0; i < FREEZES; i++) {
      const from = performance.now();
      svc.proc.kill("SIGSTOP");
      await sleep(FREEZE_MS);
      svc.proc.kill("SIGCONT");
      windows.push({ fromMs: from, toMs: performance.now() });
      await sleep(2500);
    }
    reports = col
      .on(topics.health(VEHICLE))
      .filter((m) => m.atMs >= t0)
      .map((m) => {
        const r = decodeHealthReport(m.payload);
        assert.ok(r.ok);
        return { r: r.value, atMs: m.atMs };
      });
  });
  after(async () => {
    if (svc && svc.proc.exitCode === null) svc.proc.kill("SIGCONT");
    await sim?.stop();
    await svc?.stop();
    await col?.close();
    await broker?.stop();
  });

  const describeReport = ({ r, atMs }: { r: HealthReport; atMs: number }) =>
    `${(atMs - windows[0]!.fromMs).toFixed(0)} ms: mode ${r.mode} [${r.reasons.join("; ")}] ${r.sensors
      .map((s) => `${s.sensorId}=${SENSOR_STATE_NAMES[s.state]}(${s.reasons.join(",")})`)
      .join(" ")}`;

  test("the freezes happened and the service went on fusing after each", () => {
    assert.equal(windows.length, FREEZES);
    for (const w of windows) {
      const after = col.on(topics.fused(VEHICLE)).filter((m) => m.atMs > w.toMs && m.atMs < w.toMs + 2500);
      assert.ok(after.length >= 10, `only ${after.length} frames in the 2.5 s after a freeze`);
    }
  });

  /**
   * Did the sensor really fall silent (seen at the broker by this test's own client, which was not
   * frozen) for longer than its stale time in the 3 s before `atMs` (a STALE state is held for the
   * health dwell, 1 s, after the data is back)? On a loaded machine the simulator process can be
   * starved too: that is a real gap in the sensor stream, not the service's.
   */
  const realGap = (sensorId: string, atMs: number) => {
    const staleMs = rig.sensors.find((s) => s.id === sensorId)!.stale_ms;
    const seen = col.on(topics.sensor(VEHICLE, sensorId)).map((m) => m.atMs);
    const win = seen.filter((t) => t >= atMs - 3000 && t <= atMs);
    const pts = [atMs - 3000, ...win, atMs];
    for (let i = 1; i < pts.length; i++) if (pts[i]! - pts[i - 1]! > staleMs) return true;
    return false;
  };

  test("no sensor went STALE and no SAFE_STOP was published (unless the sensor stream itself stopped)", () => {
    assert.ok(reports.length >= FREEZES, `${reports.length} reports`);
    for (const x of reports) {
      const stale = x.r.sensors.filter((s) => s.state >= SensorState.STALE);
      const own = stale.filter((s) => !realGap(s.sensorId, x.atMs));
      excusedStale += stale.length - own.length;
      if (x.r.mode === SystemMode.SAFE_STOP && stale.length > 0 && own.length === 0) continue;
      assert.notEqual(x.r.mode, SystemMode.SAFE_STOP, describeReport(x));
      if (own.length > 0)
        assert.fail(
          `${own.map((s) => s.sensorId).join(", ")} STALE without a gap at the broker: ${describeReport(x)}\nservice log:\n${svc
            .output()
            .split("\n")
            .filter((l) => /health|SERVICE|stall/.test(l))
            .slice(-40)
            .join("\n")}`,
        );
    }
  });

  test("each stall was reported: SERVICE_OVERLOADED with its duration, and one log line per stall", () => {
    const overloaded = reports.filter((x) => x.r.reasons.some((s) => s.startsWith("SERVICE_OVERLOADED")));
    assert.ok(overloaded.length >= 1, reports.map(describeReport).join("\n"));
    for (const w of windows)
      assert.ok(
        overloaded.some((x) => x.atMs >= w.toMs && x.atMs <= w.toMs + 2000),
        `no SERVICE_OVERLOADED report within 2 s after the freeze at ${(w.fromMs - windows[0]!.fromMs).toFixed(0)} ms`,
      );
    const durations = [...svc.output().matchAll(/SERVICE_OVERLOADED: the process stalled (\d+) ms/g)].map(
      (m) => Number(m[1]),
    );
    const long = durations.filter((d) => d >= 0.8 * FREEZE_MS);
    assert.ok(long.length >= FREEZES, `stall log lines: ${durations.join(", ")} ms`);
    // (no upper bound: on a loaded machine the process may wait for a core after SIGCONT too, and
    // that is part of the same stall)
    process.stdout.write(
      `# stall test: freezes ${windows.map((w) => (w.toMs - w.fromMs).toFixed(0)).join("/")} ms; ` +
        `stalls measured ${durations.join("/")} ms; ${reports.length} health reports, ` +
        `${overloaded.length} with SERVICE_OVERLOADED; STALE states not explained by a real gap of the ` +
        `sensor stream: 0 (explained: ${excusedStale}); SAFE_STOP: ${reports.filter((x) => x.r.mode === SystemMode.SAFE_STOP).length}\n`,
    );
  });
});
