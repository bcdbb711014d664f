/**
 * Rig map: which rig each vehicle has, so that one service fuses vehicles with different rigs.
 *
 * File (YAML or JSON), entries tried in order, first match wins:
 *   default: sim                     # optional: the rig of vehicles matching no entry (absent: refused)
 *   vehicles:
 *     - match: "truck-*"             # a vehicle id, or a pattern with * (any run) and ? (one char)
 *       rig: rigs/truck.yaml         # preset, file (relative to the map file) or dataset rig
 *     - match: sim-1
 *       rig: sim
 *
 * Errors name the file and the field (ConfigError, exit 2 in the CLI).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { loadRig, PRESETS } from "./load.ts";
import { ConfigError } from "./parse.ts";
import type { RigConfig } from "./schema.ts";

const rigMapSchema = z
  .object({
    default: z.string().min(1).optional(),
    vehicles: z
      .array(
        z
          .object({
            match: z
              .string()
              .min(1)
              .max(64)
              .regex(/^[A-Za-z0-9_.:*?-]+$/, "a vehicle id or pattern: letters, digits, _ - . : and * ?"),
            rig: z.string().min(1),
          })
          .strict(),
      )
      .default([]),
  })
  .strict()
  .refine((m) => m.default !== undefined || m.vehicles.length > 0, "a rig map needs 'default' or 'vehicles'");

export interface RigMap {
  /** The rig of a vehicle, or null when no entry matches and there is no default. */
  rigFor(vehicle: string): RigConfig | null;
  /** Every distinct rig of the map (by name), default first. */
  readonly rigs: readonly RigConfig[];
  readonly default: RigConfig | null;
}

/** `*` any run, `?` one character, everything else literal. */
export function patternToRegExp(p: string): RegExp {
  const esc = p
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${esc}$`);
}

/** Build a map from a parsed object; `resolveRig` loads a rig reference (preset, file, dataset). */
export function parseRigMap(obj: unknown, source: string, resolveRig: (ref: string) => RigConfig): RigMap {
  const r = rigMapSchema.safeParse(obj);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`${source}: ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
  }
  const byRef = new Map<string, RigConfig>();
  const load = (ref: string, field: string): RigConfig => {
    let rig = byRef.get(ref);
    if (!rig) {
      try {
        rig = resolveRig(ref);
      } catch (e) {
        throw new ConfigError(`${source}: ${field}: ${(e as Error).message}`);
      }
      byRef.set(ref, rig);
    }
    return rig;
  };
  const dflt = r.data.default ? load(r.data.default, "default") : null;
  const entries = r.data.vehicles.map((v, i) => ({
    re: patternToRegExp(v.match),
    rig: load(v.rig, `vehicles.${i}.rig`),
  }));
  const rigs = new Map<string, RigConfig>();
  if (dflt) rigs.set(dflt.name, dflt);
  for (const e of entries) {
    const seen = rigs.get(e.rig.name);
    if (seen && seen !== e.rig && JSON.stringify(seen) !== JSON.stringify(e.rig))
      throw new ConfigError(
        `${source}: two different rigs are named '${e.rig.name}': rig names must be unique`,
      );
    rigs.set(e.rig.name, e.rig);
  }
  return {
    rigFor(vehicle) {
      for (const e of entries) if (e.re.test(vehicle)) return e.rig;
      return dflt;
    },
    rigs: [...rigs.values()],
    default: dflt,
  };
}

/** Load a rig map file; rig files in it are relative to the map file. */
export function loadRigMap(path: string): RigMap {
  if (!existsSync(path)) throw new ConfigError(`rig map '${path}': no such file`);
  let obj: unknown;
  try {
    obj = YAML.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(`${path}: not valid YAML/JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  const base = dirname(path);
  return parseRigMap(obj, path, (ref) => {
    const isRef =
      (PRESETS as readonly string[]).includes(ref) || ref.startsWith("kitti:") || ref.startsWith("nuscenes:");
    return loadRig(isRef || isAbsolute(ref) ? ref : join(base, ref));
  });
}
