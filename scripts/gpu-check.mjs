#!/usr/bin/env node
// GPU check of the shipped fusion model: runs the same inputs through the CPU provider and a GPU
// provider (webgpu by default, or cuda), reports parity (max abs difference per output) and latency
// for batch 1 and 16 on both. Standalone: needs only this repository and its node_modules.
//
//   node scripts/gpu-check.mjs [--ep webgpu|cuda] [--model models/fusion-intermediate.onnx]
//                              [--iters 200] [--out result.json]
//
// webgpu needs the Vulkan loader (libvulkan.so.1) and the GPU's Vulkan driver; cuda needs
// onnxruntime-node installed with ONNXRUNTIME_NODE_INSTALL=cuda12 (CUDA 12 + cuDNN 9).
// Exit code: 0 when the GPU provider ran and parity holds (max abs diff < --tol, default 1e-3),
// 1 when parity fails, 2 when the provider is not available.
import { existsSync, writeFileSync } from "node:fs";
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
  },
});
const ep = values.ep;
const iters = Number(values.iters);
const tol = Number(values.tol);
const report = {
  model: values.model,
  ep,
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

function opts(provider) {
  return {
    executionProviders: [provider],
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
  const a = await cpu.run(f);
  const g = await gpu.run(f);
  const per = {};
  for (const k of cpu.outputNames) {
    const x = a[k].data;
    const y = g[k].data;
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
    per[k] = m;
    worst = Math.max(worst, m);
  }
  report.parity[`batch${b}`] = per;
}
report.parity.max_abs_diff = worst;
report.parity.ok = worst < tol;
report.cpu = { batch1: await timing(cpu, 1), batch16: await timing(cpu, 16) };
report[ep] = { batch1: await timing(gpu, 1), batch16: await timing(gpu, 16) };
console.log(JSON.stringify(report, null, 2));
if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2));
process.exit(report.parity.ok ? 0 : 1);
