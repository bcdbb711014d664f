/**
 * Large messages are refused before full delivery (issue 18, defect 7): the service's client asks
 * a real mosquitto for MQTT 5 with a Maximum Packet Size, so the broker drops larger messages for
 * it; against the embedded aedes (MQTT 3.1.1 only) it falls back at once.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { startEmbeddedBroker } from "../../src/broker/embedded.ts";
import { connectMqtt } from "../../src/mqtt/connect.ts";
import { startMosquitto } from "../../harness/mosquitto.ts";
import { needs } from "../../harness/programs.ts";

test("mosquitto drops a message larger than the client's maximum packet size; smaller ones flow", {
  skip: needs("mosquitto"),
}, async () => {
  const broker = await startMosquitto();
  try {
    const sub = await connectMqtt(broker.url, { maxPacketBytes: 64 * 1024, giveUpAfterMs: 5000 });
    assert.equal(sub.options.protocolVersion, 5);
    const got: number[] = [];
    sub.on("message", (_t, p) => got.push(p.length));
    await sub.subscribeAsync("fusion/+/sensors/+", { qos: 0 });
    const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    await pub.publishAsync("fusion/v/sensors/lidar", Buffer.alloc(15 * 1024 * 1024), { qos: 1 });
    await pub.publishAsync("fusion/v/sensors/lidar", Buffer.alloc(1000), { qos: 1 });
    const deadline = Date.now() + 3000;
    while (got.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(got, [1000]);
    assert.ok(sub.connected, "the subscriber stays connected");
    await pub.endAsync();
    await sub.endAsync();
  } finally {
    await broker.stop();
  }
});

test("against the embedded broker (MQTT 3.1.1) the client falls back at once", async () => {
  const b = await startEmbeddedBroker({ port: 0 });
  try {
    const retries: string[] = [];
    const c = await connectMqtt(b.url, {
      maxPacketBytes: 65536,
      giveUpAfterMs: 3000,
      onRetry: (l) => retries.push(l),
    });
    assert.equal(c.options.protocolVersion, 4);
    assert.deepEqual(retries, []);
    await c.endAsync();
  } finally {
    await b.close();
  }
});
