/**
 * Seeded pseudo-random numbers (sfc32), so that the same seed gives the same stream on every
 * platform. Each sensor stream owns its own generator, derived from (seed, vehicle, sensor), so
 * enabling one feature (e.g. camera frames) never perturbs another stream.
 */

/** 32-bit FNV-1a hash of a string, for deriving sub-seeds from names. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = "") {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88 ^ hash32(stream);
    this.c = 0xb7e15162;
    this.d = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) | 0, 0x85ebca6b);
    for (let i = 0; i < 15; i++) this.u32();
  }

  /** Uniform integer in [0, 2^32). */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /**
   * Standard normal, by inverse-CDF table lookup (65,536 quantiles: exact to the table's
   * resolution, tails cut at +-4.3 sigma). About 5x faster than Box-Muller in the LiDAR hot loop.
   */
  gauss(): number {
    return NORMAL_TABLE[this.u32() >>> 16]!;
  }

  normal(mean: number, std: number): number {
    return mean + std * this.gauss();
  }

  /** Poisson-distributed count (Knuth; fine for the small means used here). */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    const l = Math.exp(-mean);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.next();
    } while (p > l && k < 1000);
    return k - 1;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/** Quantiles of the standard normal at (i + 0.5) / 65536 (Acklam's inverse-CDF approximation). */
const NORMAL_TABLE: Float64Array = (() => {
  const n = 65536;
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = invNorm((i + 0.5) / n);
  return t;
})();

function invNorm(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - lo) return -invNorm(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}
