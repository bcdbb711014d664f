/**
 * Fleet ownership through etcd (docs/fleet.md): which worker fuses which vehicle.
 *
 *  - Membership: the worker holds one lease (TTL `leaseS`, default 3 s) and, under it, the key
 *    `<prefix>workers/<instance>`. A dead worker's lease expires and its keys vanish with it.
 *  - Assignment: rendezvous hashing over the registered workers says who *should* own a vehicle
 *    (./rendezvous.ts); only vehicles whose highest-scoring worker changes move.
 *  - Ownership: the key `<prefix>owners/<vehicle>`, created only if absent (a txn on its create
 *    revision) and attached to the owner's lease: a lease-backed lock per vehicle. The revision of
 *    that create is the fencing token that every FusedFrame carries; etcd revisions only grow, so a
 *    later owner always has a higher one.
 *  - Handover: a worker releases a vehicle that rendezvous gives to another live worker by first
 *    ceasing to publish for it (synchronously), then deleting its key (only if still under its own
 *    lease); the new owner, retrying its create every reconcile period, takes it then.
 *  - Partition: the worker knows its lease is valid only until `sent + TTL` of the last keepalive
 *    etcd answered (measured from when the keepalive was *sent*, on the monotonic clock). etcd
 *    cannot expire the lease before that instant, so nobody else can own the vehicle before it;
 *    past it, `proof()` returns null and the worker publishes nothing for its vehicles.
 *
 * Every etcd call has a deadline; the client's own retry and circuit-breaker policies are off
 * because this module's loop retries (a breaker would hold recovery back 5 s after an outage).
 */
import { Etcd3, EtcdLeaseInvalidError, type Lease } from "etcd3";
import type { Logger } from "../util/log.ts";
import { rendezvousOwner } from "./rendezvous.ts";

export type ReleaseReason = "rebalance" | "lease_lost" | "forgotten" | "stop";

export interface OwnershipOptions {
  /** etcd endpoints, e.g. `http://10.0.0.1:2379` (several separated by commas). */
  etcd: string;
  /** Key prefix of this fleet. Default `/fusion/`. */
  prefix?: string;
  /** This worker's id (the service instance); unique among live workers. */
  instance: string;
  /** Lease TTL, s (integer >= 1). Default 3. */
  leaseS?: number;
  /** Vehicles this worker takes at most (its fleet's `maxVehicles`). Default unlimited. */
  maxOwned?: number;
  /** Reconcile period (membership read, releases, acquisitions), ms. Default leaseS * 1000 / 6. */
  reconcileMs?: number;
  /**
   * After (re-)registering, wait this long before taking vehicles, ms: after an etcd outage every
   * worker re-registers within a moment, and the first one back must not take everybody's vehicles
   * only to hand them back. Default leaseS * 1000 / 3.
   */
  settleMs?: number;
  /** Monotonic clock, ms. Default performance.now. */
  nowMs?: () => number;
  logger: Logger;
  /** This worker now owns `vehicle`, at fencing token `revision`. */
  onAcquire(vehicle: string, revision: number): void;
  /** This worker no longer owns `vehicle` (called before its key is deleted). */
  onRelease(vehicle: string, reason: ReleaseReason): void;
}

export const OWNERSHIP_DEFAULTS = { prefix: "/fusion/", leaseS: 3 } as const;

export interface OwnershipProof {
  worker: string;
  revision: number;
}

export interface OwnershipStats {
  instance: string;
  /** Registered in etcd under a lease that is valid now (as far as this worker can prove). */
  leaseValid: boolean;
  /** Live workers as last read from etcd. */
  workers: string[];
  /** Vehicles known (discovered) to this worker. */
  known: number;
  /** Owned vehicles and their fencing tokens. */
  owned: Record<string, number>;
  acquired: number;
  released: Record<ReleaseReason, number>;
  /** Leases lost (etcd said the lease had expired). */
  leasesLost: number;
  /** etcd calls that failed or timed out. */
  etcdErrors: number;
}

export interface Ownership {
  /** A vehicle was seen (birth message or traffic): it will be assigned. */
  discover(vehicle: string): void;
  /** A vehicle left (its birth message was cleared or its traffic stopped). */
  forget(vehicle: string): void;
  /** True while this worker holds the vehicle's key (fuse its data; publishing needs `proof`). */
  owns(vehicle: string): boolean;
  /** The fencing token when this worker owns the vehicle and can prove it now; else null. */
  proof(vehicle: string): OwnershipProof | null;
  stats(): OwnershipStats;
  /** Release every vehicle, revoke the lease (others take over at once), close the client. */
  stop(): Promise<void>;
}

/** A pass-through fault policy: every call is made once; this module's loop retries. */
const NO_POLICY = {
  execute: <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => Promise<T> | T) =>
    Promise.resolve().then(() => fn({ signal: new AbortController().signal, attempt: 0 })),
};

class Timeout extends Error {}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Timeout(`${what}: no answer from etcd within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

export async function startOwnership(o: OwnershipOptions): Promise<Ownership> {
  const prefix = o.prefix ?? OWNERSHIP_DEFAULTS.prefix;
  const ttlS = o.leaseS ?? OWNERSHIP_DEFAULTS.leaseS;
  if (!Number.isInteger(ttlS) || ttlS < 1)
    throw new Error(`lease TTL must be an integer >= 1 s, got ${ttlS}`);
  const ttlMs = ttlS * 1000;
  const reconcileMs = o.reconcileMs ?? ttlMs / 6;
  const keepaliveMs = ttlMs / 3;
  const settleMs = o.settleMs ?? ttlMs / 3;
  const callMs = Math.max(500, keepaliveMs);
  // Publishing stops this long before the lease could expire (clock-rate differences, the time a
  // frame takes from the check to the broker).
  const marginMs = Math.min(300, ttlMs * 0.1);
  const nowMs = o.nowMs ?? (() => performance.now());
  const log = o.logger;
  const workerKey = `${prefix}workers/${o.instance}`;
  const ownerKey = (v: string) => `${prefix}owners/${v}`;

  const client = new Etcd3({
    hosts: o.etcd.split(",").map((h) => h.trim()),
    dialTimeout: callMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: new Date(Date.now() + callMs) }),
    faultHandling: { host: () => NO_POLICY as never, global: NO_POLICY as never },
  });

  const known = new Set<string>();
  const owned = new Map<string, number>(); // vehicle -> revision
  let workers: string[] = [];
  /** When each live worker was first seen (monotonic ms): a newcomer is given vehicles after settleMs. */
  const seenSince = new Map<string, number>();
  let lease: Lease | null = null;
  let leaseId: string | null = null;
  let registered = false;
  let registeredAt = Number.POSITIVE_INFINITY;
  let validUntil = Number.NEGATIVE_INFINITY;
  let stopped = false;
  const stats = {
    acquired: 0,
    released: { rebalance: 0, lease_lost: 0, forgotten: 0, stop: 0 } as Record<ReleaseReason, number>,
    leasesLost: 0,
    etcdErrors: 0,
  };
  const etcdError = (what: string, e: unknown) => {
    stats.etcdErrors++;
    log.limited(`etcd:${what}`, "warn", `etcd ${what} failed: ${(e as Error).message}`);
  };

  const release = (v: string, reason: ReleaseReason) => {
    if (!owned.delete(v)) return;
    stats.released[reason]++;
    try {
      o.onRelease(v, reason);
    } catch (e) {
      log.log("error", `release of ${v} failed: ${(e as Error).stack ?? e}`);
    }
  };

  const dropLease = (why: string) => {
    if (!lease) return;
    stats.leasesLost++;
    log.log("warn", `etcd lease of worker ${o.instance} lost (${why}); releasing ${owned.size} vehicles`);
    for (const v of [...owned.keys()]) release(v, "lease_lost");
    lease.release();
    lease = null;
    leaseId = null;
    registered = false;
    validUntil = Number.NEGATIVE_INFINITY;
  };

  /** Grant a lease and register this worker under it (create-if-absent). */
  const register = async () => {
    if (!lease) {
      const sent = nowMs();
      const l = client.lease(ttlS, { autoKeepAlive: false, deadline: new Date(Date.now() + callMs) });
      l.on("lost", () => {}); // handled where the calls fail
      try {
        leaseId = await within(l.grant(), callMs, "lease grant");
      } catch (e) {
        l.release();
        throw e;
      }
      lease = l;
      validUntil = sent + ttlMs;
    }
    const r = await within(
      client
        .if(workerKey, "Create", "==", 0)
        .then(
          client
            .put(workerKey)
            .value(JSON.stringify({ instance: o.instance, pid: process.pid }))
            .lease(leaseId!),
        )
        .commit(),
      callMs,
      "worker registration",
    );
    if (r.succeeded) {
      registered = true;
      registeredAt = nowMs();
      log.log("info", `worker ${o.instance} registered in etcd (lease ${ttlS} s, prefix ${prefix})`);
    } else
      log.limited(
        "etcd:worker-exists",
        "warn",
        `worker key ${workerKey} is held (a previous ${o.instance} whose lease has not expired yet, or a duplicate instance id); retrying`,
      );
  };

  let keepaliveBusy = false;
  const keepalive = async () => {
    if (keepaliveBusy || !lease || stopped) return;
    keepaliveBusy = true;
    const l = lease;
    const sent = nowMs();
    try {
      const res = await within(
        l.keepaliveOnce({ deadline: new Date(Date.now() + callMs) }),
        callMs,
        "lease keepalive",
      );
      if (lease === l) validUntil = Math.max(validUntil, sent + Number(res.TTL) * 1000);
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError) {
        if (lease === l) dropLease("etcd says it expired");
      } else etcdError("keepalive", e);
    } finally {
      keepaliveBusy = false;
    }
  };

  const acquire = async (v: string) => {
    const key = ownerKey(v);
    const r = await within(
      client
        .if(key, "Create", "==", 0)
        .then(
          client
            .put(key)
            .value(JSON.stringify({ worker: o.instance, lease: leaseId }))
            .lease(leaseId!),
        )
        .else(client.get(key))
        .commit(),
      callMs,
      "acquire",
    );
    if (stopped || !registered || !known.has(v) || owned.has(v)) {
      // Forgotten (or stopped) while the create was in flight: do not sit on the key.
      if (r.succeeded && leaseId && !owned.has(v))
        await within(
          client.if(key, "Lease", "==", leaseId).then(client.delete().key(key)).commit(),
          callMs,
          "release",
        );
      return;
    }
    let revision = 0;
    if (r.succeeded) revision = Number(r.header.revision);
    else {
      // Held: by another worker (it will release when it sees us), or by us from a call whose
      // answer was lost (same lease): then it is ours, at its create revision.
      const kv = r.responses[0]?.response_range?.kvs?.[0];
      if (!kv || String(kv.lease) !== String(leaseId)) return;
      revision = Number(kv.create_revision);
    }
    owned.set(v, revision);
    stats.acquired++;
    log.log("info", `worker ${o.instance} owns vehicle ${v} (revision ${revision})`);
    o.onAcquire(v, revision);
  };

  const giveBack = async (v: string, reason: ReleaseReason) => {
    release(v, reason); // stop publishing first, then let the next owner in
    if (!leaseId) return;
    const key = ownerKey(v);
    await within(
      client.if(key, "Lease", "==", leaseId).then(client.delete().key(key)).commit(),
      callMs,
      "release",
    );
  };

  let busy = false;
  const reconcile = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      if (!registered) {
        try {
          await register();
        } catch (e) {
          etcdError("registration", e);
          return;
        }
        if (!registered) return;
      }
      try {
        const keys = await within(client.getAll().prefix(`${prefix}workers/`).keys(), callMs, "membership");
        workers = keys.map((k) => k.slice(prefix.length + "workers/".length)).sort();
        const t = nowMs();
        for (const w of workers) if (!seenSince.has(w)) seenSince.set(w, t);
        for (const w of [...seenSince.keys()]) if (!workers.includes(w)) seenSince.delete(w);
      } catch (e) {
        etcdError("membership", e);
      }
      if (!workers.includes(o.instance)) workers = [...workers, o.instance].sort();
      const jobs: Promise<void>[] = [];
      // Releases go to workers that have been registered for settleMs, the time a newcomer waits
      // before taking vehicles: handing a vehicle over earlier would only leave it unowned longer.
      const now0 = nowMs();
      const settled = workers.filter(
        (w) => w === o.instance || now0 - (seenSince.get(w) ?? now0) >= settleMs,
      );
      for (const v of [...owned.keys()]) {
        if (!known.has(v)) jobs.push(giveBack(v, "forgotten"));
        else if (rendezvousOwner(v, settled) !== o.instance) jobs.push(giveBack(v, "rebalance"));
      }
      // Taking a vehicle needs a lease that is valid now: acquiring under an expiring lease would
      // hand out a token nobody can honour.
      const t = nowMs();
      let taking = 0;
      if (t < validUntil - marginMs && t - registeredAt >= settleMs)
        for (const v of known) {
          if (owned.has(v) || rendezvousOwner(v, workers) !== o.instance) continue;
          if (owned.size + taking >= (o.maxOwned ?? Number.POSITIVE_INFINITY)) {
            log.limited(
              "ownership:full",
              "warn",
              `worker ${o.instance} owns ${owned.size} vehicles (its maximum); ${v} and others left unowned`,
            );
            break;
          }
          taking++;
          jobs.push(acquire(v));
        }
      for (const r of await Promise.allSettled(jobs))
        if (r.status === "rejected") etcdError("ownership", r.reason);
    } finally {
      busy = false;
    }
  };

  const timers = [
    setInterval(() => void reconcile(), reconcileMs),
    setInterval(() => void keepalive(), keepaliveMs),
  ];
  for (const t of timers) t.unref?.();
  await reconcile();

  return {
    discover(v) {
      if (stopped || known.has(v)) return;
      known.add(v);
      void reconcile();
    },
    forget(v) {
      known.delete(v);
    },
    owns: (v) => owned.has(v),
    proof(v) {
      const revision = owned.get(v);
      if (revision === undefined || !(nowMs() < validUntil - marginMs)) return null;
      return { worker: o.instance, revision };
    },
    stats: () => ({
      instance: o.instance,
      leaseValid: registered && nowMs() < validUntil - marginMs,
      workers: [...workers],
      known: known.size,
      owned: Object.fromEntries(owned),
      acquired: stats.acquired,
      released: { ...stats.released },
      leasesLost: stats.leasesLost,
      etcdErrors: stats.etcdErrors,
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearInterval(t);
      for (const v of [...owned.keys()]) release(v, "stop");
      try {
        if (lease) await within(lease.revoke({ deadline: new Date(Date.now() + callMs) }), callMs, "revoke");
      } catch (e) {
        etcdError("revoke", e);
      }
      client.close();
    },
  };
}
