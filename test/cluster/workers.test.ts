/**
 * Fleet workers with real parts: a real mosquitto and a real etcd (started here on free ports, temp
 * data dir), three `fusion serve --worker` processes and twelve simulated vehicles (`fusion sim`,
 * a light rig so that it fits a shared 2-core machine). Checked in order, on one run:
 *  1. every vehicle is fused by exactly one worker, the one rendezvous hashing names;
 *  2. kill -9 one worker: within 10 s its vehicles are fused again (by the rendezvous owners among
 *     the two left, first frame marked fresh_start), the others never change hands;
 *  3. start it again: only the vehicles rendezvous gives back to it move, nothing else restarts;
 *  4. etcd frozen 10 s (SIGSTOP): no frame is published for a tick after the lease ran out, no
 *     vehicle is fused by two workers at once, and ownership recovers after.
 * Over the whole run, in arrival order, a vehicle's ownership revision never goes back (no stale
 * owner's frame after a newer owner's). Handover gaps are printed (figures: `npm run bench -- fleet`).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";
import { rendezvousOwner } from "../../src/cluster/rendezvous.ts";
import { decodeFusedFrame } from "../../src/msg/codec.ts";
import { type Running, spawnFusion } from "../../harness/cli.ts";
import { type Etcd, startEtcd } from "../../harness/etcd.ts";
import { type Mosquitto, startMosquitto } from "../../harness/mosquitto.ts";
import { needs } from "../../harness/programs.ts";

const RIG = fileURLToPath(new URL("../fixtures/rigs/fleet-light.yaml", import.meta.url));
const VEHICLES = Array.from({ length: 12 }, (_, i) => `sim-${i + 1}`);
const WORKERS = ["worker-1", "worker-2", "worker-3"];
const LEASE_MS = 3000;

interface Seen {
  vehicle: string;
  worker: string;
  revision: number;
  fresh: boolean;
  stampMs: number;
  atMs: number; // arrival, wall clock (same clock as the stamps)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("fleet workers: etcd ownership, handover, partition", { skip: needs("mosquitto", "etcd") }, () => {
  let broker: Mosquitto;
  let etcd: Etcd;
  let sim: Running;
  let sub: MqttClient;
  const workers = new Map<string, Running>();
  const seen: Seen[] = [];
  const prefix = `/fleet-test-${process.pid}/`;

  const startWorker = (id: string) => {
    const w = spawnFusion([
      "serve",
      "--worker",
      "--etcd",
      etcd.url,
      "--etcd-prefix",
      prefix,
      "--broker",
      broker.url,
      "--rig",
      RIG,
      "--http",
      "off",
      "--instance",
      id,
    ]);
    workers.set(id, w);
    return w;
  };

  /** The newest frame of each vehicle that arrived after `sinceMs`. */
  const latest = (sinceMs: number) => {
    const m = new Map<string, Seen>();
    for (const s of seen) if (s.atMs >= sinceMs) m.set(s.vehicle, s);
    return m;
  };

  /** Wait until every vehicle's frames since `sinceMs` come from its rendezvous owner over `live`. */
  const settled = async (live: string[], sinceMs: number, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = latest(sinceMs);
      const wrong = VEHICLES.filter((v) => l.get(v)?.worker !== rendezvousOwner(v, live));
      if (wrong.length === 0) return;
      if (Date.now() > deadline)
        assert.fail(
          `${what}: not settled after ${timeoutMs} ms: ${wrong
            .map((v) => `${v} by ${l.get(v)?.worker ?? "nobody"} (want ${rendezvousOwner(v, live)})`)
            .join(", ")}`,
        );
      await sleep(200);
    }
  };

  /** Owners seen per vehicle in [fromMs, toMs). */
  const ownersIn = (fromMs: number, toMs: number) => {
    const m = new Map<string, Set<string>>();
    for (const s of seen)
      if (s.atMs >= fromMs && s.atMs < toMs) {
        if (!m.has(s.vehicle)) m.set(s.vehicle, new Set());
        m.get(s.vehicle)!.add(s.worker);
      }
    return m;
  };

  /** Ownership terms (worker, revision) per vehicle with their first and last frame arrival. */
  const terms = (v: string) => {
    const t = new Map<string, { worker: string; revision: number; first: Seen; last: Seen }>();
    for (const s of seen) {
      if (s.vehicle !== v) continue;
      const k = `${s.worker}@${s.revision}`;
      const e = t.get(k);
      if (e) e.last = s;
      else t.set(k, { worker: s.worker, revision: s.revision, first: s, last: s });
    }
    return [...t.values()].sort((a, b) => a.revision - b.revision);
  };

  before(async () => {
    broker = await startMosquitto();
    etcd = await startEtcd();
    sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    sub.on("message", (_topic, payload) => {
      const r = decodeFusedFrame(payload);
      if (!r.ok) return;
      const f = r.value;
      seen.push({
        vehicle: f.vehicle,
        worker: f.worker ?? "",
        revision: f.ownershipRevision ?? 0,
        fresh: Boolean(f.freshStart),
        stampMs: f.stampNs / 1e6,
        atMs: Date.now(),
      });
    });
    await sub.subscribeAsync("fusion/+/fused", { qos: 1 });
    sim = spawnFusion(["sim", "--broker", broker.url, "--rig", RIG, "--vehicles", "12", "--seed", "5"]);
    for (const id of WORKERS) startWorker(id);
    await Promise.all([...workers.values()].map((w) => w.waitFor(/fusion service .* running/, 60_000)));
  });

  after(async () => {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    await sim?.stop();
    await sub?.endAsync(true);
    await etcd?.stop();
    await broker?.stop();
  });

  test("every vehicle is fused by exactly one worker, the one rendezvous hashing names", async () => {
    await settled(WORKERS, 0, 60_000, "start");
    const from = Date.now();
    await sleep(4000);
    const owners = ownersIn(from, Date.now());
    for (const v of VEHICLES) {
      assert.deepEqual([...(owners.get(v) ?? [])], [rendezvousOwner(v, WORKERS)], `${v} in a 4 s window`);
    }
    assert.equal(new Set([...owners.values()].map((s) => [...s][0])).size, 3, "all three workers fuse");
  });

  test("kill -9 a worker: its vehicles are fused again within 10 s, by one worker each", async () => {
    const victim = "worker-3";
    const live = WORKERS.filter((w) => w !== victim);
    const before = latest(Date.now() - 2000);
    const moving = VEHICLES.filter((v) => rendezvousOwner(v, WORKERS) === victim);
    assert.ok(moving.length > 0);
    const w = workers.get(victim)!;
    const killedAt = Date.now();
    w.proc.kill("SIGKILL");
    await w.exited;
    workers.delete(victim);
    await settled(live, killedAt, 10_000, "after kill -9");
    const recoveredMs = Date.now() - killedAt;
    const gaps: number[] = [];
    for (const v of moving) {
      const t = terms(v);
      const oldT = t.filter((x) => x.worker === victim).at(-1)!;
      const newT = t.find((x) => x.revision > oldT.revision && x.worker !== victim)!;
      assert.ok(newT, `${v}: a new owner`);
      assert.ok(newT.first.fresh, `${v}: the new owner's first frame says fresh_start`);
      gaps.push(newT.first.atMs - oldT.last.atMs);
    }
    // The others never changed hands: same worker and revision, no fresh start.
    for (const v of VEHICLES.filter((x) => !moving.includes(x))) {
      const after = seen.filter((s) => s.vehicle === v && s.atMs >= killedAt);
      assert.ok(after.length > 0, `${v} fused after the kill`);
      for (const s of after) {
        assert.equal(s.worker, before.get(v)!.worker, `${v} kept its worker`);
        assert.equal(s.revision, before.get(v)!.revision, `${v} kept its revision`);
        assert.equal(s.fresh, false, `${v} did not restart`);
      }
    }
    // From the handover on, each vehicle hears one worker only.
    await sleep(3000);
    const owners = ownersIn(killedAt + recoveredMs, Date.now());
    for (const v of VEHICLES) assert.equal(owners.get(v)?.size, 1, `${v}: ${[...(owners.get(v) ?? [])]}`);
    gaps.sort((a, b) => a - b);
    console.log(
      `# kill -9 ${victim}: ${moving.length} vehicles moved, all fused again ${recoveredMs} ms after the kill; gap per vehicle p50 ${gaps[Math.floor(gaps.length / 2)]} ms, max ${gaps.at(-1)} ms (lease ${LEASE_MS} ms)`,
    );
  });

  test("restart it: vehicles rebalance, only the moved ones restart", async () => {
    const victim = "worker-3";
    const live = WORKERS.filter((w) => w !== victim);
    const before = latest(Date.now() - 2000);
    const startedAt = Date.now();
    await startWorker(victim).waitFor(/fusion service .* running/, 60_000);
    await settled(WORKERS, startedAt, 30_000, "after restart");
    await sleep(2000);
    const back = VEHICLES.filter((v) => rendezvousOwner(v, WORKERS) === victim);
    const gaps = back
      .map((v) => {
        const t = terms(v);
        const i = t.findIndex((x) => x.worker === victim && x.first.atMs >= startedAt);
        return t[i]!.first.atMs - t[i - 1]!.last.atMs;
      })
      .sort((a, b) => a - b);
    console.log(
      `# ${victim} rejoined: ${back.length} vehicles moved back; gap per vehicle p50 ${gaps[Math.floor(gaps.length / 2)]} ms, max ${gaps.at(-1)} ms`,
    );
    for (const v of VEHICLES) {
      const after = seen.filter((s) => s.vehicle === v && s.atMs >= startedAt);
      if (back.includes(v)) {
        const first = after.find((s) => s.worker === victim)!;
        assert.ok(first?.fresh, `${v} moved back and restarted fresh`);
        assert.ok(first.revision > before.get(v)!.revision, `${v}: a higher revision`);
      } else {
        assert.equal(rendezvousOwner(v, live), rendezvousOwner(v, WORKERS));
        for (const s of after) {
          assert.equal(s.worker, before.get(v)!.worker, `${v} stayed put`);
          assert.equal(s.revision, before.get(v)!.revision, `${v} kept its revision`);
          assert.equal(s.fresh, false, `${v} did not restart`);
        }
      }
    }
  });

  test("etcd frozen 10 s: nothing published without proof, no vehicle fused twice, ownership recovers", async () => {
    const pausedAt = Date.now();
    etcd.pause();
    await sleep(10_000);
    const resumedAt = Date.now();
    etcd.resume();
    await settled(WORKERS, resumedAt, 30_000, "after etcd came back");
    await sleep(2000);
    // No frame for a tick stamped after the lease ran out (stamps <= publish time; lease counted
    // from a keepalive sent before the freeze), until shortly before etcd came back.
    const unproven = seen.filter(
      (s) => s.stampMs > pausedAt + LEASE_MS + 500 && s.stampMs < resumedAt - 1000,
    );
    assert.equal(
      unproven.length,
      0,
      `${unproven.length} frames published while no worker could prove ownership, e.g. ${unproven
        .slice(0, 5)
        .map((s) => `${s.vehicle}/${s.worker}`)
        .join(", ")}`,
    );
    let maxOverlap = Number.NEGATIVE_INFINITY;
    for (const v of VEHICLES) {
      const t = terms(v);
      for (let i = 1; i < t.length; i++) {
        const overlap = t[i - 1]!.last.atMs - t[i]!.first.atMs;
        maxOverlap = Math.max(maxOverlap, overlap);
        // Never fused by two workers at once (beyond frames in flight).
        assert.ok(
          overlap < 200,
          `${v}: ${t[i - 1]!.worker}@${t[i - 1]!.revision} still published ${overlap} ms after ${t[i]!.worker}@${t[i]!.revision} began`,
        );
      }
    }
    console.log(
      `# etcd frozen ${resumedAt - pausedAt} ms: largest overlap of consecutive owners over the run ${maxOverlap} ms (negative: a gap)`,
    );
  });

  test("over the whole run a vehicle's ownership revision never goes back in arrival order", () => {
    for (const v of VEHICLES) {
      let rev = 0;
      for (const s of seen.filter((x) => x.vehicle === v)) {
        assert.ok(s.revision >= rev, `${v}: revision ${s.revision} from ${s.worker} after ${rev}`);
        rev = s.revision;
      }
    }
  });
});
