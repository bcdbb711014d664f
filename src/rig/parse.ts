/** Validate a parsed object as a rig; errors name the source, the field and the reason. */
import type { z } from "zod";
import { type RigConfig, rigSchema } from "./schema.ts";

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
