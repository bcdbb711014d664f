/** Absurd configuration is refused with one clear line (issue 18, defect 10). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import YAML from "yaml";
import { ConfigError, loadRig, parseRig } from "../../src/rig/load.ts";
import { runSync } from "../../harness/cli.ts";

const sensors = (): {
  id: string;
  kind: string;
  rate_hz: number;
  extrinsic: { translation_m: number[] };
}[] => [
  { id: "lidar", kind: "lidar", rate_hz: 10, extrinsic: { translation_m: [1, 0, 2] } },
  { id: "radar", kind: "radar", rate_hz: 13, extrinsic: { translation_m: [0, 0, 0] } },
];

test("a LiDAR translation of 1e308 is refused, naming the field", () => {
  const s = sensors();
  s[0]!.extrinsic.translation_m = [1e308, 0, 2];
  assert.throws(
    () => parseRig({ name: "t", reference: "lidar", sensors: s }, "bad.yaml"),
    (e: Error) =>
      e instanceof ConfigError &&
      /bad\.yaml: sensors\.0\.extrinsic\.translation_m\.0: .*100 m/.test(e.message),
  );
});

test("absurd numbers in stage parameters and rotations are refused too", () => {
  const rot = sensors() as { extrinsic?: { rotation_rpy_rad?: number[] } }[];
  rot[1]!.extrinsic = { rotation_rpy_rad: [0, 0, 1e9] };
  assert.throws(
    () => parseRig({ name: "t", reference: "lidar", sensors: rot }),
    /rotation_rpy_rad\.2: an angle beyond 2 pi/,
  );
  assert.throws(
    () => parseRig({ name: "t", reference: "lidar", sensors: sensors(), align: { idle_stop_ms: 1e308 } }),
    /align\.idle_stop_ms: 1e\+308 is beyond/,
  );
  for (const p of ["sim", "nuscenes", "kitti"]) assert.ok(loadRig(p), `preset ${p} still loads`);
});

test("serve with such a rig file: one line naming the file and field, exit 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "rig-absurd-"));
  try {
    const s = sensors();
    s[0]!.extrinsic.translation_m = [1e308, 0, 2];
    const file = join(dir, "rig.yaml");
    writeFileSync(file, YAML.stringify({ name: "t", reference: "lidar", sensors: s }));
    const r = runSync(["serve", "--rig", file, "--no-sim", "--http", "off"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /rig\.yaml: sensors\.0\.extrinsic\.translation_m\.0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
