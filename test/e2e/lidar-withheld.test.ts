/** The tick keeps firing on its timer while the LiDAR (the reference sensor) is withheld. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeFusedFrame, decodeGroundTruth } from "../../src/msg/codec.ts";
import { topics } from "../../src/msg/topics.ts";
import type { FusedFrame } from "../../src/msg/types.ts";
import { spawnFusion } from "../../harness/cli.ts";
import { startMosquitto } from "../../harness/mosquitto.ts";
import { needs } from "../../harness/programs.ts";
import { Collector } from "../../harness/mqtt-collect.ts";

test("ticks continue from the timer while LiDAR is dropped, and LiDAR-triggered ticks resume after", {
  skip: needs("mosquitto"),
}, async () => {
  const broker = await startMosquitto();
  const col = await Collector.connect(broker.url, ["fusion/sim-1/fused", "fusion/sim-1/truth"]);
  const svc = spawnFusion(["serve", "--broker", broker.url, "--http", "off", "--faults", "lidar:drop@2s+4s"]);
  try {
    const fused = () =>
      col.on(topics.fused("sim-1")).map((m) => ({ f: decodeFusedFrame(m.payload), at: m.atMs }));
    const faultActive = () =>
      col.on(topics.truth("sim-1")).map((m) => {
        const t = decodeGroundTruth(m.payload);
        assert.ok(t.ok);
        return {
          stampNs: t.value.stampNs,
          active: t.value.activeFaults.some((a) => a.startsWith("lidar:drop")),
        };
      });
    // Wait until the drop has started and ended (truth says so), plus a second of recovery.
    await col.until(() => faultActive().some((t) => t.active), 20_000, "LiDAR drop to start");
    const dropStart = faultActive().find((t) => t.active)!.stampNs;
    await col.until(
      () => faultActive().some((t) => !t.active && t.stampNs > dropStart + 4.5e9),
      20_000,
      "LiDAR drop to end",
    );
    await col.until(
      () => fused().filter((x) => x.f.ok && x.f.value.stampNs > dropStart + 5.5e9).length > 5,
      10_000,
      "recovery",
    );

    const frames: FusedFrame[] = fused().map((x) => {
      assert.ok(x.f.ok);
      return x.f.value;
    });
    // Frames whose tick time lies inside the drop window (skipping the first reference timeout).
    const during = frames.filter((f) => f.stampNs > dropStart + 0.5e9 && f.stampNs < dropStart + 3.5e9);
    assert.ok(during.length >= 0.9 * 30, `${during.length} frames in 3 s without LiDAR (10 Hz nominal)`);
    for (const f of during) {
      assert.equal(f.trigger, "timer", "ticks without LiDAR come from the timer");
      const lidar = f.sensors.find((s) => s.sensorId === "lidar")!;
      assert.equal(lidar.used, false);
    }
    const gaps = during.slice(1).map((f, i) => (f.stampNs - during[i]!.stampNs) / 1e6);
    assert.ok(Math.max(...gaps) < 250, `largest gap between timer ticks ${Math.max(...gaps)} ms`);
    const after = frames.filter((f) => f.stampNs > dropStart + 5.5e9);
    assert.ok(
      after.some((f) => f.trigger === "reference"),
      "LiDAR-triggered ticks resume",
    );
  } finally {
    await svc.stop();
    await col.close();
    await broker.stop();
  }
});
