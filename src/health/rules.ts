/**
 * Evaluates the declarative system-mode rule set (src/health/config.ts) against sensor states.
 * Pure: a rule set plus a predicate lookup in, mode and reasons out.
 */
import { SystemMode } from "../msg/types.ts";
import type { ModeRule, RuleCondition } from "./config.ts";

/** Answers one atom such as `lidar.lost`. */
export type AtomLookup = (atom: string) => boolean;

const MODE_VALUE: Record<ModeRule["mode"], SystemMode> = {
  DEGRADED: SystemMode.DEGRADED,
  MINIMAL: SystemMode.MINIMAL,
  SAFE_STOP: SystemMode.SAFE_STOP,
};

/** Evaluate a condition; `why` collects the true leaf atoms that made it true. */
export function holds(c: RuleCondition, atom: AtomLookup, why: string[]): boolean {
  if (typeof c === "string") {
    const v = atom(c);
    if (v) why.push(c);
    return v;
  }
  if ("not" in c) {
    const v = !holds(c.not, atom, []);
    if (v) why.push(`not(${typeof c.not === "string" ? c.not : "..."})`);
    return v;
  }
  if ("any" in c || "all" in c || "of" in c) {
    const list = "any" in c ? c.any : "all" in c ? c.all : c.of;
    const need = "any" in c ? 1 : "all" in c ? list.length : c.at_least;
    const local: string[] = [];
    let n = 0;
    for (const x of list) if (holds(x, atom, local)) n++;
    if (n >= need) {
      why.push(...local);
      return true;
    }
    return false;
  }
  return false;
}

export interface ModeResult {
  mode: SystemMode;
  /** `<reason>: <atom>, <atom>` per fired rule, most severe first, then in rule order. */
  reasons: string[];
}

export function evaluateRules(rules: readonly ModeRule[], atom: AtomLookup): ModeResult {
  const fired: { mode: SystemMode; text: string; order: number }[] = [];
  rules.forEach((r, order) => {
    const why: string[] = [];
    if (holds(r.when, atom, why)) {
      fired.push({ mode: MODE_VALUE[r.mode], text: `${r.reason}: ${[...new Set(why)].join(", ")}`, order });
    }
  });
  if (fired.length === 0) return { mode: SystemMode.NOMINAL, reasons: [] };
  fired.sort((a, b) => b.mode - a.mode || a.order - b.order);
  return { mode: fired[0]!.mode, reasons: fired.map((f) => f.text) };
}
