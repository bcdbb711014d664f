/**
 * Inference benchmark of the learned engine (intermediate model, CPU unless `--ep`): per-frame latency of
 * engine.fuse() at batch 1 (rasterize + worker-thread inference + decode + tracker), event-loop
 * lag while inferring (perf_hooks.monitorEventLoopDelay), and the per-frame time at batch 16
 * (16 vehicles' ticks arriving together). Real ticks: a few seconds of simulator -> aligner.
 * The float model and its int8 file (when present) are measured in the same run, repeats alternating;
 * the top-level figures are those of the file the service serves by default (`by_precision` has both).
 */
import { existsSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { BenchOptions } from "../src/cli/bench.ts";
import { createLearnedEngine, defaultModelPath, type LearnedEngine } from "../src/fusion/learned/index.ts";
import { int8Mismatch, int8PathOf } from "../src/fusion/learned/precision.ts";
import { loadRig } from "../src/rig/load.ts";
import { simulateEnvelopes } from "../sim/runs.ts";
import { replayTicks } from "../src/runtime/offline.ts";
import { median, p99, quantile } from "./_stats.ts";

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const rig = loadRig("sim");
  const modelPath = defaultModelPath("intermediate");
  if (!existsSync(modelPath)) throw new Error(`no model at ${modelPath} (run npm run train)`);
  // real ticks and the live health snapshots: a few seconds of simulator through the runtime
  const { envs } = simulateEnvelopes(rig, { seed: 9001, scenario: "urban", conditions: "clear" }, 4);
  const frames = (await replayTicks(rig, envs)).slice(10);
  const ticks = frames.map((f) => f.tick);
  // what fusion gets from health for the i-th recorded tick (the bench re-stamps copies of the ticks)
  const health = (i: number) => frames[i % frames.length]!.fusion;
  // the float model and, where `npm run quantize` wrote it, its int8 file: both measured in the same
  // run, repeats alternating, so each is the other's baseline
  const engines: { precision: "fp32" | "int8"; eng: LearnedEngine }[] = [];
  try {
    for (const precision of ["fp32", "int8"] as const) {
      if (precision === "int8" && int8Mismatch(modelPath, int8PathOf(modelPath))) continue;
      engines.push({
        precision,
        eng: await createLearnedEngine(rig, { mode: "intermediate", modelPath, precision, ep: opts.ep }),
      });
    }
    const repeats = opts.quick ? 1 : 3;
    const n1 = opts.quick ? 60 : 300;
    const n16 = opts.quick ? 5 : 30;
    const acc = engines.map(() => ({
      p50s: [] as number[],
      p99s: [] as number[],
      lagP99s: [] as number[],
      modelMs: [] as number[],
      b16: [] as number[],
    }));
    for (let r = 0; r < repeats; r++) {
      for (const [e, { eng }] of engines.entries()) {
        const a = acc[e]!;
        // batch 1: one vehicle, ticks back to back
        const ms: number[] = [];
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        for (let i = 0; i < n1; i++) {
          const t = {
            ...ticks[i % ticks.length]!,
            vehicle: `bench-${r}`,
            stampNs: 1e18 + (r * n1 + i) * 1e8,
          };
          const t0 = performance.now();
          await eng.fuse(t, health(i));
          ms.push(performance.now() - t0);
          a.modelMs.push(eng.stats.lastRunMs);
        }
        h.disable();
        a.p50s.push(median(ms));
        a.p99s.push(p99(ms));
        a.lagP99s.push(h.percentile(99) / 1e6);
        // batch 16: 16 vehicles' ticks together
        for (let k = 0; k < n16; k++) {
          const t0 = performance.now();
          await Promise.all(
            Array.from({ length: 16 }, (_, v) => {
              const t = {
                ...ticks[(k + v) % ticks.length]!,
                vehicle: `fleet-${v}`,
                stampNs: 1e18 + (r * n16 + k) * 1e8,
              };
              return eng.fuse(t, health(k + v));
            }),
          );
          a.b16.push((performance.now() - t0) / 16);
        }
      }
    }
    const summary = (e: number) => {
      const a = acc[e]!;
      return {
        p50_ms: median(a.p50s),
        p99_ms: median(a.p99s),
        loop_lag_p99_ms: median(a.lagP99s),
        model_run_p50_ms: median(a.modelMs),
        model_run_p99_ms: p99(a.modelMs),
        batch16_per_frame_ms: median(a.b16),
        batch16_per_frame_p90_ms: quantile(a.b16, 0.9),
      };
    };
    // top level: what the service serves by default (auto: int8 on CPU when present)
    const served = engines.length > 1 && engines[1]!.eng.provider === "cpu" ? 1 : 0;
    return {
      ...summary(served),
      precision: engines[served]!.precision,
      by_precision: Object.fromEntries(engines.map((x, e) => [x.precision, summary(e)])),
      repeats,
      frames_batch1: n1 * repeats,
      provider: engines[served]!.eng.provider,
    };
  } finally {
    for (const { eng } of engines) await eng.close();
  }
}
