/**
 * fleet: a pool of `fusion serve --worker` processes sharing vehicles through etcd (docs/fleet.md),
 * on this machine, with a real mosquitto and a real single-node etcd.
 *  1. Throughput for 1, 2 and 3 workers: the most nuScenes-like vehicles (the capacity bench's
 *     zero-delay rig and load generator, bench/_loadgen.ts) the pool sustains with p99 e2e under
 *     100 ms and >= 95 % of the expected ticks across all its vehicles, measured at a subscriber of
 *     `fusion/+/fused` (doubling search, then bisection). Vehicles are announced with retained
 *     birth messages, as a gateway would; the workers split them by rendezvous hashing.
 *  2. Handover: three workers, twelve light simulated vehicles (`fusion sim`, the fleet test's rig);
 *     kill -9 one worker, wait until its vehicles are fused again, start it again, wait until they
 *     are back; per moved vehicle, the gap between the old owner's last frame and the new owner's
 *     first (kill: lease expiry + take-over + first tick; join: release + take-over + first tick).
 * Keys: vehicles_per_worker (sustained vehicles / workers, best pool size), fleet_vehicles_<k>w,
 * frames_per_s_<k>w_at_<n> (fused frames per second at a fixed offered load of n vehicles),
 * handover_gap_ms_p50 / _max (kill -9), join_gap_ms_p50 / _max, messages and MB/s per vehicle.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";
import type { BenchOptions } from "../src/cli/bench.ts";
import { birthPayload } from "../src/cluster/discovery.ts";
import { rendezvousOwner } from "../src/cluster/rendezvous.ts";
import { decodeFusedFrame } from "../src/msg/codec.ts";
import { topics } from "../src/msg/topics.ts";
import { loadRig } from "../src/rig/load.ts";
import { zeroDelay } from "./_loadgen.ts";
import { type Running, spawnFusion } from "../harness/cli.ts";
import { startEtcd } from "../harness/etcd.ts";
import { startMosquitto } from "../harness/mosquitto.ts";
import { median, p99 } from "./_stats.ts";

const LOADGEN = fileURLToPath(new URL("./_loadgen.ts", import.meta.url));
const LIGHT_RIG = fileURLToPath(new URL("../test/fixtures/rigs/fleet-light.yaml", import.meta.url));

interface Frame {
  vehicle: string;
  worker: string;
  revision: number;
  e2eMs: number;
  atMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function workerArgs(etcdUrl: string, prefix: string, brokerUrl: string, rig: string, id: string) {
  return [
    "serve",
    "--worker",
    "--etcd",
    etcdUrl,
    "--etcd-prefix",
    prefix,
    "--broker",
    brokerUrl,
    "--rig",
    rig,
    "--http",
    "off",
    "--instance",
    id,
    "--max-vehicles",
    "256",
    "--idle-evict-s",
    "5",
    "--discover-sensor",
    "none",
  ];
}

async function startPool(n: number, etcdUrl: string, prefix: string, brokerUrl: string, rig: string) {
  const ws = new Map<string, Running>();
  for (let i = 1; i <= n; i++)
    ws.set(`bw-${i}`, spawnFusion(workerArgs(etcdUrl, prefix, brokerUrl, rig, `bw-${i}`)));
  await Promise.all([...ws.values()].map((w) => w.waitFor(/fusion service .* running/, 60_000)));
  return ws;
}

interface Trial {
  workers: number;
  vehicles: number;
  frames_per_s: number;
  tick_ratio: number;
  e2e_p50_ms: number;
  e2e_p99_ms: number;
  vehicles_seen: number;
  messages_per_s_per_vehicle: number;
  mb_per_s_per_vehicle: number;
  ok: boolean;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const broker = await startMosquitto();
  const etcd = await startEtcd();
  const dir = mkdtempSync(join(tmpdir(), "bench-fleet-"));
  const rigFile = join(dir, "nuscenes-zero-delay.json");
  const rig = zeroDelay(loadRig("nuscenes"));
  writeFileSync(rigFile, JSON.stringify(rig));
  const refHz = rig.sensors.find((s) => s.id === rig.reference)!.rate_hz;
  const frames: Frame[] = [];
  let recording = false;
  const sub: MqttClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  sub.on("message", (_t, payload) => {
    if (!recording) return;
    const r = decodeFusedFrame(payload);
    if (!r.ok) return;
    const f = r.value;
    frames.push({
      vehicle: f.vehicle,
      worker: f.worker ?? "",
      revision: f.ownershipRevision ?? 0,
      e2eMs: f.latency.find((l) => l.stage === "e2e")?.ms ?? Number.NaN,
      atMs: performance.now(),
    });
  });
  await sub.subscribeAsync("fusion/+/fused", { qos: 0 });
  const out: Record<string, unknown> = {
    broker: "mosquitto",
    rig: "nuscenes (zero transport delay) for throughput; test/fixtures/rigs/fleet-light.yaml for handover",
    criterion: "p99 e2e < 100 ms and ticks >= 95 % over all vehicles, at a subscriber",
    lease_s: 3,
  };
  const children: Running[] = [];
  try {
    // 1. Throughput for 1, 2, 3 workers.
    const warmS = opts.quick ? 3 : 5;
    const windowS = opts.quick ? 4 : 6;
    const trials: Trial[] = [];
    const sustained: Record<number, number> = {};
    for (const k of [1, 2, 3]) {
      const prefix = `/bench-fleet-${process.pid}-${k}/`;
      const pool = await startPool(k, etcd.url, prefix, broker.url, rigFile);
      children.push(...pool.values());
      const trial1 = async (n: number): Promise<boolean> => {
        const ids = Array.from({ length: n }, (_, i) => `load-${i + 1}`);
        await Promise.all(
          ids.map((v) =>
            sub.publishAsync(topics.rig(v), birthPayload(v, rig.name), { qos: 1, retain: true }),
          ),
        );
        const gen = fusionLoad(broker.url, n, warmS + windowS + 1, rigFile);
        await gen.ready;
        await sleep(warmS * 1000);
        frames.length = 0;
        recording = true;
        const t0 = performance.now();
        await sleep(windowS * 1000);
        recording = false;
        const elapsedS = (performance.now() - t0) / 1000;
        const sent = await gen.done;
        await Promise.all(
          ids.map((v) => sub.publishAsync(topics.rig(v), Buffer.alloc(0), { qos: 1, retain: true })),
        );
        const e2e = frames.map((f) => f.e2eMs).filter(Number.isFinite);
        const t: Trial = {
          workers: k,
          vehicles: n,
          frames_per_s: frames.length / elapsedS,
          tick_ratio: frames.length / (n * refHz * elapsedS),
          e2e_p50_ms: median(e2e),
          e2e_p99_ms: p99(e2e),
          vehicles_seen: new Set(frames.map((f) => f.vehicle)).size,
          messages_per_s_per_vehicle: sent.published / sent.seconds / n,
          mb_per_s_per_vehicle: sent.bytes / 1e6 / sent.seconds / n,
          ok: false,
        };
        t.ok = t.e2e_p99_ms < 100 && t.tick_ratio >= 0.95 && t.vehicles_seen === n;
        trials.push(t);
        process.stdout.write(
          `  ${k} worker(s) x ${n} vehicles: ${t.frames_per_s.toFixed(1)} frames/s, ticks ${(t.tick_ratio * 100).toFixed(0)} %, e2e p50 ${t.e2e_p50_ms.toFixed(1)} p99 ${t.e2e_p99_ms.toFixed(1)} ms -> ${t.ok ? "ok" : "no"}\n`,
        );
        await sleep(1500); // births cleared: the workers forget and release these vehicles
        return t.ok;
      };
      // The machine is shared: a failed trial is repeated once before it counts as a failure.
      const trial = async (n: number) => (await trial1(n)) || (await trial1(n));
      let lo = 0;
      let hi = 0;
      const max = opts.quick ? 8 : 32;
      for (let n = Math.max(1, opts.vehicles ?? 1); n <= max; n *= 2) {
        if (await trial(n)) lo = n;
        else {
          hi = n;
          break;
        }
      }
      for (let i = 0; i < (opts.quick ? 1 : 2) && hi - lo > 1; i++) {
        const mid = Math.floor((lo + hi) / 2);
        if (await trial(mid)) lo = mid;
        else hi = mid;
      }
      sustained[k] = lo;
      out[`fleet_vehicles_${k}w`] = lo;
      // Throughput at one fixed offered load, whatever the latency: fused frames per second the
      // pool delivers (the search above is sensitive to the machine's other load; this less so).
      const fixed = opts.quick ? 6 : 8;
      await trial1(fixed);
      const ft = trials.at(-1)!;
      out[`frames_per_s_${k}w_at_${fixed}`] = ft.frames_per_s;
      out[`tick_ratio_${k}w_at_${fixed}`] = ft.tick_ratio;
      await Promise.all([...pool.values()].map((w) => w.kill("SIGTERM")));
    }
    out.throughput = trials;
    const best = [1, 2, 3].reduce((a, b) => (sustained[b]! / b > sustained[a]! / a ? b : a), 1);
    out.vehicles_per_worker = sustained[best]! / best;
    out.vehicles_per_worker_at = `${best} worker(s)`;
    const okTrials = trials.filter((t) => t.ok);
    const ref = okTrials.at(-1) ?? trials[0];
    if (ref) {
      out.messages_per_s_per_vehicle = ref.messages_per_s_per_vehicle;
      out.mb_per_s_per_vehicle = ref.mb_per_s_per_vehicle;
    }

    // 2. Handover gaps: kill -9 and rejoin, three workers, twelve light vehicles.
    const prefix = `/bench-fleet-${process.pid}-handover/`;
    const ids = ["hw-1", "hw-2", "hw-3"];
    const pool = new Map<string, Running>();
    for (const id of ids) pool.set(id, spawnFusion(workerArgs(etcd.url, prefix, broker.url, LIGHT_RIG, id)));
    children.push(...pool.values());
    await Promise.all([...pool.values()].map((w) => w.waitFor(/fusion service .* running/, 60_000)));
    const sim = spawnFusion([
      "sim",
      "--broker",
      broker.url,
      "--rig",
      LIGHT_RIG,
      "--vehicles",
      "12",
      "--seed",
      "5",
    ]);
    children.push(sim);
    frames.length = 0;
    recording = true;
    const vehicles = Array.from({ length: 12 }, (_, i) => `sim-${i + 1}`);
    const ownerSince = (v: string, sinceMs: number) => {
      let w: string | null = null;
      for (const f of frames) if (f.vehicle === v && f.atMs >= sinceMs) w = f.worker;
      return w;
    };
    const waitUntil = async (pred: () => boolean, ms: number, what: string) => {
      const deadline = performance.now() + ms;
      while (!pred()) {
        if (performance.now() > deadline) throw new Error(`fleet bench: ${what} not reached in ${ms} ms`);
        await sleep(100);
      }
    };
    const settledOn = (live: string[], since: number) =>
      vehicles.every((v) => ownerSince(v, since) === rendezvousOwner(v, live));
    await waitUntil(() => settledOn(ids, 0), 60_000, "initial assignment");
    const killGaps: number[] = [];
    const joinGaps: number[] = [];
    const recover: number[] = [];
    /** Per vehicle that changed hands after `since`: old owner's last frame -> new owner's first. */
    const gapsAfter = (since: number, moved: string[], from: (v: string) => string) =>
      moved.map((v) => {
        const old = frames.filter((f) => f.vehicle === v && f.worker === from(v));
        const lastOld = old.filter((f) => f.atMs <= since + 60_000).at(-1)!;
        const firstNew = frames.find((f) => f.vehicle === v && f.atMs > since && f.worker !== from(v))!;
        return firstNew.atMs - lastOld.atMs;
      });
    const rounds = opts.quick ? 1 : 3;
    for (let r = 0; r < rounds; r++) {
      const victim = ids[r % ids.length]!;
      const live = ids.filter((w) => w !== victim);
      const moved = vehicles.filter((v) => rendezvousOwner(v, ids) === victim);
      const killedAt = performance.now();
      await pool.get(victim)!.kill("SIGKILL");
      await waitUntil(() => settledOn(live, killedAt), 30_000, `take-over after kill -9 ${victim}`);
      recover.push(performance.now() - killedAt);
      killGaps.push(...gapsAfter(killedAt, moved, () => victim));
      const w = spawnFusion(workerArgs(etcd.url, prefix, broker.url, LIGHT_RIG, victim));
      pool.set(victim, w);
      children.push(w);
      await w.waitFor(/fusion service .* running/, 60_000);
      const joinedAt = performance.now();
      await waitUntil(() => settledOn(ids, joinedAt), 30_000, `rebalance after ${victim} rejoined`);
      joinGaps.push(...gapsAfter(joinedAt, moved, (v) => rendezvousOwner(v, live)!));
      process.stdout.write(
        `  round ${r + 1}: kill -9 ${victim} (${moved.length} vehicles): all fused again after ${recover.at(-1)!.toFixed(0)} ms; rejoin moved them back\n`,
      );
    }
    recording = false;
    out.handover_gap_ms_p50 = median(killGaps);
    out.handover_gap_ms_max = Math.max(...killGaps);
    out.handover_recovered_ms_max = Math.max(...recover);
    out.join_gap_ms_p50 = median(joinGaps);
    out.join_gap_ms_max = Math.max(...joinGaps);
    out.handover_samples = killGaps.length;
    out.kill_gaps_ms = killGaps.map(Math.round);
    out.join_gaps_ms = joinGaps.map(Math.round);
    await sim.kill("SIGTERM");
    await Promise.all([...pool.values()].map((w) => w.kill("SIGTERM")));
  } finally {
    await Promise.all(children.map((c) => c.kill("SIGKILL")));
    await sub.endAsync(true);
    await etcd.stop();
    await broker.stop();
  }
  return out;
}

/** The load generator as a child process (bench/_loadgen.ts): resolves `ready`, then its totals. */
function fusionLoad(brokerUrl: string, n: number, seconds: number, rigFile: string) {
  const gen = spawn(
    process.execPath,
    ["--import", "tsx", LOADGEN, brokerUrl, String(n), String(seconds), rigFile],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  gen.stdout!.on("data", (d: Buffer) => {
    out += d;
  });
  const ready = (async () => {
    while (!out.includes("ready")) {
      if (gen.exitCode !== null) throw new Error(`load generator exited: ${out}`);
      await sleep(50);
    }
  })();
  const done = new Promise<{ published: number; bytes: number; seconds: number }>((resolve) =>
    gen.once("exit", () => {
      const m = /\{.*\}/.exec(out);
      const s = m ? (JSON.parse(m[0]) as { published: number; bytes: number }) : { published: 0, bytes: 0 };
      resolve({ ...s, seconds });
    }),
  );
  return { ready, done };
}
