/** The `health` config section and the declarative system-mode rule set. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { healthConfigSchema, modeRuleSchema } from "../../src/health/config.ts";
import { HealthMonitor } from "../../src/health/index.ts";
import { evaluateRules } from "../../src/health/rules.ts";
import { SystemMode } from "../../src/msg/types.ts";
import { ConfigError, loadRig } from "../../src/rig/load.ts";
import { drive, newMonitor, S, simRig } from "./fixtures.ts";

const atoms =
  (...trueAtoms: string[]) =>
  (a: string) =>
    trueAtoms.includes(a);

describe("health config", () => {
  test("defaults come from the schema and are valid rules", () => {
    const c = healthConfigSchema.parse({});
    assert.equal(c.dwell_ms, 1000);
    assert.ok(c.mode_rules.length >= 4);
    for (const r of c.mode_rules) assert.ok(modeRuleSchema.safeParse(r).success, JSON.stringify(r));
    // every preset rig loads with the health defaults
    for (const p of ["sim", "nuscenes", "kitti"]) assert.equal(loadRig(p).health.dwell_ms, 1000);
  });

  test("a bad atom or an unknown key fails with the field named", () => {
    assert.throws(
      () => simRig({ mode_rules: [{ mode: "SAFE_STOP", reason: "x", when: "lidar.vanished" }] }),
      (e: Error) => e instanceof ConfigError && /health\.mode_rules\.0\.when/.test(e.message),
    );
    assert.throws(
      () => simRig({ dwel_ms: 5 }),
      (e: Error) => e instanceof ConfigError && /health/.test(e.message),
    );
    assert.throws(
      () => simRig({ degraded_rate_ratio: 0.9, recover_rate_ratio: 0.8 }),
      (e: Error) => e instanceof ConfigError && /health\.recover_rate_ratio/.test(e.message),
    );
    assert.throws(() =>
      simRig({ mode_rules: [{ mode: "MINIMAL", reason: "x", when: { at_least: 3, of: ["lidar.lost"] } }] }),
    );
  });
});

describe("mode rules", () => {
  const rules = healthConfigSchema.parse({}).mode_rules;

  test("nothing true: NOMINAL without reasons", () => {
    assert.deepEqual(evaluateRules(rules, atoms()), { mode: SystemMode.NOMINAL, reasons: [] });
  });

  test("most severe mode wins; reasons list fired rules most severe first with their atoms", () => {
    const r = evaluateRules(rules, atoms("lidar.lost", "radar.lost", "lidar.degraded", "radar.degraded"));
    assert.equal(r.mode, SystemMode.SAFE_STOP);
    assert.deepEqual(r.reasons, [
      "lidar_and_radar_lost: lidar.lost, radar.lost",
      "single_perception_modality: lidar.lost, radar.lost",
      "perception_degraded: lidar.degraded, radar.degraded",
    ]);
  });

  test("gates: any, all, not, at_least", () => {
    const custom = [
      { mode: "MINIMAL" as const, reason: "two_of_three", when: { at_least: 2, of: ["a.x", "b.x", "c.x"] } },
      { mode: "DEGRADED" as const, reason: "not_b", when: { all: ["a.x", { not: "b.x" }] } },
    ];
    assert.equal(evaluateRules(custom, atoms("a.x")).mode, SystemMode.DEGRADED);
    assert.deepEqual(evaluateRules(custom, atoms("a.x")).reasons, ["not_b: a.x, not(b.x)"]);
    assert.equal(evaluateRules(custom, atoms("a.x", "c.x")).mode, SystemMode.MINIMAL);
    assert.equal(evaluateRules(custom, atoms("b.x")).mode, SystemMode.NOMINAL);
  });

  test("a rig without radar (KITTI): LiDAR lost is DEGRADED, LiDAR and cameras lost is SAFE_STOP", () => {
    const rig = loadRig("kitti");
    const lidarId = rig.sensors.find((s) => s.kind === "lidar")!.id;
    const cams = new Set(rig.sensors.filter((s) => s.kind === "camera").map((s) => s.id));
    const a = new HealthMonitor("v1", rig);
    const l = drive(a, rig, 0, 3 * S, (id, t) => (id === lidarId && t > S ? { drop: true } : undefined));
    assert.equal(l.snaps.at(-1)!.mode, SystemMode.DEGRADED, l.snaps.at(-1)!.reasons.join("; "));
    const b = new HealthMonitor("v1", rig);
    const lc = drive(b, rig, 0, 3 * S, (id, t) =>
      (id === lidarId || cams.has(id)) && t > S ? { drop: true } : undefined,
    );
    assert.equal(lc.snaps.at(-1)!.mode, SystemMode.SAFE_STOP);
    assert.ok(lc.snaps.at(-1)!.reasons[0]!.startsWith("perception_lost"));
  });

  test("a custom rule set from the rig replaces the defaults (GNSS lost -> SAFE_STOP)", () => {
    const { mon, rig } = newMonitor({
      mode_rules: [{ mode: "SAFE_STOP", reason: "no_gnss", when: "gnss.lost" }],
    });
    const { snaps } = drive(mon, rig, 0, 3 * S, (id, t) =>
      id === "gnss" && t > S ? { drop: true } : undefined,
    );
    assert.equal(snaps.at(-1)!.mode, SystemMode.SAFE_STOP);
    assert.deepEqual(snaps.at(-1)!.reasons, ["no_gnss: gnss.lost"]);
    // a LiDAR outage is not in this rule set: the mode stays NOMINAL
    const b = newMonitor({ mode_rules: [{ mode: "SAFE_STOP", reason: "no_gnss", when: "gnss.lost" }] });
    const l = drive(b.mon, b.rig, 0, 3 * S, (id, t) =>
      id === "lidar" && t > S ? { drop: true } : undefined,
    );
    assert.equal(l.snaps.at(-1)!.mode, SystemMode.NOMINAL);
  });
});
