/** HealthMonitor state machine with injected time: staleness, dwell/hysteresis, mode rules, mask. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toReport } from "../../src/health/index.ts";
import { decodeHealthReport, encodeHealthReport } from "../../src/msg/codec.ts";
import { type SensorPayload, SensorState, SystemMode } from "../../src/msg/types.ts";
import { diagTick, drive, envelope, MS, newMonitor, payloadFor, S, stateOf, T0 } from "./fixtures.ts";

describe("HealthMonitor", () => {
  test("nominal traffic: every sensor OK, mode NOMINAL, full mask and features", () => {
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 5 * S);
    const last = snaps.at(-1)!;
    assert.equal(last.mode, SystemMode.NOMINAL, last.reasons.join("; "));
    for (const s of last.sensors) assert.equal(s.state, SensorState.OK, `${s.sensorId}: ${s.reasons}`);
    assert.deepEqual(last.mask, { lidar: true, radar: true, camera: true });
    for (const m of ["lidar", "radar", "camera"] as const) {
      const [present, fresh, rate, content] = last.features[m];
      assert.equal(present, 1);
      assert.ok(fresh > 0 && fresh <= 1, `${m} freshness ${fresh}`);
      assert.ok(rate > 0.85 && rate <= 1, `${m} rate ratio ${rate}`);
      assert.equal(content, 1);
    }
    const lidar = stateOf(last, "lidar");
    assert.ok(Math.abs(lidar.rateHz - 10) < 1, `lidar rate ${lidar.rateHz}`);
    assert.ok(Math.abs(lidar.latencyMs - 5) < 0.01, `latency ${lidar.latencyMs}`);
    assert.ok(lidar.jitterMs < 1);
    assert.equal(last.changed, false);
    assert.deepEqual(last.transitions, []);
  });

  test("start-up: STALE no_data before the first message, OK at once when data comes", () => {
    const { mon, rig } = newMonitor();
    const first = mon.evaluate(T0);
    assert.equal(first.mode, SystemMode.SAFE_STOP);
    assert.deepEqual(stateOf(first, "lidar").reasons, ["no_data"]);
    assert.deepEqual(first.mask, { lidar: false, radar: false, camera: false });
    assert.ok(first.transitions.some((t) => t.startsWith("mode UNSPECIFIED -> SAFE_STOP")));
    const { snaps } = drive(mon, rig, 0, 200 * MS);
    const after = snaps.at(-1)!;
    for (const s of after.sensors) assert.equal(s.state, SensorState.OK, s.sensorId);
    assert.equal(after.mode, SystemMode.NOMINAL);
  });

  test("LiDAR dropped 5 s: STALE within stale_ms + one eval period, mode DEGRADED, OK after recovery + dwell", () => {
    const { mon, rig } = newMonitor();
    const staleMs = rig.sensors.find((s) => s.id === "lidar")!.stale_ms;
    const dwellMs = rig.health.dwell_ms;
    const dropFrom = 5 * S;
    const dropTo = 10 * S;
    const { snaps } = drive(mon, rig, 0, 16 * S, (id, t) =>
      id === "lidar" && t >= dropFrom && t < dropTo ? { drop: true } : undefined,
    );
    const lastMsgNs = T0 + dropFrom - 100 * MS;
    const firstStale = snaps.find(
      (s) => s.nowNs > T0 + dropFrom - 100 * MS && stateOf(s, "lidar").state === SensorState.STALE,
    )!;
    assert.ok(firstStale, "lidar went STALE");
    const detectMs = (firstStale.nowNs - lastMsgNs) / MS;
    assert.ok(detectMs > staleMs && detectMs <= staleMs + 50, `detected after ${detectMs} ms`);
    assert.deepEqual(stateOf(firstStale, "lidar").reasons, ["stale"]);
    assert.ok(firstStale.transitions.includes("lidar OK -> STALE (stale)"), firstStale.transitions.join());
    assert.equal(firstStale.mode, SystemMode.DEGRADED);
    assert.ok(
      firstStale.reasons[0]!.startsWith("perception_degraded: lidar.degraded"),
      firstStale.reasons[0],
    );
    assert.equal(firstStale.mask.lidar, false);
    assert.deepEqual(firstStale.features.lidar, [0, 0, 0, 0]);
    assert.equal(firstStale.changed, true);
    // during the drop: STALE (never FAILED: 5 s < failed_after_ms), mode DEGRADED
    const during = snaps.filter((s) => s.nowNs > firstStale.nowNs && s.nowNs < T0 + dropTo);
    assert.ok(during.every((s) => stateOf(s, "lidar").state === SensorState.STALE));
    assert.ok(during.every((s) => s.mode === SystemMode.DEGRADED && !s.changed));
    // recovery: not before a dwell after data is back, OK afterwards, exactly two lidar transitions
    const okAgain = snaps.find((s) => s.nowNs > T0 + dropTo && stateOf(s, "lidar").state === SensorState.OK)!;
    assert.ok(okAgain, "lidar back to OK");
    const recoverMs = (okAgain.nowNs - (T0 + dropTo)) / MS;
    assert.ok(recoverMs >= dwellMs && recoverMs <= dwellMs + 200, `OK ${recoverMs} ms after data returned`);
    const recovering = snaps.find((s) => s.nowNs > T0 + dropTo + 100 * MS)!;
    assert.deepEqual(stateOf(recovering, "lidar").reasons, ["recovering", "stale"]);
    assert.equal(snaps.at(-1)!.mode, SystemMode.NOMINAL);
    const lidarTransitions = snaps
      .filter((s) => s.nowNs > T0 + 1 * S)
      .flatMap((s) => s.transitions)
      .filter((t) => t.startsWith("lidar "));
    assert.deepEqual(lidarTransitions, ["lidar OK -> STALE (stale)", "lidar STALE -> OK"]);
  });

  test("nextDeadlineNs says when a sensor would next go STALE", () => {
    const { mon, rig } = newMonitor();
    const last = new Map<string, number>();
    const onMessage = mon.onMessage.bind(mon);
    mon.onMessage = (env) => {
      last.set(env.msg.header.sensorId, env.arrivalNs);
      onMessage(env);
    };
    drive(mon, rig, 0, 1 * S);
    const d = mon.nextDeadlineNs();
    // the tightest deadline: min over sensors of last arrival + stale_ms
    const deadlines = rig.sensors.map((s) => ({ id: s.id, at: last.get(s.id)! + s.stale_ms * MS }));
    const first = deadlines.reduce((a, b) => (b.at < a.at ? b : a));
    assert.ok(Math.abs(d - first.at) <= 2000, `${d - T0} vs ${first.at - T0} (${first.id})`);
    const snap = mon.evaluate(d);
    assert.equal(stateOf(snap, first.id).state, SensorState.STALE);
  });

  for (const [onMs, offMs] of [
    [250, 250],
    [100, 400],
    [300, 200],
  ] as const) {
    test(`a sensor flapping at 2 Hz (${onMs} ms on / ${offMs} ms off) changes state at most once per dwell`, () => {
      const { mon, rig } = newMonitor();
      const dwellNs = rig.health.dwell_ms * MS;
      const { snaps } = drive(mon, rig, 0, 20 * S, (id, t) => {
        if (id !== "lidar" || t < 3 * S || t >= 15 * S) return undefined;
        return (t - 3 * S) % (500 * MS) >= onMs * MS ? { drop: true } : undefined;
      });
      const changes: number[] = [];
      let prev = SensorState.OK as SensorState;
      for (const s of snaps.filter((x) => x.nowNs >= T0 + 1 * S)) {
        const st = stateOf(s, "lidar").state;
        if (st !== prev) changes.push(s.nowNs);
        prev = st;
      }
      assert.ok(changes.length >= 1, "the flapping was noticed");
      for (let i = 1; i < changes.length; i++)
        assert.ok(
          changes[i]! - changes[i - 1]! >= dwellNs,
          `changes ${(changes[i]! - changes[i - 1]!) / MS} ms apart`,
        );
      // while flapping it is never reported OK after the first change
      const flapping = snaps.filter((s) => s.nowNs > changes[0]! && s.nowNs < T0 + 15 * S);
      assert.ok(flapping.every((s) => stateOf(s, "lidar").state !== SensorState.OK));
      assert.equal(stateOf(snaps.at(-1)!, "lidar").state, SensorState.OK, "recovers after flapping stops");
    });
  }

  test("frozen LiDAR payload: DEGRADED with reason frozen, masked from fusion, recovers", () => {
    const { mon, rig } = newMonitor();
    let frozen: SensorPayload | undefined;
    const { snaps } = drive(mon, rig, 0, 12 * S, (id, t) => {
      if (id !== "lidar" || t < 4 * S || t >= 8 * S) return undefined;
      frozen ??= {
        kind: "point_cloud",
        points: {
          stride: 4,
          count: 1000,
          fields: { x: 0, y: 1, z: 2, intensity: 3 },
          data: Float32Array.from({ length: 4000 }, (_, i) => 5 + (i % 7)),
        },
        sweepStartNs: 0,
      };
      return { payload: frozen };
    });
    const hit = snaps.find((s) => stateOf(s, "lidar").state === SensorState.DEGRADED)!;
    assert.ok(hit, "lidar DEGRADED");
    assert.ok(stateOf(hit, "lidar").reasons.includes("frozen"), stateOf(hit, "lidar").reasons.join());
    // detected after frozen_count identical sweeps (the 3rd one, at 4.2 s)
    assert.ok(hit.nowNs - T0 <= 4.3 * S, `detected at ${(hit.nowNs - T0) / S} s`);
    assert.equal(hit.usable["lidar"], false);
    assert.equal(hit.mask.lidar, false);
    assert.equal(hit.mode, SystemMode.DEGRADED);
    const last = snaps.at(-1)!;
    assert.equal(stateOf(last, "lidar").state, SensorState.OK);
    assert.equal(last.mask.lidar, true);
  });

  test("a frozen payload is masked at once even while the minimum dwell holds the state back", () => {
    const { mon, rig } = newMonitor();
    const frozen: SensorPayload = {
      kind: "point_cloud",
      points: {
        stride: 4,
        count: 500,
        fields: { x: 0, y: 1, z: 2, intensity: 3 },
        data: Float32Array.from({ length: 2000 }, (_, i) => 4 + (i % 5)),
      },
      sweepStartNs: 0,
    };
    // LiDAR back from a drop at 2 s (OK at ~3 s), then frozen from 3.2 s: DEGRADED must wait for the
    // dwell after the OK transition, but the mask must not
    const { snaps } = drive(mon, rig, 0, 5 * S, (id, t) => {
      if (id !== "lidar") return undefined;
      if (t >= 1 * S && t < 2 * S) return { drop: true };
      return t >= 3.2 * S ? { payload: frozen } : undefined;
    });
    const okAt = snaps.find(
      (s) => s.nowNs > T0 + 2 * S && stateOf(s, "lidar").state === SensorState.OK,
    )!.nowNs;
    const flagged = snaps.find((s) => s.nowNs > T0 + 3.2 * S && s.usable["lidar"] === false)!;
    assert.ok(flagged.nowNs - T0 <= 3.45 * S, `masked at ${(flagged.nowNs - T0) / S} s`);
    const degradedAt = snaps.find(
      (s) => s.nowNs > okAt && stateOf(s, "lidar").state === SensorState.DEGRADED,
    )!.nowNs;
    assert.ok(degradedAt - okAt >= rig.health.dwell_ms * MS, "the state change still respects the dwell");
    assert.ok(flagged.nowNs < degradedAt);
    assert.equal(flagged.mask.lidar, false);
  });

  test("GNSS outage: gnss STALE, mode DEGRADED with localisation_degraded, perception mask intact", () => {
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 8 * S, (id, t) =>
      id === "gnss" && t >= 3 * S ? { drop: true } : undefined,
    );
    const last = snaps.at(-1)!;
    assert.equal(stateOf(last, "gnss").state, SensorState.STALE);
    assert.equal(last.mode, SystemMode.DEGRADED);
    assert.deepEqual(last.reasons, ["localisation_degraded: gnss.degraded"]);
    assert.deepEqual(last.mask, { lidar: true, radar: true, camera: true });
  });

  test("all perception sensors lost: SAFE_STOP with perception_lost", () => {
    const { mon, rig } = newMonitor();
    const perception = new Set(["lidar", "radar_front", "cam_front"]);
    const { snaps } = drive(mon, rig, 0, 6 * S, (id, t) =>
      perception.has(id) && t >= 3 * S ? { drop: true } : undefined,
    );
    const last = snaps.at(-1)!;
    assert.equal(last.mode, SystemMode.SAFE_STOP);
    assert.ok(last.reasons[0]!.startsWith("perception_lost: perception.lost"), last.reasons.join("; "));
    assert.ok(last.reasons.some((r) => r.startsWith("lidar_and_radar_lost")));
    assert.deepEqual(last.mask, { lidar: false, radar: false, camera: false });
    const modeLines = snaps.flatMap((s) => s.transitions).filter((t) => t.startsWith("mode "));
    const toSafeStop = modeLines.filter(
      (l) => !l.startsWith("mode UNSPECIFIED") && l.includes(" -> SAFE_STOP"),
    );
    assert.equal(toSafeStop.length, 1, modeLines.join("\n"));
    assert.ok(toSafeStop[0]!.includes("(perception_lost: perception.lost"), toSafeStop[0]);
  });

  test("LiDAR and radar lost: SAFE_STOP; LiDAR and camera lost: MINIMAL", () => {
    const a = newMonitor();
    const lr = drive(a.mon, a.rig, 0, 4 * S, (id, t) =>
      (id === "lidar" || id === "radar_front") && t >= 2 * S ? { drop: true } : undefined,
    );
    assert.equal(lr.snaps.at(-1)!.mode, SystemMode.SAFE_STOP);
    assert.ok(lr.snaps.at(-1)!.reasons[0]!.startsWith("lidar_and_radar_lost: lidar.lost, radar.lost"));
    const b = newMonitor();
    const lc = drive(b.mon, b.rig, 0, 4 * S, (id, t) =>
      (id === "lidar" || id === "cam_front") && t >= 2 * S ? { drop: true } : undefined,
    );
    assert.equal(lc.snaps.at(-1)!.mode, SystemMode.MINIMAL);
    assert.ok(lc.snaps.at(-1)!.reasons[0]!.startsWith("single_perception_modality: lidar.lost, camera.lost"));
    assert.deepEqual(lc.snaps.at(-1)!.mask, { lidar: false, radar: true, camera: false });
  });

  test("clock skew: flagged from the aligner's CLOCK_SKEW list and from the sensor's own latency", () => {
    const { mon, rig } = newMonitor();
    drive(mon, rig, 0, 2 * S);
    mon.onTick(diagTick("v1", T0 + 2 * S, {}, ["radar_front"]));
    const snap = mon.evaluate(T0 + 2 * S);
    assert.equal(stateOf(snap, "radar_front").state, SensorState.DEGRADED);
    assert.deepEqual(stateOf(snap, "radar_front").reasons, ["clock_skew"]);
    assert.equal(snap.mask.radar, true, "a skewed sensor is flagged, not masked");

    // camera stamps 3 s in the past (beyond align.max_past_ms = 2000)
    const b = newMonitor();
    const { snaps } = drive(b.mon, b.rig, 0, 4 * S, (id, t) =>
      id === "cam_front" && t >= 1 * S ? { stampShiftNs: -3 * S } : undefined,
    );
    const cam = stateOf(snaps.at(-1)!, "cam_front");
    assert.equal(cam.state, SensorState.DEGRADED);
    assert.ok(cam.reasons.includes("clock_skew"), cam.reasons.join());
    assert.ok(cam.latencyMs > 2000);
  });

  test("one forged message stamped 5 s ahead or behind flags neither clock_skew nor jitter", () => {
    for (const shift of [5 * S, -5 * S]) {
      const { mon, rig } = newMonitor();
      let forged = false;
      const { snaps } = drive(mon, rig, 0, 4 * S, (id, t) => {
        if (id !== "lidar" || t < 2 * S || forged) return undefined;
        forged = true;
        return { stampShiftNs: shift };
      });
      assert.ok(forged);
      for (const snap of snaps) {
        const lidar = stateOf(snap, "lidar");
        assert.ok(
          !lidar.reasons.includes("clock_skew") && !lidar.reasons.includes("jitter"),
          lidar.reasons.join(),
        );
        assert.ok(Math.abs(lidar.latencyMs) < 100, `latency ${lidar.latencyMs} ms`);
      }
    }
  });

  test("after a 2 s burst of wildly varying latency, jitter clears within 3 s (capped samples)", () => {
    const { mon, rig } = newMonitor();
    let k = 0;
    const { snaps } = drive(mon, rig, 0, 30 * S, (_id, t) =>
      t >= 10 * S && t < 12 * S ? { latencyNs: (k++ % 2) * 1.5 * S + 5 * MS } : undefined,
    );
    assert.ok(
      snaps.some((sn) => sn.sensors.some((x) => x.reasons.includes("jitter"))),
      "the burst is noticed",
    );
    let lastNotOk = 0;
    for (const sn of snaps) if (sn.sensors.some((x) => x.state !== SensorState.OK)) lastNotOk = sn.nowNs - T0;
    assert.ok(lastNotOk <= 15 * S, `a sensor not OK until ${lastNotOk / S} s (burst ended at 12 s)`);
  });

  test("high latency (within clock tolerance) gives reason latency", () => {
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 4 * S, (id, t) =>
      id === "radar_front" && t >= 1 * S ? { latencyNs: 600 * MS } : undefined,
    );
    const radar = stateOf(snaps.at(-1)!, "radar_front");
    assert.deepEqual(radar.reasons, ["latency"]);
  });

  test("no data for failed_after_ms: FAILED; FAILED recovers through the dwell", () => {
    const { mon, rig } = newMonitor({ failed_after_ms: 3000 });
    const { snaps } = drive(mon, rig, 0, 10 * S, (id, t) =>
      id === "radar_front" && t >= 1 * S && t < 5 * S ? { drop: true } : undefined,
    );
    const failed = snaps.find((s) => stateOf(s, "radar_front").state === SensorState.FAILED)!;
    assert.ok(failed);
    assert.ok((failed.nowNs - (T0 + 1 * S)) / MS <= 3050, `${(failed.nowNs - T0) / MS}`);
    assert.deepEqual(stateOf(failed, "radar_front").reasons, ["failed_timeout", "stale"]);
    assert.equal(stateOf(snaps.at(-1)!, "radar_front").state, SensorState.OK);
  });

  test("decode errors above the ratio: DEGRADED decode_errors; all failing: STALE with decode_errors", () => {
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 4 * S, (id, t) => {
      if (id !== "radar_front" || t < 1 * S) return undefined;
      mon.onDecodeError("radar_front", "E_LAYOUT", T0 + t);
      return undefined;
    });
    assert.deepEqual(stateOf(snaps.at(-1)!, "radar_front").reasons, ["decode_errors"]);
    assert.equal(stateOf(snaps.at(-1)!, "radar_front").decodeErrors > 30, true);

    const b = newMonitor();
    const all = drive(b.mon, b.rig, 0, 4 * S, (id, t) => {
      if (id !== "radar_front" || t < 1 * S) return undefined;
      b.mon.onDecodeError("radar_front", "E_PROTO", T0 + t);
      return { drop: true };
    });
    const r = stateOf(all.snaps.at(-1)!, "radar_front");
    assert.equal(r.state, SensorState.STALE);
    assert.deepEqual(r.reasons, ["stale", "decode_errors"]);
  });

  test("aligner drops above the ratio give reason drops; counters are cumulative", () => {
    const { mon, rig } = newMonitor();
    let dropped = 0;
    const { snaps } = drive(mon, rig, 0, 4 * S, (id, t) => {
      if (id === "lidar" && t >= 1 * S) {
        dropped += 1;
        mon.onTick(diagTick("v1", T0 + t, { radar_front: { late: dropped } }));
      }
      return undefined;
    });
    const r = stateOf(snaps.at(-1)!, "radar_front");
    assert.deepEqual(r.reasons, ["drops"]);
    assert.equal(r.drops, dropped);
  });

  test("each transition is reported once; changed is false when nothing changed", () => {
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 3 * S);
    const all = snaps.flatMap((s) => s.transitions);
    assert.equal(new Set(all).size, all.length);
    const a = mon.evaluate(T0 + 3 * S);
    const b = mon.evaluate(T0 + 3 * S);
    assert.equal(b.changed, false);
    assert.deepEqual(b.transitions, []);
    assert.deepEqual(
      a.sensors.map((s) => s.state),
      b.sensors.map((s) => s.state),
    );
  });

  test("toReport round-trips through the HealthReport protobuf", () => {
    const { mon, rig } = newMonitor();
    const { snaps } = drive(mon, rig, 0, 2 * S, (id, t) =>
      id === "gnss" && t > S ? { drop: true } : undefined,
    );
    const snap = snaps.at(-1)!;
    const report = mon.toReport(snap);
    assert.deepEqual(report, toReport(snap));
    const back = decodeHealthReport(encodeHealthReport(report));
    assert.ok(back.ok);
    if (!back.ok) return;
    assert.equal(back.value.vehicle, "v1");
    assert.equal(back.value.mode, SystemMode.DEGRADED);
    assert.deepEqual(back.value.reasons, snap.reasons);
    const gnss = back.value.sensors.find((s) => s.sensorId === "gnss")!;
    assert.equal(gnss.state, SensorState.STALE);
    assert.deepEqual(gnss.reasons, ["stale"]);
  });

  test("messages and errors of unknown sensors are counted, not thrown", () => {
    const { mon } = newMonitor();
    mon.onDecodeError("nope", "E_PROTO", T0);
    assert.equal(mon.unknownSensor, 1);
    const rig = newMonitor().rig;
    mon.onMessage(
      envelope(
        "v1",
        "nope",
        payloadFor(rig.sensors[0]!, () => 0.5),
        T0,
        T0,
      ),
    );
    assert.equal(mon.unknownSensor, 2);
    mon.onMessage(
      envelope(
        "other",
        "lidar",
        payloadFor(rig.sensors[0]!, () => 0.5),
        T0,
        T0,
      ),
    );
    assert.equal(mon.wrongVehicle, 1);
    assert.equal(
      stateOf(mon.evaluate(T0), "lidar").state,
      SensorState.STALE,
      "the other vehicle's lidar is not ours",
    );
  });
});
