/**
 * End to end on a real mosquitto: `fusion serve --broker` with the built-in simulator, checked from
 * outside over MQTT like any consumer would.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import mqtt from "mqtt";
import {
  decodeFusedFrame,
  decodeGroundTruth,
  decodeServiceStatus,
  encodeSensorMessage,
  packed,
  PB,
} from "../../src/msg/codec.ts";
import { topics } from "../../src/msg/topics.ts";
import type { FusedFrame, GroundTruth } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import { type Running, spawnFusion } from "../../harness/cli.ts";
import { type Mosquitto, startMosquitto } from "../../harness/mosquitto.ts";
import { Collector } from "../../harness/mqtt-collect.ts";
import { needs } from "../../harness/programs.ts";

const rig = loadRig("sim");
const lidarHz = rig.sensors.find((s) => s.id === rig.reference)!.rate_hz;

function frames(c: Collector): { f: FusedFrame; atMs: number }[] {
  return c.on(topics.fused("sim-1")).map((m) => {
    const r = decodeFusedFrame(m.payload);
    assert.ok(r.ok);
    return { f: r.value, atMs: m.atMs };
  });
}
function truths(c: Collector): GroundTruth[] {
  return c.on(topics.truth("sim-1")).map((m) => {
    const r = decodeGroundTruth(m.payload);
    assert.ok(r.ok);
    return r.value;
  });
}

/** Truth objects in the vehicle frame of the truth ego pose. */
function truthInVehicle(t: GroundTruth) {
  const c = Math.cos(-t.ego.yaw);
  const s = Math.sin(-t.ego.yaw);
  return t.objects.map((o) => {
    const dx = o.x - t.ego.x;
    const dy = o.y - t.ego.y;
    return { x: c * dx - s * dy, y: s * dx + c * dy, cls: o.cls };
  });
}

describe("serve against a real mosquitto with the simulator", { skip: needs("mosquitto") }, () => {
  let broker: Mosquitto;
  let svc: Running;
  let col: Collector;
  let httpUrl: string;

  before(async () => {
    broker = await startMosquitto();
    col = await Collector.connect(broker.url, ["fusion/sim-1/#", "fusion/_service/#"]);
    svc = spawnFusion([
      "serve",
      "--broker",
      broker.url,
      "--http",
      "127.0.0.1:0",
      "--instance",
      "e2e",
      "--seed",
      "3",
    ]);
    httpUrl = (await svc.waitFor(/dashboard on (http:\/\/[\d.:]+)/))[1]!;
    await svc.waitFor(/fusion service .* running/);
  });
  after(async () => {
    await svc?.stop();
    await col?.close();
    await broker?.stop();
  });

  test("fused frames arrive at >= 90% of the LiDAR rate with objects near the ground truth", async () => {
    await col.until(() => frames(col).length >= 5, 20_000, "first fused frames");
    const start = performance.now();
    const windowMs = 6000;
    await new Promise((r) => setTimeout(r, windowMs));
    const inWindow = frames(col).filter((x) => x.atMs >= start && x.atMs < start + windowMs);
    const rate = inWindow.length / (windowMs / 1000);
    assert.ok(rate >= 0.9 * lidarHz, `fused rate ${rate.toFixed(2)} Hz vs LiDAR ${lidarHz} Hz`);

    // Compare with truth at the nearest stamp.
    const truth = truths(col);
    assert.ok(truth.length > 10, "truth messages");
    let fusedNear = 0;
    let fusedTotal = 0;
    let truthHit = 0;
    let truthTotal = 0;
    for (const { f } of inWindow) {
      let best: GroundTruth | null = null;
      for (const t of truth)
        if (!best || Math.abs(t.stampNs - f.stampNs) < Math.abs(best.stampNs - f.stampNs)) best = t;
      if (!best || Math.abs(best.stampNs - f.stampNs) > 60e6) continue;
      const gt = truthInVehicle(best);
      const objs = f.objects.filter((o) => Math.hypot(o.x, o.y) < 40);
      for (const o of objs) {
        fusedTotal++;
        if (gt.some((g) => Math.hypot(g.x - o.x, g.y - o.y) < 2.5)) fusedNear++;
      }
      for (const g of gt.filter((g) => Math.hypot(g.x, g.y) < 25)) {
        truthTotal++;
        if (objs.some((o) => Math.hypot(g.x - o.x, g.y - o.y) < 2.5)) truthHit++;
      }
    }
    assert.ok(fusedTotal > 0, "fused objects within 40 m");
    assert.ok(truthTotal > 0, "truth objects within 25 m");
    const precision = fusedNear / fusedTotal;
    const recall = truthHit / truthTotal;
    console.log(
      `# e2e: rate ${rate.toFixed(2)} Hz, precision@2.5m ${precision.toFixed(2)}, recall@2.5m(<25m) ${recall.toFixed(2)}`,
    );
    assert.ok(precision >= 0.6, `precision ${precision}`);
    assert.ok(recall >= 0.5, `recall ${recall}`);
  });

  test("without --etcd one process owns the vehicle: its frames name it, revision 0, one fresh start", () => {
    const fs = frames(col).map((x) => x.f);
    assert.ok(fs.length > 5);
    for (const f of fs) {
      assert.equal(f.worker, "e2e");
      assert.equal(f.ownershipRevision, 0);
    }
    assert.equal(fs[0]!.freshStart, true, "the first frame of a fresh aligner and tracker says so");
    assert.equal(fs.filter((f) => f.freshStart).length, 1);
  });

  test("the service status is retained online", async () => {
    await col.until(() => col.on(topics.serviceStatus("e2e")).length > 0, 5000, "status");
    const s = decodeServiceStatus(col.on(topics.serviceStatus("e2e")).at(-1)!.payload);
    assert.ok(s.ok && s.value.online);
  });

  test("malformed payloads on every sensor topic are counted and the service keeps fusing", async () => {
    const pub = await mqtt.connectAsync(broker.url);
    const sent: Record<string, number> = {};
    const header = (sensorId: string) => ({
      vehicle: "sim-1",
      sensorId,
      frameId: sensorId,
      stampNs: 1.7e18,
      seq: 1,
    });
    for (const s of rig.sensors) {
      const good = encodeSensorMessage({
        header: header(s.id),
        payload: { kind: "imu", accel: [0, 0, 9.8], gyro: [0, 0, 0] },
      });
      const badLayout = PB.SensorMessage.encode({
        header: header(s.id),
        pointCloud: {
          layout: { stride: 12, count: 5, fields: [{ name: "x", offset: 0 }] },
          data: new Uint8Array(12),
        },
      } as never).finish();
      const nan = encodeSensorMessage({
        header: header(s.id),
        payload: {
          kind: "point_cloud",
          points: packed(["x", "y", "z"], new Float32Array([1, Number.NaN, 3])),
          sweepStartNs: 0,
        },
      });
      const payloads = [
        Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 73 + 11) & 0xff)), // random-looking bytes
        Buffer.from(good.subarray(0, good.length - 5)), // truncated
        Buffer.from(badLayout), // layout inconsistent with length
        Buffer.from(nan), // non-finite values
        Buffer.alloc(0), // empty
      ];
      for (const p of payloads) await pub.publishAsync(topics.sensor("sim-1", s.id), p, { qos: 1 });
      sent[s.id] = payloads.length;
    }
    await pub.endAsync();
    const before = frames(col).length;
    await col.until(() => frames(col).length >= before + 10, 10_000, "frames after malformed input");
    assert.equal(svc.proc.exitCode, null, "service still running");
    const status = (await (await fetch(`${httpUrl}/api/status`)).json()) as {
      decodeErrors: Record<string, number>;
    };
    for (const s of rig.sensors) {
      const n = Object.entries(status.decodeErrors)
        .filter(([k]) => k.startsWith(`sim-1/${s.id}/`))
        .reduce((a, [, v]) => a + v, 0);
      assert.ok(
        n >= sent[s.id]!,
        `${s.id}: counted ${n} of ${sent[s.id]} bad payloads: ${JSON.stringify(status.decodeErrors)}`,
      );
    }
  });
});
