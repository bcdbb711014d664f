/**
 * Rig map (src/rig/map.ts): vehicle id or pattern -> rig, first match wins, optional default; and one
 * fleet serving vehicles with different rigs, refusing a vehicle the map has no rig for.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadRigMap, parseRigMap, patternToRegExp } from "../../src/rig/map.ts";
import { loadRig } from "../../src/rig/load.ts";
import { createFleet } from "../../src/runtime/fleet.ts";
import { createLogger } from "../../src/util/log.ts";
import { envelope, lidarMsg, MS, STAMP0, testRig } from "../align/fixtures.ts";

test("rig map: patterns, order, default, and errors naming the field", () => {
  assert.ok(patternToRegExp("truck-*").test("truck-12"));
  assert.ok(!patternToRegExp("truck-*").test("xtruck-12"));
  assert.ok(patternToRegExp("car-?").test("car-7") && !patternToRegExp("car-?").test("car-77"));
  assert.ok(patternToRegExp("a.b").test("a.b") && !patternToRegExp("a.b").test("axb"), "dots are literal");
  const rigs: Record<string, ReturnType<typeof loadRig>> = {
    sim: loadRig("sim"),
    nuscenes: loadRig("nuscenes"),
  };
  const m = parseRigMap(
    {
      default: "sim",
      vehicles: [
        { match: "n008-*", rig: "nuscenes" },
        { match: "n008-special", rig: "sim" },
      ],
    },
    "map.yaml",
    (r) => rigs[r]!,
  );
  assert.equal(m.rigFor("n008-special")!.name, rigs.nuscenes!.name, "first match wins");
  assert.equal(m.rigFor("sim-1")!.name, rigs.sim!.name, "default");
  assert.deepEqual(
    m.rigs.map((r) => r.name),
    [rigs.sim!.name, rigs.nuscenes!.name],
  );
  const noDefault = parseRigMap({ vehicles: [{ match: "a", rig: "sim" }] }, "m", (r) => rigs[r]!);
  assert.equal(noDefault.rigFor("b"), null);
  assert.throws(() => parseRigMap({}, "m.yaml", () => rigs.sim!), /m\.yaml: \(root\): a rig map needs/);
  assert.throws(
    () => parseRigMap({ vehicles: [{ match: "a/b", rig: "sim" }] }, "m.yaml", () => rigs.sim!),
    /m\.yaml: vehicles\.0\.match/,
  );
  assert.throws(
    () =>
      parseRigMap({ vehicles: [{ match: "a", rig: "nope" }] }, "m.yaml", () => {
        throw new Error("no such rig");
      }),
    /m\.yaml: vehicles\.0\.rig: no such rig/,
  );
});

test("rig map file: rig files relative to the map, presets by name", () => {
  const dir = mkdtempSync(join(tmpdir(), "rigmap-"));
  try {
    writeFileSync(
      join(dir, "small.yaml"),
      "name: small\nreference: lidar\nsensors:\n  - { id: lidar, kind: lidar, rate_hz: 10 }\n",
    );
    writeFileSync(
      join(dir, "map.yaml"),
      "vehicles:\n  - { match: 'robot-*', rig: small.yaml }\n  - { match: sim-1, rig: sim }\n",
    );
    const m = loadRigMap(join(dir, "map.yaml"));
    assert.equal(m.rigFor("robot-3")!.name, "small");
    assert.equal(m.rigFor("sim-1")!.sensors.length, loadRig("sim").sensors.length);
    assert.equal(m.rigFor("other"), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("one fleet, two rigs: each vehicle runs on its own rig; a vehicle without a rig is refused", async () => {
  const small = testRig({
    sensors: [{ id: "lidar", kind: "lidar", rate_hz: 10 }],
    align: { idle_stop_ms: 100 },
  });
  const other = testRig({
    sensors: [{ id: "lidar", kind: "lidar", rate_hz: 20 }],
    align: { idle_stop_ms: 100 },
  });
  const rigOf = (v: string) =>
    v.startsWith("a-") ? small : v.startsWith("b-") ? { ...other, name: "other" } : null;
  const rigsSeen = new Map<string, number>();
  const fleet = createFleet({
    mode: "replay",
    rig: rigOf,
    engine: {
      mode: "test",
      fuse: async (tick) => {
        rigsSeen.set(tick.vehicle, tick.inputs.length);
        return { objects: [], gates: { lidar: 1, radar: 0, camera: 0 } };
      },
    },
    logger: createLogger({ level: "error", write: () => {} }),
  });
  const events: string[] = [];
  fleet.events$.subscribe((e) => {
    if (e.type === "admitted") events.push(`${e.vehicle}:${e.rig}`);
  });
  const sweep = (v: string, k: number) => {
    const m = lidarMsg(STAMP0 + k * 100 * MS);
    return envelope({ ...m, header: { ...m.header, vehicle: v } }, k * 100 * MS);
  };
  for (let k = 0; k < 3; k++) for (const v of ["a-1", "b-1", "c-1"]) fleet.push(sweep(v, k));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(events, ["a-1:test", "b-1:other"]);
  assert.equal(fleet.stats().unadmitted.no_rig, 3);
  assert.ok(rigsSeen.has("a-1") && rigsSeen.has("b-1") && !rigsSeen.has("c-1"));
  fleet.stop();
});
