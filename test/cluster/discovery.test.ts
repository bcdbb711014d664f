import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Discovery } from "../../src/cluster/discovery.ts";

describe("vehicle discovery (topics in, known vehicles out)", () => {
  test("birth messages and one sensor's traffic discover; a cleared birth or silence forgets", () => {
    const d = new Discovery({ sensor: "gnss", forgetAfterMs: 1000 });
    assert.deepEqual(d.filters(), ["fusion/+/rig", "fusion/+/sensors/gnss"]);
    assert.deepEqual(d.onMessage("fusion/a/rig", 20, 0), { type: "discovered", vehicle: "a" });
    assert.equal(d.onMessage("fusion/a/rig", 20, 10), null, "once");
    assert.deepEqual(d.onMessage("fusion/b/sensors/gnss", 90, 0), { type: "discovered", vehicle: "b" });
    assert.equal(d.onMessage("fusion/c/sensors/lidar", 90, 0), null, "other sensors do not discover");
    assert.equal(d.onMessage("fusion/c/fused", 90, 0), null);
    assert.deepEqual(d.sweep(500), []);
    d.onMessage("fusion/b/sensors/gnss", 90, 800);
    assert.deepEqual(d.sweep(1500), [], "traffic keeps it");
    assert.deepEqual(d.sweep(1800), ["b"], "silent for forgetAfterMs");
    assert.deepEqual(d.sweep(99_999), [], "a vehicle with a birth message stays");
    assert.deepEqual(d.onMessage("fusion/a/rig", 0, 100_000), { type: "forgotten", vehicle: "a" });
    assert.deepEqual(d.vehicles(), []);
  });

  test("invalid ids and more than maxVehicles are refused and counted, not keyed", () => {
    const d = new Discovery({ sensor: null, maxVehicles: 2 });
    assert.deepEqual(d.filters(), ["fusion/+/rig"]);
    assert.equal(d.onMessage("fusion/_x/rig", 5, 0), null);
    assert.equal(d.onMessage(`fusion/${"a".repeat(80)}/rig`, 5, 0), null);
    d.onMessage("fusion/a/rig", 5, 0);
    d.onMessage("fusion/b/rig", 5, 0);
    assert.equal(d.onMessage("fusion/c/rig", 5, 0), null);
    assert.equal(d.onMessage("fusion/c/sensors/gnss", 5, 0), null, "no traffic discovery without a sensor");
    assert.deepEqual(d.stats(), { known: 2, births: 2, refused: { invalid_id: 2, capacity: 1 } });
  });
});
