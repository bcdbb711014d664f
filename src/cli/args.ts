/** Small flag parser on node:util parseArgs: strict, with help text per flag and one-line errors. */
import { parseArgs } from "node:util";

export class UsageError extends Error {
  readonly code = "E_USAGE";
}

export interface FlagSpec {
  type: "string" | "boolean";
  help: string;
  default?: string | boolean;
  short?: string;
  /** Placeholder shown in help, e.g. URL. */
  arg?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export function helpText(cmd: string, summary: string, specs: FlagSpecs, extra = ""): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const lhs = `  ${s.short ? `-${s.short}, ` : ""}--${name}${s.type === "string" ? ` ${s.arg ?? "VALUE"}` : ""}`;
    const def = s.default !== undefined && s.default !== false ? ` (default: ${s.default})` : "";
    return `${lhs.padEnd(34)} ${s.help}${def}`;
  });
  return `Usage: fusion ${cmd} [options]\n\n${summary}\n\nOptions:\n${rows.join("\n")}\n  ${"-h, --help".padEnd(32)} show this help\n${extra}`;
}

export function parseFlags(
  argv: string[],
  specs: FlagSpecs,
  allowPositionals = false,
): { values: Record<string, string | boolean | undefined>; positionals: string[]; help: boolean } {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [k, s] of Object.entries(specs)) {
    options[k] = { type: s.type, ...(s.short ? { short: s.short } : {}) };
    // parseArgs has no --no-x form: accept it for boolean flags named "no-x" directly.
  }
  // A negative number after a string flag ("--vehicles -1") is its value, not an option: join it
  // so that the flag's own check reports it ("expected an integer >= 1, got '-1'").
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith("--") ? a.slice(2) : null;
    const next = argv[i + 1];
    if (name && specs[name]?.type === "string" && next !== undefined && /^-\d|^-\.\d/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    const r = parseArgs({ args, options, strict: true, allowPositionals });
    const values: Record<string, string | boolean | undefined> = {};
    for (const [k, s] of Object.entries(specs))
      values[k] = (r.values[k] as string | boolean | undefined) ?? s.default;
    return { values, positionals: r.positionals, help: Boolean(r.values.help) };
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!);
  }
}

/** A string flag that must be one of `allowed`; the error names the flag and the choices. */
export function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T))
    throw new UsageError(`--${name}: expected one of ${allowed.join("|")}, got '${String(v)}'`);
  return v as T;
}

/** Parse a number flag; the error names the flag. */
export function numFlag(
  name: string,
  v: unknown,
  { min = -Infinity, max = Infinity, int = false } = {},
): number {
  const n = Number(v);
  if (
    typeof v !== "string" ||
    v.trim() === "" ||
    !Number.isFinite(n) ||
    n < min ||
    n > max ||
    (int && !Number.isInteger(n))
  )
    throw new UsageError(
      `--${name}: expected ${int ? "an integer" : "a number"}${Number.isFinite(min) ? ` >= ${min}` : ""}${Number.isFinite(max) ? ` <= ${max}` : ""}, got '${String(v)}'`,
    );
  return n;
}

/** Parse HOST:PORT. */
export function hostPort(name: string, v: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m?.[1]) throw new UsageError(`--${name}: expected HOST:PORT, got '${v}'`);
  const port = Number(m[2]);
  if (port > 65535) throw new UsageError(`--${name}: port ${port} out of range`);
  return { host: m[1], port };
}
