/**
 * Replay and record over a real mosquitto, as a user runs them:
 *  - `fusion record` + `fusion replay nuscenes` (fixtures), then `fusion replay mcap` of the file:
 *    the same messages come back;
 *  - the real nuScenes scene-0523 replayed into `fusion serve --rig nuscenes:<tables>#scene-0523`:
 *    fused frames and truth come out (skipped with one line where ../shared is absent).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeFusedFrame, decodeGroundTruth, decodeSensorMessage } from "../../src/msg/codec.ts";
import { type Running, runSync, spawnFusion } from "../../harness/cli.ts";
import { type Mosquitto, startMosquitto } from "../../harness/mosquitto.ts";
import { Collector } from "../../harness/mqtt-collect.ts";
import { needs } from "../../harness/programs.ts";
import { NUSC_ROOT, NUSC_TABLES, realdataSkip } from "../helpers/realdata.ts";

const NS_FIX = fileURLToPath(new URL("../fixtures/nuscenes", import.meta.url));
describe("replay and record over a real mosquitto", { skip: needs("mosquitto") }, () => {
  let broker: Mosquitto;
  const dir = mkdtempSync(join(tmpdir(), "replay-e2e-"));
  const running: Running[] = [];
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    for (const r of running) await r.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("record a replay to MCAP, play the file back: the same messages", async () => {
    const file = join(dir, "fixture.mcap");
    const rec = spawnFusion(["record", file, "--broker", broker.url, "--topics", "fusion/rt/#"]);
    running.push(rec);
    await rec.waitFor(/fusion record: .* -> /);
    const first = await Collector.connect(broker.url, ["fusion/rt/#"]);
    const r = runSync([
      "replay",
      "nuscenes",
      NS_FIX,
      "--broker",
      broker.url,
      "--vehicle",
      "rt",
      "--rate",
      "0",
      "--stamps",
      "log",
      "--quiet",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /fusion replay: (\d+) messages, .* 4 files skipped/);
    const sent = Number(/fusion replay: (\d+) messages/.exec(r.stderr)![1]);
    await waitUntil(() => first.messages.length >= sent);
    await rec.stop();
    await rec.exited;
    assert.match(rec.output(), new RegExp(`fusion record: ${sent} messages`));
    const second = await Collector.connect(broker.url, ["fusion/back/#"]);
    const p = runSync([
      "replay",
      "mcap",
      file,
      "--broker",
      broker.url,
      "--vehicle",
      "back",
      "--rate",
      "0",
      "--stamps",
      "log",
      "--quiet",
    ]);
    assert.equal(p.code, 0, p.stderr);
    await waitUntil(() => second.messages.length >= sent);
    assert.equal(second.messages.length, first.messages.length);
    first.messages.forEach((m, i) => {
      const b = second.messages[i]!;
      assert.equal(b.topic, m.topic.replace("fusion/rt/", "fusion/back/"));
      if (m.topic.includes("/sensors/")) {
        const x = decodeSensorMessage(m.payload);
        const y = decodeSensorMessage(b.payload);
        assert.ok(x.ok && y.ok);
        if (x.ok && y.ok) {
          assert.equal(y.value.header.vehicle, "back");
          assert.equal(y.value.header.stampNs, x.value.header.stampNs);
          assert.equal(y.value.payload.kind, x.value.payload.kind);
        }
      }
    });
    await first.close();
    await second.close();
  });

  it("bad input: one clear line and exit 2", () => {
    const r = runSync(["replay", "nuscenes", dir, "--broker", broker.url]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no <version>\/scene\.json under/);
    const f = runSync(["replay", "kitti", dir, "--broker", broker.url]);
    assert.equal(f.code, 2);
    assert.match(f.stderr, /neither a raw drive/);
    assert.equal(runSync(["replay", "bag", dir]).code, 2);
    assert.equal(runSync(["replay", "nuscenes", NS_FIX, "--rate", "-1"]).code, 2);
    assert.equal(runSync(["record"]).code, 2);
    assert.match(runSync(["replay", "--help"]).stdout, /--rate X/);
  });

  it("real scene-0523 replayed into serve --rig nuscenes:<tables>#scene-0523: fused frames and truth", {
    skip: realdataSkip(),
  }, async () => {
    const svc = spawnFusion([
      "serve",
      "--broker",
      broker.url,
      "--no-sim",
      "--rig",
      `nuscenes:${NUSC_TABLES}#scene-0523`,
      "--fusion",
      "classical",
      "--http",
      "127.0.0.1:0",
      "--instance",
      "replay-e2e",
    ]);
    running.push(svc);
    await svc.waitFor(/fusion service .* running/, 30_000);
    const col = await Collector.connect(broker.url, ["fusion/real-1/fused", "fusion/real-1/truth"]);
    const r = runSync(
      [
        "replay",
        "nuscenes",
        NUSC_ROOT,
        "--scene",
        "scene-0523",
        "--broker",
        broker.url,
        "--vehicle",
        "real-1",
        "--duration",
        "6",
        "--quiet",
      ],
      60_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /camera input derived:annotations/);
    await waitUntil(() => col.on("fusion/real-1/fused").length >= 10, 10_000);
    const frames = col.on("fusion/real-1/fused").map((m) => decodeFusedFrame(m.payload));
    const truths = col.on("fusion/real-1/truth").map((m) => decodeGroundTruth(m.payload));
    assert.ok(truths.length >= 10, `truth messages ${truths.length}`);
    assert.ok(frames.every((f) => f.ok));
    const ok = frames.flatMap((f) => (f.ok ? [f.value] : []));
    assert.ok(ok.filter((f) => f.trigger === "reference").length >= 10);
    assert.ok(
      ok.some((f) => f.objects.length > 0),
      "objects fused from the real data",
    );
    assert.ok(
      ok.slice(3).every((f) => f.ego.valid && f.ego.speed > 2),
      "ego state from the replayed poses",
    );
    const t = truths[0]!;
    assert.ok(t.ok && t.value.objects.length > 20, "scene-0523 annotations as truth");
    await col.close();
    await svc.stop();
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
