import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeGroundTruth } from "../../src/msg/codec.ts";
import { topics } from "../../src/msg/topics.ts";
import { runSimulation, Simulation } from "../../sim/index.ts";
import { decodeOk, ofSensor, runFor, START_NS, simOptions } from "./_helpers.ts";

describe("simulator rates and ordering", () => {
  it("every nuScenes-like sensor and the ground truth run within 2% of their rate over 10 simulated s", () => {
    const o = simOptions({ rigName: "nuscenes", scenario: "highway" });
    const ev = runFor(o, 10);
    for (const s of o.rig.sensors) {
      const n = ofSensor(ev, s.id).length;
      const expected = s.rate_hz * 10;
      assert.ok(Math.abs(n - expected) / expected <= 0.02, `${s.id}: ${n} messages, expected ${expected}`);
    }
    const truth = ev.filter((e) => e.topic === topics.truth("sim-1")).length;
    assert.ok(Math.abs(truth - 200) <= 4, `truth: ${truth}`);
  });

  it("events come in send-time order with sendNs >= stamp - clock offset, on the documented topics", () => {
    const o = simOptions({ rigName: "kitti", scenario: "intersection", vehicles: 2 });
    const ev = runFor(o, 2);
    for (let i = 1; i < ev.length; i++) assert.ok(ev[i]!.sendNs >= ev[i - 1]!.sendNs);
    for (const e of ev) {
      if (e.sensorId === null) {
        assert.equal(e.topic, topics.truth(e.vehicle));
        const g = decodeGroundTruth(e.payload);
        assert.ok(g.ok);
        assert.ok(e.sendNs >= g.value.stampNs);
        continue;
      }
      assert.equal(e.topic, topics.sensor(e.vehicle, e.sensorId));
      const m = decodeOk(e);
      assert.ok(e.sendNs >= m.header.stampNs, `${e.topic} sent before its stamp`);
    }
  });

  it("ground truth: ego and objects in ENU, faults and conditions, latest kept per vehicle", () => {
    const sim = new Simulation(
      simOptions({ scenario: "urban", conditions: "fog", faults: "lidar:drop@0s+5s" }),
    );
    const ev = sim.until(START_NS + 1e9);
    const last = ev.filter((e) => e.sensorId === null).at(-1)!;
    const g = decodeGroundTruth(last.payload);
    assert.ok(g.ok);
    assert.equal(g.value.conditions, "fog");
    assert.equal(g.value.scenario, "urban");
    assert.deepEqual(g.value.activeFaults, ["lidar:drop@0s+5s"]);
    assert.ok(g.value.objects.length > 10);
    assert.ok(g.value.ego.valid && g.value.ego.speed > 1);
    const latest = sim.truth("sim-1")!;
    assert.equal(latest.stampNs, g.value.stampNs);
    assert.equal(latest.objects.length, g.value.objects.length);
  });

  it("paced at real time on a virtual clock, every nuScenes-like stream keeps its rate within 2% over 10 s", async () => {
    let clock = 0;
    const o = simOptions({ rigName: "nuscenes", seed: 8 });
    const seen = new Map<string, { n: number; first: number; last: number }>();
    const stats = await runSimulation({
      ...o,
      rate: 1,
      durationS: 10,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
      publish: (e) => {
        const k = e.sensorId ?? "truth";
        const s = seen.get(k) ?? { n: 0, first: clock, last: clock };
        s.n++;
        s.last = clock;
        seen.set(k, s);
      },
    }).done;
    assert.ok(Math.abs(stats.wallS - 10) < 0.1);
    for (const s of o.rig.sensors) {
      const x = seen.get(s.id)!;
      const achieved = ((x.n - 1) * 1000) / (x.last - x.first);
      assert.ok(
        Math.abs(achieved - s.rate_hz) / s.rate_hz <= 0.02,
        `${s.id}: ${achieved} Hz vs ${s.rate_hz}`,
      );
    }
  });

  it("runSimulation paces events on an injected clock and stops cleanly", async () => {
    let clock = 1000;
    const lateness: number[] = [];
    const run = runSimulation({
      ...simOptions({ seed: 4 }),
      rate: 2,
      durationS: 1,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
      publish: (e) => {
        lateness.push(clock - (1000 + (e.sendNs - START_NS) / 1e6 / 2));
      },
    });
    const stats = await run.done;
    assert.ok(stats.events > 100);
    assert.equal(stats.events, lateness.length);
    for (const l of lateness) assert.ok(l >= -0.5 && l <= 0.5, `published ${l} ms off schedule`);
    assert.ok(Math.abs(stats.simulatedS - 1) < 0.05);
    assert.ok(Math.abs(stats.wallS - 0.5) < 0.05, `virtual wall ${stats.wallS} s for 1 s at rate 2`);

    let n = 0;
    const open = runSimulation({
      ...simOptions(),
      rate: 0,
      publish: () => {
        if (++n >= 50) open.stop();
      },
    });
    const s2 = await open.done;
    assert.equal(s2.events, 50);
  });
});
