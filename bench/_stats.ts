/** Statistics helpers for benchmark suites. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  const a = Array.from(xs).sort((x, y) => x - y);
  if (a.length === 0) return Number.NaN;
  const i = Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1));
  return a[i]!;
}
export const median = (xs: ArrayLike<number>) => quantile(xs, 0.5);
export const p99 = (xs: ArrayLike<number>) => quantile(xs, 0.99);
