/**
 * The fleet runtime (src/runtime/fleet.ts) in virtual time: admission, eviction, isolation, replay
 * backpressure and live shedding. The engine is a stand-in whose fusion takes a set virtual time, so
 * that timing is exact; the aligner, health monitor and frame assembly are the real ones.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { filter, map, type Observable, tap, timer } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import type { AlignedTick } from "../../src/align/types.ts";
import type { FusionResult } from "../../src/fusion/types.ts";
import type { SensorEnvelope } from "../../src/msg/types.ts";
import { vehicleIdProblem } from "../../src/runtime/admission.ts";
import {
  createFleet,
  type Fleet,
  type FleetEvent,
  type FleetInput,
  type FleetOptions,
  fleetPipeline,
  fleetReplay,
} from "../../src/runtime/fleet.ts";
import type { FleetEngine } from "../../src/runtime/vehicle.ts";
import { createLogger } from "../../src/util/log.ts";
import { envelope, lidarMsg, MS, STAMP0, testRig } from "../align/fixtures.ts";

/** LiDAR only: every sweep is a tick of its own, emitted when it arrives; no timer ticks once the
 *  sweeps stop (idle after 100 ms). */
const rig = testRig({ sensors: [{ id: "lidar", kind: "lidar", rate_hz: 10 }], align: { idle_stop_ms: 100 } });
const quiet = createLogger({ level: "error", write: () => {} });
const EMPTY: FusionResult = { objects: [], gates: { lidar: 1, radar: 0, camera: 0 } };

/** A LiDAR sweep of `vehicle` stamped at `k` periods (100 ms), arriving at virtual ms `atMs`. */
function sweep(vehicle: string, k: number, atMs: number): SensorEnvelope {
  const m = lidarMsg(STAMP0 + k * 100 * MS);
  return envelope({ ...m, header: { ...m.header, vehicle } }, atMs * MS);
}

/** Engine whose fusion takes `ms` on the scheduler; records the ticks it fused. */
function slowEngine(ts: TestScheduler | null, ms: number) {
  const fused: AlignedTick[] = [];
  const released: string[] = [];
  const engine: FleetEngine = {
    mode: "test",
    fuse: (tick) =>
      (ts ? timer(ms, ts) : timer(ms)).pipe(
        tap(() => fused.push(tick)),
        map(() => EMPTY),
      ),
    release: (v) => released.push(v),
  };
  return { engine, fused, released };
}

function liveOptions(ts: TestScheduler, engine: FleetEngine, more: Partial<FleetOptions> = {}): FleetOptions {
  return { mode: "live", rig, engine, scheduler: ts, now: () => ts.now() * MS, logger: quiet, ...more };
}

const newScheduler = () => new TestScheduler((a, b) => assert.deepEqual(a, b));

describe("fleet runtime", () => {
  test("vehicle ids: length at most 64 and the documented character set", () => {
    assert.equal(vehicleIdProblem("sim-1"), null);
    assert.equal(vehicleIdProblem("n008:scene-0523.v_2"), null);
    assert.equal(vehicleIdProblem("a".repeat(64)), null);
    assert.match(vehicleIdProblem("a".repeat(65))!, /longer than 64/);
    for (const bad of ["", "a b", "a+b", "a#", "_service", "-x", "é"]) assert.ok(vehicleIdProblem(bad), bad);
  });

  test("admission: invalid ids and vehicles beyond the maximum are refused into one bounded bucket", () => {
    const ts = newScheduler();
    ts.run(({ hot, flush }) => {
      const { engine } = slowEngine(ts, 1);
      const fleet = createFleet(liveOptions(ts, engine, { maxVehicles: 2 }));
      const events: FleetEvent[] = [];
      fleet.events$.subscribe((e) => events.push(e));
      const inputs: Record<string, SensorEnvelope> = {
        a: sweep("v1", 0, 0),
        b: sweep("v2", 0, 1),
        c: sweep("v3", 0, 2), // over capacity
        d: sweep("bad id!", 0, 3), // invalid
        e: sweep("x".repeat(65), 0, 4), // too long
        f: sweep("v1", 1, 100),
      };
      hot("abcde 95ms f", inputs).subscribe((x) => fleet.push(x));
      ts.schedule(() => fleet.stop(), 1000);
      fleet.push({
        failure: { topic: "t", vehicle: "ghost", sensorId: "s", code: "E_X", message: "", arrivalNs: 0 },
      });
      let s = fleet.stats();
      ts.schedule(() => {
        s = fleet.stats();
      }, 999);
      flush();
      assert.deepEqual(
        events.filter((e) => e.type === "admitted").map((e) => e.vehicle),
        ["v1", "v2"],
      );
      assert.deepEqual(Object.keys(s.vehicles).sort(), ["v1", "v2"]);
      assert.deepEqual(s.unadmitted, {
        messages: 3,
        decodeErrors: 1,
        invalid_id: 2,
        capacity: 1,
        no_rig: 0,
      });
      assert.equal(s.vehicles.v1!.messages, 2);
      assert.equal(s.vehicles.v1!.frames, 2);
    });
  });

  test("eviction: a silent vehicle is released after the idle time and re-admitted when it returns", () => {
    const ts = newScheduler();
    ts.run(({ hot, flush }) => {
      const { engine, released } = slowEngine(ts, 1);
      const fleet = createFleet(liveOptions(ts, engine, { idleEvictMs: 1000 }));
      const events: string[] = [];
      fleet.events$.subscribe((e) => {
        if (e.type !== "health" && e.type !== "frame") events.push(`${ts.now()} ${e.type} ${e.vehicle}`);
      });
      // v1 talks at 0 and 100 ms, then is silent; v2 keeps talking every 500 ms until 2.5 s
      const v2 = (k: number) => sweep("v2", k, k * 500);
      hot("a 99ms b", { a: sweep("v1", 0, 0), b: sweep("v1", 1, 100) }).subscribe((x) => fleet.push(x));
      hot("a 499ms b 499ms c 499ms d 499ms e 499ms f", {
        a: v2(0),
        b: v2(1),
        c: v2(2),
        d: v2(3),
        e: v2(4),
        f: v2(5),
      }).subscribe((x) => fleet.push(x));
      ts.schedule(() => fleet.push(sweep("v1", 40, 4000)), 4000);
      let releasedBeforeStop: string[] = [];
      ts.schedule(() => {
        releasedBeforeStop = [...released];
        fleet.stop();
      }, 5000);
      flush();
      // the sweep runs every 100 ms (idle/10): v1 last seen at 100 ms -> evicted at the first sweep
      // at or after 1100 ms; v2 last seen at 2500 ms -> evicted at 3500 ms
      assert.deepEqual(events, [
        "0 admitted v1",
        "0 admitted v2",
        "1100 evicted v1",
        "3500 evicted v2",
        "4000 admitted v1",
      ]);
      assert.deepEqual(releasedBeforeStop, ["v1", "v2"], "engine state released at eviction");
    });
  });

  test("isolation: a stage that throws for one vehicle restarts that vehicle only, counted once per failure", () => {
    const ts = newScheduler();
    ts.run(({ hot, flush }) => {
      const { engine, fused } = slowEngine(ts, 1);
      const fleet = createFleet(
        liveOptions(ts, engine, {
          // v2's stages throw on its sweep number 2 (a stage bug triggered by one message)
          preStage: (v) =>
            tap((env) => {
              if (v === "v2" && env.msg.header.stampNs === STAMP0 + 200 * MS) throw new Error("boom");
            }),
        }),
      );
      const events: FleetEvent[] = [];
      fleet.events$.subscribe((e) => events.push(e));
      const at = (k: number) => k * 100;
      const inputs = (v: string) =>
        hot("a 99ms b 99ms c 99ms d 99ms e", {
          a: sweep(v, 0, at(0)),
          b: sweep(v, 1, at(1)),
          c: sweep(v, 2, at(2)),
          d: sweep(v, 3, at(3)),
          e: sweep(v, 4, at(4)),
        });
      inputs("v1").subscribe((x) => fleet.push(x));
      inputs("v2").subscribe((x) => fleet.push(x));
      let stats = fleet.stats();
      ts.schedule(() => {
        stats = fleet.stats();
        fleet.stop();
      }, 1000);
      flush();
      const restarts = events.filter((e) => e.type === "restarted");
      assert.deepEqual(
        restarts.map((e) => [e.vehicle, (e as { error: string }).error]),
        [["v2", "boom"]],
      );
      const framesOf = (v: string) =>
        events
          .filter((e) => e.type === "frame" && e.vehicle === v)
          .map((e) => (e as { tick: AlignedTick }).tick.seq);
      assert.deepEqual(framesOf("v1"), [0, 1, 2, 3, 4], "v1 untouched");
      // v2: sweeps 0, 1 fused; 2 lost with the failure; the rebuilt pipeline starts a new sequence
      assert.deepEqual(framesOf("v2"), [0, 1, 0, 1]);
      assert.equal(stats.vehicles.v2!.restarts, 1);
      assert.equal(stats.vehicles.v1!.restarts, 0);
      assert.equal(stats.restarts, 1);
      assert.equal(fused.filter((t) => t.vehicle === "v1").length, 5);
    });
  });

  test("live: fusion busy sheds the oldest waiting tick and counts it", () => {
    const ts = newScheduler();
    ts.run(({ hot, expectObservable }) => {
      const { engine } = slowEngine(ts, 250);
      // sweeps every 100 ms; fusion takes 250 ms: tick 0 fused at 250, tick 1 dropped for 2, ...
      const input$ = hot<FleetInput>("a 99ms b 99ms c 99ms d 99ms e 99ms f 299ms |", {
        a: sweep("v1", 0, 0),
        b: sweep("v1", 1, 100),
        c: sweep("v1", 2, 200),
        d: sweep("v1", 3, 300),
        e: sweep("v1", 4, 400),
        f: sweep("v1", 5, 500),
      });
      let fleet: Fleet | null = null;
      const frames$: Observable<number> = fleetPipeline(input$, liveOptions(ts, engine), (f) => {
        fleet = f;
      }).pipe(
        filter((e) => e.type === "frame"),
        map((e) => (e as { tick: AlignedTick }).tick.seq),
      );
      // tick 0 at 0 -> fused at 250; 1 and 2 wait (2 replaces 1) -> 2 fused at 500; 3, 4 and 5
      // arrive while 2 runs (5 kept) -> 5 fused at 750; the input completes at 800
      expectObservable(frames$).toBe("250ms a 249ms b 249ms c 49ms |", { a: 0, b: 2, c: 5 });
      ts.schedule(() => assert.equal(fleet!.stats().fusionDrops, 3), 799);
    });
  });

  test("live: a tick's LiDAR buffer is reused only once its fusion is done; replay keeps every tick's points", () => {
    // 1,200-point sweeps (pooled), point x = 10 + k for sweep k: a buffer reused too early would
    // show another sweep's points while the engine still reads it
    const big = (vehicle: string, k: number, atMs: number) => {
      const m = lidarMsg(
        STAMP0 + k * 100 * MS,
        Array.from({ length: 1200 }, () => [10 + k, 1, 0]),
      );
      return envelope({ ...m, header: { ...m.header, vehicle } }, atMs * MS);
    };
    const run = (mode: "live" | "replay") => {
      const ts = newScheduler();
      const seen: { tick: AlignedTick; x: number[] }[] = [];
      ts.run(({ hot, flush }) => {
        const engine: FleetEngine = {
          mode: "test",
          // reads the tick's first and last point when fusion starts and when it ends, 150 ms later
          fuse: (tick) => {
            const x0 = tick.lidar!.data[0]!;
            return timer(150, ts).pipe(
              map(() => {
                const d = tick.lidar!.data;
                seen.push({ tick, x: [x0, d[0]!, d[(tick.lidar!.count - 1) * 4]!] });
                return EMPTY;
              }),
            );
          },
        };
        const input$ = hot<FleetInput>("a 99ms b 99ms c 99ms d 99ms e 99ms f 499ms |", {
          a: big("v1", 0, 0),
          b: big("v1", 1, 100),
          c: big("v1", 2, 200),
          d: big("v1", 3, 300),
          e: big("v1", 4, 400),
          f: big("v1", 5, 500),
        });
        if (mode === "live") fleetPipeline(input$, liveOptions(ts, engine)).subscribe();
        else
          fleetReplay(
            [0, 1, 2, 3, 4, 5].map((k) => big("v1", k, k * 100)),
            { rig, engine, logger: quiet },
          ).subscribe();
        flush();
      });
      return seen;
    };
    const live = run("live");
    assert.ok(live.length >= 3, `ticks fused (${live.length})`);
    for (const s of live) {
      const k = s.tick.seq;
      assert.ok(
        s.x.every((x) => Math.abs(x - s.x[0]!) < 1e-3),
        `tick ${k}: points unchanged while fused (${s.x})`,
      );
      assert.equal(s.tick.lidar!.data.length, 0, `tick ${k}: buffer given back (detached) after fusion`);
    }
    const xs = live.map((s) => Math.round(s.x[0]!));
    assert.equal(new Set(xs).size, xs.length, "each fused tick has its own sweep's points");
    const replay = run("replay");
    assert.equal(replay.length, 6, "replay fuses every tick");
    for (const s of replay)
      assert.equal(s.tick.lidar!.data[0], 10 + s.tick.seq, `replay tick ${s.tick.seq} keeps its points`);
  });

  test("replay: event time, every tick fused in order, input pulled only while fusion keeps up", () => {
    const ts = newScheduler();
    ts.run(({ flush }) => {
      const { engine, fused } = slowEngine(ts, 50);
      let pulled = 0;
      let maxAhead = 0;
      const source = function* (): Generator<FleetInput> {
        for (let k = 0; k < 20; k++) {
          pulled++;
          maxAhead = Math.max(maxAhead, pulled - fused.length);
          // recorded arrivals 1 ms apart: far faster than fusion (50 ms) can follow
          yield sweep("v1", k, k);
        }
      };
      const seqs: number[] = [];
      let completed = false;
      fleetReplay(source(), { rig, engine, logger: quiet, maxPendingTicks: 2 }).subscribe({
        next: (e) => {
          if (e.type === "frame") seqs.push(e.tick.seq);
        },
        complete: () => {
          completed = true;
        },
      });
      flush();
      assert.deepEqual(
        seqs,
        Array.from({ length: 20 }, (_, i) => i),
        "no tick shed",
      );
      assert.ok(maxAhead <= 3, `pulled at most 3 inputs ahead of fusion (was ${maxAhead})`);
      assert.equal(ts.now(), 20 * 50, "fusion back to back: the reading waited for it");
      assert.ok(completed);
    });
  });

  test("flood: 1,000 invented vehicle ids, then idle time: a new real vehicle is admitted and fused", () => {
    const ts = newScheduler();
    ts.run(({ flush }) => {
      const { engine, fused } = slowEngine(ts, 1);
      const fleet = createFleet(liveOptions(ts, engine)); // defaults: 64 vehicles, 30 s idle
      const frames: string[] = [];
      fleet.events$.subscribe((e) => {
        if (e.type === "frame") frames.push(e.vehicle);
      });
      for (let i = 0; i < 1000; i++) fleet.push(sweep(`invented-${i}`, 0, 0));
      const s0 = fleet.stats();
      assert.equal(Object.keys(s0.vehicles).length, 64);
      assert.equal(s0.unadmitted.capacity, 936);
      // right after the flood, the real vehicle is refused (capacity) ...
      fleet.push(sweep("truck-7", 0, 0));
      assert.equal(fleet.stats().unadmitted.capacity, 937);
      // ... but after the idle time the invented ones are gone and it is served
      ts.schedule(() => {
        assert.equal(fleet.vehicles().length, 0);
        fleet.push(sweep("truck-7", 1, ts.now()));
        fleet.push(sweep("truck-7", 2, ts.now() + 100));
      }, 31_000);
      ts.schedule(() => fleet.stop(), 32_000);
      flush();
      assert.deepEqual(
        frames.filter((v) => v === "truck-7"),
        ["truck-7", "truck-7"],
      );
      assert.ok(fused.some((t) => t.vehicle === "truck-7"));
      assert.equal(fleet.stats().evicted, 64);
    });
  });
});
