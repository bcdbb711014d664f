/**
 * Stamp attacks on the aligner (issue 18, defect 1): one forged message stamped far from the
 * vehicle's consensus time must be dropped and counted, never obeyed; a real jump (looped replay)
 * still resets once the sensors agree. Driven on the I/O-free collector with a 10 Hz LiDAR, radar,
 * camera, 10 Hz GNSS and 100 Hz IMU vehicle driving east at 10 m/s.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Collector } from "../../src/align/collector.ts";
import type { AlignedTick } from "../../src/align/types.ts";
import type { SensorMessage } from "../../src/msg/types.ts";
import {
  type Arrival,
  cameraMsg,
  envelope,
  gnssMsg,
  imuMsg,
  lidarMsg,
  MS,
  periodic,
  radarMsg,
  STAMP0,
  testRig,
  VEH,
} from "./fixtures.ts";

const LAT0 = 48.0;
const LON0 = 11.0;
const SPEED = 10; // m/s east
const M_PER_DEG_LON = 111_320 * Math.cos((LAT0 * Math.PI) / 180);

/** Honest traffic of every sensor between startMs and startMs + durMs (sensor time = stampMs). */
function honest(startMs: number, durMs: number, stampShiftMs = 0): Arrival[] {
  const n = (p: number) => Math.floor(durMs / p);
  const at = (t: number) => STAMP0 + (t - STAMP0) + stampShiftMs * MS;
  const gnss = (t: number) => {
    const s = (t - STAMP0) / 1e9;
    return gnssMsg(at(t), LAT0, LON0 + (SPEED * s) / M_PER_DEG_LON, [SPEED, 0]);
  };
  return [
    ...periodic((t) => lidarMsg(at(t)), { startMs, periodMs: 100, count: n(100), latencyMs: 8 }),
    ...periodic((t) => radarMsg(at(t)), { startMs, periodMs: 100, count: n(100), latencyMs: 4 }),
    ...periodic((t) => cameraMsg(at(t)), { startMs, periodMs: 100, count: n(100), latencyMs: 6 }),
    ...periodic(gnss, { startMs, periodMs: 100, count: n(100), latencyMs: 3 }),
    ...periodic((t) => imuMsg(at(t)), { startMs, periodMs: 10, count: n(10), latencyMs: 1 }),
  ];
}

function run(arrivals: Arrival[], c = new Collector(testRig({ ego: true }), { vehicle: VEH })) {
  const sorted = [...arrivals].sort((a, b) => a.atMs - b.atMs);
  const ticks: AlignedTick[] = [];
  for (const a of sorted) c.ingest(envelope(a.msg, a.atMs * MS), a.atMs * MS, ticks);
  c.advance((sorted.at(-1)!.atMs + 500) * MS, ticks);
  return { c, ticks };
}

function forged(msg: SensorMessage, atMs: number): Arrival {
  return { atMs, msg };
}

describe("stamp attacks", () => {
  it("one LiDAR message stamped 5 s in the past is dropped and counted; the world state survives", () => {
    const arr = honest(0, 3000);
    arr.push(forged(lidarMsg(STAMP0 + (2050 - 5000) * MS), 2051));
    const { c, ticks } = run(arr);
    const d = c.diagnostics();
    assert.equal(d.resets, 0, "no reset");
    assert.equal(d.drops["lidar"]?.["backward_jump"], 1);
    assert.ok(ticks.every((t) => !t.reset));
    for (let i = 1; i < ticks.length; i++)
      assert.ok(ticks[i]!.stampNs > ticks[i - 1]!.stampNs, "stamps only grow");
    // Every tick after the attack still has its LiDAR sweep and a valid ego state that kept moving.
    const after = ticks.filter((t) => t.stampNs > STAMP0 + 2050 * MS && t.trigger === "reference");
    assert.ok(after.length >= 8, `${after.length} ticks after the attack`);
    for (const t of after) {
      assert.equal(t.inputs.find((i) => i.sensorId === "lidar")!.status, "present");
      assert.ok(t.ego.valid, "ego stays valid");
      assert.ok(t.ego.x > 15, `ego x ${t.ego.x.toFixed(1)} m: kept its track`);
    }
  });

  it("future-stamped messages are dropped without flagging the real sensors CLOCK_SKEW", () => {
    const arr = honest(0, 3000);
    // One forged message per sensor kind, 5 s ahead, spread over a second.
    arr.push(
      forged(lidarMsg(STAMP0 + 6000 * MS), 1001),
      forged(radarMsg(STAMP0 + 6300 * MS), 1302),
      forged(cameraMsg(STAMP0 + 6600 * MS), 1603),
      forged(gnssMsg(STAMP0 + 6900 * MS, LAT0, LON0), 1904),
    );
    const { c, ticks } = run(arr);
    const d = c.diagnostics();
    assert.equal(d.resets, 0);
    for (const id of ["lidar", "radar", "cam", "gnss"]) assert.equal(d.drops[id]?.["clock_skew"], 1, id);
    for (const t of ticks) assert.deepEqual(t.diagnostics.clockSkew, [], `tick ${t.seq}`);
    const after = ticks.filter((t) => t.stampNs > STAMP0 + 2000 * MS && t.trigger === "reference");
    for (const t of after)
      assert.ok(
        t.inputs.every((i) => i.status === "present"),
        `tick ${t.seq}`,
      );
  });

  it("a sensor whose clock really is 500 ms ahead is still flagged CLOCK_SKEW", () => {
    const arr = honest(0, 2000).filter((a) => a.msg.header.sensorId !== "radar");
    arr.push(
      ...periodic((t) => radarMsg(t + 500 * MS), { startMs: 0, periodMs: 100, count: 20, latencyMs: 4 }),
    );
    const { c } = run(arr);
    assert.deepEqual(c.diagnostics().clockSkew, ["radar"]);
    assert.equal(c.diagnostics().resets, 0);
  });

  it("forged stale stamps of two sensors do not outvote the rest of the vehicle", () => {
    const arr = honest(0, 3000);
    arr.push(forged(lidarMsg(STAMP0 - 3000 * MS), 2051), forged(radarMsg(STAMP0 - 3000 * MS), 2052));
    const { c } = run(arr);
    assert.equal(c.diagnostics().resets, 0);
    assert.equal(c.diagnostics().drops["lidar"]?.["backward_jump"], 1);
    assert.equal(c.diagnostics().drops["radar"]?.["backward_jump"], 1);
  });

  it("a real backward jump (the log restarts) still resets, once, when the sensors agree", () => {
    // 2 s of driving, then every sensor starts again from stamp 0, 200 ms later.
    const arr = [...honest(0, 2000), ...honest(0, 1500).map((a) => ({ ...a, atMs: a.atMs + 2200 }))];
    const { c, ticks } = run(arr);
    assert.equal(c.diagnostics().resets, 1);
    const reset = ticks.findIndex((t) => t.reset);
    assert.ok(reset > 0);
    assert.ok(ticks[reset]!.stampNs < STAMP0 + 300 * MS, "the reset tick is on the new time");
    const tail = ticks.slice(reset + 2).filter((t) => t.trigger === "reference");
    assert.ok(tail.length >= 8);
    for (const t of tail)
      assert.ok(
        t.inputs.every((i) => i.status === "present"),
        `tick ${t.seq}`,
      );
    assert.ok(tail.at(-1)!.ego.valid);
  });

  it("a lone LiDAR (no other live sensor) that loops resets after a short run of sweeps", () => {
    const arr = [
      ...periodic((t) => lidarMsg(t), { startMs: 0, periodMs: 100, count: 20, latencyMs: 5 }),
      ...periodic((t) => lidarMsg(t), { startMs: 0, periodMs: 100, count: 10, latencyMs: 2105 }),
    ];
    const { c, ticks } = run(arr, new Collector(testRig(), { vehicle: VEH }));
    assert.equal(c.diagnostics().resets, 1);
    assert.equal(c.diagnostics().drops["lidar"]?.["backward_jump"], 2, "two sweeps wait for the run");
    assert.ok(ticks.some((t) => t.reset));
  });
});

describe("stamp jumps forward", () => {
  it("every sensor's stamps step 5 s ahead (a clock step): the consensus is rebuilt, no reset", () => {
    const arr = [...honest(0, 2000), ...honest(2000, 1500, 5000)];
    const { c, ticks } = run(arr);
    assert.equal(c.diagnostics().resets, 0);
    const tail = ticks.filter((t) => t.stampNs > STAMP0 + 7300 * MS && t.trigger === "reference");
    assert.ok(tail.length >= 8, `${tail.length} ticks on the new time`);
    for (const t of tail)
      assert.ok(
        t.inputs.every((i) => i.status === "present"),
        `tick ${t.seq}`,
      );
    assert.deepEqual(tail.at(-1)!.diagnostics.clockSkew, []);
  });
});
