import assert from "node:assert/strict";
import { test } from "node:test";
import { TestScheduler } from "rxjs/testing";
import { encodeSensorMessage, packed } from "../../src/msg/codec.ts";
import type { SensorEnvelope } from "../../src/msg/types.ts";
import { decodeSensors } from "../../src/streams/decode-sensors.ts";
import type { DecodeFailure, RawMessage } from "../../src/streams/types.ts";

const imu = (seq: number) =>
  encodeSensorMessage({
    header: { vehicle: "v1", sensorId: "imu", frameId: "imu", stampNs: 1e18 + seq, seq },
    payload: { kind: "imu", accel: [0, 0, 9.81], gyro: [0, 0, 0.1] },
  });
const lidarBytes = () =>
  encodeSensorMessage({
    header: { vehicle: "v1", sensorId: "lidar", frameId: "lidar", stampNs: 1e18, seq: 1 },
    payload: {
      kind: "point_cloud",
      points: packed(["x", "y", "z"], new Float32Array([1, 2, 3, 4, 5, 6])),
      sweepStartNs: 0,
    },
  });

test("decodeSensors: valid payloads flow, malformed ones are reported and skipped without erroring", () => {
  const failures: DecodeFailure[] = [];
  const good = imu(1);
  const lidar = lidarBytes();
  const raw = (topic: string, payload: Uint8Array, t: number): RawMessage => ({
    topic,
    payload,
    arrivalNs: t,
  });
  new TestScheduler((a, e) => assert.deepEqual(a, e)).run(({ cold, expectObservable }) => {
    const src = cold("abcdef|", {
      a: raw("fusion/v1/sensors/imu", good, 1),
      b: raw("fusion/v1/sensors/imu", new Uint8Array([0xff, 0xff, 0xff]), 2),
      c: raw("fusion/v1/sensors/imu", good.slice(0, good.length - 3), 3),
      d: raw("fusion/v2/sensors/imu", good, 4),
      e: raw("not/a/topic", good, 5),
      f: raw("fusion/v1/sensors/lidar", lidar, 6),
    });
    const out = src.pipe(decodeSensors({ onFailure: (f) => failures.push(f) }));
    expectObservable(out).toBe("a----f|", {
      a: {
        msg: {
          header: { vehicle: "v1", sensorId: "imu", frameId: "imu", stampNs: 1e18 + 1, seq: 1 },
          payload: { kind: "imu", accel: [0, 0, 9.81], gyro: [0, 0, 0.1] },
        },
        arrivalNs: 1,
        bytes: good.byteLength,
      } satisfies SensorEnvelope,
      f: {
        msg: {
          header: { vehicle: "v1", sensorId: "lidar", frameId: "lidar", stampNs: 1e18, seq: 1 },
          payload: {
            kind: "point_cloud",
            points: {
              stride: 3,
              count: 2,
              fields: { x: 0, y: 1, z: 2 },
              data: new Float32Array([1, 2, 3, 4, 5, 6]),
            },
            sweepStartNs: 0,
          },
        },
        arrivalNs: 6,
        bytes: lidar.byteLength,
      },
    });
  });
  assert.deepEqual(
    failures.map((f) => f.code),
    ["E_PROTO", "E_PROTO", "E_TOPIC_MISMATCH", "E_TOPIC"],
  );
  assert.equal(failures[0]!.sensorId, "imu");
});

test("decodeSensors: with the rig's kinds, unknown sensors and wrong payload kinds are rejected", () => {
  const failures: DecodeFailure[] = [];
  const kinds: Record<string, "imu" | "lidar"> = { imu: "imu", lidar: "lidar" };
  const imuOnLidar = encodeSensorMessage({
    header: { vehicle: "v1", sensorId: "lidar", frameId: "lidar", stampNs: 1e18, seq: 1 },
    payload: { kind: "imu", accel: [0, 0, 9.81], gyro: [0, 0, 0] },
  });
  const gps = encodeSensorMessage({
    header: { vehicle: "v1", sensorId: "gps", frameId: "gps", stampNs: 1e18, seq: 1 },
    payload: { kind: "imu", accel: [0, 0, 9.81], gyro: [0, 0, 0] },
  });
  const out: SensorEnvelope[] = [];
  new TestScheduler((a, e) => assert.deepEqual(a, e)).run(({ cold, flush }) => {
    cold("abc|", {
      a: { topic: "fusion/v1/sensors/imu", payload: imu(1), arrivalNs: 1 },
      b: { topic: "fusion/v1/sensors/lidar", payload: imuOnLidar, arrivalNs: 2 },
      c: { topic: "fusion/v1/sensors/gps", payload: gps, arrivalNs: 3 },
    })
      .pipe(decodeSensors({ kindOf: (id) => kinds[id], onFailure: (f) => failures.push(f) }))
      .subscribe((e) => out.push(e));
    flush();
  });
  assert.deepEqual(
    out.map((e) => e.msg.header.sensorId),
    ["imu"],
  );
  assert.deepEqual(
    failures.map((f) => [f.sensorId, f.code]),
    [
      ["lidar", "E_KIND_MISMATCH"],
      ["gps", "E_UNKNOWN_SENSOR"],
    ],
  );
});
