/**
 * The import rules (.dependency-cruiser.cjs, run by `npm run lint`) fail when broken: a small tree
 * with one violation of each rule is cruised with the project's configuration, and the project
 * itself passes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const DEPCRUISE = join(REPO, "node_modules", ".bin", "depcruise");
const CONFIG = join(REPO, ".dependency-cruiser.cjs");

function cruise(cwd: string, dirs: string[]) {
  const r = spawnSync(DEPCRUISE, ["--config", CONFIG, ...dirs], { cwd, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test("import rules: each rule fails on a tree that breaks it", () => {
  const dir = mkdtempSync(join(tmpdir(), "depcruise-"));
  try {
    const files: Record<string, string> = {
      "tsconfig.json": JSON.stringify({
        compilerOptions: { allowImportingTsExtensions: true, noEmit: true },
      }),
      // runtime code importing the simulator
      "src/align/ego.ts": 'import { g } from "../../sim/geo.ts";\nexport const e = g;\n',
      "sim/geo.ts": "export const g = 1;\n",
      // a cycle
      "src/a.ts": 'import { b } from "./b.ts";\nexport const a = () => b;\n',
      "src/b.ts": 'import { a } from "./a.ts";\nexport const b = () => a;\n',
      // a part importing the CLI
      "src/service.ts": 'import { main } from "./cli/main.ts";\nexport const s = main;\n',
      "src/cli/main.ts": "export const main = 1;\n",
      // a bench importing a test file
      "bench/capacity.ts": 'import { h } from "../test/helpers/x.ts";\nexport const c = h;\n',
      "test/helpers/x.ts": "export const h = 1;\n",
      // a bench that used to be the known exception, and the shared harness, importing the test harness
      "bench/e2e.ts": 'import { h } from "../test/helpers/x.ts";\nexport const e = h;\n',
      "harness/mosquitto.ts": 'import { h } from "../test/helpers/x.ts";\nexport const m = h;\n',
      // runtime code importing the harness
      "src/telemetry/influx.ts": 'import { m } from "../../harness/mosquitto.ts";\nexport const i = m;\n',
      // one engine leaning on the other, and a shared library importing an engine
      "src/fusion/learned/refine.ts": 'import { d } from "../classical/detect.ts";\nexport const r = d;\n',
      "src/fusion/classical/detect.ts": "export const d = 1;\n",
      "src/fusion/lidar/cluster.ts": 'import { d } from "../classical/detect.ts";\nexport const c = d;\n',
    };
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, p)), { recursive: true });
      writeFileSync(join(dir, p), text);
    }
    const r = cruise(dir, ["src", "sim", "bench", "harness", "test"]);
    assert.notEqual(r.code, 0, r.out);
    for (const rule of [
      "runtime-not-to-tools",
      "no-circular",
      "only-cli-imports-cli",
      "shipped-not-to-test",
      "engines-apart",
      "shared-fusion-not-to-engines",
    ])
      assert.match(r.out, new RegExp(`error ${rule}:`), `${rule} not reported:\n${r.out}`);
    for (const [rule, from] of [
      ["shipped-not-to-test", "bench/e2e.ts"],
      ["shipped-not-to-test", "harness/mosquitto.ts"],
      ["runtime-not-to-tools", "src/telemetry/influx.ts"],
    ])
      assert.match(
        r.out,
        new RegExp(`error ${rule}: ${from.replace(".", "\\.")}`),
        `${rule} ${from}:\n${r.out}`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("import rules: the project passes them", () => {
  const r = cruise(REPO, ["src", "sim", "bench", "train", "harness", "test"]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /no dependency violations found/);
});
