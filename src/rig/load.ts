/** Load and validate rig files and presets. Errors name the file, the field and the reason. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { resolveModelsDir } from "../fusion/learned/config.ts";
import { loadKittiRig } from "./kitti.ts";
import { loadNuScenesRig } from "./nuscenes.ts";
import { ConfigError, parseRig } from "./parse.ts";
import type { RigConfig } from "./schema.ts";

// parsing lives in ./parse.ts (the dataset readers use it too, without a cycle through this module)
export { ConfigError, parseRig } from "./parse.ts";

export const PRESETS = ["sim", "nuscenes", "kitti"] as const;
export type Preset = (typeof PRESETS)[number];

const presetPath = (name: string) =>
  fileURLToPath(new URL(`../../config/rigs/${name}.yaml`, import.meta.url));

/**
 * Load a rig from a preset name (`sim`, `nuscenes`, `kitti`), a YAML/JSON file path, or a dataset
 * calibration: `kitti:<calib folder or object calib .txt>`, `nuscenes:<table folder>[#<scene name>]`.
 */
export function loadRig(nameOrPath: string): RigConfig {
  if (nameOrPath.startsWith("kitti:")) return loadKittiRig(nameOrPath.slice(6));
  if (nameOrPath.startsWith("nuscenes:")) {
    const [dir, scene] = nameOrPath.slice(9).split("#");
    return loadNuScenesRig(dir!, scene ? { scene } : {});
  }
  const isPreset = (PRESETS as readonly string[]).includes(nameOrPath);
  const file = isPreset ? presetPath(nameOrPath) : nameOrPath;
  if (!existsSync(file))
    throw new ConfigError(`rig '${nameOrPath}': no such file or preset (presets: ${PRESETS.join(", ")})`);
  let obj: unknown;
  try {
    obj = YAML.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`${nameOrPath}: not valid YAML/JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  const rig = parseRig(obj, nameOrPath);
  // a relative models folder of the learned engines is the rig file's
  rig.fusion.learned = resolveModelsDir(rig.fusion.learned, dirname(resolve(file)));
  return rig;
}
