/**
 * `npm run quantize` (tsx train/quantize.ts [--model intermediate] [--models-dir models] [--rig sim]
 * [--calib-runs 12] [--duration-s 8] [--range minmax|p99.99]): writes `fusion-<model>.int8.onnx`
 * beside the float model, its 3x3 convolutions in int8 (train/quantize.py; docs/fusion-learned.md
 * "int8 model", DECISIONS H6).
 *
 * 1. A calibration set: simulated runs of the rig on the dataset's validation seeds (5000 on, never an
 *    evaluation seed), rasterized exactly as for training (train/dataset.ts).
 * 2. quantize.py plan: the tensors whose ranges the int8 model needs, as extra model outputs.
 * 3. onnxruntime (the runtime that serves the model) runs the set; per tensor the range kept is the
 *    min/max, or the 0.01 % / 99.99 % quantiles of a 1-in-7 sample (`--range p99.99`).
 * 4. quantize.py write: the QDQ model, with a `quantization` metadata entry naming the source model's
 *    sha256, the calibration set and the range rule.
 * 5. Parity on the calibration set: heatmap, box and gate differences from the float model.
 *
 * The score calibration (`fusion-<model>.int8.calibration.json`) is fitted afterwards on the int8
 * file, as for any model: node --import tsx train/calibrate.ts --engine <model> --precision int8 --write.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { loadRig } from "../src/rig/load.ts";
import { DEFAULT_DATASET, exportDataset } from "./dataset.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "intermediate" },
    "models-dir": { type: "string", default: fileURLToPath(new URL("../models", import.meta.url)) },
    rig: { type: "string", default: "sim" },
    "calib-runs": { type: "string", default: "12" },
    "duration-s": { type: "string", default: "8" },
    range: { type: "string", default: "minmax" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(
    `usage: npm run quantize -- [--model intermediate|late|lidar_only] [--models-dir DIR] [--rig preset|file]
                           [--calib-runs N] [--duration-s S] [--range minmax|p99.99]

Writes DIR/fusion-<model>.int8.onnx from DIR/fusion-<model>.onnx: 3x3 convolutions in int8 (QDQ),
activation ranges measured on N simulated validation runs (seeds 5000 on) of S seconds.
Needs Python with numpy and onnx ($PYTHON, default /usr/bin/python3).
`,
  );
  process.exit(0);
}
const RANGES = ["minmax", "p99.99"] as const;
type RangeRule = (typeof RANGES)[number];
if (!RANGES.includes(values.range as RangeRule)) {
  process.stderr.write(`quantize: --range: minmax or p99.99, got '${values.range}'\n`);
  process.exit(2);
}
const rangeRule = values.range as RangeRule;
const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";
const here = fileURLToPath(new URL(".", import.meta.url));
const src = join(values["models-dir"]!, `fusion-${values.model}.onnx`);
const out = join(values["models-dir"]!, `fusion-${values.model}.int8.onnx`);
if (!existsSync(src)) {
  process.stderr.write(`quantize: no model file ${src}\n`);
  process.exit(1);
}

function python(args: string[]): void {
  const r = spawnSync(PYTHON, [join(here, "quantize.py"), ...args], { encoding: "utf8" });
  if (r.status !== 0) {
    process.stderr.write(
      `quantize: ${PYTHON} quantize.py ${args[0]} failed: ${(r.stderr || r.error?.message || "").trim()}\n`,
    );
    process.exit(1);
  }
  if (r.stdout) process.stdout.write(r.stdout);
}

/** The rasters and aux vectors of a train/dataset.ts split, one sample at a time. */
function* samples(dir: string): Generator<Record<string, ort.Tensor>> {
  const read = (f: string) => {
    const b = readFileSync(join(dir, f));
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  };
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
    count: number;
    grid: { rows: number; cols: number };
    channels: Record<string, string[]>;
  };
  const off = new BigInt64Array(read("offsets.i64"));
  const idx = new Uint32Array(read("sparse_idx.u32"));
  const val = new Float32Array(read("sparse_val.f32"));
  const aux = new Float32Array(read("aux.f32"));
  const mods = Object.keys(index.channels);
  const plane = index.grid.rows * index.grid.cols;
  const perMod = mods.map((m) => index.channels[m]!.length * plane);
  const total = perMod.reduce((a, b) => a + b, 0);
  const nAux = aux.length / index.count;
  const nEgo = nAux - mods.length * 5;
  for (let k = 0; k < index.count; k++) {
    const ras = new Float32Array(total);
    for (let j = Number(off[k]); j < Number(off[k + 1]); j++) ras[idx[j]!] = val[j]!;
    const feeds: Record<string, ort.Tensor> = {};
    let o = 0;
    mods.forEach((m, i) => {
      feeds[m] = new ort.Tensor("float32", ras.slice(o, o + perMod[i]!), [
        1,
        index.channels[m]!.length,
        index.grid.rows,
        index.grid.cols,
      ]);
      o += perMod[i]!;
    });
    feeds["ego"] = new ort.Tensor("float32", aux.slice(k * nAux, k * nAux + nEgo), [1, nEgo]);
    feeds["health"] = new ort.Tensor("float32", aux.slice(k * nAux + nEgo, (k + 1) * nAux), [
      1,
      mods.length,
      5,
    ]);
    yield feeds;
  }
}

const work = mkdtempSync(join(tmpdir(), "quantize-"));
try {
  const rig = loadRig(values.rig!);
  const calibRuns = Number(values["calib-runs"]);
  const durationS = Number(values["duration-s"]);
  const t0 = performance.now();
  const ds = (await exportDataset({
    ...DEFAULT_DATASET,
    outDir: work,
    rig,
    trainRuns: 0,
    valRuns: calibRuns,
    durationS,
  })) as { val: { seeds: number[]; samples: number } };
  process.stdout.write(
    `calibration set: ${ds.val.samples} samples, seeds ${ds.val.seeds.join("-")}, rig ${rig.name}\n`,
  );

  const augmented = join(work, "augmented.onnx");
  const planPath = join(work, "plan.json");
  python(["plan", src, augmented, planPath]);
  const plan = JSON.parse(readFileSync(planPath, "utf8")) as { tensors: string[] };

  const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, graphOptimizationLevel: "basic" };
  const aug = await ort.InferenceSession.create(augmented, opts);
  const lo = new Map<string, number>();
  const hi = new Map<string, number>();
  const kept = new Map<string, number[]>();
  for (const feeds of samples(join(work, "val"))) {
    const res = await aug.run(feeds);
    for (const t of plan.tensors) {
      const d = (res[t] ?? feeds[t])!.data as Float32Array;
      let a = lo.get(t) ?? Number.POSITIVE_INFINITY;
      let b = hi.get(t) ?? Number.NEGATIVE_INFINITY;
      for (let i = 0; i < d.length; i++) {
        const v = d[i]!;
        if (v < a) a = v;
        if (v > b) b = v;
      }
      lo.set(t, a);
      hi.set(t, b);
      if (rangeRule !== "minmax") {
        const k = kept.get(t) ?? [];
        for (let i = 0; i < d.length; i += 7) if (d[i] !== 0) k.push(d[i]!);
        kept.set(t, k);
      }
    }
  }
  await aug.release();
  const ranges: Record<string, [number, number]> = {};
  for (const t of plan.tensors) {
    if (rangeRule === "minmax") ranges[t] = [lo.get(t)!, hi.get(t)!];
    else {
      const s = Float32Array.from(kept.get(t)!).sort();
      const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
      ranges[t] = [q(0.0001), q(0.9999)];
    }
  }
  const rangesPath = join(work, "ranges.json");
  writeFileSync(rangesPath, JSON.stringify(ranges));
  const sha256 = createHash("sha256").update(readFileSync(src)).digest("hex");
  const metaPath = join(work, "meta.json");
  writeFileSync(
    metaPath,
    JSON.stringify({
      version: 1,
      scheme:
        "QDQ: 3x3 Conv in int8 (weights symmetric per output channel, activations uint8, bias int32); other ops float",
      source: { file: `fusion-${values.model}.onnx`, sha256 },
      calibration: {
        rig: rig.name,
        seeds: ds.val.seeds,
        samples: ds.val.samples,
        duration_s: durationS,
        range: rangeRule,
      },
      command: `npm run quantize -- --model ${values.model} --rig ${values.rig} --calib-runs ${calibRuns} --duration-s ${durationS} --range ${rangeRule}`,
    }),
  );
  python(["write", src, planPath, rangesPath, out, metaPath]);

  // parity on the calibration set
  const full = { intraOpNumThreads: 1, graphOptimizationLevel: "all" } as const;
  const f32 = await ort.InferenceSession.create(src, full);
  const q8 = await ort.InferenceSession.create(out, full);
  const diff = { heatmap: 0, box: 0, gates: 0 };
  const sum = { heatmap: 0, box: 0, gates: 0 };
  const n = { heatmap: 0, box: 0, gates: 0 };
  for (const feeds of samples(join(work, "val"))) {
    const a = await f32.run(feeds);
    const b = await q8.run(feeds);
    for (const k of ["heatmap", "box", "gates"] as const) {
      const x = a[k]!.data as Float32Array;
      const y = b[k]!.data as Float32Array;
      for (let i = 0; i < x.length; i++) {
        const e = Math.abs(x[i]! - y[i]!);
        sum[k] += e;
        if (e > diff[k]) diff[k] = e;
      }
      n[k] += x.length;
    }
  }
  const fmt = (k: keyof typeof diff) =>
    `${k} mean |d| ${(sum[k] / n[k]).toExponential(2)}, max ${diff[k].toFixed(3)}`;
  process.stdout.write(
    `parity vs float on the calibration set: ${fmt("heatmap")}; ${fmt("box")}; ${fmt("gates")}\n` +
      `quantize: done in ${((performance.now() - t0) / 1000).toFixed(0)} s -> ${out}\n` +
      `next: node --import tsx train/calibrate.ts --engine ${values.model} --precision int8 --write\n`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
