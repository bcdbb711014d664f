/**
 * One source for the model contract: src/fusion/model-contract.json is read by TypeScript
 * (src/fusion/model-contract.ts, re-exported by bev/grid.ts and learned/contract.ts) and by Python
 * (train/contract.py, and train/model.py's defaults). This test fails when either side's constants
 * differ from the file (a literal written back on one side, a side that stops reading the file), and
 * shows that its comparison catches a difference.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  BEV_VERSION,
  CHANNELS,
  DEFAULT_GRID,
  EGO_FEATURES,
  HEALTH_FEATURES,
  RASTER_MODALITIES,
} from "../../src/fusion/bev/grid.ts";
import { BevRasterizer, CH_PER_MODALITY } from "../../src/fusion/bev/rasterize.ts";
import {
  BOX_CHANNELS,
  CLASS_NAMES,
  INPUT_NAMES,
  MODEL_FORMAT,
  MODEL_VERSION,
  OUTPUT_NAMES,
} from "../../src/fusion/learned/contract.ts";
import { MODEL_CONTRACT_PATH, parseModelContract } from "../../src/fusion/model-contract.ts";
import { OBJECT_CLASS_NAMES, type ObjectClass } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import { noteSkip } from "../../harness/programs.ts";
import { PYTHON, REPO, torchMissing } from "../fusion/learned/_python.ts";

const FILE = JSON.parse(readFileSync(MODEL_CONTRACT_PATH, "utf8")) as Record<string, unknown>;

/** The contract as the TypeScript side exports it, under the file's keys. */
const TS_SIDE: Record<string, unknown> = {
  format: MODEL_FORMAT,
  version: MODEL_VERSION,
  bev_version: BEV_VERSION,
  grid: DEFAULT_GRID,
  modalities: RASTER_MODALITIES,
  channels: CHANNELS,
  classes: CLASS_NAMES,
  ego_features: EGO_FEATURES,
  health_features: HEALTH_FEATURES,
  box_channels: BOX_CHANNELS,
  out_stride: FILE["out_stride"], // read from each model's metadata on the TypeScript side
  input_names: INPUT_NAMES,
  output_names: OUTPUT_NAMES,
};

/** Fields whose values differ between the file and a side (JSON equality; 1 and 1.0 are equal). */
function differing(side: Record<string, unknown>): string[] {
  const keys = Object.keys(FILE).filter((k) => !k.startsWith("_"));
  return keys.filter((k) => JSON.stringify(side[k]) !== JSON.stringify(FILE[k]));
}

/** train/contract.py's constants under the file's keys, from the Python at `trainDir`. */
const PY_DUMP = `
import json, contract as K
print(json.dumps({"format": K.FORMAT, "version": K.VERSION, "bev_version": K.BEV_VERSION, "grid": K.GRID,
  "modalities": list(K.MODALITIES), "channels": K.CHANNELS, "classes": K.CLASSES, "ego_features": K.EGO_FEATURES,
  "health_features": K.HEALTH_FEATURES, "box_channels": K.BOX_CHANNELS, "out_stride": K.OUT_STRIDE,
  "input_names": K.INPUT_NAMES, "output_names": K.OUTPUT_NAMES}))
`;
function pythonSide(trainDir: string): Record<string, unknown> {
  const r = spawnSync(PYTHON, ["-c", PY_DUMP], { cwd: trainDir, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${PYTHON}: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function pythonMissing(): string | null {
  const r = spawnSync(PYTHON, ["-c", "import json"], { encoding: "utf8" });
  if (r.status === 0 || process.env.CI === "true") return null;
  const msg = `python: ${PYTHON} not found (${r.error?.message ?? r.stderr}); contract parity test skipped; install python3 or set PYTHON`;
  noteSkip(msg);
  return msg;
}

describe("model contract: one source for TypeScript and Python", () => {
  test("the TypeScript constants are the file's", () => {
    assert.deepEqual(differing(TS_SIDE), []);
    // the classes are ObjectClass 1..n in order
    for (const [i, c] of CLASS_NAMES.entries()) assert.equal(OBJECT_CLASS_NAMES[(i + 1) as ObjectClass], c);
    // every input name is a field of the rasterizer's frame, and the raster shapes follow the lists
    const r = new BevRasterizer(loadRig("sim"));
    const f = r.alloc(1) as unknown as Record<string, Float32Array>;
    assert.deepEqual(Object.keys(f).sort(), [...INPUT_NAMES].sort());
    assert.equal(CH_PER_MODALITY, CHANNELS.lidar.length);
    assert.equal(f["lidar"]!.length, CH_PER_MODALITY * DEFAULT_GRID.rows * DEFAULT_GRID.cols);
    assert.equal(f["ego"]!.length, EGO_FEATURES.length);
    assert.equal(f["health"]!.length, RASTER_MODALITIES.length * HEALTH_FEATURES.length);
  });

  test("the Python constants (train/contract.py) are the file's", {
    skip: pythonMissing() ?? false,
  }, () => {
    assert.deepEqual(differing(pythonSide(join(REPO, "train"))), []);
  });

  test("model.py's default sizes follow the file", { skip: torchMissing() ?? false }, () => {
    const r = spawnSync(
      PYTHON,
      [
        "-c",
        "import json, model; c = model.ModelConfig(); print(json.dumps([c.in_ch, c.grid, c.num_classes, c.box_ch, c.ego_dim, c.health_dim, c.out_grid]))",
      ],
      {
        cwd: join(REPO, "train"),
        encoding: "utf8",
        timeout: 120_000,
        env: { ...process.env, OMP_NUM_THREADS: "1" },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const grid = FILE["grid"] as { rows: number };
    const ch = FILE["channels"] as Record<string, string[]>;
    assert.deepEqual(JSON.parse(r.stdout), [
      ch["lidar"]!.length,
      grid.rows,
      (FILE["classes"] as string[]).length,
      (FILE["box_channels"] as string[]).length,
      (FILE["ego_features"] as string[]).length,
      (FILE["health_features"] as string[]).length,
      grid.rows / (FILE["out_stride"] as number),
    ]);
  });

  test("a side that differs is caught: Python reading an edited copy of the file", {
    skip: pythonMissing() ?? false,
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), "contract-"));
    try {
      mkdirSync(join(dir, "train"));
      mkdirSync(join(dir, "src", "fusion"), { recursive: true });
      cpSync(join(REPO, "train", "contract.py"), join(dir, "train", "contract.py"));
      const edited = { ...FILE, classes: ["car", "truck", "pedestrian", "bicycle"], bev_version: 99 };
      writeFileSync(join(dir, "src", "fusion", "model-contract.json"), JSON.stringify(edited));
      assert.deepEqual(differing(pythonSide(join(dir, "train"))), ["bev_version", "classes"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a malformed file is refused with the field", () => {
    const text = readFileSync(MODEL_CONTRACT_PATH, "utf8");
    assert.throws(() => parseModelContract(text.replace('"rows": 64', '"rows": -1')), /'grid\.rows' must be/);
    const j = JSON.parse(text);
    j.channels.radar = j.channels.radar.slice(1);
    assert.throws(() => parseModelContract(JSON.stringify(j)), /'channels' must be lists of one length/);
    j.channels = { lidar: ["a"], radar: ["b"], camera: "c" };
    assert.throws(() => parseModelContract(JSON.stringify(j)), /'channels\.camera' must be/);
  });
});
