/** The Foxglove WebSocket endpoint with @foxglove/ws-protocol's own client: advertise, subscribe, decode. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import wsProtocol from "@foxglove/ws-protocol";
import protobuf from "protobufjs";
import descriptor from "protobufjs/ext/descriptor/index.js";
import { WebSocket } from "ws";
import { type Running, spawnFusion } from "../../harness/cli.ts";

const { FoxgloveClient } = wsProtocol;

let svc: Running;
let wsUrl: string;

before(async () => {
  svc = spawnFusion(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--seed", "2"]);
  const http = (await svc.waitFor(/dashboard on (http:\/\/[\d.:]+)/))[1]!;
  wsUrl = http.replace(/^http/, "ws");
});
after(async () => {
  await svc?.stop();
});

interface Channel {
  id: number;
  topic: string;
  encoding: string;
  schemaName: string;
  schema: string;
  schemaEncoding?: string;
}

function decoderFor(ch: Channel): (data: ArrayBufferView) => Record<string, unknown> {
  if (ch.encoding === "json") return (d) => JSON.parse(new TextDecoder().decode(d));
  assert.equal(ch.encoding, "protobuf");
  assert.equal(ch.schemaEncoding, "protobuf");
  const set = (
    descriptor as unknown as { FileDescriptorSet: { decode(b: Uint8Array): unknown } }
  ).FileDescriptorSet.decode(Buffer.from(ch.schema, "base64"));
  const root = (protobuf.Root as unknown as { fromDescriptor(s: unknown): protobuf.Root }).fromDescriptor(
    set,
  );
  const type = root.lookupType(ch.schemaName);
  return (d) =>
    type.toObject(type.decode(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)), {
      longs: Number,
      defaults: true,
    });
}

test("foxglove: the ws-protocol client gets serverInfo, advertised Foxglove schemas, and decodable messages", async () => {
  const client = new FoxgloveClient({
    ws: new WebSocket(wsUrl, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]) as never,
  });
  const channels = new Map<number, Channel>();
  let serverInfo: { name?: string } | null = null;
  client.on("serverInfo", (s) => {
    serverInfo = s;
  });
  const got = new Map<string, Record<string, unknown>[]>();
  const decoders = new Map<
    number,
    { topic: string; decode: (d: ArrayBufferView) => Record<string, unknown> }
  >();
  client.on("message", ({ subscriptionId, data }) => {
    const d = decoders.get(subscriptionId);
    if (!d) return;
    const l = got.get(d.topic) ?? [];
    l.push(d.decode(data));
    got.set(d.topic, l);
  });
  const wanted = ["lidar", "objects", "truth", "gnss", "tf", "health"].map((k) => `/sim-1/${k}`);
  const subscribed = new Map<string, number>();
  client.on("advertise", (chs) => {
    for (const ch of chs as Channel[]) {
      channels.set(ch.id, ch);
      if (wanted.includes(ch.topic) && !subscribed.has(ch.topic)) {
        const sub = client.subscribe(ch.id);
        subscribed.set(ch.topic, sub);
        decoders.set(sub, { topic: ch.topic, decode: decoderFor(ch) });
      }
    }
  });
  try {
    const deadline = Date.now() + 30_000;
    const hasObjects = () =>
      (got.get("/sim-1/objects") ?? []).some((s) => (s as { entities: unknown[] }).entities.length > 0);
    while (Date.now() < deadline && (wanted.some((t) => (got.get(t)?.length ?? 0) < 2) || !hasObjects()))
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(serverInfo, "serverInfo first");
    assert.equal((serverInfo as { name: string }).name, "sensor-fusion-service");
    const byTopic = new Map([...channels.values()].map((c) => [c.topic, c]));
    assert.equal(byTopic.get("/sim-1/lidar")?.schemaName, "foxglove.PointCloud");
    assert.equal(byTopic.get("/sim-1/objects")?.schemaName, "foxglove.SceneUpdate");
    assert.equal(byTopic.get("/sim-1/truth")?.schemaName, "foxglove.SceneUpdate");
    assert.equal(byTopic.get("/sim-1/gnss")?.schemaName, "foxglove.LocationFix");
    assert.equal(byTopic.get("/sim-1/tf")?.schemaName, "foxglove.FrameTransforms");
    for (const t of wanted)
      assert.ok((got.get(t)?.length ?? 0) >= 2, `messages on ${t}: ${got.get(t)?.length ?? 0}`);

    const pc = got.get("/sim-1/lidar")!.at(-1)! as {
      pointStride: number;
      data: Uint8Array;
      fields: { name: string }[];
      frameId: string;
      timestamp: { seconds: number };
    };
    assert.equal(pc.pointStride, 16);
    assert.deepEqual(
      pc.fields.map((f) => f.name),
      ["x", "y", "z", "intensity"],
    );
    assert.equal(pc.frameId, "sim-1/base_link");
    assert.ok(pc.data.length >= 16 * 1000 && pc.data.length % 16 === 0, `cloud bytes ${pc.data.length}`);
    assert.ok(pc.timestamp.seconds > 1e9);

    const truth = got.get("/sim-1/truth")!.at(-1)! as { entities: { cubes: unknown[] }[] };
    assert.ok(truth.entities.length > 0 && truth.entities[0]!.cubes.length === 1);
    const scenes = got.get("/sim-1/objects")!;
    assert.ok(
      scenes.some((s) => (s as { entities: unknown[] }).entities.length > 0),
      "fused objects drawn",
    );
    const fix = got.get("/sim-1/gnss")!.at(-1)! as { latitude: number; longitude: number };
    assert.ok(
      Math.abs(fix.latitude - 48.137) < 0.1 && Math.abs(fix.longitude - 11.575) < 0.1,
      JSON.stringify(fix),
    );
    const tf = got.get("/sim-1/tf")!.at(-1)! as {
      transforms: { parentFrameId: string; childFrameId: string }[];
    };
    assert.equal(tf.transforms[0]!.parentFrameId, "map");
    assert.equal(tf.transforms[0]!.childFrameId, "sim-1/base_link");
    const health = got.get("/sim-1/health")!.at(-1)! as { vehicle: string; mode: string; sensors: unknown[] };
    assert.equal(health.vehicle, "sim-1");
    assert.ok(health.sensors.length === 5);

    // Unsubscribe: that topic goes quiet, the others keep coming.
    client.unsubscribe(subscribed.get("/sim-1/lidar")!);
    await new Promise((r) => setTimeout(r, 300));
    const before = got.get("/sim-1/lidar")!.length;
    const objBefore = got.get("/sim-1/objects")!.length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(got.get("/sim-1/lidar")!.length, before);
    assert.ok(got.get("/sim-1/objects")!.length > objBefore);
  } finally {
    client.close();
  }
});

test("foxglove: the foxglove.sdk.v1 subprotocol is accepted too, and serverInfo comes first", async () => {
  const ws = new WebSocket(wsUrl, ["foxglove.sdk.v1"]);
  const first = await new Promise<{ op: string }>((resolve, reject) => {
    ws.once("message", (d) => resolve(JSON.parse(String(d))));
    ws.once("error", reject);
  });
  assert.equal(ws.protocol, "foxglove.sdk.v1");
  assert.equal(first.op, "serverInfo");
  ws.close();
});
