import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EMPTY_EGO, type FusedFrame } from "../../src/msg/types.ts";
import { InfluxTelemetry } from "../../src/telemetry/influx.ts";
import { silentLogger } from "../../src/util/log.ts";
import { startInfluxd } from "../helpers/influxd.ts";
import { needs } from "../../harness/programs.ts";

const skip = needs("influxd");

const frame = (seq: number): FusedFrame => ({
  vehicle: "v1",
  stampNs: 1.7e18 + seq * 1e8,
  seq,
  ego: EMPTY_EGO,
  objects: [],
  sensors: [{ sensorId: "lidar", modality: 1, state: 1, gateWeight: 0.8, used: true, reason: "", ageMs: 1 }],
  latency: [{ stage: "e2e", ms: 3.5 }],
  mode: 1,
  modeReasons: [],
  fusion: "classical",
  trigger: "reference",
});

async function count(url: string): Promise<number> {
  const r = await fetch(`${url}/query?db=fusion&q=${encodeURIComponent("SELECT count(e2e_ms) FROM fused")}`);
  const j = (await r.json()) as { results: { series?: { values: [string, number][] }[] }[] };
  return j.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
}

test("telemetry: frames reach a real influxd, and survive an influxd outage (buffered, then written)", {
  skip,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "influx-"));
  let influx = await startInfluxd({ dir });
  const port = influx.port;
  const t = new InfluxTelemetry({ url: `${influx.url}/fusion`, flushMs: 60_000, logger: silentLogger });
  try {
    for (let i = 0; i < 10; i++) t.frame(frame(i));
    await t.flush();
    assert.equal(t.stats.written, 10);
    assert.equal(await count(influx.url), 10);
    // aligner diagnostics: at most one point set per second per vehicle
    for (let i = 0; i < 10; i++)
      t.align("v1", 1.7e18 + i * 1e8, { drops: { lidar: { late: i } }, clockSkew: [], resets: 0 });
    await t.flush();
    assert.equal(t.stats.written, 12); // one "align" + one "align_drops" point
    const base = t.stats.written;

    await influx.stop(); // outage
    for (let i = 10; i < 20; i++) t.frame(frame(i));
    await t.flush();
    assert.equal(t.stats.failedWrites, 1);
    assert.equal(t.stats.buffered, 10);

    influx = await startInfluxd({ dir, port }); // back, same data dir
    // The client backs off after a failure; flushes retry until it takes writes again (bounded).
    for (let i = 0; i < 40 && t.stats.written < base + 10; i++) {
      await t.flush();
      if (t.stats.written < base + 10) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(t.stats.written, base + 10);
    assert.equal(t.stats.dropped, 0);
    assert.equal(await count(influx.url), 20);
  } finally {
    await t.close();
    await influx.stop();
  }
});

test("telemetry: the buffer is bounded and counts what it drops", async () => {
  const t = new InfluxTelemetry({
    url: "http://127.0.0.1:9/fusion",
    flushMs: 60_000,
    maxBufferedPoints: 5,
    logger: silentLogger,
  });
  for (let i = 0; i < 12; i++) t.frame(frame(i));
  assert.equal(t.stats.buffered, 5);
  assert.equal(t.stats.dropped, 7);
  await t.close();
});

test("telemetry: InfluxDB coming back without its database gets it re-created", { skip }, async () => {
  const influx = await startInfluxd({ dir: mkdtempSync(join(tmpdir(), "influx-")) });
  const t = new InfluxTelemetry({ url: `${influx.url}/fusion`, flushMs: 60_000, logger: silentLogger });
  try {
    for (let i = 0; i < 5; i++) t.frame(frame(i));
    await t.flush();
    assert.equal(await count(influx.url), 5);
    const q = (s: string) => fetch(`${influx.url}/query?q=${encodeURIComponent(s)}`, { method: "POST" });
    await q("DROP DATABASE fusion"); // as after a restart on an empty data directory
    // influxd finishes a drop a moment after answering it: wait until the database is gone.
    for (let i = 0; i < 50; i++) {
      const r = (await (await q("SHOW DATABASES")).json()) as {
        results: { series?: { values: string[][] }[] }[];
      };
      if (!r.results[0]?.series?.[0]?.values?.some((v) => v[0] === "fusion")) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    await new Promise((res) => setTimeout(res, 200));
    for (let i = 5; i < 10; i++) t.frame(frame(i));
    // The client backs off after a failure; flushes retry until it takes writes again (bounded).
    for (let i = 0; i < 40 && (await count(influx.url)) < 5; i++) {
      await t.flush();
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(await count(influx.url), 5, "the five later points are in the re-created database");
    assert.ok(t.stats.failedWrites >= 1, "one write failed first");
  } finally {
    await t.close();
    await influx.stop();
  }
});
