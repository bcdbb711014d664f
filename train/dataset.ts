/**
 * Dataset export for training (`npm run dataset`): simulator runs across scenarios, conditions and
 * faults -> the fleet runtime in replay mode (the live aligner) -> the one BEV rasterizer -> sparse float32 rasters + truth boxes,
 * split by seed into train / val. Layout documented in train/data.py. Evaluation seeds
 * (EVAL_SEEDS, and any seed >= 9000) are never exported for training.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type Conditions, type ScenarioName, SCENARIOS } from "../sim/index.ts";
import { simulateRun } from "../sim/runs.ts";
import type { RunSpec, TruthBox } from "../src/eval/truth.ts";
import { FIRST_EVAL_SEED } from "../src/eval/seeds.ts";
import { CHANNELS, DEFAULT_GRID } from "../src/fusion/bev/grid.ts";
import { ALL_ON, BevRasterizer } from "../src/fusion/bev/rasterize.ts";
import type { RigConfig } from "../src/rig/schema.ts";

export { EVAL_SEEDS, FIRST_EVAL_SEED } from "../src/eval/seeds.ts";

export interface DatasetOptions {
  outDir: string;
  rig: RigConfig;
  /** Runs per split. */
  trainRuns: number;
  valRuns: number;
  /** Simulated seconds per run. */
  durationS: number;
  /** Skip this much at the start of each run (aligner/ego warm-up), s. */
  warmupS: number;
  /** Keep every n-th tick (consecutive ticks are nearly identical). */
  trainStride: number;
  valStride: number;
  /** First seed of each split. */
  trainSeed0: number;
  valSeed0: number;
  log?: (line: string) => void;
}

export const DEFAULT_DATASET: Omit<DatasetOptions, "outDir" | "rig"> = {
  trainRuns: 180,
  valRuns: 8,
  durationS: 12,
  warmupS: 1.5,
  trainStride: 3,
  valStride: 4,
  trainSeed0: 100,
  valSeed0: 5000,
};

/** Small deterministic PRNG (mulberry32) for the run plan. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COND_PLAN: Conditions[] = ["clear", "clear", "rain", "fog", "night"];

/** The run of a seed: scenario, conditions and an optional sensor drop-out, all from the seed. */
export function runSpecOf(seed: number, durationS: number): RunSpec {
  const r = rng(seed * 7919 + 17);
  const scenario: ScenarioName = SCENARIOS[seed % SCENARIOS.length]!;
  const conditions = COND_PLAN[Math.floor(r() * COND_PLAN.length)]!;
  let faults = "";
  if (r() < 0.4) {
    const target = ["lidar", "radar", "camera"][Math.floor(r() * 3)]!;
    const start = 2 + r() * (durationS / 2);
    const dur = 2 + r() * 3;
    faults = `${target}:drop@${start.toFixed(1)}s+${dur.toFixed(1)}s`;
  }
  return { seed, scenario, conditions, faults, durationS };
}

export class SplitWriter {
  private readonly fIdx: number;
  private readonly fVal: number;
  private readonly offsets: bigint[] = [0n];
  private readonly aux: number[] = [];
  private readonly boxes: number[] = [];
  readonly samples: Record<string, unknown>[] = [];
  private nnz = 0n;

  constructor(private readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    this.fIdx = openSync(join(dir, "sparse_idx.u32"), "w");
    this.fVal = openSync(join(dir, "sparse_val.f32"), "w");
  }

  add(
    planes: Float32Array[],
    ego: Float32Array,
    health: Float32Array,
    truth: TruthBox[],
    meta: Record<string, unknown>,
  ): void {
    const P = planes[0]!.length;
    let n = 0;
    for (const p of planes) for (let c = 0; c < P; c++) if (p[c] !== 0) n++;
    const idx = new Uint32Array(n);
    const val = new Float32Array(n);
    let k = 0;
    planes.forEach((p, m) => {
      for (let c = 0; c < P; c++)
        if (p[c] !== 0) {
          idx[k] = m * P + c;
          val[k++] = p[c]!;
        }
    });
    writeSync(this.fIdx, new Uint8Array(idx.buffer));
    writeSync(this.fVal, new Uint8Array(val.buffer));
    this.nnz += BigInt(n);
    this.offsets.push(this.nnz);
    this.aux.push(...ego, ...health);
    const s = this.samples.length;
    for (const b of truth)
      this.boxes.push(
        s,
        b.cls,
        b.x,
        b.y,
        b.z,
        b.length,
        b.width,
        b.height,
        b.yaw,
        b.vx,
        b.vy,
        b.nLidar,
        b.nRadar,
      );
    this.samples.push({ ...meta, nnz: n, objects: truth.length });
  }

  finish(summary: Record<string, unknown>): void {
    closeSync(this.fIdx);
    closeSync(this.fVal);
    writeFileSync(join(this.dir, "offsets.i64"), new Uint8Array(BigInt64Array.from(this.offsets).buffer));
    writeFileSync(join(this.dir, "aux.f32"), new Uint8Array(Float32Array.from(this.aux).buffer));
    writeFileSync(join(this.dir, "boxes.f32"), new Uint8Array(Float32Array.from(this.boxes).buffer));
    writeFileSync(
      join(this.dir, "index.json"),
      `${JSON.stringify({ version: 1, grid: DEFAULT_GRID, channels: CHANNELS, count: this.samples.length, summary, samples: this.samples })}\n`,
    );
  }
}

/** Truth boxes worth learning: on the grid (with a margin) and seen by LiDAR or radar. */
export function trainableTruth(truth: TruthBox[]): TruthBox[] {
  const g = DEFAULT_GRID;
  const m = 2;
  return truth.filter(
    (b) =>
      b.cls >= 1 &&
      b.cls <= 4 &&
      b.nLidar + b.nRadar > 0 &&
      b.x >= g.xMinM - m &&
      b.x < g.xMinM + g.rows * g.cellM + m &&
      b.y >= g.yMinM - m &&
      b.y < g.yMinM + g.cols * g.cellM + m,
  );
}

export async function exportDataset(o: DatasetOptions): Promise<Record<string, unknown>> {
  const log = o.log ?? (() => {});
  const raster = new BevRasterizer(o.rig);
  const frame = raster.alloc(1);
  const result: Record<string, unknown> = {};
  for (const [split, runs, seed0, stride] of [
    ["train", o.trainRuns, o.trainSeed0, o.trainStride],
    ["val", o.valRuns, o.valSeed0, o.valStride],
  ] as const) {
    const w = new SplitWriter(join(o.outDir, split));
    const counts: Record<string, number> = {};
    const t0 = performance.now();
    for (let r = 0; r < runs; r++) {
      const seed = seed0 + r;
      if (seed >= FIRST_EVAL_SEED)
        throw new Error(`seed ${seed} is reserved for evaluation (>= ${FIRST_EVAL_SEED})`);
      const spec = runSpecOf(seed, o.durationS);
      const frames = await simulateRun(o.rig, spec);
      const t00 = frames[0]?.tick.stampNs ?? 0;
      let kept = 0;
      frames.forEach((f, i) => {
        if ((f.tick.stampNs - t00) / 1e9 < o.warmupS || i % stride !== 0) {
          raster.observe(f.tick); // the next kept tick's previous sweep
          return;
        }
        raster.rasterize(f.tick, ALL_ON, null, frame, 0);
        w.add([frame.lidar, frame.radar, frame.camera], frame.ego, frame.health, trainableTruth(f.truth), {
          seed,
          scenario: spec.scenario,
          conditions: spec.conditions,
          faults: spec.faults,
          stampNs: f.tick.stampNs,
        });
        kept++;
      });
      const key = `${spec.scenario}/${spec.conditions}${spec.faults ? "/fault" : ""}`;
      counts[key] = (counts[key] ?? 0) + kept;
      log(
        `${split} run ${r + 1}/${runs} seed ${seed} ${spec.scenario} ${spec.conditions} ${spec.faults || "-"}: ${kept} samples`,
      );
    }
    const summary = {
      split,
      runs,
      seeds: [seed0, seed0 + runs - 1],
      samples: w.samples.length,
      durationS: o.durationS,
      stride,
      rig: o.rig.name,
      byRun: counts,
      seconds: Math.round((performance.now() - t0) / 1000),
    };
    w.finish(summary);
    result[split] = summary;
  }
  return result;
}
