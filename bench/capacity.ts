/**
 * capacity: the largest number of nuScenes-like vehicles (LiDAR 20 Hz ~35k points, 5 radars 13 Hz,
 * 6 cameras 12 Hz, GNSS 10 Hz, IMU 100 Hz) one service process sustains with p99 end-to-end under
 * 100 ms, no shed tick and >= 95 % of the expected ticks, for the classical and the learned
 * (intermediate) engine. Doubling search from 1, then bisection between the last pass and the
 * first failure; a count passes when the majority of its trials (3, --quick 1) do. The load
 * generator (bench/_loadgen.ts) replays pre-encoded messages in another process; on this 2-core
 * machine it shares the cores with the service and the broker.
 * `--vehicles N` starts the search at N (skips the small steps).
 */
import { basename, join } from "node:path";
import type { BenchOptions } from "../src/cli/bench.ts";
import { defaultModelPath } from "../src/fusion/learned/index.ts";
import { servedModel } from "../src/fusion/learned/precision.ts";
import { loadRig } from "../src/rig/load.ts";
import type { FusionMode } from "../src/fusion/types.ts";
import { broker, rigFile, sustains, type TrialResult, trial } from "./_headroom.ts";

async function search(
  brokerUrl: string | undefined,
  file: string,
  fusion: FusionMode,
  opts: BenchOptions,
): Promise<{ capacity: number; trials: TrialResult[] }> {
  const warmS = opts.quick ? 2 : 3;
  const windowS = opts.quick ? 4 : 8;
  const repeats = opts.quick ? 1 : 3;
  const trials: TrialResult[] = [];
  const once = async (n: number, k: number) => {
    const r = await trial({ brokerUrl, rigFile: file, fusion, vehicles: n, warmS, windowS });
    trials.push(r);
    process.stdout.write(
      `  ${fusion} x${n}${repeats > 1 ? ` #${k}` : ""}: e2e p50 ${r.e2e_p50_ms.toFixed(1)} p99 ${r.e2e_p99_ms.toFixed(1)} max ${r.e2e_max_ms.toFixed(1)} ms, shed ${r.shed}, ticks ${(r.tick_ratio * 100).toFixed(0)} %, loop lag p99 ${r.loop_lag_p99_ms.toFixed(1)} ms,${r.classical_served_frac === undefined ? "" : ` classical-served ${(r.classical_served_frac * 100).toFixed(0)} %,`} cpu service ${r.cpu_service_pct.toFixed(0)} % loadgen ${r.cpu_loadgen_pct.toFixed(0)} % of a core, load ${r.load_avg_1m.toFixed(1)} -> ${sustains(r) ? "ok" : "no"}\n`,
    );
    const eng = Object.entries(r.engine);
    if (eng.length)
      process.stdout.write(
        `    engine p50/p99 ms: ${eng.map(([k, v]) => `${k} ${v.p50.toFixed(1)}/${v.p99.toFixed(1)}`).join(", ")}\n`,
      );
    return sustains(r);
  };
  // A count passes on a majority of `repeats` trials: at the margin one 8 s window flips from run to
  // run on a shared machine (README, issue 18 runs of 2026-12-06).
  const run = async (n: number) => {
    let pass = 0;
    let fail = 0;
    for (let k = 1; pass * 2 <= repeats && fail * 2 <= repeats; k++) {
      if (await once(n, k)) pass++;
      else fail++;
    }
    return pass * 2 > repeats;
  };
  let lo = 0; // largest passing
  let hi = 0; // smallest failing
  let n = Math.max(1, opts.vehicles ?? 1);
  const max = opts.quick ? 16 : 64;
  while (n <= max) {
    if (await run(n)) {
      lo = n;
      n *= 2;
    } else {
      hi = n;
      break;
    }
  }
  if (hi === 0) return { capacity: lo, trials };
  const steps = opts.quick ? 1 : 3;
  for (let i = 0; i < steps && hi - lo > 1; i++) {
    const mid = Math.floor((lo + hi) / 2);
    if (await run(mid)) lo = mid;
    else hi = mid;
  }
  return { capacity: lo, trials };
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const b = await broker();
  const file = rigFile();
  const out: Record<string, unknown> = {
    broker: b.name,
    rig: "nuscenes (zero transport delay)",
    criterion: "p99 e2e < 100 ms, 0 shed, ticks >= 95 %",
  };
  // the learned engine's model file, as the service picks it on the CPU provider
  const learned = loadRig(file).fusion.learned;
  const floatPath = learned.models_dir
    ? join(learned.models_dir, "fusion-intermediate.onnx")
    : defaultModelPath("intermediate");
  const served = servedModel(floatPath, learned.precision, true);
  out.learned_model = { file: basename(served.path), precision: served.precision };
  process.stdout.write(`  learned engine model: ${basename(served.path)} (${served.precision})\n`);
  try {
    const c = await search(b.url, file, "classical", opts);
    out.vehicles_classical = c.capacity;
    const l = await search(b.url, file, "intermediate", opts);
    out.vehicles_learned = l.capacity;
    out.trials = [...c.trials, ...l.trials].map(({ rss_mb: _r, mem: _m, ...t }) => t);
  } finally {
    await b.stop();
  }
  return out;
}
