/** The first hour of a new user: the defects found on a fresh clone stay fixed (issue 17). */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeHealthReport } from "../../src/msg/codec.ts";
import { SystemMode } from "../../src/msg/types.ts";
import { REPO, runSync, spawnFusion } from "../../harness/cli.ts";
import { Collector } from "../../harness/mqtt-collect.ts";

test("first hour: --version prints the package version", () => {
  const r = runSync(["--version"]);
  assert.equal(r.code, 0);
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
  assert.match(r.stdout, new RegExp(`^fusion ${pkg.version.replace(/\./g, "\\.")} `));
});

test("first hour: bad serve values exit 2 with one line before anything connects", () => {
  const cases: [string[], RegExp][] = [
    [["serve", "--faults", "lidar:explode@1s"], /^fusion serve: --faults: .*unknown kind 'explode'/],
    [
      ["serve", "--faults", "nosuch:drop@1s+1s"],
      /^fusion serve: --faults: .*no sensor or sensor kind 'nosuch'/,
    ],
    [["serve", "--vehicles", "-1"], /^fusion serve: --vehicles: expected an integer >= 1.*got '-1'/],
  ];
  for (const [args, re] of cases) {
    // A port nobody listens on: were it to connect first, it would hang or fail differently.
    const r = runSync([...args, "--listen", "127.0.0.1:0", "--http", "off"], 15_000);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("first hour: a bad rig file lists all of its problems on one line", () => {
  const dir = mkdtempSync(join(tmpdir(), "rig-"));
  const f = join(dir, "bad.yaml");
  writeFileSync(f, "name: x\nsensors: 3\n");
  const r = runSync(["serve", "--rig", f]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /bad\.yaml: reference: .*; sensors: .*\(2 problems\)$/m);
  assert.doesNotMatch(r.stderr, /more\)/);
});

test("first hour: `fusion sim` against a live `serve --no-sim` reaches NOMINAL without --start-ns, and `fusion echo` decodes", async () => {
  const svc = spawnFusion(["serve", "--no-sim", "--listen", "127.0.0.1:0", "--http", "off"]);
  let sim: ReturnType<typeof spawnFusion> | undefined;
  let col: Collector | undefined;
  try {
    const url = (await svc.waitFor(/embedded MQTT broker on (mqtt:\/\/[\d.:]+)/))[1]!;
    col = await Collector.connect(url, ["fusion/sim-1/health"]);
    sim = spawnFusion(["sim", "--broker", url]);
    const c = col;
    const nominal = () =>
      c.on("fusion/sim-1/health").some((m) => {
        const h = decodeHealthReport(m.payload);
        return h.ok && h.value.mode === SystemMode.NOMINAL;
      });
    await c.until(nominal, 30_000, "a NOMINAL health report");
    for (const m of c.on("fusion/sim-1/health")) {
      const h = decodeHealthReport(m.payload);
      assert.ok(h.ok);
      assert.ok(!h.value.reasons.some((r) => /clock/.test(r)), `no clock skew: ${h.value.reasons}`);
    }
    // echo: decoded JSON lines, bytes summarised.
    const echo = spawnFusion(["echo", "fusion/sim-1/sensors/lidar", "--broker", url, "-n", "2"]);
    const { code } = await echo.exited;
    assert.equal(code, 0, echo.output());
    const lines = echo.output().trim().split("\n");
    assert.equal(lines.length, 2, echo.output());
    for (const l of lines) {
      const j = JSON.parse(l);
      assert.equal(j.topic, "fusion/sim-1/sensors/lidar");
      assert.equal(j.type, "fusion.v1.SensorMessage");
      assert.equal(j.message.header.vehicle, "sim-1");
      assert.match(j.message.header.stampNs, /^\d{19}$/);
      assert.ok(j.message.pointCloud.data.bytes > 1000, l.slice(0, 300));
    }
  } finally {
    await col?.close();
    await sim?.stop();
    await svc.stop();
  }
});
