/**
 * The OOD guard in the evaluation: per model and condition, the share of frames the guard served
 * with the classical engine (`guard_fallback_frac`; for a model evaluated in observe mode, the
 * frames it would have) and the seconds from a stream's first frame to its first fallback
 * (`guard_first_fallback_s`, the latest over the streams that fell back; absent if none did).
 */
import type { OodGuardInfo } from "../msg/types.ts";

export interface GuardFigures {
  guard_fallback_frac: number;
  guard_first_fallback_s?: number;
  /** Streams (runs) with at least one fallback, of all streams. */
  guard_streams_fallen: string;
  /** Largest guard distance seen. */
  guard_max_distance: number;
}

export class GuardTally {
  private frames = 0;
  private fallback = 0;
  private maxDistance = 0;
  private readonly first = new Map<string, number>();
  private readonly firstFallback = new Map<string, number>();
  private guarded = false;

  add(stream: string, stampNs: number, g: OodGuardInfo | undefined): void {
    if (!this.first.has(stream)) this.first.set(stream, stampNs);
    this.frames++;
    if (!g) return;
    this.guarded = true;
    if (g.distance > this.maxDistance) this.maxDistance = g.distance;
    if (g.state !== "fallback") return;
    this.fallback++;
    if (!this.firstFallback.has(stream))
      this.firstFallback.set(stream, (stampNs - this.first.get(stream)!) / 1e9);
  }

  /** Null when no frame carried a guard (the classical engine). */
  figures(): GuardFigures | null {
    if (!this.guarded) return null;
    const firsts = [...this.firstFallback.values()];
    return {
      guard_fallback_frac: this.frames ? this.fallback / this.frames : 0,
      ...(firsts.length ? { guard_first_fallback_s: Math.max(...firsts) } : {}),
      guard_streams_fallen: `${firsts.length}/${this.first.size}`,
      guard_max_distance: this.maxDistance,
    };
  }
}

const f = (v: number, d: number) => (Number.isNaN(v) ? "-" : v.toFixed(d));

/** guard_fallback_frac / guard_first_fallback_s per guarded model and condition. */
export function guardLines(
  res: Record<string, Record<string, Partial<GuardFigures>>>,
  conditions: readonly string[],
  width = 17,
): string[] {
  const guarded = Object.keys(res).filter((m) =>
    conditions.some((c) => res[m]![c]?.guard_fallback_frac !== undefined),
  );
  if (!guarded.length) return [];
  const out = [
    "",
    "OOD guard: guard_fallback_frac / guard_first_fallback_s (learned models observed: the share the guard would serve with classical; auto: served)",
  ];
  for (const m of guarded)
    out.push(
      [
        m.padEnd(13),
        ...conditions.map((c) => {
          const r = res[m]![c];
          if (r?.guard_fallback_frac === undefined) return "-".padStart(width);
          const first = r.guard_first_fallback_s === undefined ? "none" : r.guard_first_fallback_s.toFixed(1);
          return `${f(r.guard_fallback_frac, 2)}/${first}`.padStart(width);
        }),
      ].join(""),
    );
  return out;
}
