import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeSensorMessage } from "../../src/msg/codec.ts";
import type { SensorMessage } from "../../src/msg/types.ts";
import { FaultSpecError, parseFaults, type SimEvent } from "../../sim/index.ts";
import { decodeOk, ofSensor, runFor, START_NS, simOptions } from "./_helpers.ts";

const SECONDS = 3;
// Fault window: [1 s, 2 s) of true time.
const W0 = START_NS + 1e9;
const W1 = START_NS + 2e9;

interface Msg {
  ev: SimEvent;
  m: SensorMessage;
}

const baselineCache = new Map<string, SimEvent[]>();
function baseline(): SimEvent[] {
  if (!baselineCache.has("b")) baselineCache.set("b", runFor(simOptions({ seed: 11 }), SECONDS));
  return baselineCache.get("b")!;
}
const withFault = (faults: string) => runFor(simOptions({ seed: 11, faults }), SECONDS);
const decoded = (evs: SimEvent[], id: string): Msg[] =>
  ofSensor(evs, id).map((ev) => ({ ev, m: decodeOk(ev) }));
const inWindow = (stampNs: number) => stampNs >= W0 && stampNs < W1;
const std = (xs: number[]) => {
  const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - mu) ** 2, 0) / xs.length);
};

describe("fault injection", () => {
  it("drop / outage: no messages while active, normal before and after", () => {
    const b = decoded(baseline(), "lidar");
    const f = decoded(withFault("lidar:drop@1s+1s"), "lidar");
    assert.ok(b.filter((x) => inWindow(x.m.header.stampNs)).length >= 9);
    assert.equal(f.filter((x) => inWindow(x.m.header.stampNs)).length, 0);
    assert.equal(f.length, b.length - b.filter((x) => inWindow(x.m.header.stampNs)).length);
    const g = decoded(withFault("gnss:outage@1s+1s"), "gnss");
    assert.equal(g.filter((x) => inWindow(x.m.header.stampNs)).length, 0);
    assert.ok(g.length > 15);
  });

  it("rate: a fraction or a rate in Hz thins the stream", () => {
    const b = decoded(baseline(), "imu").filter((x) => inWindow(x.m.header.stampNs)).length;
    const half = decoded(withFault("imu:rate=0.5@1s+1s"), "imu").filter((x) =>
      inWindow(x.m.header.stampNs),
    ).length;
    assert.equal(b, 100);
    assert.ok(Math.abs(half - 50) <= 1, `rate=0.5 kept ${half}`);
    const hz = decoded(withFault("imu:rate=10hz@1s+1s"), "imu").filter((x) =>
      inWindow(x.m.header.stampNs),
    ).length;
    assert.ok(Math.abs(hz - 10) <= 1, `rate=10hz kept ${hz}`);
  });

  it("delay and jitter shift and spread the send time, not the stamp", () => {
    const lag = (ms: Msg[]) =>
      ms.filter((x) => inWindow(x.m.header.stampNs)).map((x) => (x.ev.sendNs - x.m.header.stampNs) / 1e6);
    const b = lag(decoded(baseline(), "radar_front"));
    const d = lag(decoded(withFault("radar_front:delay=100@1s+1s"), "radar_front"));
    assert.ok(Math.max(...b) < 20);
    assert.ok(Math.min(...d) >= 100);
    const j = lag(decoded(withFault("radar_front:jitter=60@1s+1s"), "radar_front"));
    assert.ok(std(j) > 5 * std(b), `jitter std ${std(j)} vs ${std(b)}`);
  });

  it("clock offset and clock jump move the sensor-clock stamps", () => {
    const bySeq = (ms: Msg[]) => new Map(ms.map((x) => [x.m.header.seq, x.m.header.stampNs]));
    const b = bySeq(decoded(baseline(), "gnss"));
    const c = decoded(withFault("gnss:clock=250@1s+1s"), "gnss");
    let shifted = 0;
    for (const x of c) {
      const d = (x.m.header.stampNs - b.get(x.m.header.seq)!) / 1e6;
      if (Math.abs(d - 250) < 0.01) shifted++;
      else assert.ok(Math.abs(d) < 0.01, `unexpected shift ${d} ms`);
    }
    assert.equal(shifted, 10);
    const j = decoded(withFault("imu:clockjump=-500@1s"), "imu");
    const bi = bySeq(decoded(baseline(), "imu"));
    const after = j.filter((x) => x.ev.sendNs > W0 + 0.01e9);
    assert.ok(after.length > 150);
    for (const x of after)
      assert.ok(Math.abs((x.m.header.stampNs - bi.get(x.m.header.seq)!) / 1e6 + 500) < 0.01);
    // The jump makes stamps go backwards in the stream.
    const stamps = j.map((x) => x.m.header.stampNs);
    assert.ok(stamps.some((s, i) => i > 0 && s < stamps[i - 1]!));
  });

  it("reorder delivers messages out of order; duplicate delivers identical bytes twice", () => {
    const order = (ms: Msg[]) => ms.map((x) => x.m.header.seq);
    const b = order(decoded(baseline(), "imu"));
    assert.ok(b.every((s, i) => i === 0 || s > b[i - 1]!));
    const r = order(decoded(withFault("imu:reorder@1s+1s"), "imu"));
    assert.ok(
      r.some((s, i) => i > 0 && s < r[i - 1]!),
      "no out-of-order delivery",
    );
    assert.equal(new Set(r).size, b.length);
    const d = ofSensor(withFault("radar_front:duplicate@1s+1s"), "radar_front");
    const nb = ofSensor(baseline(), "radar_front").length;
    assert.ok(d.length >= nb + 12 && d.length <= nb + 14, `${d.length} vs ${nb}`);
    const seen = new Map<string, number>();
    for (const e of d) {
      const k = Buffer.from(e.payload).toString("base64");
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    assert.ok([...seen.values()].filter((n) => n === 2).length >= 12);
  });

  it("corrupt: damaged payloads fail to decode (or differ), others are untouched", () => {
    const b = ofSensor(baseline(), "gnss");
    const c = ofSensor(withFault("gnss:corrupt@1s+1s"), "gnss");
    assert.equal(c.length, b.length);
    let bad = 0;
    let changed = 0;
    for (let i = 0; i < c.length; i++) {
      if (!Buffer.from(c[i]!.payload).equals(Buffer.from(b[i]!.payload))) changed++;
      if (!decodeSensorMessage(c[i]!.payload).ok) bad++;
    }
    assert.equal(changed, 10);
    assert.ok(bad >= 7, `only ${bad} of 10 corrupted payloads failed to decode`);
  });

  it("freeze repeats the last payload under fresh headers", () => {
    const data = (ms: Msg[]) =>
      ms
        .filter((x) => inWindow(x.m.header.stampNs))
        .map((x) => {
          if (x.m.payload.kind !== "point_cloud") return null;
          const d = x.m.payload.points.data;
          return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
        });
    const f = decoded(withFault("lidar:freeze@1s+1s"), "lidar");
    const fd = data(f);
    assert.ok(fd.length >= 9);
    for (const d of fd) assert.ok(d?.equals(fd[0]!));
    const seqs = f.filter((x) => inWindow(x.m.header.stampNs)).map((x) => x.m.header.seq);
    assert.equal(new Set(seqs).size, seqs.length);
    const bd = data(decoded(baseline(), "lidar"));
    assert.ok(!bd[1]!.equals(bd[0]!));
  });

  it("noise bursts multiply the noise", () => {
    const az = (ms: Msg[]) =>
      ms
        .filter((x) => inWindow(x.m.header.stampNs))
        .map((x) => (x.m.payload.kind === "imu" ? x.m.payload.accel[2] : 0));
    const b = std(az(decoded(baseline(), "imu")));
    const n = std(az(decoded(withFault("imu:noise=10@1s+1s"), "imu")));
    assert.ok(n > 5 * b, `noise std ${n} vs ${b}`);
  });

  it("targets by kind and '*', and rejects bad specs with a message naming the item", () => {
    const f = parseFaults("radar:drop@0s, *:delay=5@1s+500ms");
    assert.equal(f.length, 2);
    assert.equal(f[1]!.endNs - f[1]!.startNs, 500e6);
    assert.throws(
      () => runFor(simOptions({ faults: "lidr:drop@1s" }), 0.1),
      /no sensor or sensor kind 'lidr'/,
    );
    for (const bad of [
      "imu:delay=60000@1s",
      "lidar:explode@1s",
      "lidar:drop",
      "lidar:rate@1s",
      "lidar:rate=2@1s",
      "lidar:drop@soon",
    ])
      assert.throws(
        () => parseFaults(bad),
        (e: unknown) => e instanceof FaultSpecError && e.message.includes(bad),
      );
  });
});
