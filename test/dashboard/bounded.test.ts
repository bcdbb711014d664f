/**
 * The dashboard's send rule with a real slow client: one that stops reading gets fewer, newer
 * messages (latest wins per channel, drops counted), and the server's buffer for it stays bounded.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Subject } from "rxjs";
import { WebSocket } from "ws";
import { startDashboard } from "../../src/dashboard/server.ts";
import {
  EMPTY_EGO,
  type FusedFrame,
  type HealthReport,
  ObjectClass,
  SystemMode,
} from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";

function frame(seq: number): FusedFrame {
  return {
    vehicle: "v1",
    stampNs: 1.7e18 + seq * 1e8,
    seq,
    ego: { ...EMPTY_EGO },
    // ~600 objects: a frame of about 100 KB of JSON.
    objects: Array.from({ length: 600 }, (_, i) => ({
      id: i,
      cls: ObjectClass.CAR,
      x: i,
      y: -i,
      z: 0,
      length: 4.5,
      width: 1.9,
      height: 1.6,
      yaw: 0.1,
      vx: 1,
      vy: 0,
      score: 0.9,
      modalities: [],
      age: 3,
    })),
    sensors: [],
    latency: [{ stage: "e2e", ms: 5 }],
    mode: SystemMode.NOMINAL,
    modeReasons: [],
    fusion: "classical",
    trigger: "lidar",
  };
}

test("dashboard: a client that stops reading gets fewer, newer frames; replaced ones are counted as drops", async () => {
  const frames$ = new Subject<FusedFrame>();
  const health$ = new Subject<HealthReport>();
  const d = await startDashboard({
    host: "127.0.0.1",
    port: 0,
    maxBufferedBytes: 256 * 1024,
    source: { rig: loadRig("sim"), frames$, health$ },
  });
  const ws = new WebSocket(`ws://127.0.0.1:${d.port}/ws`);
  try {
    await new Promise((r) => ws.once("open", r));
    frames$.next(frame(0)); // the vehicle becomes known
    ws.send(JSON.stringify({ type: "select", vehicle: "v1" }));
    await new Promise((r) => setTimeout(r, 100));
    // Stop reading: the kernel buffers fill, then the server's send buffer.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    for (let i = 1; i <= 400; i++) {
      frames$.next(frame(i));
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 1200)); // one stats tick
    assert.ok(d.stats.dropped > 100, `dropped ${d.stats.dropped}`);
    assert.ok(d.stats.sent < 400, `sent ${d.stats.sent}`);
    // Resume: the newest frame arrives (latest wins), not the whole backlog.
    const seqs: number[] = [];
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(String(data));
      if (m.type === "frame") seqs.push(m.seq);
    });
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const deadline = Date.now() + 10_000;
    while (!seqs.includes(400) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(seqs.includes(400), `newest frame received (got ${seqs.length}, last ${seqs.at(-1)})`);
    assert.ok(seqs.length < 200, `frames received after resuming: ${seqs.length}`);
  } finally {
    ws.close();
    await d.close();
  }
});

test("dashboard: a vehicle silent for forgetAfterMs leaves the list and its Foxglove channels are unadvertised", async () => {
  const frames$ = new Subject<FusedFrame>();
  const health$ = new Subject<HealthReport>();
  const d = await startDashboard({
    host: "127.0.0.1",
    port: 0,
    forgetAfterMs: 300,
    source: { rig: loadRig("sim"), frames$, health$ },
  });
  const fox = new WebSocket(`ws://127.0.0.1:${d.port}/`, ["foxglove.websocket.v1"]);
  const page = new WebSocket(`ws://127.0.0.1:${d.port}/ws`);
  const ops: { op: string; channels?: { id: number; topic: string }[]; channelIds?: number[] }[] = [];
  const lists: string[][] = [];
  fox.on("message", (m) => ops.push(JSON.parse(String(m))));
  page.on("message", (m, bin) => {
    if (bin) return;
    const j = JSON.parse(String(m));
    if (j.type === "vehicles") lists.push(j.list.map((v: { id: string }) => v.id));
  });
  try {
    await Promise.all([new Promise((r) => fox.once("open", r)), new Promise((r) => page.once("open", r))]);
    frames$.next(frame(1));
    const deadline = Date.now() + 5000;
    while (!ops.some((o) => o.op === "unadvertise") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const adv = ops.filter((o) => o.op === "advertise").flatMap((o) => o.channels ?? []);
    const v1 = adv.filter((c) => c.topic.startsWith("/v1/")).map((c) => c.id);
    assert.equal(v1.length, 6);
    const un = ops.find((o) => o.op === "unadvertise");
    assert.deepEqual([...(un?.channelIds ?? [])].sort(), [...v1].sort());
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok(lists.some((l) => l.includes("v1")) && !lists.at(-1)!.includes("v1"), JSON.stringify(lists));
  } finally {
    fox.close();
    page.close();
    await d.close();
  }
});
