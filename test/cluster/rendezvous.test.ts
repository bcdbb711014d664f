import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { rendezvousOwner } from "../../src/cluster/rendezvous.ts";

const vehicles = Array.from({ length: 3000 }, (_, i) => `veh-${i}`);

describe("rendezvous hashing", () => {
  test("deterministic, independent of worker order, spreads vehicles evenly", () => {
    const ws = ["w1", "w2", "w3"];
    const count = new Map<string, number>();
    for (const v of vehicles) {
      const o = rendezvousOwner(v, ws)!;
      assert.equal(o, rendezvousOwner(v, [...ws].reverse()));
      count.set(o, (count.get(o) ?? 0) + 1);
    }
    for (const w of ws) {
      const n = count.get(w) ?? 0;
      assert.ok(n > 850 && n < 1150, `${w}: ${n} of 3000`);
    }
    assert.equal(rendezvousOwner("x", []), null);
  });

  test("a worker leaving moves only its own vehicles; joining again moves exactly them back", () => {
    const all = ["w1", "w2", "w3", "w4"];
    const less = ["w1", "w2", "w4"];
    let moved = 0;
    for (const v of vehicles) {
      const before = rendezvousOwner(v, all);
      const after = rendezvousOwner(v, less);
      if (before !== "w3") assert.equal(after, before, `${v} moved though its owner stayed`);
      else moved++;
    }
    assert.ok(moved > 600 && moved < 900, `${moved} of 3000 belonged to w3`);
  });
});
