// Inference worker thread: owns one onnxruntime-node session, because `session.run` blocks the
// event loop of whatever thread calls it. Plain JS (no tsx hook needed inside the worker).
// Protocol (see ./session.ts): in {type:"run", id, batch, slot, inputs:{name: Float32Array | number},
// register?:{name: SharedArrayBuffer}} -> (a number: the first that many floats of the shared buffer
// registered for this slot and input)
// out {type:"result", id, slot, outputs:{name:{data: Float32Array | number, dims}}, ms} (a number:
// that many floats of the buffer this output of this slot came in before); {type:"close"}.
// Inputs may be views over SharedArrayBuffers (the batcher rasterizes into shared memory, so
// nothing is cloned on the way in): onnxruntime-node refuses shared memory, so they are copied here,
// off the caller's thread, into buffers reused per input. Outputs are views over shared buffers
// reused per output and `slot`: the next run with the same slot overwrites them.
// Start-up: posts {type:"ready", provider, warmupMs} or {type:"error", message}.
import { parentPort, workerData } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { providerOption } from "./ort-options.mjs";

/** @type {{modelPath: string, provider: "cpu"|"webgpu"|"cuda", intraOpThreads: number, inputs: {name: string, shape: number[]}[], warmupBatches: number[]}} */
const cfg = workerData;

function sessionOptions(provider) {
  return {
    executionProviders: [providerOption(provider)],
    intraOpNumThreads: cfg.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    // no busy-waiting threads: they would steal the cores the pipeline runs on
    extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } },
  };
}

function zeros(batch) {
  const feeds = {};
  for (const i of cfg.inputs) {
    const dims = [batch, ...i.shape.slice(1)];
    feeds[i.name] = new ort.Tensor("float32", new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  }
  return feeds;
}

let session;
try {
  session = await ort.InferenceSession.create(cfg.modelPath, sessionOptions(cfg.provider));
  const t0 = performance.now();
  for (const b of cfg.warmupBatches) for (let k = 0; k < 2; k++) await session.run(zeros(b));
  parentPort.postMessage({ type: "ready", provider: cfg.provider, warmupMs: performance.now() - t0 });
} catch (e) {
  parentPort.postMessage({ type: "error", message: String(e?.message ?? e) });
  process.exit(0);
}

// Outputs go back in SharedArrayBuffers reused per output and slot: a fresh transferred buffer per
// run is external memory on the caller's heap (~57 kB a frame at 64 x 64), which drove its
// mark-compact GCs (6-10 ms pauses every few hundred ms in bench inference). A slot's buffer grows
// to the largest batch seen and runs return views of their length. The caller reads a run's outputs
// before it asks for the next run with the same slot (session.ts).
// A buffer goes to the caller once ({data: Float32Array}); later results over it send its length
// ({data: number}), which the caller resolves against the buffer it holds for that output and slot.
const outBufs = new Map();
function sharedCopy(name, slot, src) {
  const key = `${name}/${slot}`;
  let buf = outBufs.get(key);
  let fresh = false;
  if (!buf || buf.length < src.length) {
    buf = new Float32Array(new SharedArrayBuffer(src.length * 4));
    outBufs.set(key, buf);
    fresh = true;
  }
  const view = buf.length === src.length ? buf : buf.subarray(0, src.length);
  view.set(src);
  return fresh ? view : src.length;
}
// Shared input buffers per slot and input, registered by the caller once.
const registered = new Map();
function inputOf(slot, name, v) {
  if (typeof v !== "number") return v;
  const buf = registered.get(slot)?.get(name);
  if (!buf) throw new Error(`input '${name}' of slot ${slot} was never registered`);
  return new Float32Array(buf, 0, v);
}
// Local (non-shared) input buffers, grown to the largest batch seen; tensors are views of them.
const inBufs = new Map();
function localInput(name, data) {
  if (!(data.buffer instanceof SharedArrayBuffer)) return data;
  let buf = inBufs.get(name);
  if (!buf || buf.length < data.length) {
    buf = new Float32Array(data.length);
    inBufs.set(name, buf);
  }
  const view = buf.length === data.length ? buf : buf.subarray(0, data.length);
  view.set(data);
  return view;
}

parentPort.on("message", async (msg) => {
  if (msg.type === "close") {
    await session.release().catch(() => {});
    parentPort.close();
    return;
  }
  // test hook of the supervisor (session.ts crashForTest): the thread dies as a crashed one would
  if (msg.type === "exit") process.exit(1);
  if (msg.type !== "run") return;
  try {
    const slot = msg.slot ?? 0;
    if (msg.register) {
      let m = registered.get(slot);
      if (!m) registered.set(slot, (m = new Map()));
      for (const [name, sab] of Object.entries(msg.register)) m.set(name, sab);
    }
    const feeds = {};
    for (const i of cfg.inputs) {
      const data = localInput(i.name, inputOf(slot, i.name, msg.inputs[i.name]));
      const dims = [msg.batch, ...i.shape.slice(1)];
      feeds[i.name] = new ort.Tensor("float32", data, dims);
    }
    const t0 = performance.now();
    const res = await session.run(feeds);
    const ms = performance.now() - t0;
    const outputs = {};
    for (const [name, t] of Object.entries(res)) {
      const data = sharedCopy(name, msg.slot ?? 0, /** @type {Float32Array} */ (t.data));
      outputs[name] = { data, dims: t.dims };
    }
    parentPort.postMessage({ type: "result", id: msg.id, slot, outputs, ms });
  } catch (e) {
    parentPort.postMessage({ type: "result", id: msg.id, error: String(e?.message ?? e) });
  }
});
