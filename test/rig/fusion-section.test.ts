import assert from "node:assert/strict";
import { test } from "node:test";
import { loadRig, parseRig } from "../../src/rig/load.ts";

test("rig: the fusion.classical section has defaults and validates with the field named", () => {
  const rig = loadRig("sim");
  assert.ok(rig.fusion.classical.tracker, "tracker defaults filled in");
  const raw = { name: "x", reference: "l", sensors: [{ id: "l", kind: "lidar", rate_hz: 10 }] };
  assert.throws(
    () => parseRig({ ...raw, fusion: { classical: { bogus: 1 } } }, "r.yaml"),
    /r\.yaml: fusion\.classical/,
  );
  assert.throws(() => parseRig({ ...raw, fusion: { learned: {} } }, "r.yaml"), /r\.yaml: fusion/);
});
