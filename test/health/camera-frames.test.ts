import assert from "node:assert/strict";
import { test } from "node:test";
import { ImageEncoding, SensorState } from "../../src/msg/types.ts";
import { drive, envelope, MS, newMonitor, S, T0 } from "./fixtures.ts";

test("camera frames beside detections (same stamp and seq) do not double the rate or flag the camera", () => {
  const { mon, rig } = newMonitor();
  // Every sensor at its nominal rate, and the camera also sends a small frame with each detection set.
  const cam = rig.sensors.find((s) => s.kind === "camera")!;
  const onMessage = mon.onMessage.bind(mon);
  mon.onMessage = (env) => {
    onMessage(env);
    if (env.msg.header.sensorId === cam.id && env.msg.payload.kind === "camera_detections") {
      const pixels = new Uint8Array(64).map((_, i) => (i * 37) & 0xff);
      onMessage(
        envelope(
          env.msg.header.vehicle,
          cam.id,
          { kind: "camera_image", width: 8, height: 8, encoding: ImageEncoding.MONO8, data: pixels },
          env.msg.header.stampNs,
          env.arrivalNs,
          env.msg.header.seq,
        ),
      );
    }
  };
  const { snaps } = drive(mon, rig, 0, 5 * S);
  const last = snaps.at(-1)!;
  const c = last.sensors.find((s) => s.sensorId === cam.id)!;
  assert.equal(c.state, SensorState.OK, c.reasons.join(","));
  assert.ok(
    Math.abs(c.rateHz - cam.rate_hz) < 0.1 * cam.rate_hz,
    `rate ${c.rateHz} vs nominal ${cam.rate_hz}`,
  );
  assert.ok(last.nowNs > T0 + 4900 * MS);
});
