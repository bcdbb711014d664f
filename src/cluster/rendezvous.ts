/**
 * Rendezvous (highest-random-weight) hashing: the worker that should own a vehicle is the one with
 * the highest score(worker, vehicle). When a worker joins or leaves, only the vehicles whose
 * highest score belonged to (or now belongs to) that worker move; every other vehicle keeps its
 * owner. Pure and deterministic: every worker computes the same answer from the same worker set.
 */

/** 32-bit FNV-1a over the UTF-16 code units, then murmur3's finalizer for avalanche. */
function hash32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Score of a (worker, vehicle) pair: 53 bits from two independent 32-bit hashes. */
export function rendezvousScore(worker: string, vehicle: string): number {
  const key = `${worker}\u0000${vehicle}`;
  return (hash32(key, 0) & 0x1fffff) * 2 ** 32 + hash32(key, 0x9e3779b9);
}

/** The worker that should own `vehicle`, or null when there is none. Ties go to the smaller id. */
export function rendezvousOwner(vehicle: string, workers: Iterable<string>): string | null {
  let best: string | null = null;
  let bestScore = -1;
  for (const w of workers) {
    const s = rendezvousScore(w, vehicle);
    if (s > bestScore || (s === bestScore && best !== null && w < best)) {
      best = w;
      bestScore = s;
    }
  }
  return best;
}
