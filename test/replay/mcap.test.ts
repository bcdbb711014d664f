/**
 * MCAP recordings: what the recorder writes opens with @mcap/core's own reader (schemas embedded
 * as protobuf FileDescriptorSets, chunks zstd-compressed), and playing it back yields the same
 * messages on the same topics.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { McapStreamReader } from "@mcap/core";
import protobuf from "protobufjs";
import descriptor from "protobufjs/ext/descriptor.js";
import { decodeSensorMessage } from "../../src/msg/codec.ts";
import {
  DECOMPRESS,
  McapFileSource,
  McapRecorder,
  schemaOfTopic,
  topicMatches,
} from "../../src/replay/mcap.ts";
import { NuScenesSource } from "../../src/replay/nuscenes-source.ts";
import { encodeItem, play } from "../../src/replay/player.ts";
import { readFileSync } from "node:fs";

const NS_FIX = fileURLToPath(new URL("../fixtures/nuscenes", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "mcap-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("MCAP record and playback", () => {
  it("round trip: recorded messages read back with @mcap/core, same topics and bytes", async () => {
    const file = join(dir, "rt.mcap");
    const src = new NuScenesSource(NS_FIX, { vehicle: "rec-1" });
    const sent = [...src.items()].map((it) => ({ ...encodeItem(it), tNs: it.tNs }));
    const rec = await McapRecorder.create(file);
    for (const m of sent) await rec.add(m.topic, m.payload, BigInt(m.tNs));
    await rec.add("not/a/service/topic", new Uint8Array([1]), 1n);
    await rec.close();
    assert.equal(rec.stats.messages, sent.length);
    assert.equal(rec.stats.ignored, 1);

    // The MCAP library's reader, record by record.
    const reader = new McapStreamReader({ decompressHandlers: DECOMPRESS });
    reader.append(readFileSync(file));
    const schemas = new Map<number, { name: string; encoding: string; data: Uint8Array }>();
    const compressions = new Set<string>();
    let messages = 0;
    for (let r = reader.nextRecord(); r; r = reader.nextRecord()) {
      if (r.type === "Schema") schemas.set(r.id, r);
      if (r.type === "ChunkIndex") compressions.add(r.compression);
      if (r.type === "Message") messages++;
    }
    assert.ok(reader.done(), "a complete file with its footer");
    assert.equal(messages, sent.length);
    assert.deepEqual([...compressions], ["zstd"]);
    const names = new Set([...schemas.values()].map((s) => s.name));
    assert.ok(names.has("fusion.v1.SensorMessage") && names.has("fusion.v1.GroundTruth"));
    // The embedded schema alone decodes the messages (as a foreign tool would).
    const s = [...schemas.values()].find((x) => x.name === "fusion.v1.SensorMessage")!;
    assert.equal(s.encoding, "protobuf");
    // biome-ignore lint/suspicious/noExplicitAny: protobufjs ext typing
    const root = (protobuf.Root as any).fromDescriptor((descriptor as any).FileDescriptorSet.decode(s.data));
    const T = root.lookupType("fusion.v1.SensorMessage");
    const lidar = sent.find((m) => m.topic.endsWith("/LIDAR_TOP"))!;
    const decoded = T.toObject(T.decode(lidar.payload), { longs: String });
    assert.equal(decoded.header.sensorId, "LIDAR_TOP");

    // Playback yields the same messages in order.
    const back = [...new McapFileSource(file).items()];
    assert.equal(back.length, sent.length);
    back.forEach((b, i) => {
      assert.ok(b.kind === "raw");
      if (b.kind !== "raw") return;
      assert.equal(b.topic, sent[i]!.topic);
      assert.deepEqual(Buffer.from(b.payload), Buffer.from(sent[i]!.payload));
      assert.equal(b.tNs, sent[i]!.tNs);
    });
  });

  it("playback under another vehicle id rewrites topics and headers; a topic filter selects", async () => {
    const file = join(dir, "veh.mcap");
    const src = new NuScenesSource(NS_FIX, { vehicle: "a" });
    const rec = await McapRecorder.create(file, "none");
    for (const it of src.items()) {
      const m = encodeItem(it);
      await rec.add(m.topic, m.payload, BigInt(it.tNs));
    }
    await rec.close();
    const items = [
      ...new McapFileSource(file, { vehicle: "b", topics: ["fusion/+/sensors/LIDAR_TOP"] }).items(),
    ];
    assert.equal(items.length, 3);
    for (const it of items) {
      assert.ok(it.kind === "raw" && it.topic === "fusion/b/sensors/LIDAR_TOP");
      if (it.kind !== "raw") continue;
      const d = decodeSensorMessage(it.payload, { vehicle: "b", sensorId: "LIDAR_TOP" });
      assert.ok(d.ok);
    }
  });

  it("player: rate 0 awaits every publish (nothing dropped); stamps re-based to the wall clock or kept", async () => {
    const src = new NuScenesSource(NS_FIX, { vehicle: "p" });
    const n = [...src.items()].length;
    let inFlight = 0;
    let maxInFlight = 0;
    const got: Uint8Array[] = [];
    const stats = await play(() => src.items(), {
      rate: 0,
      loop: false,
      startS: 0,
      stamps: "log",
      publish: async (_t, p) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setImmediate(r));
        got.push(p);
        inFlight--;
      },
    });
    assert.equal(stats.messages, n);
    assert.equal(got.length, n);
    assert.equal(maxInFlight, 1, "backpressure: one publish at a time");
    // Real time on an injected clock: the player sleeps log time; "now" re-bases stamps.
    let clock = 0;
    const stamps: number[] = [];
    const poseAt: number[] = [];
    const s2 = await play(() => src.items(), {
      rate: 1,
      loop: false,
      startS: 0.4,
      durationS: 0.7,
      stamps: "now",
      nowMs: () => clock,
      sleepMs: async (ms) => {
        clock += ms;
      },
      epochNs: () => 5e18 + clock * 1e6,
      publish: (topic, p) => {
        const d = decodeSensorMessage(p);
        if (!d.ok) return;
        if (topic.endsWith("/LIDAR_TOP")) stamps.push(d.value.header.stampNs);
        if (topic.endsWith("/EGO_POSE")) poseAt.push(clock);
      },
    });
    // Window 0.4..1.1 s of log: poses at 0.5, 0.75, 1.0 s; LiDAR at 0.5 (1.0 is truncated), the
    // last message at 1.0 s (radar and camera after it are truncated / corrupt).
    assert.deepEqual(
      poseAt.map((t) => Math.round(t)),
      [0, 250, 500],
      "published at log pace",
    );
    assert.deepEqual(stamps, [5e18], "first message of the pass stamped with the wall clock");
    assert.ok(Math.abs(s2.logS - 0.5) < 1e-6, `log ${s2.logS}`);
    // Loop with log stamps: the second pass repeats the stamps (a backward jump for the aligner).
    const loopStamps: number[] = [];
    const ac = new AbortController();
    const s3 = await play(() => src.items(), {
      rate: 0,
      loop: true,
      startS: 0,
      stamps: "log",
      signal: ac.signal,
      publish: (topic, p) => {
        const d = decodeSensorMessage(p);
        if (d.ok && topic.endsWith("/LIDAR_TOP")) loopStamps.push(d.value.header.stampNs);
        if (loopStamps.length === 6) ac.abort();
      },
    });
    assert.equal(s3.passes, 2, "the second pass, cut short, counts");
    assert.deepEqual(loopStamps.slice(3), loopStamps.slice(0, 3));
  });

  it("topic helpers", () => {
    assert.equal(schemaOfTopic("fusion/v/sensors/L"), "SensorMessage");
    assert.equal(schemaOfTopic("fusion/v/fused"), "FusedFrame");
    assert.equal(schemaOfTopic("fusion/_service/x/status"), "ServiceStatus");
    assert.equal(schemaOfTopic("other/v/fused"), null);
    assert.ok(topicMatches("fusion/+/sensors/#", "fusion/v/sensors/L"));
    assert.ok(!topicMatches("fusion/+/fused", "fusion/v/health"));
  });
});
