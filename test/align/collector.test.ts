/** The I/O-free collector core: bounded buffers and counters (driven directly, no RxJS). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Collector, OTHER_IDS } from "../../src/align/collector.ts";
import { envelope, lidarMsg, MS, radarMsg, STAMP0, testRig, VEH } from "./fixtures.ts";

describe("Collector bounds", () => {
  it("counters of invented sensor ids are bounded", () => {
    const c = new Collector(testRig(), { vehicle: VEH });
    for (let i = 0; i < 200; i++) c.ingest(envelope(radarMsg(STAMP0, undefined, `x${i}`), 0), 0);
    const keys = Object.keys(c.diagnostics().drops);
    assert.ok(keys.length <= 33, `${keys.length} counter keys`);
    assert.equal(c.diagnostics().drops[OTHER_IDS]?.["unknown_sensor"], 200 - 32);
  });

  it("a per-sensor buffer never grows past buffer_len; the excess is counted", () => {
    const c = new Collector(testRig({ align: { buffer_len: 8 } }), { vehicle: VEH });
    // Radar messages with no tick to consume them (the reference never speaks).
    for (let i = 0; i < 20; i++) c.ingest(envelope(radarMsg(STAMP0 + i * MS), i * MS), i * MS);
    assert.equal(c.diagnostics().drops["radar"]?.["buffer_full"], 12);
  });

  it("pending ticks are bounded: the oldest is emitted early and counted", () => {
    // The radar is live but silent for the new ticks: each LiDAR sweep waits for its timeout.
    // (The sweeps' stamps run 400 ms ahead of their arrivals: the clock-sanity band is widened.)
    const c = new Collector(testRig({ align: { max_pending_ticks: 2, max_future_ms: 1000 } }), {
      vehicle: VEH,
    });
    c.ingest(envelope(radarMsg(STAMP0), 1 * MS), 1 * MS);
    const out = [];
    for (let k = 1; k <= 4; k++) {
      const t = k * MS; // four sweeps arriving within 4 ms (a burst after a stall)
      out.push(...c.ingest(envelope(lidarMsg(STAMP0 + k * 100 * MS), t), t));
    }
    assert.equal(out.length, 2);
    assert.deepEqual(
      out.map((t) => (t.stampNs - STAMP0) / MS),
      [100, 200],
    );
    assert.equal(c.diagnostics().drops["lidar"]?.["pending_overflow"], 2);
  });
});

describe("Collector LiDAR preparation", () => {
  it("a slower second LiDAR's sweep serves two ticks; every tick gets its own points array", () => {
    const rig = testRig({
      sensors: [
        { id: "lidar", kind: "lidar", rate_hz: 10, extrinsic: { translation_m: [1, 0, 2] } },
        { id: "lidar_rear", kind: "lidar", rate_hz: 5, extrinsic: { translation_m: [-1, 0, 2] } },
      ],
    });
    const c = new Collector(rig, { vehicle: VEH });
    const out = [];
    // Rear sweep at 0 ms; reference sweeps at 0 and 100 ms (both within the rear's 100 ms window).
    out.push(...c.ingest(envelope(lidarMsg(STAMP0, [[-5, 0, 0]], "lidar_rear"), 1 * MS), 1 * MS));
    out.push(...c.ingest(envelope(lidarMsg(STAMP0, [[10, 0, 0]]), 2 * MS), 2 * MS));
    out.push(...c.ingest(envelope(lidarMsg(STAMP0 + 100 * MS, [[10, 0, 0]]), 102 * MS), 102 * MS));
    assert.equal(out.length, 2);
    for (const t of out) {
      assert.equal(t.lidar?.count, 2);
      assert.deepEqual(Array.from(t.lidar!.data), [11, 0, 2, 0.5, -6, 0, 2, 0.5]);
    }
    assert.notEqual(out[0]!.lidar!.data, out[1]!.lidar!.data);
  });
});
