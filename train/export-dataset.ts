/**
 * `npm run dataset` (tsx train/export-dataset.ts [--out data/bev] [--rig sim] [--train-runs N]
 * [--val-runs N] [--duration-s S]): simulator -> aligner -> BEV rasterizer -> data/bev/{train,val}.
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_DATASET, exportDataset } from "./dataset.ts";
import { loadRig } from "../src/rig/load.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: fileURLToPath(new URL("../data/bev", import.meta.url)) },
    rig: { type: "string", default: "sim" },
    "train-runs": { type: "string", default: String(DEFAULT_DATASET.trainRuns) },
    "val-runs": { type: "string", default: String(DEFAULT_DATASET.valRuns) },
    "duration-s": { type: "string", default: String(DEFAULT_DATASET.durationS) },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(
    "usage: tsx train/export-dataset.ts [--out DIR] [--rig preset|file] [--train-runs N] [--val-runs N] [--duration-s S]\n",
  );
  process.exit(0);
}
const t0 = performance.now();
const res = await exportDataset({
  ...DEFAULT_DATASET,
  outDir: values.out!,
  rig: loadRig(values.rig!),
  trainRuns: Number(values["train-runs"]),
  valRuns: Number(values["val-runs"]),
  durationS: Number(values["duration-s"]),
  log: (l) => process.stdout.write(`${l}\n`),
});
process.stdout.write(
  `${JSON.stringify(res, null, 2)}\ndataset: done in ${((performance.now() - t0) / 1000).toFixed(0)} s -> ${values.out}\n`,
);
