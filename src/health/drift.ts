/**
 * Population stability index (PSI) of a streamed statistic against a reference window.
 * The first `referenceN` samples form the reference; bin edges are its quantiles (deduplicated, so
 * integer-valued statistics work). After that a sliding window of the last `windowN` samples is kept as
 * a ring of bin indices plus per-bin counts: O(1) per sample, O(bins) per PSI, bounded memory.
 *   PSI = sum_b (p_cur_b - p_ref_b) * ln(p_cur_b / p_ref_b), with add-one-half smoothing.
 */
export class PsiTracker {
  private readonly ref: Float64Array;
  private refCount = 0;
  private edges: Float64Array = new Float64Array(0);
  private refP: Float64Array = new Float64Array(0);
  private readonly ring: Uint8Array;
  private ringLen = 0;
  private ringHead = 0;
  private cur: Float64Array = new Float64Array(0);
  /** Latest PSI (NaN until the reference and one full window exist). */
  psi = Number.NaN;
  drifting = false;

  constructor(
    readonly stat: string,
    private readonly referenceN: number,
    private readonly windowN: number,
    private readonly bins: number,
    private readonly threshold: number,
  ) {
    this.ref = new Float64Array(referenceN);
    this.ring = new Uint8Array(windowN);
  }

  get ready(): boolean {
    return this.refCount === this.referenceN;
  }

  /** Median of the reference (NaN until the reference is complete). */
  referenceMedian = Number.NaN;

  private bin(v: number): number {
    // number of edges <= v (edges are sorted ascending)
    const e = this.edges;
    let lo = 0;
    let hi = e.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (e[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private freeze(): void {
    const sorted = Float64Array.from(this.ref).sort();
    const n = sorted.length;
    this.referenceMedian = sorted[Math.floor(n / 2)]!;
    const edges: number[] = [];
    for (let k = 1; k < this.bins; k++) {
      const q = sorted[Math.min(n - 1, Math.floor((k * n) / this.bins))]!;
      if (edges.length === 0 || q > edges[edges.length - 1]!) edges.push(q);
    }
    // a constant reference still gets two bins: below it and at/above it
    if (edges.length === 0) edges.push(sorted[0]!);
    this.edges = Float64Array.from(edges);
    const nb = this.edges.length + 1;
    const counts = new Float64Array(nb);
    for (let i = 0; i < n; i++) counts[this.bin(sorted[i]!)]! += 1;
    this.refP = new Float64Array(nb);
    for (let b = 0; b < nb; b++) this.refP[b] = (counts[b]! + 0.5) / (n + 0.5 * nb);
    this.cur = new Float64Array(nb);
  }

  /** Add one sample; returns true when the drifting flag changed. */
  add(v: number): boolean {
    if (!Number.isFinite(v)) return false;
    if (this.refCount < this.referenceN) {
      this.ref[this.refCount++] = v;
      if (this.refCount === this.referenceN) this.freeze();
      return false;
    }
    const b = this.bin(v);
    if (this.ringLen === this.windowN) {
      this.cur[this.ring[this.ringHead]!]! -= 1;
    } else {
      this.ringLen++;
    }
    this.ring[this.ringHead] = b;
    this.ringHead = (this.ringHead + 1) % this.windowN;
    this.cur[b]! += 1;
    if (this.ringLen < this.windowN) return false;
    const nb = this.cur.length;
    let psi = 0;
    for (let i = 0; i < nb; i++) {
      const pc = (this.cur[i]! + 0.5) / (this.windowN + 0.5 * nb);
      const pr = this.refP[i]!;
      psi += (pc - pr) * Math.log(pc / pr);
    }
    this.psi = psi;
    const was = this.drifting;
    this.drifting = this.drifting ? psi >= this.threshold / 2 : psi > this.threshold;
    return was !== this.drifting;
  }
}
