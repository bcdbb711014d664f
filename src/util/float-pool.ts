/**
 * A bounded pool of sweep-sized Float32Arrays, so that a live vehicle does not allocate a new
 * ~0.5 MB buffer for every LiDAR sweep (issue 18: at 20 Hz per vehicle, that churn of external
 * memory kept V8 scavenging and mark-compacting, ~0.9 ms of CPU per frame on the main thread and
 * V8's helper threads; docs/DECISIONS.md H3).
 *
 * `take(n)` returns a view of exactly `n` floats over a free buffer with room for them (or a new
 * buffer, with 25 % headroom so that the next, slightly larger sweep fits). `give(a)` hands a buffer
 * back once nothing reads it any more. Giving back detaches the caller's ArrayBuffer (its contents
 * move, without a copy, to a new ArrayBuffer the pool keeps): every view still held by a late reader
 * reads as empty instead of silently showing another sweep's points.
 *
 * Bounded: at most `maxFree` buffers wait in the pool; beyond that a given-back buffer is left to
 * the garbage collector (`stats.dropped`). Contents of a taken view are undefined (not zeroed).
 */
export interface FloatPoolOptions {
  /** Most free buffers kept. Default 4. */
  maxFree?: number;
  /** Buffers smaller than this many floats are not pooled (left to the GC). Default 4096. */
  minFloats?: number;
}

export interface FloatPoolStats {
  /** take() served from the pool. */
  reused: number;
  /** take() that allocated. */
  allocated: number;
  /** give() kept for reuse. */
  returned: number;
  /** give() left to the GC (pool full, buffer too small or not a whole pool-sized buffer). */
  dropped: number;
}

export class Float32Pool {
  readonly stats: FloatPoolStats = { reused: 0, allocated: 0, returned: 0, dropped: 0 };
  private readonly free: ArrayBuffer[] = [];
  private readonly maxFree: number;
  private readonly minFloats: number;

  constructor(o: FloatPoolOptions = {}) {
    this.maxFree = o.maxFree ?? 4;
    this.minFloats = o.minFloats ?? 4096;
  }

  /** Free buffers waiting in the pool. */
  get size(): number {
    return this.free.length;
  }

  /** A Float32Array of exactly `n` floats (contents undefined). */
  take(n: number): Float32Array {
    const bytes = n * 4;
    // the smallest free buffer that fits
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.byteLength >= bytes && (best < 0 || b.byteLength < this.free[best]!.byteLength)) best = i;
    }
    if (best >= 0) {
      const buf = this.free[best]!;
      this.free[best] = this.free[this.free.length - 1]!;
      this.free.pop();
      this.stats.reused++;
      return new Float32Array(buf, 0, n);
    }
    this.stats.allocated++;
    if (n < this.minFloats) return new Float32Array(n);
    return new Float32Array(new ArrayBuffer(Math.ceil(n * 1.25) * 4), 0, n);
  }

  /**
   * Give `a`'s buffer back: the caller and every other holder of a view on it must be done with it
   * (their views read as empty from now on). A view that does not start at the buffer's first
   * float, or a shared buffer, is not pooled.
   */
  give(a: Float32Array): void {
    const buf = a.buffer;
    if (
      !(buf instanceof ArrayBuffer) ||
      a.byteOffset !== 0 ||
      buf.byteLength < this.minFloats * 4 ||
      this.free.length >= this.maxFree
    ) {
      this.stats.dropped++;
      return;
    }
    // Detach the caller's buffer: its memory moves to a new ArrayBuffer, no copy.
    this.free.push(structuredClone(buf, { transfer: [buf] }));
    this.stats.returned++;
  }
}
