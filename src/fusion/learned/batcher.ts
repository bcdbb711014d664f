/**
 * Cross-vehicle inference batcher of the learned engine: one batcher per engine (one engine per
 * service, so per rig) collects the frames of every vehicle, runs them through the inference worker
 * in batches, and hands each frame back to per-frame post-processing. Split from the engine so that
 * the batching and its supervision (the worker's restarts and timeouts are ./session.ts's) are one
 * thing and the per-frame work another (issue 15).
 *
 * How a frame goes through it:
 *  1. `submit`: the frame is prepared at once (`prepare` writes its model inputs into a free slot of
 *     the filling input set: rasterization happens while the worker runs the previous batch, not
 *     after it returns). The input sets live in SharedArrayBuffers, so a run sends the worker views,
 *     never copies (a structured clone of ~300 kB per frame was 4-5 % of the main thread at four
 *     vehicles, plus the garbage it left).
 *  2. Dispatch: whenever the worker is idle, every frame of the filling set (up to `maxBatch`) goes
 *     into one run. A run that returns dispatches the next set at once, before its own frames are
 *     post-processed, so the worker idles only when nothing waits. `windowMs` > 0 waits that long
 *     after the first frame of an idle worker for more to join (useful where batching is cheaper
 *     per frame, a GPU; on CPU batch 16 costs the same per frame as batch 1, so the default is 0:
 *     only frames that arrived in the same turn of the event loop join).
 *  3. `finish`: each frame of a returned batch is post-processed in an event-loop task of its own
 *     (decode, refinement, tracker), in submission order, so MQTT input and other vehicles' frames
 *     are not held up for a whole batch.
 *
 * Bounded: at most `maxQueue` frames wait (prepared in the filling set, or unprepared in a backlog
 * while every input set is busy); beyond it the oldest waiting frame is shed (`shed`), counted.
 * Outputs of a set are read before that set runs again: the worker writes each set's outputs into
 * its own shared buffers (session slot = set id), and a set is free only once its frames are
 * post-processed.
 */
import type { BevFrame } from "../bev/rasterize.ts";
import type { RunOutputs } from "./session.ts";

export interface BatchRunner {
  run(batch: number, inputs: Record<string, Float32Array>, slot: number): Promise<RunOutputs>;
  /** The worker's own time of the last run, ms. */
  readonly lastRunMs: number;
}

export interface BatcherHooks<J> {
  /** Write the job's model inputs into slot `b` of `frame`. Throwing fails the job. */
  prepare(job: J, frame: BevFrame, b: number): void;
  /** Post-process the job's outputs (batch index `b` of `out`; its inputs are slot `b` of `frame`). */
  finish(job: J, out: RunOutputs, frame: BevFrame, b: number): void;
  fail(job: J, err: Error): void;
  /** The job was shed because the queue was full; `prepared`: its inputs had been written. */
  shed(job: J, prepared: boolean): void;
}

export interface BatcherOptions {
  /** Most frames in one run. */
  maxBatch: number;
  /** Most frames waiting for a run (prepared or not). */
  maxQueue: number;
  /** Inputs the model declares (others are not sent). */
  inputNames: ReadonlySet<string>;
  /** Wait this long for more frames once the worker is idle, ms. Default 0. */
  windowMs?: number;
  /** Input sets (each `maxBatch` frames of shared memory). Default 3. */
  sets?: number;
}

export interface BatcherStats {
  runs: number;
  frames: number;
  /** Frames shed because the queue was full. */
  dropped: number;
  /** Last run's inference time in the worker, ms. */
  lastRunMs: number;
  maxBatchSeen: number;
}

/** Stages of a frame's time in the engine (per frame, ms); see `StageTimes`. */
export type EngineStage =
  | "prep" // fuse() -> prepared in the preparation worker (./prep-client.ts), when it is used
  | "prepare" // rasterize (+ LiDAR clustering for refinement), on submit; with the worker, a copy
  | "wait" // submitted -> its run is dispatched
  | "run" // dispatch -> outputs back (wall: transfer, the worker's input copy, the model)
  | "model" // the model run alone, in the worker (per batch)
  | "post_wait" // outputs back -> its post-processing task starts
  | "post" // decode, refinement, Doppler, tracker
  | "total"; // submitted -> resolved

/** Recent samples per stage (bounded ring of `cap`), for p50/p99 without unbounded memory. */
export class StageTimes<S extends string> {
  private readonly rings = new Map<S, { v: Float64Array; n: number; sum: number; count: number }>();
  constructor(private readonly cap = 4096) {}
  add(stage: S, ms: number): void {
    let r = this.rings.get(stage);
    if (!r) {
      r = { v: new Float64Array(this.cap), n: 0, sum: 0, count: 0 };
      this.rings.set(stage, r);
    }
    r.v[r.n++ % this.cap] = ms;
    r.sum += ms;
    r.count++;
  }
  reset(): void {
    this.rings.clear();
  }
  /** p50 / p99 over the recent samples, mean and count over all. */
  summary(): Record<string, { p50: number; p99: number; mean: number; n: number }> {
    const out: Record<string, { p50: number; p99: number; mean: number; n: number }> = {};
    for (const [k, r] of this.rings) {
      const v = Array.from(r.v.subarray(0, Math.min(r.n, this.cap))).sort((a, b) => a - b);
      const q = (p: number) => v[Math.min(v.length - 1, Math.floor(p * v.length))] ?? Number.NaN;
      out[k] = { p50: q(0.5), p99: q(0.99), mean: r.sum / r.count, n: r.count };
    }
    return out;
  }
}

interface Entry<J> {
  job: J;
  slot: number;
  /** performance.now() at submit. */
  at: number;
}

interface InputSet<J> {
  id: number;
  frame: BevFrame;
  jobs: Entry<J>[];
  state: "free" | "filling" | "running" | "post";
  dispatchedAt: number;
}

export class InferenceBatcher<J> {
  readonly stats: BatcherStats = { runs: 0, frames: 0, dropped: 0, lastRunMs: 0, maxBatchSeen: 0 };
  readonly times = new StageTimes<EngineStage>();
  private readonly sets: InputSet<J>[];
  private readonly backlog: Entry<J>[] = [];
  private filling: InputSet<J> | null = null;
  private running: InputSet<J> | null = null;
  private scheduled = false;
  private closed = false;
  private readonly per: Record<keyof BevFrame, number>;

  constructor(
    private readonly runner: BatchRunner,
    /** Floats per frame of each input (the rasterizer's `alloc(1)` lengths). */
    perFrame: Record<keyof BevFrame, number>,
    private readonly hooks: BatcherHooks<J>,
    private readonly o: BatcherOptions,
  ) {
    this.per = { ...perFrame };
    const shared = (n: number) => new Float32Array(new SharedArrayBuffer(n * o.maxBatch * 4));
    const n = Math.max(2, o.sets ?? 3);
    this.sets = Array.from({ length: n }, (_, id) => ({
      id,
      frame: {
        lidar: shared(perFrame.lidar),
        radar: shared(perFrame.radar),
        camera: shared(perFrame.camera),
        ego: shared(perFrame.ego),
        health: shared(perFrame.health),
      },
      jobs: [],
      state: "free" as const,
      dispatchedAt: 0,
    }));
  }

  /** Frames waiting for a run (prepared or in the backlog). */
  waiting(): number {
    return (this.filling?.jobs.length ?? 0) + this.backlog.length;
  }

  submit(job: J): void {
    if (this.closed) {
      this.hooks.fail(job, new Error("engine closed"));
      return;
    }
    const e: Entry<J> = { job, slot: -1, at: performance.now() };
    const set = this.fillSet();
    if (set && set.jobs.length < this.o.maxBatch && this.backlog.length === 0) this.prepareInto(set, e);
    else this.backlog.push(e);
    while (this.waiting() > this.o.maxQueue) this.shedOldest();
    this.schedule();
  }

  close(): void {
    this.closed = true;
    const err = new Error("engine closed");
    for (const e of this.backlog.splice(0)) this.hooks.fail(e.job, err);
    if (this.filling) {
      for (const e of this.filling.jobs.splice(0)) this.hooks.fail(e.job, err);
      this.filling.state = "free";
      this.filling = null;
    }
  }

  /** The set frames are prepared into: the filling one, else a free one (now filling), else null. */
  private fillSet(): InputSet<J> | null {
    if (this.filling) return this.filling;
    const free = this.sets.find((s) => s.state === "free");
    if (!free) return null;
    free.state = "filling";
    this.filling = free;
    return free;
  }

  private prepareInto(set: InputSet<J>, e: Entry<J>): void {
    const slot = set.jobs.length;
    const t0 = performance.now();
    try {
      this.hooks.prepare(e.job, set.frame, slot);
    } catch (err) {
      this.hooks.fail(e.job, err as Error);
      return;
    }
    this.times.add("prepare", performance.now() - t0);
    e.slot = slot;
    set.jobs.push(e);
  }

  /** Prepare backlogged frames into the filling set while it has room. */
  private drainBacklog(): void {
    while (this.backlog.length > 0 && !this.closed) {
      const set = this.fillSet();
      if (!set || set.jobs.length >= this.o.maxBatch) return;
      this.prepareInto(set, this.backlog.shift()!);
    }
  }

  /** Shed the oldest waiting frame: the filling set's first (its slot is refilled), else the backlog's. */
  private shedOldest(): void {
    this.stats.dropped++;
    const set = this.filling;
    if (set && set.jobs.length > 0) {
      const gone = set.jobs.shift()!;
      const last = set.jobs.length; // the highest slot in use, now to be freed
      if (gone.slot !== last) {
        const mover = set.jobs.find((j) => j.slot === last)!;
        this.copySlot(set.frame, last, gone.slot);
        mover.slot = gone.slot;
      }
      this.hooks.shed(gone.job, true);
      this.drainBacklog();
      return;
    }
    const gone = this.backlog.shift();
    if (gone) this.hooks.shed(gone.job, false);
  }

  private copySlot(f: BevFrame, from: number, to: number): void {
    for (const k of ["lidar", "radar", "camera", "ego", "health"] as const) {
      const n = this.per[k];
      f[k].copyWithin(to * n, from * n, (from + 1) * n);
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.closed) return;
    if (!this.filling || this.filling.jobs.length === 0) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.dispatch();
    };
    // let frames that arrive in the same turn of the event loop (or within the window) join the batch
    if ((this.o.windowMs ?? 0) > 0) setTimeout(go, this.o.windowMs);
    else setImmediate(go);
  }

  private dispatch(): void {
    if (this.running || this.closed) return;
    const set = this.filling;
    if (!set || set.jobs.length === 0) return;
    this.filling = null;
    set.state = "running";
    this.running = set;
    const B = set.jobs.length;
    const now = performance.now();
    set.dispatchedAt = now;
    for (const e of set.jobs) this.times.add("wait", now - e.at);
    const feeds: Record<string, Float32Array> = {};
    for (const k of ["lidar", "radar", "camera", "ego", "health"] as const)
      if (this.o.inputNames.has(k)) feeds[k] = set.frame[k].subarray(0, B * this.per[k]);
    // the next frames are prepared into another set while this one runs
    this.drainBacklog();
    this.runner.run(B, feeds, set.id).then(
      (out) => this.onResult(set, out),
      (err: Error) => this.onError(set, err),
    );
  }

  private onResult(set: InputSet<J>, out: RunOutputs): void {
    const back = performance.now();
    this.running = null;
    set.state = "post";
    const B = set.jobs.length;
    this.stats.runs++;
    this.stats.frames += B;
    this.stats.lastRunMs = this.runner.lastRunMs;
    this.stats.maxBatchSeen = Math.max(this.stats.maxBatchSeen, B);
    this.times.add("run", back - set.dispatchedAt);
    this.times.add("model", this.runner.lastRunMs);
    // keep the worker busy: the next set runs while this one is post-processed
    if (this.filling && this.filling.jobs.length > 0) this.dispatch();
    let i = 0;
    const step = () => {
      const e = set.jobs[i]!;
      const t0 = performance.now();
      this.times.add("post_wait", t0 - back);
      try {
        this.hooks.finish(e.job, out, set.frame, e.slot);
      } catch (err) {
        this.hooks.fail(e.job, err as Error);
      }
      const t1 = performance.now();
      this.times.add("post", t1 - t0);
      this.times.add("total", t1 - e.at);
      if (++i < B) setImmediate(step);
      else this.release(set);
    };
    setImmediate(step);
  }

  private onError(set: InputSet<J>, err: Error): void {
    this.running = null;
    for (const e of set.jobs) this.hooks.fail(e.job, err);
    this.release(set);
  }

  private release(set: InputSet<J>): void {
    set.jobs = [];
    set.state = "free";
    this.drainBacklog();
    this.schedule();
  }
}
