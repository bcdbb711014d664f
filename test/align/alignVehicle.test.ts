/**
 * Marble tests of the align operator (RxJS TestScheduler, virtual time; 1 frame = 1 ms).
 * Rig: LiDAR reference 10 Hz, radar 10 Hz (timeout 30 ms), camera 10 Hz (timeout 40 ms); default
 * stale time 300 ms, jitter windows 50 ms, reference grace 50 ms.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { map } from "rxjs/operators";
import { TestScheduler } from "rxjs/testing";
import { alignVehicle } from "../../src/align/index.ts";
import type { AlignedTick } from "../../src/align/types.ts";
import {
  type Arrival,
  cameraMsg,
  deliver,
  lidarMsg,
  MS,
  marbleAt,
  periodic,
  radarMsg,
  STAMP0,
  summary,
  testRig,
  VEH,
} from "./fixtures.ts";

const newScheduler = () => new TestScheduler((a, e) => assert.deepStrictEqual(a, e));

/** Standard traffic: every sensor at 0, 100, ... (count stamps); latencies lidar 10, radar 5, cam 12. */
function traffic(count: number, o: { lidarSkip?: number[]; radarSkip?: number[]; camSkip?: number[] } = {}) {
  return [
    ...periodic((t) => lidarMsg(t), { startMs: 0, periodMs: 100, count, latencyMs: 10, skip: o.lidarSkip }),
    ...periodic((t) => radarMsg(t), { startMs: 0, periodMs: 100, count, latencyMs: 5, skip: o.radarSkip }),
    ...periodic((t) => cameraMsg(t), { startMs: 0, periodMs: 100, count, latencyMs: 12, skip: o.camSkip }),
  ];
}

/** Run arrivals through alignVehicle and compare summaries with expected [frame, summary] pairs. */
function expectTicks(
  arrivals: Arrival[],
  expected: [number, string][],
  completeAt: number,
  rig = testRig(),
  inspect?: (ticks: AlignedTick[]) => void,
) {
  const ts = newScheduler();
  const ticks: AlignedTick[] = [];
  ts.run(({ expectObservable }) => {
    const out = deliver(arrivals, ts).pipe(alignVehicle(rig, { vehicle: VEH, scheduler: ts }));
    const letters = "abcdefghijklmnopqrstuvwxyz";
    const values: Record<string, string> = {};
    expected.forEach(([, s], i) => {
      values[letters[i]!] = s;
    });
    const marble = marbleAt(
      expected.map(([f], i) => [f, letters[i]!]),
      completeAt,
    );
    expectObservable(
      out.pipe(
        map((t) => {
          ticks.push(t);
          return summary(t);
        }),
      ),
    ).toBe(marble, values);
  });
  inspect?.(ticks);
}

describe("alignVehicle (marble)", () => {
  it("complete set: a tick as soon as every live input delivered its match", () => {
    expectTicks(
      traffic(3),
      [
        // The camera has never been seen at the first tick: not live, not waited for.
        [10, "reference@0 lidar=P radar=P cam=M"],
        [112, "reference@100 lidar=P radar=P cam=P"],
        [212, "reference@200 lidar=P radar=P cam=P"],
      ],
      212,
    );
  });

  it("one input late within its window: the tick waits for it", () => {
    const arr = traffic(3, { camSkip: [1] });
    arr.push({ atMs: 135, msg: cameraMsg(STAMP0 + 100 * MS) }); // deadline 110 + 40 = 150
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=P cam=M"],
        [135, "reference@100 lidar=P radar=P cam=P"],
        [212, "reference@200 lidar=P radar=P cam=P"],
      ],
      212,
    );
  });

  it("one input dead: tick after its timeout marked missing, then not waited for once stale", () => {
    // Camera sends stamps 0 and 100 (arrivals 12, 112) and dies; stale after 300 ms (at 412).
    const arr = traffic(7, { camSkip: [2, 3, 4, 5, 6] });
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=P cam=M"],
        [112, "reference@100 lidar=P radar=P cam=P"],
        [250, "reference@200 lidar=P radar=P cam=M"], // 210 + timeout 40
        [350, "reference@300 lidar=P radar=P cam=M"],
        [412, "reference@400 lidar=P radar=P cam=M"], // camera turned stale before its timeout
        [510, "reference@500 lidar=P radar=P cam=M"], // dead: no wait at all
        [610, "reference@600 lidar=P radar=P cam=M"],
      ],
      610, // the last input (LiDAR stamp 600) arrives at 610
    );
  });

  it("reference lost: timer ticks at its nominal rate", () => {
    // LiDAR sends stamps 0..200 and dies; radar and camera go on until stamp 500.
    const arr = traffic(6, { lidarSkip: [3, 4, 5] });
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=P cam=M"],
        [112, "reference@100 lidar=P radar=P cam=P"],
        [212, "reference@200 lidar=P radar=P cam=P"],
        // Expected arrival 310 + grace 50 = 360: timer tick at stamp 300.
        [360, "timer@300 lidar=M radar=P cam=P"],
        [460, "timer@400 lidar=M radar=P cam=P"],
        // The source completes at 512, before the timer tick of stamp 500 is due (560).
      ],
      512,
      testRig(),
      (ticks) => {
        assert.equal(ticks.at(-1)!.diagnostics.ticks?.timer, 2);
        assert.equal(ticks[3]!.lidar, null);
        assert.ok(ticks[3]!.radar);
      },
    );
  });

  it("reference comes back after timer ticks: reference ticks resume, no duplicate stamps", () => {
    const arr = traffic(8, { lidarSkip: [3, 4] });
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=P cam=M"],
        [112, "reference@100 lidar=P radar=P cam=P"],
        [212, "reference@200 lidar=P radar=P cam=P"],
        [360, "timer@300 lidar=M radar=P cam=P"],
        [460, "timer@400 lidar=M radar=P cam=P"],
        [512, "reference@500 lidar=P radar=P cam=P"],
        [612, "reference@600 lidar=P radar=P cam=P"],
        [712, "reference@700 lidar=P radar=P cam=P"],
      ],
      712,
    );
  });
});
