import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { startMosquitto } from "../../harness/mosquitto.ts";
import { needs } from "../../harness/programs.ts";

test("harness: a real mosquitto starts on a free port and relays a message", {
  skip: needs("mosquitto"),
}, async () => {
  const broker = await startMosquitto();
  try {
    const c = await mqtt.connectAsync(broker.url);
    await c.subscribeAsync("t/x");
    const got = new Promise<string>((resolve) => c.on("message", (_t, p) => resolve(p.toString())));
    await c.publishAsync("t/x", "hello");
    assert.equal(await got, "hello");
    await c.endAsync();
  } finally {
    await broker.stop();
  }
});
