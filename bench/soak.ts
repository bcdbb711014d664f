/**
 * soak: half the classical capacity (bench/results/capacity.json, else `--vehicles N`, else 2
 * vehicles) for `--duration SECONDS` (default 600: ten minutes). Resident memory growth from the
 * end of warm-up (after a GC when exposed) to the end, event-loop lag p99, shed ticks, and the
 * latency over the run. `--quick`: 60 s.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { BenchOptions } from "../src/cli/bench.ts";
import { broker, rigFile, trial } from "./_headroom.ts";

const CAPACITY = fileURLToPath(new URL("./results/capacity.json", import.meta.url));

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  let vehicles = opts.vehicles;
  let from = "--vehicles";
  if (vehicles === undefined && existsSync(CAPACITY)) {
    const cap = JSON.parse(readFileSync(CAPACITY, "utf8")).vehicles_classical as number;
    if (cap > 0) {
      vehicles = Math.max(1, Math.floor(cap / 2));
      from = `half of capacity ${cap} (bench/results/capacity.json)`;
    }
  }
  if (vehicles === undefined) {
    vehicles = 2;
    from = "default (no capacity result yet)";
  }
  const durationS = opts.durationS ?? (opts.quick ? 60 : 600);
  const b = await broker();
  process.stdout.write(`  ${vehicles} vehicles (${from}), ${durationS} s, broker ${b.name}\n`);
  try {
    const r = await trial({
      brokerUrl: b.url,
      rigFile: rigFile(),
      fusion: "classical",
      vehicles,
      warmS: 10,
      windowS: durationS,
      rssEveryS: Math.max(5, Math.round(durationS / 20)),
      log: (l) => process.stdout.write(`${l}\n`),
    });
    return {
      broker: b.name,
      vehicles,
      vehicles_from: from,
      duration_s: durationS,
      rss_growth_pct: ((r.rss_end_mb - r.rss_start_mb) / r.rss_start_mb) * 100,
      rss_start_mb: r.rss_start_mb,
      rss_end_mb: r.rss_end_mb,
      loop_lag_p99_ms: r.loop_lag_p99_ms,
      shed_ticks: r.shed,
      tick_ratio: r.tick_ratio,
      e2e_p50_ms: r.e2e_p50_ms,
      e2e_p99_ms: r.e2e_p99_ms,
      e2e_max_ms: r.e2e_max_ms,
      frames: r.frames,
      rss_mb: r.rss_mb.map((x) => Math.round(x)),
      mem_mb: r.mem.map((m) =>
        Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v * 10) / 10])),
      ),
      cpu_service_pct: r.cpu_service_pct,
      load_avg_1m: r.load_avg_1m,
    };
  } finally {
    await b.stop();
  }
}
