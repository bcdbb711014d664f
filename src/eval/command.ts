/**
 * `fusion eval` / `npm run eval -- [--seeds a,b,c] [--scenarios urban,...] [--conditions all,fog,...]
 * [--models classical,...] [--duration-s S] [--rig preset|file]`: evaluates the fusion engines on
 * held-out simulated runs, prints a table and writes bench/results/eval.json
 * ({model: {condition: {mAP, ATE, AVE, ECE, ...}}}).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClassicalEngine } from "../fusion/classical/index.ts";
import { EVAL_SEEDS, FIRST_EVAL_SEED } from "./seeds.ts";
import { selectGuarded } from "../fusion/guard/select.ts";
import { guardLines } from "./guard-tally.ts";
import { createLearnedEngine, defaultModelPath } from "../fusion/learned/index.ts";
import { learnedEngineOptionsOf } from "../fusion/learned/config.ts";
import type { DecodeOptions } from "../fusion/learned/decode.ts";
import { MODEL_PRECISIONS, type ModelPrecision } from "../fusion/learned/precision.ts";
import type { TrackerConfigInput } from "../fusion/tracker/index.ts";
import type { ExecutionProvider } from "../fusion/learned/session.ts";
import { loadRig } from "../rig/load.ts";
import {
  EVAL_CONDITIONS,
  EVAL_MODELS,
  type EvalCondition,
  type EvalSource,
  type EvalModel,
  type EvalResults,
  runEvaluation,
} from "./run.ts";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));

export const evalHelp = (scenarios: readonly string[]) => `Usage: fusion eval [options]

Evaluate the fusion engines on held-out simulated runs; prints a table and writes
bench/results/eval.json ({model: {condition: {mAP, ATE, AVE, ECE}}}).

Options:
  --seeds a,b,c         simulation seeds (default ${EVAL_SEEDS.join(",")}; seeds below ${FIRST_EVAL_SEED} may overlap training data)
  --scenarios s,...     ${scenarios.join(",")} (default: each seed's own scenario)
  --conditions c,...    ${EVAL_CONDITIONS.join(",")} (default all of them)
  --models m,...        ${EVAL_MODELS.join(",")} (default all; a learned model without its file is skipped)
  --duration-s S        simulated seconds per run (default 20)
  --rig preset|file     rig (default sim; the shipped models are trained on it)
  --ep auto|cpu|webgpu|cuda   execution provider of the learned engines (default cpu)
  --out FILE            output JSON (default bench/results/eval.json)
  --models-dir DIR      where fusion-<model>.onnx live (default: the rig's fusion.learned.models_dir, else models/<rig>/
                        where the model is there, else models/)
  --precision P         auto|fp32|int8: float model or its int8 file fusion-<model>.int8.onnx
                        (default the rig's fusion.learned.precision, auto: int8 on CPU when present)
  --decode JSON         override decode options of the learned engines, e.g. '{"score_threshold":0.05}'
  --tracker JSON        override tracker options of the learned engines, e.g. '{"max_coast_ms":900}'
  --classical JSON      override the rig's fusion.classical options of the classical engine (parameter studies on seeds < 9000)
  --raw                 also score learned detections before tracking (as <model>:raw)
  --data SPEC           evaluate on a real log instead: nuscenes:<dataroot>[#scene] | kitti:<path>
                        (fusion eval --data x --help for its options)
`;

class UsageError extends Error {
  readonly code = "E_USAGE";
}

function list<T extends string>(v: string | undefined, allowed: readonly T[], what: string): T[] | undefined {
  if (v === undefined) return undefined;
  const xs = v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const x of xs)
    if (!allowed.includes(x as T))
      throw new UsageError(`unknown ${what} '${x}' (known: ${allowed.join(", ")})`);
  return xs as T[];
}

/**
 * `fusion eval`. The simulated runs come from `source`, which the CLI wires (sim/runs.ts); this
 * module imports no simulator. Real logs (`--data`) have a command of their own (./real-command.ts).
 */
export async function evalCommand(argv: string[], source: EvalSource): Promise<number> {
  if (argv.includes("--gap")) return (await import("./gap-command.ts")).gapCommand(argv, source);
  if (argv.some((a) => a === "--data" || a.startsWith("--data=")))
    return (await import("./real-command.ts")).realEvalCommand(argv);
  const options = {
    seeds: { type: "string" },
    scenarios: { type: "string" },
    conditions: { type: "string" },
    models: { type: "string" },
    "duration-s": { type: "string", default: "20" },
    rig: { type: "string", default: "sim" },
    ep: { type: "string", default: "cpu" },
    out: { type: "string" },
    "models-dir": { type: "string" },
    precision: { type: "string" },
    raw: { type: "boolean", default: false },
    decode: { type: "string" },
    tracker: { type: "string" },
    classical: { type: "string" },
    help: { type: "boolean", default: false },
  } as const;
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options }>>["values"];
  try {
    ({ values } = parseArgs({ args: argv, options }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(evalHelp(source.scenarios));
    return 0;
  }
  const seeds = values.seeds ? values.seeds.split(",").map((s) => Number(s.trim())) : [...EVAL_SEEDS];
  if (seeds.some((s) => !Number.isInteger(s) || s < 0))
    throw new UsageError(`--seeds: integers expected, got '${values.seeds}'`);
  const durationS = Number(values["duration-s"]);
  if (!(durationS >= 3)) throw new UsageError("--duration-s: at least 3 s");
  const ep = values.ep as ExecutionProvider;
  const precision = values.precision as ModelPrecision | undefined;
  if (precision !== undefined && !MODEL_PRECISIONS.includes(precision))
    throw new UsageError(`--precision: ${MODEL_PRECISIONS.join(", ")}, got '${values.precision}'`);
  if (!["auto", "cpu", "webgpu", "cuda"].includes(ep)) throw new UsageError(`--ep: unknown provider '${ep}'`);
  const jsonOpt = <T>(flag: string, v: string | undefined): T => {
    if (v === undefined) return {} as T;
    try {
      const o = JSON.parse(v) as unknown;
      if (o === null || typeof o !== "object" || Array.isArray(o)) throw new Error("not a JSON object");
      return o as T;
    } catch (e) {
      throw new UsageError(`--${flag}: ${(e as Error).message}`);
    }
  };
  const decode = jsonOpt<Partial<DecodeOptions>>("decode", values.decode);
  const tracker = jsonOpt<TrackerConfigInput>("tracker", values.tracker);
  const classicalOverrides = jsonOpt<Record<string, unknown>>("classical", values.classical);
  const rig = loadRig(values.rig!);
  let models = list(values.models, EVAL_MODELS, "model") ?? [...EVAL_MODELS];
  const dir = values["models-dir"] ?? rig.fusion.learned.models_dir;
  const pathOf = (m: EvalModel) => (dir ? join(dir, `fusion-${m}.onnx`) : defaultModelPath(m, rig.name));
  const fileOf = (m: EvalModel) => pathOf(m === "auto" ? "intermediate" : m);
  const missing = models.filter((m) => m !== "classical" && m !== "auto" && !existsSync(fileOf(m)));
  for (const m of missing)
    process.stderr.write(`eval: skipping ${m}: no model file ${pathOf(m)} (run npm run train)\n`);
  models = models.filter((m) => !missing.includes(m));
  const plan = {
    seeds,
    scenarios: list(values.scenarios, source.scenarios, "scenario") ?? (null as string[] | null),
    conditions: list(values.conditions, EVAL_CONDITIONS, "condition") ?? [...EVAL_CONDITIONS],
    models,
    durationS,
    warmupS: 1.5,
    raw: values.raw,
  };
  const t0 = performance.now();
  const res = await runEvaluation(
    rig,
    plan,
    async (m) => {
      if (m === "classical")
        return createClassicalEngine(rig, { ...rig.fusion.classical, ...classicalOverrides });
      // learned models behind their OOD guard: observed (the model is scored, the guard's would-be
      // fallbacks reported); `auto` serves classical where the guard falls back
      const model = m === "auto" ? "intermediate" : m;
      const sel = await selectGuarded(
        m === "auto" ? "auto" : "intermediate",
        rig,
        pathOf(model),
        () =>
          createLearnedEngine(rig, {
            // the rig's fusion.learned section, then the command line's overrides
            ...learnedEngineOptionsOf(rig.fusion.learned, m === "late" ? "late" : "intermediate"),
            mode: m === "late" ? "late" : "intermediate",
            modelPath: pathOf(model),
            ep,
            ...(precision ? { precision } : {}),
            decode: { ...rig.fusion.learned.decode, ...decode },
            tracker: { ...rig.fusion.learned.tracker, ...tracker },
          }),
        () => createClassicalEngine(rig, rig.fusion.classical),
        m === "auto" ? "fallback" : "observe",
        model,
      );
      process.stdout.write(`eval: ${m}: ${sel.summary.replace(/^fusion [a-z_]+: /, "")}\n`);
      return sel.engine;
    },
    source,
    (l) => process.stdout.write(`eval: ${l}\n`),
  );
  process.stdout.write(formatTable(res, plan.conditions));
  const out = values.out ?? `${RESULTS}eval.json`;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(res, null, 2)}\n`);
  process.stdout.write(
    `eval: seeds ${seeds.join(",")}, ${((performance.now() - t0) / 1000).toFixed(0)} s -> ${out}\n`,
  );
  return 0;
}

const f = (v: number | undefined, d = 3) => (v === undefined || Number.isNaN(v) ? "-" : v.toFixed(d));

export function formatTable(res: EvalResults, conditions: readonly EvalCondition[]): string {
  const models = Object.keys(res);
  const lines: string[] = [];
  lines.push(`\nmAP (nuScenes-style, centre distance 0.5/1/2/4 m)`);
  lines.push(["model".padEnd(13), ...conditions.map((c) => c.padStart(10))].join(""));
  for (const m of models)
    lines.push([m.padEnd(13), ...conditions.map((c) => f(res[m]![c]?.mAP).padStart(10))].join(""));
  lines.push(`\nATE m / AVE m/s / ECE`);
  lines.push(["model".padEnd(13), ...conditions.map((c) => c.padStart(17))].join(""));
  for (const m of models)
    lines.push(
      [
        m.padEnd(13),
        ...conditions.map((c) => {
          const r = res[m]![c];
          return `${f(r?.ATE, 2)}/${f(r?.AVE, 2)}/${f(r?.ECE, 2)}`.padStart(17);
        }),
      ].join(""),
    );
  const gated = models.filter((m) => res[m]!["all"]?.gates);
  if (gated.length) {
    lines.push(`\nmean gates lidar/radar/camera`);
    for (const m of gated)
      lines.push(
        [
          m.padEnd(13),
          ...conditions.map((c) => {
            const g = res[m]![c]?.gates;
            return (g ? `${f(g.lidar, 2)}/${f(g.radar, 2)}/${f(g.camera, 2)}` : "-").padStart(17);
          }),
        ].join(""),
      );
  }
  lines.push(...guardLines(res, conditions));
  return `${lines.join("\n")}\n`;
}
