/**
 * Training smoke run: a few optimizer steps of the intermediate and late models on a synthetic set,
 * then ONNX export; the exported models pass the service's contract check. Proves the training
 * script runs end to end (CI), not that it learns.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DEFAULT_GRID } from "../../src/fusion/bev/grid.ts";
import { loadModelContract } from "../../src/fusion/learned/contract.ts";
import { REPO, runPython, torchMissing } from "../fusion/learned/_python.ts";

const skip = torchMissing();
const out = mkdtempSync(join(tmpdir(), "train-smoke-"));
after(() => rmSync(out, { recursive: true, force: true }));

test("train.py --smoke trains a few steps and exports valid models", { skip: skip ?? false }, () => {
  const r = runPython(
    [
      join(REPO, "train/train.py"),
      "--smoke",
      "--out",
      out,
      "--steps",
      "3",
      "--late-steps",
      "3",
      "--lidar-steps",
      "3",
      "--batch",
      "4",
      "--log-every",
      "1",
      "--models",
      "lidar_only,intermediate,late",
    ],
    180_000,
  );
  assert.match(r.stdout, /\[intermediate\] step 3\/3 heat [\d.]+/);
  assert.match(r.stdout, /\[late\] step 3\/3/);
  assert.match(r.stdout, /\[intermediate\] warm start from lidar_only: \d+ tensors/);
  for (const name of ["intermediate", "late"]) {
    const p = join(out, `fusion-${name}.onnx`);
    assert.ok(existsSync(p), p);
    const c = loadModelContract(p, DEFAULT_GRID);
    assert.equal(c.mode, name);
    assert.equal(c.outRows, DEFAULT_GRID.rows / c.outStride);
    assert.ok(JSON.parse(c.meta["training"]!).steps === 3);
  }
  const summary = JSON.parse(readFileSync(join(out, "training.json"), "utf8"));
  assert.ok(summary.models.intermediate.params > 10_000);
});

test("train.py --init fine-tunes the intermediate model from its checkpoint, and refuses another architecture", {
  skip: skip ?? false,
}, () => {
  const ckpt = join(out, "fusion-intermediate.pt");
  assert.ok(existsSync(ckpt), "the smoke run above writes the checkpoint");
  const ft = join(out, "ft");
  const common = ["--smoke", "--out", ft, "--steps", "2", "--batch", "4", "--log-every", "1", "--init", ckpt];
  const r = runPython([join(REPO, "train/train.py"), ...common, "--models", "intermediate"], 180_000);
  assert.match(r.stdout, /\[intermediate\] fine-tuning from .*fusion-intermediate\.pt \(3 steps/);
  assert.doesNotMatch(r.stdout, /warm start from lidar_only/);
  const c = loadModelContract(join(ft, "fusion-intermediate.onnx"), DEFAULT_GRID);
  const info = JSON.parse(c.meta["training"]!);
  assert.equal(info.steps, 2);
  assert.deepEqual(info.fine_tuned_from.checkpoint, "fusion-intermediate.pt");
  assert.equal(info.fine_tuned_from.steps, 3);
  assert.throws(
    () => runPython([join(REPO, "train/train.py"), ...common, "--models", "late"], 180_000),
    /is a intermediate model .* not 'late'/s,
  );
});
