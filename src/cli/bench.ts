/**
 * `fusion bench [suite ...]`: runs benchmark suites from bench/<suite>.ts. Each suite exports
 * `run(opts): Promise<Record<string, unknown>>`; the result is printed and written to
 * bench/results/<suite>.json. Suites measure; they never assert.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { EP_CHOICES, type EpChoice } from "../fusion/index.ts";
import { helpText, numFlag, oneOf, parseFlags, UsageError } from "./args.ts";

const BENCH_DIR = fileURLToPath(new URL("../../bench/", import.meta.url));

export interface BenchOptions {
  /** Quick mode: fewer repetitions (for smoke runs). */
  quick: boolean;
  /** Execution provider for the inference suite. Default cpu (the figures the targets are about). */
  ep: EpChoice;
  /** Run length of a duration-based suite (soak), s; undefined: the suite's default. */
  durationS?: number;
  /** Vehicles for a load suite (soak; capacity starts its search there). */
  vehicles?: number;
}

export type BenchSuite = (opts: BenchOptions) => Promise<Record<string, unknown>>;

export function listSuites(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(".ts") && !f.startsWith("_"))
    .map((f) => f.slice(0, -3))
    .sort();
}

const SPECS = {
  quick: { type: "boolean" as const, help: "fewer repetitions (smoke run)" },
  ep: {
    type: "string" as const,
    arg: "EP",
    help: `provider for the inference suite: ${EP_CHOICES.join("|")}; other than cpu, results go to <suite>-<ep>.json`,
    default: "cpu",
  },
  duration: {
    type: "string" as const,
    arg: "SECONDS",
    help: "run length of the soak suite (default 600; --quick 60)",
  },
  vehicles: {
    type: "string" as const,
    arg: "N",
    help: "vehicles for soak (default: half of bench/results/capacity.json); capacity starts its search at N",
  },
};

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags(argv, SPECS, true);
  const all = listSuites();
  if (help) {
    process.stdout.write(
      helpText(
        "bench [suite ...]",
        "Run benchmark suites; results go to bench/results/<suite>.json.",
        SPECS,
        `\nSuites: ${all.join(", ")}\n`,
      ),
    );
    return 0;
  }
  const ep = oneOf("ep", values.ep, EP_CHOICES);
  const durationS =
    values.duration === undefined ? undefined : numFlag("duration", values.duration, { min: 1, max: 86_400 });
  const vehicles =
    values.vehicles === undefined
      ? undefined
      : numFlag("vehicles", values.vehicles, { min: 1, max: 1000, int: true });
  const suites = positionals.length ? positionals : all;
  for (const s of suites)
    if (!all.includes(s)) throw new UsageError(`unknown suite '${s}' (suites: ${all.join(", ")})`);
  mkdirSync(`${BENCH_DIR}/results`, { recursive: true });
  for (const s of suites) {
    const mod = (await import(pathToFileURL(`${BENCH_DIR}${s}.ts`).href)) as { run: BenchSuite };
    process.stdout.write(`\n== bench ${s} ==\n`);
    const t0 = performance.now();
    const result = await mod.run({ quick: Boolean(values.quick), ep, durationS, vehicles });
    const out = {
      suite: s,
      date: new Date().toISOString(),
      duration_s: (performance.now() - t0) / 1000,
      ...result,
    };
    const file = ep === "cpu" ? `${s}.json` : `${s}-${ep}.json`;
    writeFileSync(`${BENCH_DIR}/results/${file}`, `${JSON.stringify(out, null, 2)}\n`);
    const num = (v: number) => (Number.isInteger(v) ? v : v.toPrecision(4));
    for (const [k, v] of Object.entries(result)) {
      if (typeof v === "number") process.stdout.write(`  ${k.padEnd(36)} ${num(v)}\n`);
      else if (typeof v === "string") process.stdout.write(`  ${k.padEnd(36)} ${v}\n`);
      else if (v && typeof v === "object" && !Array.isArray(v) && k.startsWith("by_"))
        // one level of named groups (e.g. by_precision.fp32.p50_ms)
        for (const [g, o] of Object.entries(v as Record<string, unknown>))
          for (const [k2, v2] of Object.entries(o as Record<string, unknown>))
            if (typeof v2 === "number") process.stdout.write(`  ${`${g}.${k2}`.padEnd(36)} ${num(v2)}\n`);
    }
    process.stdout.write(`  -> bench/results/${file}\n`);
  }
  return 0;
}
