/**
 * Bounded time-windowed counter: counts in fixed buckets over a sliding window of processing time.
 * O(1) memory (one Float64Array of `buckets` entries) and O(buckets) work at most per call.
 */
export class WindowCounter {
  private readonly counts: Float64Array;
  private readonly bucketNs: number;
  /** Absolute index (time / bucketNs) of the newest bucket; -Infinity before the first call. */
  private newest = Number.NEGATIVE_INFINITY;

  constructor(windowNs: number, buckets = 20) {
    this.counts = new Float64Array(buckets);
    this.bucketNs = Math.max(1, windowNs / buckets);
  }

  private advance(tNs: number): number {
    const b = Math.floor(tNs / this.bucketNs);
    if (b > this.newest) {
      const n = this.counts.length;
      if (b - this.newest >= n) this.counts.fill(0);
      else for (let i = this.newest + 1; i <= b; i++) this.counts[((i % n) + n) % n] = 0;
      this.newest = b;
    }
    return b;
  }

  /** Count `n` events at time `tNs`; events older than the window are ignored. */
  add(tNs: number, n = 1): void {
    const b = this.advance(tNs);
    const len = this.counts.length;
    const target = Math.min(b, this.newest);
    if (this.newest - target >= len) return;
    this.counts[((target % len) + len) % len]! += n;
  }

  /** Events within the window ending at `nowNs`. */
  sum(nowNs: number): number {
    this.advance(nowNs);
    let s = 0;
    for (let i = 0; i < this.counts.length; i++) s += this.counts[i]!;
    return s;
  }

  /** Duration the current window covers at `nowNs` (from the start of its oldest bucket), ns. */
  spanNs(nowNs: number): number {
    this.advance(nowNs);
    return nowNs - (this.newest - this.counts.length + 1) * this.bucketNs;
  }

  reset(): void {
    this.counts.fill(0);
  }
}

/** Hysteresis flag: raised when `value > on`, cleared when `value < off` (off <= on). */
export function hysteresis(active: boolean, value: number, on: number, off: number): boolean {
  return active ? value >= off : value > on;
}
