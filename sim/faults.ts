/**
 * Fault injection, scriptable by time. A fault list is comma-separated; each item is
 *
 *     TARGET:KIND[=VALUE]@START[+DURATION]
 *
 * TARGET  a sensor id, a sensor kind (lidar, radar, camera, gnss, imu: every sensor of that kind)
 *         or `*` (every sensor).
 * KIND    drop | outage      no messages
 *         rate=F | rate=NHz  rate reduction: keep a fraction F of messages, or N per second
 *         delay=MS           added transport delay (ms)
 *         jitter=MS          added random transport delay, uniform in [0, MS] (ms)
 *         clock=MS           sensor clock offset while active (stamps shift by MS)
 *         clockjump=MS       clock jumps by MS at START and stays (unless a DURATION is given)
 *         reorder[=MS]       out-of-order delivery: random extra delay up to MS (default 2.5 periods)
 *         duplicate[=P]      each message also delivered a second time (probability P, default 1)
 *         corrupt[=P]        payload bytes corrupted (probability P, default 1)
 *         freeze             frozen data: the last payload repeated under fresh headers
 *         noise[=K]          noise burst: every noise sigma multiplied by K (default 10)
 * START / DURATION  a number with unit `s` or `ms` (plain numbers are seconds), relative to t = 0.
 *                   Without a duration the fault lasts to the end.
 *
 * Example: `lidar:drop@10s+5s,gnss:outage@20s+10s,radar_front:delay=150@5s+10s`.
 */
import type { SensorKind } from "../src/msg/kinds.ts";

export const FAULT_KINDS = [
  "drop",
  "rate",
  "delay",
  "jitter",
  "clock",
  "clockjump",
  "reorder",
  "duplicate",
  "corrupt",
  "freeze",
  "noise",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  /** The item as written (normalised), reported in the ground truth while active. */
  label: string;
  target: string;
  kind: FaultKind;
  /** Kind-specific value: fraction, ms, probability or factor; NaN when not given. */
  value: number;
  /** For rate=NHz: messages per second instead of a fraction. */
  rateHz: number;
  startNs: number;
  /** Exclusive end, ns (Infinity when open-ended). */
  endNs: number;
}

/** Largest delay, jitter or reorder window a fault may add, ms. */
export const MAX_DELAY_MS = 10_000;

export class FaultSpecError extends Error {
  readonly code = "E_USAGE";
}

function parseTime(s: string, what: string, item: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(s.trim());
  if (!m) throw new FaultSpecError(`fault '${item}': bad ${what} '${s}' (use e.g. 10s or 500ms)`);
  const v = Number(m[1]);
  return Math.round(m[2] === "ms" ? v * 1e6 : v * 1e9);
}

/** Parse a fault list; throws FaultSpecError naming the bad item. */
export function parseFaults(spec: string): Fault[] {
  const out: Fault[] = [];
  for (const raw of spec.split(",")) {
    const item = raw.trim();
    if (!item) continue;
    const m = /^([A-Za-z0-9_*-]+):([a-z]+)(?:=([^@]+))?@([^+]+)(?:\+(.+))?$/.exec(item);
    if (!m)
      throw new FaultSpecError(
        `fault '${item}': expected TARGET:KIND[=VALUE]@START[+DURATION], e.g. lidar:drop@10s+5s`,
      );
    const [, target, kindRaw, valueRaw, startRaw, durRaw] = m;
    const kind = (kindRaw === "outage" ? "drop" : kindRaw) as FaultKind;
    if (!FAULT_KINDS.includes(kind))
      throw new FaultSpecError(
        `fault '${item}': unknown kind '${kindRaw}' (kinds: outage, ${FAULT_KINDS.join(", ")})`,
      );
    let value = Number.NaN;
    let rateHz = Number.NaN;
    if (valueRaw !== undefined) {
      const hz = /^(\d+(?:\.\d+)?)hz$/i.exec(valueRaw.trim());
      const ms = /^(-?\d+(?:\.\d+)?)(ms)?$/.exec(valueRaw.trim());
      if (kind === "rate" && hz) rateHz = Number(hz[1]);
      else if (ms) value = Number(ms[1]);
      else throw new FaultSpecError(`fault '${item}': bad value '${valueRaw}'`);
    }
    const needs: Partial<Record<FaultKind, string>> = {
      rate: "a fraction or N Hz",
      delay: "milliseconds",
      jitter: "milliseconds",
      clock: "milliseconds",
      clockjump: "milliseconds",
    };
    if (needs[kind] && Number.isNaN(value) && Number.isNaN(rateHz))
      throw new FaultSpecError(
        `fault '${item}': ${kind} needs a value (${needs[kind]}), e.g. ${kind}=${kind === "rate" ? "0.5" : "100"}`,
      );
    if (kind === "rate" && !Number.isNaN(value) && !(value >= 0 && value <= 1))
      throw new FaultSpecError(`fault '${item}': rate fraction must be within [0, 1]`);
    if ((kind === "duplicate" || kind === "corrupt") && !Number.isNaN(value) && !(value >= 0 && value <= 1))
      throw new FaultSpecError(`fault '${item}': probability must be within [0, 1]`);
    if (
      (kind === "delay" || kind === "jitter" || kind === "reorder") &&
      !(Number.isNaN(value) || (value >= 0 && value <= MAX_DELAY_MS))
    )
      // Delayed messages wait in memory: bound them.
      throw new FaultSpecError(`fault '${item}': ${kind} must be within [0, ${MAX_DELAY_MS}] ms`);
    const startNs = parseTime(startRaw!, "start", item);
    const endNs =
      durRaw === undefined ? Number.POSITIVE_INFINITY : startNs + parseTime(durRaw, "duration", item);
    out.push({ label: item, target: target!, kind, value, rateHz, startNs, endNs });
  }
  return out;
}

/** Throw FaultSpecError for a fault whose target matches no sensor of the rig (typos). */
export function checkFaultTargets(
  faults: readonly Fault[],
  sensors: readonly { id: string; kind: SensorKind }[],
): void {
  for (const f of faults)
    if (!sensors.some((s) => faultTargets(f, s.id, s.kind)))
      throw new FaultSpecError(
        `fault '${f.label}': no sensor or sensor kind '${f.target}' in the rig (sensors: ${sensors.map((s) => s.id).join(", ")})`,
      );
}

/** Does `f` target a sensor with this id and kind? */
export const faultTargets = (f: Fault, id: string, kind: SensorKind): boolean =>
  f.target === "*" || f.target === "all" || f.target === id || f.target === kind;

/** Effects of the active faults on one message of one sensor. */
export interface FaultEffects {
  drop: boolean;
  /** Fraction of messages kept (1 = all). */
  keep: number;
  delayMs: number;
  jitterMs: number;
  clockMs: number;
  /** Max extra random delay for reordering, ms; 0 = off. */
  reorderMs: number;
  duplicateP: number;
  corruptP: number;
  freeze: boolean;
  noise: number;
}

export function effectsAt(
  faults: readonly Fault[],
  tNs: number,
  rateHz: number,
  periodMs: number,
): FaultEffects {
  const e: FaultEffects = {
    drop: false,
    keep: 1,
    delayMs: 0,
    jitterMs: 0,
    clockMs: 0,
    reorderMs: 0,
    duplicateP: 0,
    corruptP: 0,
    freeze: false,
    noise: 1,
  };
  for (const f of faults) {
    if (tNs < f.startNs || tNs >= f.endNs) continue;
    const v = f.value;
    switch (f.kind) {
      case "drop":
        e.drop = true;
        break;
      case "rate":
        e.keep = Math.min(e.keep, Number.isNaN(f.rateHz) ? v : Math.min(1, f.rateHz / rateHz));
        break;
      case "delay":
        e.delayMs += v;
        break;
      case "jitter":
        e.jitterMs += v;
        break;
      case "clock":
      case "clockjump":
        e.clockMs += v;
        break;
      case "reorder":
        e.reorderMs = Math.max(e.reorderMs, Number.isNaN(v) ? 2.5 * periodMs : v);
        break;
      case "duplicate":
        e.duplicateP = Math.max(e.duplicateP, Number.isNaN(v) ? 1 : v);
        break;
      case "corrupt":
        e.corruptP = Math.max(e.corruptP, Number.isNaN(v) ? 1 : v);
        break;
      case "freeze":
        e.freeze = true;
        break;
      case "noise":
        e.noise *= Number.isNaN(v) ? 10 : v;
        break;
      default: {
        const never: never = f.kind;
        throw new Error(`unhandled fault ${never}`);
      }
    }
  }
  return e;
}
