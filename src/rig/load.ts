/** Load and validate rig files and presets. Errors name the file, the field and the reason. */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import type { z } from "zod";
import { loadKittiRig } from "./kitti.ts";
import { loadNuScenesRig } from "./nuscenes.ts";
import { type RigConfig, rigSchema } from "./schema.ts";

export const PRESETS = ["sim", "nuscenes", "kitti"] as const;
export type Preset = (typeof PRESETS)[number];

const presetPath = (name: string) =>
  fileURLToPath(new URL(`../../config/rigs/${name}.yaml`, import.meta.url));

export class ConfigError extends Error {
  readonly code = "E_CONFIG";
}

/** Every problem of the file on one line: `source: a.b: msg; c: msg (2 problems)` (at most 20 shown). */
function formatIssues(source: string, err: z.ZodError): string {
  const shown = err.issues.slice(0, 20).map((i) => {
    const path = i.path.length ? i.path.join(".") : "(root)";
    return `${path}: ${i.message.replace(/\s+/g, " ")}`;
  });
  const rest = err.issues.length - shown.length;
  if (err.issues.length === 1) return `${source}: ${shown[0]}`;
  return `${source}: ${shown.join("; ")}${rest > 0 ? `; and ${rest} more` : ""} (${err.issues.length} problems)`;
}

/** Validate an already-parsed object as a rig; throws ConfigError naming the field. */
export function parseRig(obj: unknown, source = "rig"): RigConfig {
  const r = rigSchema.safeParse(obj);
  if (!r.success) throw new ConfigError(formatIssues(source, r.error));
  return r.data;
}

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
  return parseRig(obj, nameOrPath);
}
