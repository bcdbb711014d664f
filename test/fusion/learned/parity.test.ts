/**
 * ONNX-vs-PyTorch parity: train/parity.py exports a model and runs PyTorch on a fixed input; the
 * same ONNX file runs here in onnxruntime-node on the same input. Max abs difference < 1e-4.
 * Covers a fresh intermediate and late model and, when present, the shipped intermediate checkpoint.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import { loadModelContract } from "../../../src/fusion/learned/contract.ts";
import { REPO, runPython, torchMissing } from "./_python.ts";

const skip = torchMissing();
const dir = mkdtempSync(join(tmpdir(), "parity-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Index {
  onnx: string;
  inputs: Record<string, { path: string; shape: number[] }>;
  outputs: Record<string, { path: string; shape: number[] }>;
}

function readF32(p: string): Float32Array {
  const b = readFileSync(p);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function check(name: string, args: string[]): Promise<number> {
  const out = join(dir, name);
  runPython([join(REPO, "train/parity.py"), out, ...args]);
  const idx = JSON.parse(readFileSync(join(out, "index.json"), "utf8")) as Index;
  const contract = loadModelContract(idx.onnx, DEFAULT_GRID);
  const s = await ort.InferenceSession.create(idx.onnx, { intraOpNumThreads: 1 });
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of contract.inputs) {
    const e = idx.inputs[i.name]!;
    feeds[i.name] = new ort.Tensor("float32", readF32(e.path), e.shape);
  }
  const res = await s.run(feeds);
  let maxDiff = 0;
  for (const [n, e] of Object.entries(idx.outputs)) {
    const want = readF32(e.path);
    const got = res[n]!.data as Float32Array;
    assert.deepEqual(res[n]!.dims, e.shape, `${n} shape`);
    for (let k = 0; k < want.length; k++) maxDiff = Math.max(maxDiff, Math.abs(want[k]! - got[k]!));
  }
  await s.release();
  return maxDiff;
}

describe("ONNX vs PyTorch parity", { skip: skip ?? false }, () => {
  test("intermediate model, fresh weights", async () => {
    const d = await check("inter", ["--mode", "intermediate"]);
    assert.ok(d < 1e-4, `max abs diff ${d}`);
  });
  test("late model, fresh weights", async () => {
    const d = await check("late", ["--mode", "late"]);
    assert.ok(d < 1e-4, `max abs diff ${d}`);
  });
  const ckpt = join(REPO, "models/fusion-intermediate.pt");
  test("shipped intermediate checkpoint", {
    skip: existsSync(ckpt) ? false : "no models/fusion-intermediate.pt",
  }, async () => {
    const d = await check("shipped", ["--ckpt", ckpt]);
    assert.ok(d < 1e-4, `max abs diff ${d}`);
  });
});
