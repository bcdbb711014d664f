/** healthTimer: evaluations at stale deadlines and at the report period, on virtual time. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TestScheduler } from "rxjs/testing";
import { HealthMonitor } from "../../src/health/index.ts";
import { healthTimer } from "../../src/health/timer.ts";
import { SensorState } from "../../src/msg/types.ts";
import { envelope, MS, payloadFor, rng, simRig, stateOf } from "./fixtures.ts";

describe("healthTimer", () => {
  test("notices a stale sensor at its timeout (not at the next tick) and reports at the period", () => {
    const rig = simRig();
    const ts = new TestScheduler(assert.deepStrictEqual);
    const r = rng(1);
    ts.run(({ flush }) => {
      const now = () => ts.now() * MS;
      const mon = new HealthMonitor("v1", rig);
      const events: { atMs: number; periodic: boolean; lidar: number }[] = [];
      const sub = healthTimer(mon, { now, scheduler: ts, periodMs: 1000 }).subscribe((e) =>
        events.push({ atMs: ts.now(), periodic: e.periodic, lidar: stateOf(e.snapshot, "lidar").state }),
      );
      // every sensor publishes for 2 s; the LiDAR stops at 1 s (last message at 0.9 s)
      for (const s of rig.sensors) {
        const periodMs = 1000 / s.rate_hz;
        for (let t = 0; t < 2000; t += periodMs) {
          if (s.id === "lidar" && t >= 1000) continue;
          ts.schedule(() => mon.onMessage(envelope("v1", s.id, payloadFor(s, r), now(), now())), t);
        }
      }
      ts.schedule(() => sub.unsubscribe(), 3500);
      flush();
      const stale = events.find((e) => e.lidar === SensorState.STALE)!;
      assert.ok(stale, "lidar went STALE");
      const lidarStaleMs = rig.sensors.find((s) => s.id === "lidar")!.stale_ms;
      assert.ok(
        stale.atMs > 900 + lidarStaleMs && stale.atMs <= 900 + lidarStaleMs + 2,
        `at ${stale.atMs} ms`,
      );
      assert.deepEqual(
        events.filter((e) => e.periodic).map((e) => e.atMs),
        [1000, 2000, 3000],
      );
      // after unsubscribe nothing fires
      assert.ok(events.every((e) => e.atMs <= 3500));
    });
  });
});
