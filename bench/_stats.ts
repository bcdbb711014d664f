/** Statistics helpers for benchmark suites. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  const a = Array.from(xs).sort((x, y) => x - y);
  if (a.length === 0) return Number.NaN;
  const i = Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1));
  return a[i]!;
}
export const median = (xs: ArrayLike<number>) => quantile(xs, 0.5);
export const p99 = (xs: ArrayLike<number>) => quantile(xs, 0.99);

/**
 * Latency histogram of fixed size (0.05 ms bins up to 5 s, one overflow bin): a long run's
 * percentiles without a growing array in the process being measured (soak measures its memory).
 */
export class Histogram {
  private static readonly BIN_MS = 0.05;
  private readonly bins = new Uint32Array(100_001);
  count = 0;
  max = Number.NEGATIVE_INFINITY;
  add(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const i = Math.min(this.bins.length - 1, Math.max(0, Math.floor(ms / Histogram.BIN_MS)));
    this.bins[i]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }
  /** Upper edge of the bin holding the q-quantile, ms (the maximum in the overflow bin); NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.min(this.count, Math.max(1, Math.ceil(q * this.count)));
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i]!;
      if (seen >= rank)
        return i === this.bins.length - 1 ? this.max : Math.min(this.max, (i + 1) * Histogram.BIN_MS);
    }
    return this.max;
  }
}
