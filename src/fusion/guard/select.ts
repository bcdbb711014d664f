/**
 * Engine selection behind the out-of-distribution guard: `--fusion auto` and the guarded learned
 * modes (docs/fusion-learned.md "Out-of-distribution guard").
 *
 * - `intermediate` / `late`: the model behind its guard, falling back to the classical engine per
 *   vehicle; a model file without training statistics is served unguarded, and every frame says so
 *   (guard state `unguarded`).
 * - `auto`: the intermediate model behind its guard where the model file exists, carries training
 *   statistics and was trained on this rig; otherwise the classical engine, every frame saying why.
 */
import { existsSync } from "node:fs";
import { basename } from "node:path";
import type { RigConfig } from "../../rig/schema.ts";
import { DEFAULT_GRID } from "../bev/grid.ts";
import { loadModelContract } from "../learned/contract.ts";
import type { FusionEngine, FusionMode, FusionResult } from "../types.ts";
import { createGuardedEngine } from "./engine.ts";
import { type GuardStatus, parseOodReference } from "./ood.ts";

/** Rig name of a model's training data (metadata `training.dataset.rig`), or null. */
export function trainingRigOfMeta(meta: Record<string, string>): string | null {
  try {
    const t = JSON.parse(meta["training"] ?? "null") as { dataset?: { rig?: string } } | null;
    return t?.dataset?.rig ?? null;
  } catch {
    return null;
  }
}

/** An engine served as is, every result carrying a fixed guard status (why it is not guarded). */
export function withFixedGuard(engine: FusionEngine, mode: FusionMode, status: GuardStatus): FusionEngine {
  return {
    mode,
    async fuse(tick, health): Promise<FusionResult> {
      return { ...(await engine.fuse(tick, health)), guard: { ...status } };
    },
    release: (v) => engine.release?.(v),
    close: () => engine.close(),
  };
}

const fixed = (state: GuardStatus["state"], served: string, reason: string): GuardStatus => ({
  state,
  served,
  distance: Number.NaN,
  distances: {},
  modality: "",
  feature: "",
  threshold: Number.NaN,
  fallbacks: 0,
  reason,
});

export interface GuardedSelection {
  engine: FusionEngine;
  /** One line: what is served and why. */
  summary: string;
}

/**
 * The engine of a guarded mode. `makeLearned` builds the learned engine of a model file,
 * `makeClassical` the classical one (injected: the CLI and the evaluation build them their way).
 */
export async function selectGuarded(
  mode: "intermediate" | "late" | "auto",
  rig: RigConfig,
  modelPath: string,
  makeLearned: () => Promise<FusionEngine>,
  makeClassical: () => FusionEngine,
  serve: "fallback" | "observe" = "fallback",
  /** Model name in messages (default the mode's model). */
  modelName?: string,
): Promise<GuardedSelection> {
  const model = modelName ?? (mode === "auto" ? "intermediate" : mode);
  const classicalOnly = (reason: string): GuardedSelection => ({
    engine: withFixedGuard(makeClassical(), mode, fixed("fallback", "classical", reason)),
    summary: `fusion ${mode}: classical engine (${reason})`,
  });
  if (!existsSync(modelPath)) {
    if (mode === "auto") return classicalOnly(`no model file ${modelPath}`);
    throw new Error(`model ${modelPath}: no such file (run npm run train)`);
  }
  const contract = loadModelContract(modelPath, DEFAULT_GRID);
  let reference: ReturnType<typeof parseOodReference>;
  try {
    reference = parseOodReference(contract.meta);
  } catch (e) {
    throw new Error(`model ${modelPath}: ${(e as Error).message}`);
  }
  const trained = trainingRigOfMeta(contract.meta);
  if (mode === "auto") {
    if (trained !== rig.name)
      return classicalOnly(`rig '${rig.name}' is not the model's training rig '${trained ?? "unknown"}'`);
    if (!reference) return classicalOnly(`model ${contract.name} carries no training statistics`);
  }
  const learned = await makeLearned();
  // which file of the model is served (the learned engine's `served`: float or int8)
  const served = (learned as { served?: { path: string; precision: string } }).served;
  const file = served ? ` [${served.precision}: ${basename(served.path)}]` : "";
  if (!reference)
    return {
      engine: withFixedGuard(
        learned,
        mode,
        fixed("unguarded", model, `model ${contract.name} carries no training statistics: served unguarded`),
      ),
      summary: `fusion ${mode}: model ${model}${file} UNGUARDED (the model file carries no training statistics; train/ood-stats.ts adds them)`,
    };
  const engine = createGuardedEngine({
    learned,
    modelModalities: contract.modalities,
    reference,
    classical: serve === "fallback" ? makeClassical() : undefined,
    serve,
    mode,
  });
  const t = reference.thresholds;
  return {
    engine,
    summary: `fusion ${mode}: model ${model}${file} behind its OOD guard (falls back to classical above distance ${t.on} for ${t.enter_s} s, back below ${t.off} for ${t.exit_s} s)`,
  };
}
