/**
 * soak: half the classical capacity (bench/results/capacity.json, else `--vehicles N`, else 2
 * vehicles) for `--duration SECONDS` (default 600: ten minutes). Event-loop lag p99, shed ticks,
 * the latency over the run, and resident memory:
 *
 *  - `rss_growth_pct` (the target): growth from the settled baseline to the end. The first
 *    `SETTLE_S` seconds of the window (after the 10 s warm-up) are the process reaching its working
 *    size: the V8 heap grows to its steady size (heap total 71 -> 83 -> 72 MB, settled by 60 s in the
 *    run of 2026-12-05), the buffers in flight with it. Baseline and end are medians of three
 *    samples each (15 s apart for 10 minutes), so one sample at a GC's high-water mark does not
 *    decide either end.
 *  - `rss_growth_pct_from_warmup` (shown beside it): end sample over the first sample of the
 *    window, the figure of earlier runs, warm-up included.
 *  - `rss_slope_mb_per_min`: least-squares slope over the settled part; a leak shows here as a
 *    steady rise, warm-up does not. `heap_used_slope_mb_per_min` the same for the V8 heap.
 *  - `rss_less_buffers_growth_pct` (a diagnostic, not the target): the same growth of RSS minus the
 *    live ArrayBuffers (sensor data received and not yet fused). When the machine cannot keep up,
 *    the backlog of ~0.7 MB sweeps at the sampling instant moves RSS by tens of MB either way; this
 *    figure says whether anything but that backlog grew.
 * Every memory sample (rss, heap used/total, external, array buffers) is in the result, so the
 * plateau can be checked, not taken on trust. `--quick`: 60 s.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { BenchOptions } from "../src/cli/bench.ts";
import { broker, rigFile, trial } from "./_headroom.ts";
import { median } from "./_stats.ts";

const CAPACITY = fileURLToPath(new URL("./results/capacity.json", import.meta.url));
/** Seconds of the window before the memory baseline (at most a quarter of the run). */
const SETTLE_S = 90;

function slope(ts: number[], ys: number[]): number {
  const n = ts.length;
  if (n < 2) return Number.NaN;
  const mt = ts.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (ts[i]! - mt) * (ys[i]! - my);
    den += (ts[i]! - mt) ** 2;
  }
  return den > 0 ? num / den : Number.NaN;
}

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
  const settleS = Math.min(SETTLE_S, durationS / 4);
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
      rssEveryS: Math.max(5, Math.round(durationS / 40)),
      log: (l) => process.stdout.write(`${l}\n`),
    });
    const settled = r.mem.filter((m) => m.t_s >= settleS);
    const base = median(settled.slice(0, 3).map((m) => m.rss));
    const end = median(settled.slice(-3).map((m) => m.rss));
    const perMin = (k: "rss" | "heap_used") =>
      slope(
        settled.map((m) => m.t_s / 60),
        settled.map((m) => m[k]),
      );
    const own = (ms: typeof settled) => median(ms.map((m) => m.rss - m.array_buffers));
    const ownBase = own(settled.slice(0, 3));
    const ownEnd = own(settled.slice(-3));
    return {
      broker: b.name,
      vehicles,
      vehicles_from: from,
      duration_s: durationS,
      rss_growth_pct: ((end - base) / base) * 100,
      rss_baseline_mb: base,
      rss_baseline_from_s: settled[0]?.t_s,
      rss_end_mb: end,
      rss_slope_mb_per_min: perMin("rss"),
      heap_used_slope_mb_per_min: perMin("heap_used"),
      rss_less_buffers_growth_pct: ((ownEnd - ownBase) / ownBase) * 100,
      array_buffers_baseline_mb: median(settled.slice(0, 3).map((m) => m.array_buffers)),
      array_buffers_end_mb: median(settled.slice(-3).map((m) => m.array_buffers)),
      rss_growth_pct_from_warmup: ((r.rss_end_mb - r.rss_start_mb) / r.rss_start_mb) * 100,
      rss_start_mb: r.rss_start_mb,
      rss_last_sample_mb: r.rss_end_mb,
      loop_lag_p99_ms: r.loop_lag_p99_ms,
      shed_ticks: r.shed,
      tick_ratio: r.tick_ratio,
      e2e_p50_ms: r.e2e_p50_ms,
      e2e_p99_ms: r.e2e_p99_ms,
      e2e_max_ms: r.e2e_max_ms,
      frames: r.frames,
      cpu_service_pct: r.cpu_service_pct,
      load_avg_1m: r.load_avg_1m,
      // opt-in allocator tuning of the service, recorded when set (docs/DECISIONS.md H1)
      malloc_mmap_threshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? null,
      mem_mb: r.mem.map((m) =>
        Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v * 10) / 10])),
      ),
    };
  } finally {
    await b.stop();
  }
}
