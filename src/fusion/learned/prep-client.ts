/**
 * Preparation worker of the learned engine, main-thread side (issue 18): a tick's rasterization and
 * the LiDAR clustering of the refinement (./prep.ts) run in a worker thread of their own, so that
 * the main thread, which also decodes, aligns, tracks and publishes every vehicle's traffic, is not
 * the first thing to saturate (at 7 learned vehicles on 2 cores it was, at ~75 % busy; these two
 * stages were a quarter of it).
 *
 * Staging slots in shared memory carry a tick to the worker and its model inputs back: the
 * tick's LiDAR points are copied into the slot (~0.5 MB, a memcpy), the worker writes the BEV planes
 * into the slot, and the engine copies them into its batch (./batcher.ts) when the tick joins one.
 * Everything else of the tick (radar returns, camera boxes, ego) is small and posted.
 *
 * Bounded: at most `maxSlots` ticks are staged at once (a vehicle has at most one tick in fusion,
 * so this is the number of vehicles an engine serves before it sheds); beyond it `prepare` rejects
 * and the tick is counted as dropped. A worker that dies fails the ticks it held; the next tick
 * starts a new one (the per-vehicle previous sweep starts over).
 */
import { Worker } from "node:worker_threads";
import type { AlignedTick } from "../../align/types.ts";
import type { RigConfig } from "../../rig/schema.ts";
import type { BevGrid } from "../bev/grid.ts";
import type { BevFrame, ModalityMask } from "../bev/rasterize.ts";
import type { LidarCluster } from "../lidar/cluster.ts";
import type { FusionInputs } from "../types.ts";
import { type PrepReply, type PrepRequest, prepTickOf } from "./prep.ts";
import type { RefineOptions } from "./refine.ts";

export interface PrepClientOptions {
  rig: RigConfig;
  grid: BevGrid;
  /** Refinement options, or null when the engine does not refine (no clustering). */
  refine: RefineOptions | null;
  /** Floats per frame of each model input (the rasterizer's `alloc(1)` lengths). */
  perFrame: Record<keyof BevFrame, number>;
  /** Most ticks staged at once. */
  maxSlots: number;
}

export interface PrepStats {
  prepared: number;
  failed: number;
  /** Ticks refused because every staging slot was in use. */
  full: number;
  /** Workers started (1 + restarts after a crash). */
  starts: number;
}

interface Slot {
  frame: BevFrame;
  points: Float32Array;
  busy: boolean;
}

export class PrepClient {
  readonly stats: PrepStats = { prepared: 0, failed: 0, full: 0, starts: 0 };
  private worker: Worker | null = null;
  private ready: Promise<void> = Promise.resolve();
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<
    number,
    { resolve: (c: LidarCluster[] | null) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private closed = false;

  constructor(private readonly o: PrepClientOptions) {}

  /** Start the worker (and wait until it has loaded). */
  start(): Promise<void> {
    this.ensureWorker();
    return this.ready;
  }

  /** Stage the tick, prepare it in the worker: its slot (planes in `frameOf(slot)`) and clusters. */
  async prepare(
    tick: AlignedTick,
    mask: ModalityMask,
    features: FusionInputs["features"] | null,
  ): Promise<{ slot: number; clusters: LidarCluster[] | null }> {
    if (this.closed) throw new Error("engine closed");
    const slot = this.acquire();
    if (slot < 0) {
      this.stats.full++;
      throw new Error(`learned fusion preparation queue full (${this.o.maxSlots} ticks): tick dropped`);
    }
    try {
      const w = this.ensureWorker();
      const s = this.slots[slot]!;
      const l = tick.lidar;
      if (l) {
        const n = l.count * l.stride;
        if (s.points.length < n) {
          s.points = new Float32Array(new SharedArrayBuffer(Math.ceil(n * 1.25) * 4));
          this.post(w, { type: "slot", slot, frame: s.frame, points: s.points });
        }
        s.points.set(l.data.subarray(0, n));
      }
      const id = this.nextId++;
      const clusters = await new Promise<LidarCluster[] | null>((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        this.post(w, { type: "prep", id, slot, tick: prepTickOf(tick, features === null), mask, features });
      });
      this.stats.prepared++;
      return { slot, clusters };
    } catch (e) {
      this.free(slot);
      this.stats.failed++;
      throw e;
    }
  }

  frameOf(slot: number): BevFrame {
    return this.slots[slot]!.frame;
  }

  free(slot: number): void {
    const s = this.slots[slot];
    if (s) s.busy = false;
  }

  forget(vehicle: string): void {
    if (this.worker) this.post(this.worker, { type: "forget", vehicle });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    this.failAll(new Error("engine closed"));
    if (w) await w.terminate();
  }

  private acquire(): number {
    const i = this.slots.findIndex((s) => !s.busy);
    if (i >= 0) {
      this.slots[i]!.busy = true;
      return i;
    }
    if (this.slots.length >= this.o.maxSlots) return -1;
    const shared = (n: number) => new Float32Array(new SharedArrayBuffer(n * 4));
    const p = this.o.perFrame;
    const s: Slot = {
      frame: {
        lidar: shared(p.lidar),
        radar: shared(p.radar),
        camera: shared(p.camera),
        ego: shared(p.ego),
        health: shared(p.health),
      },
      points: shared(4 * 40_000),
      busy: true,
    };
    this.slots.push(s);
    if (this.worker)
      this.post(this.worker, { type: "slot", slot: this.slots.length - 1, frame: s.frame, points: s.points });
    return this.slots.length - 1;
  }

  private post(w: Worker, m: PrepRequest): void {
    w.postMessage(m);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL("./prep-worker.mjs", import.meta.url), {
      workerData: { rig: this.o.rig, grid: this.o.grid, refine: this.o.refine },
    });
    this.worker = w;
    this.stats.starts++;
    let onReady: () => void = () => {};
    let onFail: (e: Error) => void = () => {};
    this.ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    this.ready.catch(() => {});
    w.on("message", (r: PrepReply) => {
      if (r.type === "ready") return onReady();
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.type === "done") p.resolve(r.clusters);
      else p.reject(new Error(`learned fusion preparation failed: ${r.error}`));
    });
    const dead = (e: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      onFail(e);
      this.failAll(e);
    };
    w.on("error", (e) => dead(new Error(`learned fusion preparation worker crashed: ${e.message}`)));
    w.on("exit", (code) => dead(new Error(`learned fusion preparation worker exited (code ${code})`)));
    for (const [slot, s] of this.slots.entries())
      this.post(w, { type: "slot", slot, frame: s.frame, points: s.points });
    return w;
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
