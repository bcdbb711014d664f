/**
 * `fusion eval --data nuscenes:<dataroot>[#scene] | kitti:<path> [--models …] [--conditions …]
 * [--out FILE]`: the fusion engines on a real log with annotations (src/eval/real.ts); prints a
 * table naming the camera input and writes bench/results/eval-real.json in eval.json's shape
 * ({model: {condition: {mAP, ATE, AVE, ECE, AP_agnostic_2m, ...}}}).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createClassicalEngine } from "../fusion/classical/index.ts";
import { selectGuarded } from "../fusion/guard/select.ts";
import { createLearnedEngine, defaultModelPath } from "../fusion/learned/index.ts";
import type { ExecutionProvider } from "../fusion/learned/session.ts";
import type { FusionEngine } from "../fusion/types.ts";
import { KittiSource } from "../replay/kitti-source.ts";
import type { DerivedDetectionOptions } from "../replay/nuscenes.ts";
import { findVersionDir, type CameraMode, NuScenesSource } from "../replay/nuscenes-source.ts";
import type { ReplayItem } from "../replay/types.ts";
import { loadNuScenesRig } from "../rig/nuscenes.ts";
import type { RigConfig } from "../rig/schema.ts";
import { GuardTally, guardLines } from "./guard-tally.ts";
import type { FrameEval } from "./metrics.ts";
import {
  evaluateLog,
  REAL_CONDITIONS,
  REAL_SPLITS,
  type RealCondition,
  type RealSplit,
  type RealConditionResult,
  summarise,
} from "./real.ts";
import { EVAL_MODELS, type EvalModel } from "./run.ts";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));

export const REAL_EVAL_HELP = `Usage: fusion eval --data nuscenes:<dataroot>[#scene] | kitti:<path> [options]

Evaluate the fusion engines on a real log with annotations, in-process through the service's
stages (health, aligner, fusion with its tracker). nuScenes rules: 50 m range, boxes without a
LiDAR point or radar return not scored, classes the project does not model are ignore regions.
Prints a table and writes bench/results/eval-real.json ({model: {condition: {mAP, ATE, AVE, ECE,
AP_agnostic_2m, ...}}}).

Options:
  --data SPEC           nuscenes:<dataroot>[#scene] (all scenes without #) or kitti:<drive or object folder>
  --models m,...        ${EVAL_MODELS.join(",")} (default all; a learned model without its file is skipped)
  --conditions c,...    ${REAL_CONDITIONS.join(",")} (default all of them; weather cannot be applied to a log)
  --camera MODE         derived (2D boxes projected from the annotations, default) or none
  --derived-noise FRAC, --derived-miss P, --derived-fp N, --seed N
                        derived camera boxes: corner noise (fraction of size), miss probability,
                        false positives per frame, noise seed (defaults 0, 0, 0, 1)
  --kitti-calib DIR     KITTI raw: folder with calib_*.txt (default: beside the drive)
  --range M             scoring range around the ego, m (default 50)
  --classical JSON      overrides of the rig's fusion.classical section (parameter studies on --split val)
  --radar-filter        nuScenes: the devkit's default radar state filters (invalid_state 0, dyn_prop 0-6,
                        ambig_state 3), as \`fusion replay --radar-filter\`
  --split all|val|test  score all annotated instants, the first half of each log's (val: where
                        parameters are chosen) or the second half (test: held out); the engines
                        always run over the whole log
  --ep auto|cpu|webgpu|cuda   execution provider of the learned engines (default cpu)
  --models-dir DIR      where fusion-<model>.onnx live (default models/<rig>/ where the model is
                        there, e.g. models/nuscenes/ for nuScenes logs, else models/)
  --out FILE            output JSON (default bench/results/eval-real.json)
`;

class UsageError extends Error {
  readonly code = "E_USAGE";
}

interface LogRun {
  name: string;
  rig: RigConfig;
  items: ReplayItem[];
  cameraInput: string;
  skipped: number;
  unmodelled: Set<string>;
}

function list<T extends string>(v: string | undefined, allowed: readonly T[], what: string): T[] | undefined {
  if (v === undefined) return undefined;
  const xs = v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const x of xs)
    if (!allowed.includes(x as T))
      throw new UsageError(
        `unknown ${what} '${x}' (known: ${allowed.join(", ")}${what === "condition" ? "; weather cannot be applied to a log" : ""})`,
      );
  return xs as T[];
}

/** The logs of a --data spec, each with the rig from its own data. */
export function openLogs(
  spec: string,
  camera: CameraMode,
  kittiCalib?: string,
  derived: Partial<DerivedDetectionOptions> = {},
  radarFilter = false,
): LogRun[] {
  const warn = () => {};
  const unmodelledOf = (items: ReplayItem[]) =>
    new Set(
      items.flatMap((i) =>
        i.kind === "truth" ? i.extra.filter((e) => !e.modelled).map((e) => e.category) : [],
      ),
    );
  if (spec.startsWith("nuscenes:")) {
    const [root, scene] = spec.slice(9).split("#");
    if (!root) throw new UsageError("--data nuscenes:<dataroot>[#scene]: dataroot missing");
    const all = new NuScenesSource(root, {
      vehicle: "eval",
      scene: scene || "all",
      camera,
      derived,
      warn,
      radarFilter,
    });
    const dir = findVersionDir(root);
    return all.scenes.map((name) => {
      const src = new NuScenesSource(root, {
        vehicle: "eval",
        scene: name,
        camera,
        derived,
        warn,
        radarFilter,
      });
      const items = [...src.items()];
      return {
        name,
        rig: loadNuScenesRig(dir, { scene: name }),
        items,
        cameraInput: src.cameraInput,
        skipped: src.skipped.count,
        unmodelled: unmodelledOf(items),
      };
    });
  }
  if (spec.startsWith("kitti:")) {
    const src = new KittiSource(spec.slice(6), { vehicle: "eval", calib: kittiCalib, camera, warn });
    const items = [...src.items()];
    return [
      {
        name: spec.slice(6),
        rig: src.rig,
        items,
        cameraInput: src.cameraInput,
        skipped: src.skipped.count,
        unmodelled: unmodelledOf(items),
      },
    ];
  }
  throw new UsageError(`--data: expected nuscenes:<dataroot>[#scene] or kitti:<path>, got '${spec}'`);
}

export async function realEvalCommand(argv: string[]): Promise<number> {
  const { parseArgs } = await import("node:util");
  const options = {
    data: { type: "string" },
    models: { type: "string" },
    conditions: { type: "string" },
    camera: { type: "string", default: "derived" },
    "kitti-calib": { type: "string" },
    "derived-noise": { type: "string", default: "0" },
    "derived-miss": { type: "string", default: "0" },
    "derived-fp": { type: "string", default: "0" },
    seed: { type: "string", default: "1" },
    range: { type: "string", default: "50" },
    split: { type: "string", default: "all" },
    "radar-filter": { type: "boolean", default: false },
    classical: { type: "string" },
    ep: { type: "string", default: "cpu" },
    "models-dir": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", default: false },
  } as const;
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options }>>["values"];
  try {
    ({ values } = parseArgs({ args: argv, options }));
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!);
  }
  if (values.help) {
    process.stdout.write(REAL_EVAL_HELP);
    return 0;
  }
  if (!values.data) throw new UsageError("--data is required (nuscenes:<dataroot>[#scene] or kitti:<path>)");
  const camera = values.camera as CameraMode;
  if (camera !== "derived" && camera !== "none")
    throw new UsageError(`--camera: derived or none, got '${camera}'`);
  let classicalOverrides: Record<string, unknown> = {};
  if (values.classical !== undefined) {
    try {
      classicalOverrides = JSON.parse(values.classical) as Record<string, unknown>;
      if (
        classicalOverrides === null ||
        typeof classicalOverrides !== "object" ||
        Array.isArray(classicalOverrides)
      )
        throw new Error("not a JSON object");
    } catch (e) {
      throw new UsageError(`--classical: ${(e as Error).message}`);
    }
  }
  const classicalOf = (rig: RigConfig) =>
    ({ ...rig.fusion.classical, ...classicalOverrides }) as RigConfig["fusion"]["classical"];
  const split = values.split as RealSplit;
  if (!REAL_SPLITS.includes(split)) throw new UsageError(`--split: all, val or test, got '${values.split}'`);
  const rangeM = Number(values.range);
  if (!(rangeM > 0)) throw new UsageError(`--range: a positive number of metres, got '${values.range}'`);
  const ep = values.ep as ExecutionProvider;
  if (!["auto", "cpu", "webgpu", "cuda"].includes(ep)) throw new UsageError(`--ep: unknown provider '${ep}'`);
  const conditions = list(values.conditions, REAL_CONDITIONS, "condition") ?? [...REAL_CONDITIONS];
  let models = list(values.models, EVAL_MODELS, "model") ?? [...EVAL_MODELS];
  const dir = values["models-dir"];
  // the log's rig picks its own models (models/<rig>/, e.g. models/nuscenes/) where they exist
  const pathOf = (m: EvalModel, rig: RigConfig) =>
    dir ? join(dir, `fusion-${m}.onnx`) : defaultModelPath(m, rig.name);
  const t0 = performance.now();
  const num = (flag: string, v: string | undefined, max: number) => {
    const n = Number(v);
    if (v === undefined || v.trim() === "" || !(n >= 0 && n <= max))
      throw new UsageError(`--${flag}: a number in [0, ${max}], got '${v}'`);
    return n;
  };
  const derived: Partial<DerivedDetectionOptions> = {
    noiseFrac: num("derived-noise", values["derived-noise"], 1),
    pMiss: num("derived-miss", values["derived-miss"], 1),
    falsePositives: num("derived-fp", values["derived-fp"], 50),
    seed: Math.round(num("seed", values.seed, 2 ** 32 - 1)),
  };
  const logs = openLogs(values.data, camera, values["kitti-calib"], derived, values["radar-filter"]);
  const missing = models.filter(
    (m) => m !== "classical" && m !== "auto" && logs.some((l) => !existsSync(pathOf(m, l.rig))),
  );
  for (const m of missing)
    process.stderr.write(
      `eval: skipping ${m}: no model file ${logs.map((l) => pathOf(m, l.rig)).find((p) => !existsSync(p))} (run npm run train)\n`,
    );
  models = models.filter((m) => !missing.includes(m));
  const cameraInput = [...new Set(logs.map((l) => l.cameraInput))].join(", ");
  const unmodelled = [...new Set(logs.flatMap((l) => [...l.unmodelled]))].sort();
  process.stdout.write(
    `eval: ${values.data}: ${logs.map((l) => `${l.name} (${l.items.filter((i) => i.kind === "truth").length} annotated frames, ${l.skipped} files skipped)`).join(", ")}\n` +
      `eval: camera input: ${cameraInput.startsWith("derived:annotations") ? `${cameraInput}: 2D boxes projected from the 3D annotations, not a detector` : cameraInput}\n`,
  );
  const res: Record<string, Record<string, RealConditionResult>> = {};
  for (const model of models) {
    res[model] = {};
    for (const cond of conditions) {
      const frames: FrameEval[] = [];
      const tally = new GuardTally();
      let ignored = 0;
      let ticks = 0;
      let unscored = 0;
      for (const [k, log] of logs.entries()) {
        const model_ = model === "auto" ? "intermediate" : model;
        let engine: FusionEngine;
        if (model === "classical") engine = createClassicalEngine(log.rig, classicalOf(log.rig));
        else {
          // learned models behind their OOD guard: observed (the model is scored, the guard's
          // would-be fallbacks reported); `auto` serves classical where the guard says so
          const sel = await selectGuarded(
            model === "auto" ? "auto" : "intermediate",
            log.rig,
            pathOf(model_, log.rig),
            () =>
              createLearnedEngine(log.rig, {
                mode: model === "late" ? "late" : "intermediate",
                modelPath: pathOf(model_, log.rig),
                ep,
              }),
            () => createClassicalEngine(log.rig, classicalOf(log.rig)),
            model === "auto" ? "fallback" : "observe",
            model_,
          );
          if (cond === conditions[0] && k === 0)
            process.stdout.write(
              `eval: ${model}: ${relative(process.cwd(), pathOf(model_, log.rig))}: ${sel.summary.replace(/^fusion [a-z_]+: /, "")}\n`,
            );
          engine = sel.engine;
        }
        try {
          const r = await evaluateLog(
            log.rig,
            log.items,
            engine,
            cond as RealCondition,
            `eval-${cond}-${k}`,
            { rangeM, split },
            tally,
          );
          frames.push(...r.frames);
          ignored += r.ignored;
          ticks += r.ticks;
          unscored += r.unscored;
        } finally {
          await engine.close();
        }
      }
      res[model]![cond] = { ...summarise(frames, ignored, ticks, cameraInput, unscored), ...tally.figures() };
    }
    process.stdout.write(`eval: ${model} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  if (split !== "all")
    process.stdout.write(
      `eval: split ${split}: ${split === "val" ? "first" : "second"} half of each log's annotated instants scored (${split === "val" ? "validation: parameters are chosen here" : "held out"})\n`,
    );
  process.stdout.write(formatRealTable(res, conditions, cameraInput, unmodelled, rangeM));
  const first = Object.values(res)[0]?.[conditions[0]!];
  if (first)
    process.stdout.write(
      `scored ${first.frames} annotated frames; ${first.unscored_frames} annotated frames without LiDAR data in the log (absent files) not scored\n`,
    );
  const out = values.out ?? `${RESULTS}eval-real.json`;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(res, null, 2)}\n`);
  process.stdout.write(`eval: ${values.data} -> ${out}\n`);
  return 0;
}

const f = (v: number | undefined, d = 3) => (v === undefined || Number.isNaN(v) ? "-" : v.toFixed(d));

export function formatRealTable(
  res: Record<string, Record<string, RealConditionResult>>,
  conditions: readonly string[],
  cameraInput: string,
  unmodelled: string[],
  rangeM: number,
): string {
  const L: string[] = [];
  const cam = cameraInput.startsWith("derived:annotations")
    ? `camera boxes DERIVED from the annotations (not a detector; ${cameraInput})`
    : `camera input ${cameraInput}`;
  L.push(
    `\nReal-data evaluation, ${cam}; range ${rangeM} m; ignore regions (classes not modelled): ${unmodelled.join(", ") || "none"}`,
  );
  L.push("mAP / AP_agnostic_2m / precision@2m / recall@2m / ATE m / AVE m/s");
  L.push(["model".padEnd(13), ...conditions.map((c) => c.padStart(38))].join(""));
  for (const [m, byCond] of Object.entries(res))
    L.push(
      [
        m.padEnd(13),
        ...conditions.map((c) => {
          const r = byCond[c];
          return `${f(r?.mAP)}/${f(r?.AP_agnostic_2m)}/${f(r?.precision_2m, 2)}/${f(r?.recall_2m, 2)}/${f(r?.ATE, 2)}/${f(r?.AVE, 2)}`.padStart(
            38,
          );
        }),
      ].join(""),
    );
  L.push("\nAP per class (condition all; truths in brackets), AP by distance threshold 0.5/1/2/4 m");
  for (const [m, byCond] of Object.entries(res)) {
    const r = byCond["all"] ?? Object.values(byCond)[0];
    if (!r) continue;
    const cls = Object.entries(r.AP_by_class)
      .map(([k, v]) => `${k} ${f(r.AP[k])} (${v.truths})`)
      .join(", ");
    const th = ["0.5", "1", "2", "4"].map((t) => f(r.AP_by_threshold_m[t])).join("/");
    L.push(`${m.padEnd(13)} ${cls}; ${th}`);
  }
  L.push(...guardLines(res, conditions, 38));
  return `${L.join("\n")}\n`;
}
