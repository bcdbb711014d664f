/**
 * World-state feedback (alignVehicle `objectMotion`): tracked objects of earlier frames move radar
 * returns of their targets across the line of sight. Offline arrival clock (virtual time).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { from, Subject } from "rxjs";
import { alignVehicle } from "../../src/align/index.ts";
import type { AlignedTick, ObjectMotion } from "../../src/align/types.ts";
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
  testRig,
  VEH,
} from "./fixtures.ts";

/** Parked vehicle; the radar scans 40 ms before each sweep and sees a return 20 m ahead, vr = 0. */
function parked(count: number): Arrival[] {
  const p = { periodMs: 100, count, latencyMs: 5 };
  return [
    ...periodic((t) => lidarMsg(t), { startMs: 100, ...p }),
    ...periodic((t) => radarMsg(t, [[20, 0, 0, 10]]), { startMs: 60, ...p }),
    ...periodic((t) => cameraMsg(t), { startMs: 100, ...p }),
    ...periodic((t) => gnssMsg(t, 48, 11, [0, 0]), { startMs: 0, ...p, count: count + 2 }),
    ...periodic((t) => imuMsg(t), { startMs: 0, periodMs: 10, count: count * 10 + 20, latencyMs: 2 }),
  ].sort((a, b) => a.atMs - b.atMs);
}

/** A car crossing from right to left at 12 m/s whose box holds the radar return (x = 23 m). */
const crossing = (stampNs: number): ObjectMotion => ({
  stampNs,
  objects: [{ x: 23, y: -1.2, length: 4.5, width: 1.9, yaw: Math.PI / 2, vx: 0, vy: 12 }],
});

function run(feedback: boolean, rigAlign: Record<string, unknown> = {}) {
  const hints = new Subject<ObjectMotion>();
  const ticks: AlignedTick[] = [];
  const input = from(parked(8).map((a) => envelope(a.msg, a.atMs * MS)));
  const sub = input
    .pipe(
      alignVehicle(testRig({ ego: true, align: rigAlign }), {
        vehicle: VEH,
        clock: "arrival",
        objectMotion: hints,
      }),
    )
    .subscribe((t) => {
      ticks.push(t);
      // The fused frame of this tick goes back to the aligner, as src/runtime/vehicle.ts does.
      if (feedback) hints.next(crossing(t.stampNs));
    });
  return { ticks, hints, sub };
}

describe("alignVehicle objectMotion (world-state feedback)", () => {
  it("returns of a tracked target move by its motion across the line of sight; teardown unsubscribes", () => {
    const { ticks, hints, sub } = run(true);
    const radarTicks = ticks.filter((t) => t.radar && t.radar.count > 0 && t.ego.valid);
    assert.ok(radarTicks.length >= 4, `${radarTicks.length} ticks with radar and ego`);
    // The first tick has no feedback yet; every later one moves the return by 12 m/s * 40 ms.
    const ys = radarTicks.map((t) => t.radar!.data[1]!);
    assert.ok(Math.abs(ys[0]!) < 1e-3, `first tick y ${ys[0]}`);
    for (const y of ys.slice(1)) assert.ok(Math.abs(y - 0.48) < 1e-3, `y ${y}`);
    assert.equal(hints.observed, false, "completed input released the feedback subscription");
    sub.unsubscribe();
  });

  it("no feedback, or radar_track_motion off: unchanged", () => {
    for (const t of run(false).ticks) if (t.radar?.count) assert.ok(Math.abs(t.radar.data[1]!) < 1e-3);
    for (const t of run(true, { radar_track_motion: false }).ticks)
      if (t.radar?.count) assert.ok(Math.abs(t.radar.data[1]!) < 1e-3);
  });

  it("feedback older than track_motion_max_age_ms is ignored", () => {
    const hints = new Subject<ObjectMotion>();
    const ys: number[] = [];
    from(parked(6).map((a) => envelope(a.msg, a.atMs * MS)))
      .pipe(alignVehicle(testRig({ ego: true }), { vehicle: VEH, clock: "arrival", objectMotion: hints }))
      .subscribe((t) => {
        if (t.radar?.count && t.ego.valid) ys.push(t.radar.data[1]!);
        hints.next(crossing(t.stampNs - 400 * MS)); // a frame 400 ms older than this tick
      });
    assert.ok(ys.length >= 3);
    for (const y of ys) assert.ok(Math.abs(y) < 1e-3, `y ${y}`);
  });
});
