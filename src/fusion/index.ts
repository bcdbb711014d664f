/** Fusion strategy chosen by config (`--fusion`): classical baseline or a learned engine. */
import type { RigConfig } from "../rig/schema.ts";
import type { Logger } from "../util/log.ts";
import type { FusionEngine, FusionMode } from "./types.ts";

export type EpChoice = "auto" | "cpu" | "webgpu" | "cuda";
export const FUSION_MODES: readonly FusionMode[] = ["intermediate", "late", "classical"];
export const EP_CHOICES: readonly EpChoice[] = ["auto", "cpu", "webgpu", "cuda"];

export async function createEngine(
  mode: FusionMode,
  rig: RigConfig,
  opts: { ep: EpChoice; logger?: Logger },
): Promise<FusionEngine> {
  if (mode === "classical") {
    const { createClassicalEngine } = await import("./classical/index.ts");
    return createClassicalEngine(rig, rig.fusion.classical);
  }
  const [{ createLearnedEngine }, { learnedEngineOptionsOf }] = await Promise.all([
    import("./learned/index.ts"),
    import("./learned/config.ts"),
  ]);
  // the rig's `fusion.learned` section (models, batching, calibration, decoder, tracker)
  return createLearnedEngine(rig, { ...learnedEngineOptionsOf(rig.fusion.learned, mode), mode, ep: opts.ep });
}
