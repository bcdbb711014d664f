import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FrameFence } from "../../src/cluster/fence.ts";

describe("frame fence (subscriber side of the ownership revision)", () => {
  test("drops a stale owner's late frames, keeps the newer owner's, passes unfenced frames", () => {
    const f = new FrameFence();
    assert.ok(f.accept({ vehicle: "a", worker: "w1", ownershipRevision: 10 }));
    assert.ok(f.accept({ vehicle: "a", worker: "w2", ownershipRevision: 14 }));
    assert.equal(f.accept({ vehicle: "a", worker: "w1", ownershipRevision: 10 }), false);
    assert.ok(f.accept({ vehicle: "a", worker: "w2", ownershipRevision: 14 }));
    assert.ok(f.accept({ vehicle: "b", worker: "w1", ownershipRevision: 3 }), "per vehicle");
    assert.ok(f.accept({ vehicle: "a", ownershipRevision: 0 }), "no revision: a service without --etcd");
    assert.equal(f.dropped, 1);
    assert.equal(f.revision("a"), 14);
  });

  test("bounded: the least recently updated vehicle is forgotten first", () => {
    const f = new FrameFence({ maxVehicles: 2 });
    f.accept({ vehicle: "a", ownershipRevision: 5 });
    f.accept({ vehicle: "b", ownershipRevision: 5 });
    f.accept({ vehicle: "a", ownershipRevision: 6 });
    f.accept({ vehicle: "c", ownershipRevision: 5 });
    assert.equal(f.revision("b"), 0);
    assert.equal(f.revision("a"), 6);
    assert.equal(f.revision("c"), 5);
  });
});
