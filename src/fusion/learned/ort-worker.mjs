// Inference worker thread: owns one onnxruntime-node session, because `session.run` blocks the
// event loop of whatever thread calls it. Plain JS (no tsx hook needed inside the worker).
// Protocol (see ./session.ts): in {type:"run", id, batch, inputs:{name: Float32Array}} ->
// out {type:"result", id, outputs:{name:{data: Float32Array, dims}}, ms}; {type:"close"}.
// Output arrays are views over shared buffers that the next run of the same batch size overwrites.
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

// Outputs go back in SharedArrayBuffers reused per output and batch size: a fresh transferred
// buffer per run is external memory on the caller's heap (~57 kB a frame at 64 x 64), which drove
// its mark-compact GCs (6-10 ms pauses every few hundred ms in bench inference). The caller reads a
// run's outputs before it asks for the next run (session.ts).
const outBufs = new Map();
function sharedCopy(name, batch, src) {
  const key = `${name}/${batch}`;
  let buf = outBufs.get(key);
  if (!buf || buf.length !== src.length) {
    buf = new Float32Array(new SharedArrayBuffer(src.length * 4));
    outBufs.set(key, buf);
  }
  buf.set(src);
  return buf;
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
    const feeds = {};
    for (const i of cfg.inputs) {
      const data = msg.inputs[i.name];
      const dims = [msg.batch, ...i.shape.slice(1)];
      feeds[i.name] = new ort.Tensor("float32", data, dims);
    }
    const t0 = performance.now();
    const res = await session.run(feeds);
    const ms = performance.now() - t0;
    const outputs = {};
    for (const [name, t] of Object.entries(res)) {
      const data = sharedCopy(name, msg.batch, /** @type {Float32Array} */ (t.data));
      outputs[name] = { data, dims: t.dims };
    }
    parentPort.postMessage({ type: "result", id: msg.id, outputs, ms });
  } catch (e) {
    parentPort.postMessage({ type: "result", id: msg.id, error: String(e?.message ?? e) });
  }
});
