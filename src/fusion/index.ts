/** Fusion strategy chosen by config (`--fusion`): classical baseline, a learned engine, or auto. */
import type { RigConfig } from "../rig/schema.ts";
import type { Logger } from "../util/log.ts";
import type { FusionEngine, FusionMode } from "./types.ts";

export type EpChoice = "auto" | "cpu" | "webgpu" | "cuda";
export const FUSION_MODES: readonly FusionMode[] = ["auto", "intermediate", "late", "classical"];
export const EP_CHOICES: readonly EpChoice[] = ["auto", "cpu", "webgpu", "cuda"];

/**
 * The engine of a mode. Learned modes run behind the out-of-distribution guard (src/fusion/guard):
 * per vehicle, input unlike the model's training data is served by the classical engine instead.
 */
export async function createEngine(
  mode: FusionMode,
  rig: RigConfig,
  opts: { ep: EpChoice; logger?: Logger; modelPath?: string },
): Promise<FusionEngine> {
  const { createClassicalEngine } = await import("./classical/index.ts");
  if (mode === "classical") return createClassicalEngine(rig, rig.fusion.classical);
  const [{ createLearnedEngine, defaultModelPath }, { learnedEngineOptionsOf }, { selectGuarded }] =
    await Promise.all([
      import("./learned/index.ts"),
      import("./learned/config.ts"),
      import("./guard/select.ts"),
    ]);
  const model = mode === "auto" ? "intermediate" : mode;
  // the rig's `fusion.learned` section (models, batching, calibration, decoder, tracker)
  const fromRig = learnedEngineOptionsOf(rig.fusion.learned, model);
  const modelPath = opts.modelPath ?? fromRig.modelPath ?? defaultModelPath(model, rig.name);
  // learned modes run behind the OOD guard (src/fusion/guard): per vehicle, input unlike the
  // model's training data is served by the classical engine, and every frame says which
  const sel = await selectGuarded(
    mode,
    rig,
    modelPath,
    () => createLearnedEngine(rig, { ...fromRig, mode: model, modelPath, ep: opts.ep }),
    () => createClassicalEngine(rig, rig.fusion.classical),
  );
  if (opts.logger) opts.logger.log("info", sel.summary);
  else process.stderr.write(`${sel.summary}\n`);
  return sel.engine;
}
