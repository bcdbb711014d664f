/**
 * Inference benchmark of the learned engine (intermediate model, CPU unless `--ep`): per-frame latency of
 * engine.fuse() at batch 1 (rasterize + worker-thread inference + decode + tracker), event-loop
 * lag while inferring (perf_hooks.monitorEventLoopDelay), and the per-frame time at batch 16
 * (16 vehicles' ticks arriving together). Real ticks: a few seconds of simulator -> aligner.
 */
import { existsSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { BenchOptions } from "../src/cli/bench.ts";
import { createLearnedEngine, defaultModelPath } from "../src/fusion/learned/index.ts";
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
  const eng = await createLearnedEngine(rig, { mode: "intermediate", modelPath, ep: opts.ep });
  const repeats = opts.quick ? 1 : 3;
  const n1 = opts.quick ? 60 : 300;
  const n16 = opts.quick ? 5 : 30;
  const p50s: number[] = [];
  const p99s: number[] = [];
  const lagP99s: number[] = [];
  const modelMs: number[] = [];
  const b16: number[] = [];
  try {
    for (let r = 0; r < repeats; r++) {
      // batch 1: one vehicle, ticks back to back
      const ms: number[] = [];
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      for (let i = 0; i < n1; i++) {
        const t = { ...ticks[i % ticks.length]!, vehicle: `bench-${r}`, stampNs: 1e18 + (r * n1 + i) * 1e8 };
        const t0 = performance.now();
        await eng.fuse(t, health(i));
        ms.push(performance.now() - t0);
        modelMs.push(eng.stats.lastRunMs);
      }
      h.disable();
      p50s.push(median(ms));
      p99s.push(p99(ms));
      lagP99s.push(h.percentile(99) / 1e6);
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
        b16.push((performance.now() - t0) / 16);
      }
    }
  } finally {
    await eng.close();
  }
  return {
    p50_ms: median(p50s),
    p99_ms: median(p99s),
    loop_lag_p99_ms: median(lagP99s),
    model_run_p50_ms: median(modelMs),
    model_run_p99_ms: p99(modelMs),
    batch16_per_frame_ms: median(b16),
    batch16_per_frame_p90_ms: quantile(b16, 0.9),
    repeats,
    frames_batch1: n1 * repeats,
    provider: eng.provider,
  };
}
