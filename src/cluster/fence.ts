/**
 * Subscriber side of the fencing token (docs/fleet.md): keep the highest `ownership_revision` seen
 * per vehicle and drop frames that carry a lower one. A worker that lost a vehicle (its lease
 * expired, or it handed the vehicle over) may still have frames in flight; they carry the old,
 * lower revision and are dropped here. Revisions come from etcd's global revision counter, so a
 * later owner always has a higher one. Frames without a revision (0: a service without --etcd)
 * always pass. Pure; the map is bounded (least recently updated vehicles forgotten first).
 */

export interface FencedFrame {
  vehicle: string;
  worker?: string;
  ownershipRevision?: number;
}

export interface FenceOptions {
  /** Vehicles remembered at most; the least recently seen is forgotten. Default 100000. */
  maxVehicles?: number;
}

export class FrameFence {
  private readonly latest = new Map<string, number>();
  private readonly max: number;
  /** Frames dropped as a stale owner's. */
  dropped = 0;

  constructor(o: FenceOptions = {}) {
    this.max = o.maxVehicles ?? 100_000;
  }

  /** True when the frame is from the current (or a newer) owner; false for a stale owner's frame. */
  accept(f: FencedFrame): boolean {
    const rev = f.ownershipRevision ?? 0;
    if (rev <= 0) return true;
    const seen = this.latest.get(f.vehicle);
    if (seen !== undefined && rev < seen) {
      this.dropped++;
      return false;
    }
    if (seen !== undefined)
      this.latest.delete(f.vehicle); // re-insert: most recent last
    else if (this.latest.size >= this.max) {
      const oldest = this.latest.keys().next().value;
      if (oldest !== undefined) this.latest.delete(oldest);
    }
    this.latest.set(f.vehicle, rev);
    return true;
  }

  /** Highest revision seen for a vehicle (0 when none). */
  revision(vehicle: string): number {
    return this.latest.get(vehicle) ?? 0;
  }
}
