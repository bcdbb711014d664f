/**
 * Main-thread handle of the inference worker (./ort-worker.mjs): picks the execution provider,
 * starts and warms the session, and runs one batch at a time. `session.run` never executes on the
 * calling thread, so the event loop stays free while the model runs.
 *
 * Supervision: a worker that crashes or exits is restarted (same provider, backoff 0.1 s doubling
 * to 5 s), and the runs it held fail; a run that takes longer than `runTimeoutMs` fails that batch
 * only, and a new worker takes over. The old one is asked to close once its run returns, never
 * terminated: terminating a thread inside onnxruntime's native run aborts the whole process
 * (`terminate called after throwing an instance of 'Napi::Error'`, seen here). Counted in `stats`.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Worker } from "node:worker_threads";

export type ExecutionProvider = "auto" | "cpu" | "webgpu" | "cuda";

export class ProviderError extends Error {
  readonly code = "E_PROVIDER";
}

export interface SessionOptions {
  modelPath: string;
  ep: ExecutionProvider;
  /** Inputs the graph declares (from the model contract); shapes with -1 for the batch. */
  inputs: { name: string; shape: number[] }[];
  /** Intra-op threads of the CPU provider; 1 measured fastest on a 2-core machine. Default 1. */
  intraOpThreads?: number;
  /** Batch sizes run once at start so the first real tick pays no allocation cost. Default [1]. */
  warmupBatches?: number[];
  /** Called with one line when a provider is unavailable and `auto` falls back. */
  onWarning?: (line: string) => void;
  /** A run taking longer fails (that batch only) and the worker is replaced, ms. Default 5000. */
  runTimeoutMs?: number;
}

export interface SessionStats {
  /** Workers started after a crash, an exit or a timeout. */
  restarts: number;
  /** Runs failed because they took longer than `runTimeoutMs`. */
  timeouts: number;
  /** Runs failed because the worker died under them. */
  crashed: number;
}

export interface RunOutputs {
  [name: string]: { data: Float32Array; dims: number[] };
}

const HINT: Record<"webgpu" | "cuda", string> = {
  webgpu:
    "the webgpu provider needs the Vulkan loader (libvulkan.so.1) and the GPU's Vulkan driver (software lavapipe is not enough)",
  cuda: "the cuda provider is not bundled: install with ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js (README, GPU inference), on a machine with CUDA 12 and cuDNN 9",
};

function ortBinDir(): string | null {
  try {
    const req = createRequire(import.meta.url);
    const root = dirname(req.resolve("onnxruntime-node/package.json"));
    return join(root, "bin", "napi-v6", process.platform, process.arch);
  } catch {
    return null;
  }
}

/**
 * Providers worth trying under `auto`, best first; CPU always last. WebGPU is not among them: on an
 * H200 (Vulkan, onnxruntime-node 1.30) it matches CPU (in NCHW layout, see ort-worker.mjs) but one
 * frame takes longer than on one CPU core (batch 1 p50 9.8 ms against 4.6 ms); it pays off only
 * for batches of several vehicles (0.86 ms per frame at 16), so it runs when asked for with
 * `--ep webgpu`. See docs/fusion-learned.md "GPU check".
 */
export function autoProviders(): ("cpu" | "webgpu" | "cuda")[] {
  const out: ("cpu" | "webgpu" | "cuda")[] = [];
  const bin = ortBinDir();
  if (bin && existsSync(join(bin, "libonnxruntime_providers_cuda.so"))) out.push("cuda");
  out.push("cpu");
  return out;
}

export class InferenceSessionWorker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (o: RunOutputs) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  readonly stats: SessionStats = { restarts: 0, timeouts: 0, crashed: 0 };
  private closed = false;
  private restarting: Promise<void> | null = null;
  private backoffMs = 100;
  /**
   * Shared input buffers the current worker already holds, per slot and input: a run over them
   * sends only their length (posting a SharedArrayBuffer costs ~0.3 ms a buffer on the sender).
   */
  private registered = new Map<number, Map<string, SharedArrayBuffer>>();
  /** Output buffers the current worker sent, per slot and output. */
  private outShared = new Map<number, Map<string, Float32Array>>();
  /** The worker's own time for the last run that returned (model run only), ms. */
  lastRunMs = 0;
  /** Provider the session runs on. */
  provider: "cpu" | "webgpu" | "cuda" = "cpu";
  warmupMs = 0;

  private constructor(private readonly opts: SessionOptions) {}

  static async start(opts: SessionOptions): Promise<InferenceSessionWorker> {
    const s = new InferenceSessionWorker(opts);
    const order = opts.ep === "auto" ? autoProviders() : [opts.ep];
    let lastErr = "";
    for (const p of order) {
      try {
        await s.spawn(p);
        return s;
      } catch (e) {
        lastErr = (e as Error).message;
        if (p === "cpu" || opts.ep !== "auto") break;
        opts.onWarning?.(`execution provider '${p}' unavailable (${firstLine(lastErr)}); falling back`);
      }
    }
    if (opts.ep === "webgpu" || opts.ep === "cuda")
      throw new ProviderError(
        `execution provider '${opts.ep}' is not available: ${firstLine(lastErr)} (${HINT[opts.ep]}; use --ep cpu or --ep auto)`,
      );
    throw new ProviderError(`cannot start inference on ${opts.modelPath}: ${firstLine(lastErr)}`);
  }

  private spawn(provider: "cpu" | "webgpu" | "cuda"): Promise<void> {
    const w = new Worker(new URL("./ort-worker.mjs", import.meta.url), {
      workerData: {
        modelPath: this.opts.modelPath,
        provider,
        intraOpThreads: this.opts.intraOpThreads ?? 1,
        inputs: this.opts.inputs,
        warmupBatches: this.opts.warmupBatches ?? [1],
      },
      // the worker is plain JS: no loader hooks needed
      execArgv: [],
    });
    return new Promise((resolve, reject) => {
      const onMsg = (m: {
        type: string;
        message?: string;
        provider?: "cpu" | "webgpu" | "cuda";
        warmupMs?: number;
      }) => {
        if (m.type === "ready") {
          w.off("message", onMsg);
          this.worker = w;
          this.registered = new Map();
          this.outShared = new Map();
          this.provider = m.provider!;
          this.warmupMs = m.warmupMs ?? 0;
          // late results of a replaced worker are not this worker's: their runs are gone
          w.on("message", (r) => {
            if (this.worker === w) this.onResult(r);
          });
          w.on("error", (e) => this.onWorkerDown(w, e));
          w.on("exit", () => this.onWorkerDown(w, new Error("inference worker exited")));
          resolve();
        } else if (m.type === "error") {
          w.off("message", onMsg);
          void w.terminate();
          reject(new Error(m.message));
        }
      };
      w.on("message", onMsg);
      w.once("error", (e) => reject(e));
    });
  }

  /** The worker crashed or exited: its runs fail, a new one is started (unless closing). */
  private onWorkerDown(w: Worker, e: Error): void {
    if (this.worker !== w && this.worker !== null) return; // an old worker, already replaced
    this.stats.crashed += this.waiting.size;
    this.failAll(e);
    this.restart(`inference worker down (${firstLine(e.message)})`);
  }

  private restart(why: string): void {
    if (this.closed || this.restarting) return;
    const old = this.worker;
    this.worker = null;
    if (old) {
      // Let it finish its run and close by itself (late results are ignored: their runs are gone).
      old.removeAllListeners("exit");
      old.removeAllListeners("error");
      old.on("error", () => undefined);
      old.postMessage({ type: "close" });
      old.unref();
    }
    const delay = this.backoffMs;
    this.backoffMs = Math.min(5000, this.backoffMs * 2);
    this.opts.onWarning?.(`${why}; restarting it in ${delay} ms`);
    this.restarting = new Promise<void>((resolve) => setTimeout(resolve, delay).unref())
      .then(() => (this.closed ? undefined : this.spawn(this.provider)))
      .then(
        () => {
          this.stats.restarts++;
          this.backoffMs = 100;
        },
        (err: Error) => {
          this.opts.onWarning?.(`inference worker restart failed: ${firstLine(err.message)}`);
        },
      )
      .finally(() => {
        this.restarting = null;
        if (!this.worker && !this.closed) this.restart("inference worker still down");
      });
  }

  private onResult(m: {
    type: string;
    id: number;
    slot?: number;
    outputs?: Record<string, { data: Float32Array | number; dims: number[] }>;
    error?: string;
    ms?: number;
  }): void {
    // output buffers come once per output and slot; later results name their length (ort-worker.mjs)
    const slot = m.slot ?? 0;
    let held = this.outShared.get(slot);
    if (!held) this.outShared.set(slot, (held = new Map()));
    const outputs: RunOutputs = {};
    for (const [name, o] of Object.entries(m.outputs ?? {})) {
      if (typeof o.data !== "number") held.set(name, o.data);
      const buf = held.get(name);
      outputs[name] = {
        data: typeof o.data === "number" ? new Float32Array(buf!.buffer, 0, o.data) : o.data,
        dims: o.dims,
      };
    }
    const p = this.waiting.get(m.id);
    if (!p) return;
    this.waiting.delete(m.id);
    clearTimeout(p.timer);
    if (m.ms !== undefined) this.lastRunMs = m.ms;
    if (m.error) p.reject(new Error(`inference failed: ${m.error}`));
    else p.resolve(outputs);
  }

  private failAll(e: Error): void {
    for (const p of this.waiting.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.waiting.clear();
    this.worker = null;
  }

  /**
   * Run one batch. Inputs over a SharedArrayBuffer are shared with the worker, not copied: the caller
   * must leave them alone until the run has returned; other inputs are copied. The outputs are views
   * over shared buffers that the next run with the same `slot` overwrites: read (or copy) them
   * before asking for it. Distinct slots let a caller read one batch's outputs while the next batch
   * runs (the learned engine's batcher alternates two).
   */
  run(batch: number, inputs: Record<string, Float32Array>, slot = 0): Promise<RunOutputs> {
    const w = this.worker;
    if (!w) return Promise.reject(new Error("inference worker is not running (restarting)"));
    const id = this.nextId++;
    const timeoutMs = this.opts.runTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.waiting.has(id)) return;
        this.waiting.delete(id);
        this.stats.timeouts++;
        reject(new Error(`inference run timed out after ${timeoutMs} ms`));
        // the worker may be stuck in native code: replace it (its other runs fail with it)
        this.stats.crashed += this.waiting.size;
        this.failAll(new Error("inference worker replaced after a timeout"));
        this.worker = w;
        this.restart(`inference run timed out after ${timeoutMs} ms`);
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, { resolve, reject, timer });
      // inputs over shared memory go to the worker once (per slot); later runs name their length
      let known = this.registered.get(slot);
      if (!known) this.registered.set(slot, (known = new Map()));
      const sent: Record<string, Float32Array | number> = {};
      let register: Record<string, SharedArrayBuffer> | undefined;
      for (const [name, a] of Object.entries(inputs)) {
        if (!(a.buffer instanceof SharedArrayBuffer) || a.byteOffset !== 0) {
          sent[name] = a;
          continue;
        }
        if (known.get(name) !== a.buffer) {
          known.set(name, a.buffer);
          (register ??= {})[name] = a.buffer;
        }
        sent[name] = a.length;
      }
      w.postMessage({ type: "run", id, batch, slot, inputs: sent, register });
    });
  }

  /** Test hook: the worker thread exits (between runs) as a crashed one would. */
  crashForTest(): void {
    this.worker?.postMessage({ type: "exit" });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    w.removeAllListeners("exit");
    w.postMessage({ type: "close" });
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void w.terminate().then(() => resolve()), 2000);
      w.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.failAll(new Error("engine closed"));
  }
}

function firstLine(s: string): string {
  const l = s.split("\n").find((x) => x.trim().length > 0) ?? s;
  return l.length > 300 ? `${l.slice(0, 300)}…` : l;
}
