#!/usr/bin/env node
// GPU check of the shipped fusion model: runs the same inputs through the CPU provider and a GPU
// provider (webgpu by default, or cuda), reports parity (max abs difference per output) and latency
// for batch 1 and 16 on both. Standalone: needs only this repository and its node_modules.
//
//   node scripts/gpu-check.mjs [--ep webgpu|cuda] [--model models/fusion-intermediate.onnx]
//                              [--iters 200] [--frames data/bev/val] [--layout NCHW|NHWC]
//                              [--out result.json]
//
// --frames DIR adds parity on real rasters: the first 16 samples of a dataset split written by
// `npm run dataset` (layout in train/data.py), run one by one and as one batch of 16.
//
// webgpu needs the Vulkan loader (libvulkan.so.1) and the GPU's Vulkan driver; cuda needs
// onnxruntime-node's CUDA provider installed (README "GPU inference"; CUDA 12 + cuDNN 9).
// Exit code: 0 when the GPU provider ran and parity holds (max abs diff < --tol, default 1e-3),
// 1 when parity fails, 2 when the provider is not available.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";

const { values } = parseArgs({
  options: {
    ep: { type: "string", default: "webgpu" },
    model: {
      type: "string",
      default: fileURLToPath(new URL("../models/fusion-intermediate.onnx", import.meta.url)),
    },
    iters: { type: "string", default: "200" },
    tol: { type: "string", default: "1e-3" },
    out: { type: "string" },
    frames: { type: "string" },
    layout: { type: "string", default: "NCHW" },
  },
});
const ep = values.ep;
const iters = Number(values.iters);
const tol = Number(values.tol);
const report = {
  model: values.model,
  ep,
  layout: values.layout,
  node: process.version,
  ortVersion: ort.env.versions?.common ?? null,
  env: {},
};
for (const p of ["/usr/lib/x86_64-linux-gnu/libvulkan.so.1", "/dev/nvidia0", "/dev/dri"])
  report.env[p] = existsSync(p);
report.backends = ort.listSupportedBackends?.() ?? null;

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic sparse rasters like real BEV frames (about 10% non-zero), all modalities present. */
function feeds(session, batch, seed) {
  const r = rng(seed);
  const out = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata?.find?.((m) => m.name === name);
    let dims;
    if (name === "ego") dims = [batch, 2];
    else if (name === "health") dims = [batch, 3, 5];
    else {
      const s = meta?.shape ?? [null, 6, 64, 64];
      dims = [batch, ...s.slice(1).map((d) => (typeof d === "number" && d > 0 ? d : 64))];
    }
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name === "health") data.fill(1);
    else if (name === "ego") for (let i = 0; i < n; i++) data[i] = r() - 0.5;
    else for (let i = 0; i < n; i++) data[i] = r() < 0.1 ? r() : 0;
    out[name] = new ort.Tensor("float32", data, dims);
  }
  return out;
}

/** Up to `count` real frames from a dataset split, as feeds for one batch of that many. */
function realFeeds(dir, count) {
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
  const { rows, cols } = index.grid;
  const buf = (f) => readFileSync(join(dir, f));
  const view = (b, T) => new T(b.buffer, b.byteOffset, b.byteLength / T.BYTES_PER_ELEMENT);
  const off = view(buf("offsets.i64"), BigInt64Array);
  const idx = view(buf("sparse_idx.u32"), Uint32Array);
  const val = view(buf("sparse_val.f32"), Float32Array);
  const aux = view(buf("aux.f32"), Float32Array);
  const n = Math.min(count, index.count);
  const plane = rows * cols;
  const stack = new Float32Array(n * 18 * plane);
  for (let s = 0; s < n; s++) {
    for (let k = Number(off[s]); k < Number(off[s + 1]); k++) stack[s * 18 * plane + idx[k]] = val[k];
  }
  const part = (c0) => {
    const d = new Float32Array(n * 6 * plane);
    for (let s = 0; s < n; s++)
      d.set(stack.subarray((s * 18 + c0) * plane, (s * 18 + c0 + 6) * plane), s * 6 * plane);
    return new ort.Tensor("float32", d, [n, 6, rows, cols]);
  };
  const ego = new Float32Array(n * 2);
  const health = new Float32Array(n * 15);
  for (let s = 0; s < n; s++) {
    ego.set(aux.subarray(s * 17, s * 17 + 2), s * 2);
    health.set(aux.subarray(s * 17 + 2, s * 17 + 17), s * 15);
  }
  return {
    n,
    feeds: {
      lidar: part(0),
      radar: part(6),
      camera: part(12),
      ego: new ort.Tensor("float32", ego, [n, 2]),
      health: new ort.Tensor("float32", health, [n, 3, 5]),
    },
  };
}

/** Slice sample s of a batch of feeds into a batch of one. */
function sliceFeeds(feedsN, s) {
  const out = {};
  for (const [k, t] of Object.entries(feedsN)) {
    const per = t.data.length / t.dims[0];
    out[k] = new ort.Tensor("float32", t.data.slice(s * per, (s + 1) * per), [1, ...t.dims.slice(1)]);
  }
  return out;
}

function maxDiff(a, g, names) {
  const per = {};
  for (const k of names) {
    const x = a[k].data;
    const y = g[k].data;
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
    per[k] = m;
  }
  return per;
}

function opts(provider) {
  // --layout: the webgpu EP's preferredLayout. NCHW, as the engine runs it (ort-worker.mjs); the
  // EP's own default, NHWC, gave wrong 3x3 Conv outputs with 6 input channels on an H200
  const ep = provider === "webgpu" ? { name: provider, preferredLayout: values.layout } : provider;
  return {
    executionProviders: [ep],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } },
  };
}

const q = (xs, p) => {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))];
};

async function timing(session, batch) {
  const f = feeds(session, batch, 7);
  for (let i = 0; i < 10; i++) await session.run(f);
  const ms = [];
  const n = batch === 1 ? iters : Math.max(20, Math.floor(iters / 4));
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await session.run(f);
    ms.push(performance.now() - t0);
  }
  return { batch, runs: n, p50_ms: q(ms, 0.5), p99_ms: q(ms, 0.99), per_frame_p50_ms: q(ms, 0.5) / batch };
}

const cpu = await ort.InferenceSession.create(values.model, opts("cpu"));
let gpu;
try {
  gpu = await ort.InferenceSession.create(values.model, opts(ep));
} catch (e) {
  report.error = `execution provider '${ep}' not available: ${String(e?.message ?? e).split("\n")[0]}`;
  report.cpu = { batch1: await timing(cpu, 1), batch16: await timing(cpu, 16) };
  console.log(JSON.stringify(report, null, 2));
  if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2));
  process.exit(2);
}

// parity on batch 1 and 16, same inputs
report.parity = {};
let worst = 0;
for (const b of [1, 16]) {
  const f = feeds(cpu, b, 11 + b);
  const per = maxDiff(await cpu.run(f), await gpu.run(f), cpu.outputNames);
  for (const m of Object.values(per)) worst = Math.max(worst, m);
  report.parity[`batch${b}`] = per;
}
if (values.frames) {
  const { n, feeds: real } = realFeeds(values.frames, 16);
  const batched = maxDiff(await cpu.run(real), await gpu.run(real), cpu.outputNames);
  const single = Object.fromEntries(cpu.outputNames.map((k) => [k, 0]));
  for (let s = 0; s < n; s++) {
    const f = sliceFeeds(real, s);
    const per = maxDiff(await cpu.run(f), await gpu.run(f), cpu.outputNames);
    for (const k of cpu.outputNames) single[k] = Math.max(single[k], per[k]);
  }
  report.parity.real = { frames: values.frames, samples: n, batch1: single, [`batch${n}`]: batched };
  for (const m of [...Object.values(single), ...Object.values(batched)]) worst = Math.max(worst, m);
}
report.parity.max_abs_diff = worst;
report.parity.ok = worst < tol;
report.cpu = { batch1: await timing(cpu, 1), batch16: await timing(cpu, 16) };
report[ep] = { batch1: await timing(gpu, 1), batch16: await timing(gpu, 16) };
console.log(JSON.stringify(report, null, 2));
if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2));
process.exit(report.parity.ok ? 0 : 1);
