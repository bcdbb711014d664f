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
function traffic(
  count: number,
  o: { lidarSkip?: number[]; radarSkip?: number[]; camSkip?: number[]; warmCam?: boolean } = {},
) {
  // warmCam: one earlier camera frame (stamp -100, arriving at 0), so that the camera is live at
  // the first tick and the first tick waits for it.
  const warm: Arrival[] = o.warmCam ? [{ atMs: 0, msg: cameraMsg(STAMP0 - 100 * MS) }] : [];
  return [
    ...warm,
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

describe("alignVehicle (marble): disorder, duplicates, resets, late data, clocks", () => {
  it("a late sweep upgrades its pending timer tick", () => {
    // LiDAR stamp 300 arrives at 365 (timer tick opened at 360); the radar, late too, holds it.
    const arr = traffic(4, { lidarSkip: [3], radarSkip: [3], warmCam: true });
    arr.push(
      { atMs: 365, msg: lidarMsg(STAMP0 + 300 * MS) },
      { atMs: 370, msg: radarMsg(STAMP0 + 300 * MS) },
    );
    expectTicks(
      arr,
      [
        [12, "reference@0 lidar=P radar=P cam=P"],
        [112, "reference@100 lidar=P radar=P cam=P"],
        [212, "reference@200 lidar=P radar=P cam=P"],
        [370, "reference@300 lidar=P radar=P cam=P"],
      ],
      370,
      testRig(),
      (ticks) => assert.equal(ticks.at(-1)!.diagnostics.ticks?.timer, 0),
    );
  });

  it("out-of-order: a reordered input within the window is used; older input is dropped", () => {
    const arr = traffic(3, { radarSkip: [1] });
    // Radar stamp 120 arrives before stamp 100; stamp 40 arrives after both (beyond 50 ms).
    arr.push({ atMs: 104, msg: radarMsg(STAMP0 + 120 * MS) });
    arr.push({ atMs: 108, msg: radarMsg(STAMP0 + 100 * MS) });
    arr.push({ atMs: 109, msg: radarMsg(STAMP0 + 40 * MS) });
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=P cam=M"],
        [112, "reference@100 lidar=P radar=P cam=P"],
        [212, "reference@200 lidar=P radar=P cam=P"],
      ],
      212,
      testRig(),
      (ticks) => {
        const radar = ticks[1]!.inputs.find((i) => i.sensorId === "radar")!;
        assert.equal(radar.stampNs, STAMP0 + 100 * MS); // nearest, although it came second
        assert.equal(ticks[2]!.diagnostics.drops["radar"]?.["out_of_order"], 1);
      },
    );
  });

  it("out-of-order reference: ticks still come out in stamp order", () => {
    // Camera dead from the start (never waited for); radar latency 15 ms; LiDAR stamps 200 and 300
    // swapped in transit. The reorder window is raised to 150 ms (one reference period is 100 ms) and
    // the grace to 120 ms (so that no timer tick intervenes).
    const arr: Arrival[] = [
      ...periodic((t) => radarMsg(t), { startMs: 0, periodMs: 100, count: 4, latencyMs: 15 }),
      { atMs: 10, msg: lidarMsg(STAMP0) },
      { atMs: 110, msg: lidarMsg(STAMP0 + 100 * MS) },
      { atMs: 305, msg: lidarMsg(STAMP0 + 300 * MS) },
      { atMs: 307, msg: lidarMsg(STAMP0 + 200 * MS) },
    ];
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=M cam=M"], // radar not seen yet: not waited for
        [115, "reference@100 lidar=P radar=P cam=M"],
        [307, "reference@200 lidar=P radar=P cam=M"],
        [315, "reference@300 lidar=P radar=P cam=M"],
      ],
      315,
      testRig({ align: { reference_grace_ms: 120, reorder_window_ms: 150 } }),
    );
  });

  it("duplicates are dropped and counted", () => {
    const arr = traffic(3);
    arr.push({ atMs: 111, msg: arr.find((a) => a.atMs === 110)!.msg }); // LiDAR stamp 100 again
    arr.push({ atMs: 106, msg: arr.find((a) => a.atMs === 105)!.msg }); // radar stamp 100 again
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=P cam=M"],
        [112, "reference@100 lidar=P radar=P cam=P"],
        [212, "reference@200 lidar=P radar=P cam=P"],
      ],
      212,
      testRig(),
      (ticks) => {
        const d = ticks.at(-1)!.diagnostics.drops;
        assert.equal(d["lidar"]?.["duplicate"], 1);
        assert.equal(d["radar"]?.["duplicate"], 1);
      },
    );
  });

  it("backward time jump over 1 s (looped replay): resets and says so, once the sensors agree", () => {
    // Stamps 0..1200 (arrivals 5..1212), then the log loops: stamps 0.. again, 1.3 s later.
    const first = traffic(13);
    const loop = traffic(4).map((a) => ({ ...a, atMs: a.atMs + 1300 }));
    const expected: [number, string][] = [[10, "reference@0 lidar=P radar=P cam=M"]];
    for (let k = 1; k < 13; k++) expected.push([k * 100 + 12, `reference@${k * 100} lidar=P radar=P cam=P`]);
    // The looped stamps 0 (1305-1312) are each a lone jump: dropped (backward_jump), and the
    // reference being overdue, a timer tick @1300 goes out at 1400. Radar (1405) and LiDAR (1410)
    // then jump again: two sensors whose runs lasted a period agree and outnumber the camera, still
    // on the old time: the LiDAR's sweep @100 resets the aligner; its tick waits for the radar's
    // timeout (30 ms; the radar's @100 was one of the dropped ones).
    expected.push(
      [1400, "timer@1300 lidar=M radar=M cam=M"],
      [1440, "reference@100 lidar=P radar=M cam=P"],
      [1512, "reference@200 lidar=P radar=P cam=P"],
      [1612, "reference@300 lidar=P radar=P cam=P"],
    );
    expectTicks([...first, ...loop], expected, 1612, testRig(), (ticks) => {
      assert.equal(ticks[13]!.reset, false);
      assert.equal(ticks[14]!.reset, true);
      assert.equal(ticks[15]!.reset, false);
      assert.equal(ticks[14]!.diagnostics.resets, 1);
      assert.equal(ticks[14]!.diagnostics.drops["radar"]?.["backward_jump"], 2);
      assert.deepEqual(ticks[15]!.diagnostics.clockSkew, [], "the clock consensus is rebuilt");
      assert.ok(ticks[15]!.seq > ticks[12]!.seq, "sequence numbers keep increasing");
    });
  });

  it("late data, policy drop: counted and dropped", () => {
    const arr = traffic(3, { camSkip: [1], warmCam: true });
    arr.push({ atMs: 160, msg: cameraMsg(STAMP0 + 100 * MS) }); // after its tick (deadline 150)
    expectTicks(
      arr,
      [
        [12, "reference@0 lidar=P radar=P cam=P"],
        [150, "reference@100 lidar=P radar=P cam=M"],
        [212, "reference@200 lidar=P radar=P cam=P"],
      ],
      212,
      testRig(),
      (ticks) => {
        assert.equal(ticks.at(-1)!.diagnostics.drops["cam"]?.["late"], 1);
        assert.equal(ticks.at(-1)!.cameras[0]!.stampNs, STAMP0 + 200 * MS);
      },
    );
  });

  it("late data, policy next: used by the next tick with status late", () => {
    const arr = traffic(4, { camSkip: [1, 2, 3], warmCam: true });
    arr.push({ atMs: 160, msg: cameraMsg(STAMP0 + 100 * MS) });
    expectTicks(
      arr,
      [
        [12, "reference@0 lidar=P radar=P cam=P"],
        [150, "reference@100 lidar=P radar=P cam=M"],
        [250, "reference@200 lidar=P radar=P cam=L"],
        [310, "reference@300 lidar=P radar=P cam=M"], // input completes at 310: flushed
      ],
      310,
      testRig({ align: { late_policy: "next" } }),
      (ticks) => {
        const t = ticks[2]!;
        assert.equal(t.cameras.length, 1);
        assert.equal(t.cameras[0]!.status, "late");
        assert.equal(t.cameras[0]!.stampNs, STAMP0 + 100 * MS);
        assert.equal(t.diagnostics.drops["cam"]?.["late"], 1);
        assert.equal(ticks[3]!.cameras.length, 0, "carried data is used once");
      },
    );
  });

  it("clock sanity: a sensor stamping 500 ms in the future is flagged CLOCK_SKEW, not matched", () => {
    const arr = [
      ...periodic((t) => lidarMsg(t), { startMs: 0, periodMs: 100, count: 4, latencyMs: 10 }),
      ...periodic((t) => radarMsg(t + 500 * MS), { startMs: 0, periodMs: 100, count: 4, latencyMs: 5 }),
      ...periodic((t) => cameraMsg(t), { startMs: 0, periodMs: 100, count: 4, latencyMs: 2 }),
    ];
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=M cam=P"],
        [110, "reference@100 lidar=P radar=M cam=P"],
        [210, "reference@200 lidar=P radar=M cam=P"],
        [310, "reference@300 lidar=P radar=M cam=P"],
      ],
      310,
      testRig(),
      (ticks) => {
        const d = ticks.at(-1)!.diagnostics;
        assert.deepEqual(d.clockSkew, ["radar"]);
        assert.ok((d.drops["radar"]?.["clock_skew"] ?? 0) >= 3);
      },
    );
  });

  it("other vehicles and unknown sensors are counted, never thrown", () => {
    const arr = traffic(2);
    const foreign = lidarMsg(STAMP0 + 50 * MS);
    foreign.header.vehicle = "other";
    const unknown = radarMsg(STAMP0 + 50 * MS, undefined, "radar_x");
    arr.push({ atMs: 60, msg: foreign }, { atMs: 61, msg: unknown });
    expectTicks(
      arr,
      [
        [10, "reference@0 lidar=P radar=P cam=M"],
        [112, "reference@100 lidar=P radar=P cam=P"],
      ],
      112,
      testRig(),
      (ticks) => {
        const d = ticks.at(-1)!.diagnostics.drops;
        assert.equal(d["lidar"]?.["wrong_vehicle"], 1);
        assert.equal(d["radar_x"]?.["unknown_sensor"], 1);
      },
    );
  });

  it("a source error is forwarded after the ticks already emitted", () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      const src = cold("10ms a 4ms #", { a: envelopeAt(lidarMsg(STAMP0), 10) }, new Error("broker gone"));
      const out = src.pipe(alignVehicle(testRig(), { vehicle: VEH, scheduler: ts }), map(summary));
      expectObservable(out).toBe(
        "10ms a 4ms #",
        { a: "reference@0 lidar=P radar=M cam=M" },
        new Error("broker gone"),
      );
    });
  });

  it("unsubscribe: the source is released and no timer stays scheduled", () => {
    const ts = newScheduler();
    let live = 0;
    // A scheduler view that counts outstanding actions.
    const counting = {
      now: () => ts.now(),
      schedule: (work: () => void, delay?: number) => {
        live++;
        let done = false;
        const sub = ts.schedule(() => {
          done = true;
          live--;
          work();
        }, delay);
        sub.add(() => {
          if (!done) {
            done = true;
            live--;
          }
        });
        return sub;
      },
    };
    ts.run(({ cold, expectObservable, expectSubscriptions, flush }) => {
      const src = cold("10ms a 99ms b 500ms |", {
        a: envelopeAt(lidarMsg(STAMP0), 10),
        b: envelopeAt(lidarMsg(STAMP0 + 100 * MS), 110),
      });
      // radar and camera are never seen: ticks need nothing else; timer ticks would follow.
      const out = src.pipe(
        alignVehicle(testRig(), { vehicle: VEH, scheduler: counting as never }),
        map(summary),
      );
      expectObservable(out, "^ 150ms !").toBe("10ms a 99ms b", {
        a: "reference@0 lidar=P radar=M cam=M",
        b: "reference@100 lidar=P radar=M cam=M",
      });
      expectSubscriptions(src.subscriptions).toBe("^ 150ms !");
      flush();
      assert.equal(live, 0, "a timer outlived the subscription");
    });
  });
});

function envelopeAt(msg: ReturnType<typeof lidarMsg>, atMs: number) {
  return { msg, arrivalNs: atMs * MS, bytes: 0 };
}
