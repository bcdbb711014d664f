/**
 * Offline use (training-data generation, replay as fast as possible): clock "arrival" and a
 * VirtualTimeScheduler both give exactly the ticks of the live, scheduler-driven run.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { firstValueFrom, from, VirtualTimeScheduler } from "rxjs";
import { toArray } from "rxjs/operators";
import { TestScheduler } from "rxjs/testing";
import { alignVehicle } from "../../src/align/index.ts";
import type { AlignedTick } from "../../src/align/types.ts";
import {
  type Arrival,
  cameraMsg,
  deliver,
  envelope,
  lidarMsg,
  MS,
  periodic,
  radarMsg,
  summary,
  testRig,
  VEH,
} from "./fixtures.ts";

/** A timeline with every path: dead camera, lost reference (timer ticks), late radar. */
function timeline(): Arrival[] {
  return [
    ...periodic((t) => lidarMsg(t), { startMs: 0, periodMs: 100, count: 12, latencyMs: 10, skip: [5, 6, 7] }),
    ...periodic((t) => radarMsg(t), { startMs: 0, periodMs: 100, count: 12, latencyMs: 5, skip: [3] }),
    ...periodic((t) => cameraMsg(t), { startMs: 0, periodMs: 100, count: 3, latencyMs: 12 }),
  ];
}

const view = (t: AlignedTick) => `${summary(t)} emitted=${t.emittedNs / MS}`;

function liveRun(arr: Arrival[]): string[] {
  const ts = new TestScheduler(() => {});
  const out: string[] = [];
  ts.run(() => {
    deliver(arr, ts)
      .pipe(alignVehicle(testRig(), { vehicle: VEH, scheduler: ts }))
      .subscribe((t) => out.push(view(t)));
  });
  return out;
}

describe("alignVehicle offline", () => {
  it('clock "arrival": envelopes in arrival order, no timers, same ticks as live', async () => {
    const arr = timeline();
    const live = liveRun(arr);
    assert.ok(
      live.some((s) => s.startsWith("timer@")),
      "the timeline exercises timer ticks",
    );
    const envs = [...arr].sort((a, b) => a.atMs - b.atMs).map((a) => envelope(a.msg, a.atMs * MS));
    const ticks = await firstValueFrom(
      from(envs).pipe(alignVehicle(testRig(), { vehicle: VEH, clock: "arrival" }), toArray()),
    );
    assert.deepEqual(ticks.map(view), live);
  });

  it("VirtualTimeScheduler: input and aligner on one virtual clock, flushed at once", () => {
    const arr = timeline();
    const live = liveRun(arr);
    const vts = new VirtualTimeScheduler();
    const out: string[] = [];
    deliver(arr, vts)
      .pipe(alignVehicle(testRig(), { vehicle: VEH, scheduler: vts }))
      .subscribe((t) => out.push(view(t)));
    vts.flush();
    assert.deepEqual(out, live);
  });
});
