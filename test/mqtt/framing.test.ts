/**
 * src/mqtt/framing.ts: whole MQTT packets out of any split of the byte stream, each PUBLISH payload
 * at a multiple of 8 bytes (docs/DECISIONS.md H10); and the service's client on a real connection.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import { startEmbeddedBroker } from "../../src/broker/embedded.ts";
import { connectMqtt } from "../../src/mqtt/connect.ts";
import { FramedSocket, PacketFramer } from "../../src/mqtt/framing.ts";
import { startMosquitto } from "../../harness/mosquitto.ts";
import { needs } from "../../harness/programs.ts";

type Spec =
  | { kind: "publish"; topic: number; qos: 0 | 1; payload: number; props: boolean }
  | { kind: "puback" }
  | { kind: "pingresp" };

function packetOf(s: Spec, version: 4 | 5, i: number): Buffer {
  const opts = { protocolVersion: version };
  if (s.kind === "puback") return mqttPacket.generate({ cmd: "puback", messageId: 1 + i } as never, opts);
  if (s.kind === "pingresp") return mqttPacket.generate({ cmd: "pingresp" } as never, opts);
  const payload = Buffer.alloc(s.payload);
  for (let k = 0; k < s.payload; k++) payload[k] = (k * 31 + i) & 0xff;
  return mqttPacket.generate(
    {
      cmd: "publish",
      topic: `t/${"x".repeat(s.topic)}`,
      payload,
      qos: s.qos,
      dup: false,
      retain: false,
      ...(s.qos ? { messageId: 1 + i } : {}),
      ...(version === 5 && s.props ? { properties: { userProperties: { k: "v".repeat(i % 7) } } } : {}),
    } as never,
    opts,
  );
}

const spec: fc.Arbitrary<Spec> = fc.oneof(
  fc.record({
    kind: fc.constant("publish" as const),
    topic: fc.integer({ min: 0, max: 40 }),
    qos: fc.constantFrom(0 as const, 1 as const),
    payload: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 16_000, max: 200_000 })),
    props: fc.boolean(),
  }),
  fc.constant({ kind: "puback" as const }),
  fc.constant({ kind: "pingresp" as const }),
);

test("framer: any split of a packet stream gives back every packet whole, PUBLISH payloads 8-aligned (from a size on)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(4 as const, 5 as const),
      fc.array(spec, { minLength: 1, maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 30 }),
      fc.constantFrom(0, 16_000),
      (version, specs, cuts, alignFrom) => {
        const packets = specs.map((s, i) => packetOf(s, version, i));
        const stream = Buffer.concat(packets);
        const out: Buffer[] = [];
        const f = new PacketFramer(
          (p) => out.push(p),
          () => version,
          alignFrom,
        );
        // a reusable read buffer, as the socket's: the framer must copy, never keep a view
        const readBuf = Buffer.alloc(70_000);
        for (let at = 0, c = 0; at < stream.length; c++) {
          const n = Math.min(cuts[c % cuts.length]!, stream.length - at);
          stream.copy(readBuf, 0, at, at + n);
          f.feed(readBuf.subarray(0, n));
          readBuf.fill(0xee);
          at += n;
        }
        assert.ok(f.idle);
        assert.equal(out.length, packets.length);
        for (let i = 0; i < packets.length; i++) {
          assert.ok(out[i]!.equals(packets[i]!), `packet ${i} (${specs[i]!.kind}) differs`);
          if (specs[i]!.kind !== "publish") continue;
          const parser = mqttPacket.parser({ protocolVersion: version });
          let got: mqttPacket.IPublishPacket | null = null;
          parser.on("packet", (p) => {
            got = p as mqttPacket.IPublishPacket;
          });
          parser.parse(out[i]!);
          const payload = (got as mqttPacket.IPublishPacket | null)?.payload as Buffer;
          assert.equal(payload.length, (specs[i] as { payload: number }).payload);
          if (packets[i]!.length >= alignFrom)
            assert.equal(payload.byteOffset % 8, 0, `payload of packet ${i} at offset ${payload.byteOffset}`);
        }
        assert.equal(f.stats.packets, packets.length);
      },
    ),
    { numRuns: 300 },
  );
});

test("framer: a remaining length over 4 bytes is an error", () => {
  const f = new PacketFramer(
    () => {},
    () => 4,
  );
  assert.throws(() => f.feed(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01)), /remaining length/);
});

async function roundTrip(url: string, maxPacketBytes?: number) {
  const sub = await connectMqtt(url, { giveUpAfterMs: 5000, ...(maxPacketBytes ? { maxPacketBytes } : {}) });
  assert.equal(sub.options.protocolVersion, maxPacketBytes ? 5 : 4);
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  try {
    assert.ok(sub.stream instanceof FramedSocket, "mqtt:// reads through the framer");
    const got: Buffer[] = [];
    sub.on("message", (_t, p) => got.push(p));
    await sub.subscribeAsync("f/#", { qos: 1 });
    const sent: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const p = Buffer.alloc(i % 4 === 0 ? 700_001 + i : 10 + i * 37);
      for (let k = 0; k < p.length; k += 997) p[k] = (k + i) & 0xff;
      sent.push(p);
      pub.publish(`f/${"t".repeat(i % 5)}`, p, { qos: (i % 2) as 0 | 1 });
    }
    const deadline = Date.now() + 10_000;
    while (got.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, sent.length);
    // a broker may reorder across topics and QoS levels (aedes delivers QoS 0 before QoS 1): match by length
    got.sort((a, b) => a.length - b.length);
    sent.sort((a, b) => a.length - b.length);
    for (let i = 0; i < sent.length; i++) {
      assert.ok(got[i]!.equals(sent[i]!), `message ${i}`);
      if (sent[i]!.length > 16_000) assert.equal(got[i]!.byteOffset % 8, 0, `message ${i} aligned`);
    }
    // and the client still publishes through it
    const echo = new Promise<Buffer>((r) => pub.once("message", (_t, p) => r(p)));
    await pub.subscribeAsync("back", { qos: 1 });
    await sub.publishAsync("back", Buffer.from("ok"), { qos: 1 });
    assert.equal((await echo).toString(), "ok");
  } finally {
    await pub.endAsync();
    await sub.endAsync();
  }
}

test("the service's client receives large and small messages whole through the embedded broker", async () => {
  const b = await startEmbeddedBroker({ port: 0 });
  try {
    await roundTrip(b.url);
  } finally {
    await b.close();
  }
});

test("the same through a real mosquitto (MQTT 5 with a packet limit)", {
  skip: needs("mosquitto"),
}, async () => {
  const broker = await startMosquitto();
  try {
    await roundTrip(broker.url, 2 * 1024 * 1024);
  } finally {
    await broker.stop();
  }
});
