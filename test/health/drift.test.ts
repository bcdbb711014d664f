/** PSI drift tracking: quiet on a stationary stream, raised with the statistic that moved, cleared after. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PsiTracker } from "../../src/health/drift.ts";
import { SensorState, SystemMode } from "../../src/msg/types.ts";
import { drive, newMonitor, rng, S, stateOf, T0 } from "./fixtures.ts";

describe("PsiTracker", () => {
  test("stationary data stays below the threshold; a shifted mean is flagged and then cleared", () => {
    const r = rng(7);
    const tr = new PsiTracker("x", 300, 150, 5, 0.25);
    let maxPsi = 0;
    for (let i = 0; i < 3000; i++) {
      tr.add(r() + r() + r());
      if (i >= 450) maxPsi = Math.max(maxPsi, tr.psi);
    }
    assert.ok(maxPsi < 0.25, `max PSI on stationary data ${maxPsi}`);
    assert.equal(tr.drifting, false);
    let at = -1;
    for (let i = 0; i < 150; i++) {
      tr.add(1 + r() + r() + r());
      if (tr.drifting && at < 0) at = i;
    }
    assert.ok(at >= 0 && at < 80, `flagged after ${at} shifted samples`);
    for (let i = 0; i < 150; i++) tr.add(r() + r() + r());
    assert.equal(tr.drifting, false);
  });

  test("integer statistics with ties and a constant reference work", () => {
    const c = new PsiTracker("n", 20, 10, 5, 0.25);
    for (let i = 0; i < 30; i++) c.add(3);
    assert.ok(c.psi < 0.05, `${c.psi}`);
    for (let i = 0; i < 10; i++) c.add(0);
    assert.equal(c.drifting, true);
    assert.equal(c.referenceMedian, 3);
  });

  test("non-finite samples are ignored", () => {
    const c = new PsiTracker("n", 10, 10, 5, 0.25);
    c.add(Number.NaN);
    c.add(Number.POSITIVE_INFINITY);
    assert.equal(c.ready, false);
  });
});

describe("drift in the monitor", () => {
  test("LiDAR intensity shift (drift_degrades) -> DEGRADED drift:intensity with its PSI; points unaffected", () => {
    const { mon, rig } = newMonitor({ drift_degrades: true });
    const { snaps } = drive(
      mon,
      rig,
      0,
      56 * S,
      (id, t) => (id === "lidar" && t >= 50 * S ? { scale: 1.6 } : undefined),
      { evalMs: 100 },
    );
    const hit = snaps.find((s) => stateOf(s, "lidar").state === SensorState.DEGRADED)!;
    assert.ok(hit, "drift raised");
    assert.ok(hit.nowNs > T0 + 50 * S && hit.nowNs < T0 + 55 * S, `after ${(hit.nowNs - T0) / S} s`);
    assert.deepEqual(stateOf(hit, "lidar").reasons, ["drift:intensity"]);
    const stat = hit.drift.find((d) => d.subject === "lidar" && d.stat === "intensity")!;
    assert.ok(stat.drifting && stat.psi > 0.25);
    const pts = hit.drift.find((d) => d.subject === "lidar" && d.stat === "points")!;
    assert.equal(pts.drifting, false);
    assert.equal(hit.mask.lidar, true, "drift is flagged, not masked");
    assert.ok(hit.reasons.some((r) => r.startsWith("perception_degraded")));
  });

  test("by default a drift is reported as a reason of an OK sensor; a rule on .drift can still set the mode", () => {
    const shift = (id: string, t: number) => (id === "lidar" && t >= 50 * S ? { scale: 1.6 } : undefined);
    const a = newMonitor();
    const last = drive(a.mon, a.rig, 0, 56 * S, shift, { evalMs: 100 }).snaps.at(-1)!;
    assert.equal(stateOf(last, "lidar").state, SensorState.OK);
    assert.deepEqual(stateOf(last, "lidar").reasons, ["drift:intensity"]);
    assert.equal(last.mode, SystemMode.NOMINAL);
    assert.equal(last.features.lidar[3], 1);
    const b = newMonitor({
      mode_rules: [{ mode: "DEGRADED", reason: "input_drift", when: "perception.drift" }],
    });
    const lastB = drive(b.mon, b.rig, 0, 56 * S, shift, { evalMs: 100 }).snaps.at(-1)!;
    assert.equal(lastB.mode, SystemMode.DEGRADED);
    assert.deepEqual(lastB.reasons, ["input_drift: perception.drift"]);
  });

  test("no drift on stationary synthetic traffic over a long run", () => {
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 120 * S, undefined, { evalMs: 200 });
    assert.ok(snaps.at(-1)!.drift.length >= 6, "every statistic has a reference and a full window");
    const raised = snaps.flatMap((s) =>
      s.drift.filter((d) => d.drifting).map((d) => `${d.subject}.${d.stat}`),
    );
    assert.deepEqual([...new Set(raised)], []);
  });

  test("model token norms: a shift of one modality raises drift:token_norm on its sensors only", () => {
    const { mon, rig } = newMonitor();
    const r = rng(3);
    let t = 0;
    drive(mon, rig, 0, 60 * S, undefined, {
      evalMs: 100,
      onSnap: () => {
        t++;
        mon.onTokenNorms({ lidar: 5 + r(), radar: 2 + r() * 0.5 + (t > 450 ? 3 : 0), camera: 1 + r() });
      },
    });
    const snap = mon.evaluate(T0 + 60 * S);
    assert.deepEqual(stateOf(snap, "radar_front").reasons, ["drift:token_norm"]);
    assert.equal(stateOf(snap, "lidar").state, SensorState.OK);
    assert.ok(snap.drift.some((d) => d.subject === "radar" && d.stat === "token_norm" && d.drifting));
  });
});
