/**
 * `npm run dataset` (tsx train/export-dataset.ts [--out data/bev] [--rig sim] [--train-runs N]
 * [--val-runs N] [--duration-s S]): simulator -> aligner -> BEV rasterizer -> data/bev/{train,val}.
 * With `--data nuscenes:<dataroot>[#scene] | kitti:<path> [--split val|test|all]`: a real log with
 * its annotations instead (train/real-dataset.ts), default out data/bev-real.
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_DATASET, exportDataset } from "./dataset.ts";
import { exportRealDataset } from "./real-dataset.ts";
import { REAL_SPLITS, type RealSplit } from "../src/eval/real.ts";
import { loadRig } from "../src/rig/load.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    data: { type: "string" },
    split: { type: "string", default: "val" },
    "radar-filter": { type: "boolean", default: false },
    "kitti-calib": { type: "string" },
    rig: { type: "string", default: "sim" },
    "train-runs": { type: "string", default: String(DEFAULT_DATASET.trainRuns) },
    "val-runs": { type: "string", default: String(DEFAULT_DATASET.valRuns) },
    "duration-s": { type: "string", default: String(DEFAULT_DATASET.durationS) },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(
    `usage: tsx train/export-dataset.ts [--out DIR] [--rig preset|file] [--train-runs N] [--val-runs N] [--duration-s S]
       tsx train/export-dataset.ts --data nuscenes:<dataroot>[#scene] | kitti:<path> [--split val|test|all] [--radar-filter] [--kitti-calib DIR] [--out DIR]

Simulator runs (default, out data/bev), or a real log with its annotations (--data, out data/bev-real):
the log through the service's stages as \`fusion eval --data\` runs it, one sample per annotated
instant of the split (val: the first half of each log's instants, the default; test: the second
half, held out for evaluation). Both train/ and val/ get the split's samples.
`,
  );
  process.exit(0);
}
if (values.data !== undefined) {
  const split = values.split as RealSplit;
  if (!REAL_SPLITS.includes(split)) {
    process.stderr.write(`dataset: --split: val, test or all, got '${values.split}'\n`);
    process.exit(2);
  }
  const out = values.out ?? fileURLToPath(new URL("../data/bev-real", import.meta.url));
  let res: Record<string, unknown>;
  try {
    res = await exportRealDataset({
      data: values.data,
      split,
      outDir: out,
      radarFilter: values["radar-filter"],
      kittiCalib: values["kitti-calib"],
      log: (l) => process.stdout.write(`${l}\n`),
    });
  } catch (e) {
    process.stderr.write(`dataset: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify(res, null, 2)}\ndataset: done -> ${out}\n`);
  process.exit(0);
}
const t0 = performance.now();
const res = await exportDataset({
  ...DEFAULT_DATASET,
  outDir: values.out ?? fileURLToPath(new URL("../data/bev", import.meta.url)),
  rig: loadRig(values.rig!),
  trainRuns: Number(values["train-runs"]),
  valRuns: Number(values["val-runs"]),
  durationS: Number(values["duration-s"]),
  log: (l) => process.stdout.write(`${l}\n`),
});
process.stdout.write(
  `${JSON.stringify(res, null, 2)}\ndataset: done in ${((performance.now() - t0) / 1000).toFixed(0)} s -> ${values.out}\n`,
);
