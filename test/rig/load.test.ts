/** Rig loading and validation: presets, defaults, and errors that name the field. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, loadRig, PRESETS, parseRig } from "../../src/rig/load.ts";

const dir = mkdtempSync(join(tmpdir(), "rig-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const minimal = {
  name: "m",
  reference: "l",
  sensors: [
    { id: "l", kind: "lidar", rate_hz: 10 },
    { id: "r", kind: "radar", rate_hz: 20 },
  ],
};

describe("rig load", () => {
  for (const p of PRESETS)
    it(`preset ${p} loads and validates`, () => {
      const rig = loadRig(p);
      assert.ok(rig.sensors.some((s) => s.id === rig.reference));
      assert.ok(rig.sensors.every((s) => s.jitter_window_ms > 0 && s.timeout_ms > 0));
    });

  it("fills per-sensor and align defaults", () => {
    const rig = parseRig(minimal);
    const r = rig.sensors[1]!;
    assert.equal(r.jitter_window_ms, 25); // half a period
    assert.equal(r.timeout_ms, 75); // 1.5 periods
    assert.ok(r.stale_ms >= 150, "at least 3 periods"); // the floor belongs to the health stage
    assert.equal(rig.sensors[0]!.timeout_ms, 150); // capped at 150 ms
    assert.equal(rig.align.late_policy, "drop");
    assert.equal(rig.align.motion_compensation, true);
    assert.equal(rig.align.ego.gnss_velocity_std_mps, 0.2);
  });

  it("an invalid align parameter names the field and the reason", () => {
    assert.throws(
      () => parseRig({ ...minimal, align: { late_policy: "later" } }, "x.yaml"),
      (e: unknown) => e instanceof ConfigError && /^x\.yaml: align\.late_policy: /.test(e.message),
    );
    assert.throws(
      () => parseRig({ ...minimal, align: { reorder_window_ms: -1 } }, "x.yaml"),
      (e: unknown) => e instanceof ConfigError && /align\.reorder_window_ms/.test(e.message),
    );
  });

  it("a YAML file with a bad sensor field names it", () => {
    const f = join(dir, "bad.yaml");
    writeFileSync(f, "name: b\nreference: l\nsensors:\n  - { id: l, kind: lidar, rate_hz: -5 }\n");
    assert.throws(
      () => loadRig(f),
      (e: unknown) => e instanceof ConfigError && /sensors\.0\.rate_hz/.test(e.message),
    );
  });

  it("JSON files load too", () => {
    const f = join(dir, "ok.json");
    writeFileSync(f, JSON.stringify(minimal));
    assert.equal(loadRig(f).name, "m");
  });

  it("an unknown reference and duplicate ids are refused", () => {
    assert.throws(() => parseRig({ ...minimal, reference: "nope" }), /reference: no sensor with id 'nope'/);
    assert.throws(
      () => parseRig({ ...minimal, sensors: [minimal.sensors[0], minimal.sensors[0]] }),
      /sensors\.1\.id: duplicate id 'l'/,
    );
  });
});
