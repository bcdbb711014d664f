/** The discovery of system programs: found on PATH (and sbin siblings), skip lines when absent, CI fails. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  findProgram,
  missingMessage,
  needsIn,
  PROGRAMS,
  type ProgramName,
  searchDirs,
} from "../../harness/programs.ts";
import { REPO } from "../../harness/cli.ts";

test("programs: with an empty PATH nothing is found and each skip line names the program and its install", () => {
  const env = { PATH: "" };
  for (const name of Object.keys(PROGRAMS) as ProgramName[]) {
    assert.equal(findProgram(name, env), null, name);
    const msg = needsIn(env, name);
    assert.equal(typeof msg, "string");
    assert.equal(msg, missingMessage(name, env));
    assert.match(String(msg), new RegExp(`^${name}: .*not found on PATH.*; install: \\S+`));
    assert.ok(!String(msg).includes("\n"), "one line");
  }
  assert.match(String(needsIn(env, "mosquitto")), /apt-get install mosquitto/);
  assert.match(String(needsIn(env, "chromium")), /apt-get install chromium/);
  // Under CI=true nothing is skipped: the test runs and fails on the start helper's error.
  assert.equal(needsIn({ PATH: "", CI: "true" }, "mosquitto", "chromium"), false);
});

test("programs: found on PATH, in a bin folder's sbin sibling, and through the override variable", () => {
  const root = mkdtempSync(join(tmpdir(), "progs-"));
  try {
    mkdirSync(join(root, "bin"));
    mkdirSync(join(root, "sbin"));
    const exe = (p: string) => {
      writeFileSync(p, "#!/bin/sh\nexit 0\n");
      chmodSync(p, 0o755);
      return p;
    };
    const mosq = exe(join(root, "sbin", "mosquitto"));
    const chrome = exe(join(root, "bin", "chromium-browser"));
    writeFileSync(join(root, "bin", "influxd"), "not executable");
    const env = { PATH: join(root, "bin") };
    assert.deepEqual(searchDirs(env.PATH), [join(root, "bin"), join(root, "sbin")]);
    assert.equal(findProgram("mosquitto", env), mosq);
    assert.equal(findProgram("chromium", env), chrome);
    assert.equal(findProgram("influxd", env), null, "a file without x bit is not a program");
    assert.equal(needsIn(env, "mosquitto", "chromium"), false);
    assert.equal(findProgram("mosquitto", { PATH: "", MOSQUITTO_BIN: mosq }), mosq);
    assert.equal(findProgram("mosquitto", { PATH: env.PATH, MOSQUITTO_BIN: join(root, "nope") }), null);
    assert.match(
      missingMessage("mosquitto", { MOSQUITTO_BIN: "/x/y" }),
      /MOSQUITTO_BIN=\/x\/y is not an executable/,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("programs: a run with an empty PATH skips the broker test with one line and ends with a summary", () => {
  const r = spawnSync(process.execPath, ["scripts/run-tests.mjs", "test/helpers/mosquitto.test.ts"], {
    cwd: REPO,
    encoding: "utf8",
    env: { PATH: "", HOME: process.env.HOME ?? tmpdir() },
    timeout: 60_000,
  });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  assert.match(out, /relays a message .*# mosquitto: mosquitto not found on PATH/);
  assert.match(out, /skipped for missing system programs \(1\)/);
  assert.match(
    out,
    /- mosquitto: .*install: apt-get install mosquitto.*\[test\/helpers\/mosquitto\.test\.ts\]/,
  );
  assert.doesNotMatch(out, /Error|at .*\.ts:\d+/, "no stack traces");
  // And under CI=true the same run fails with the one-line reason.
  const ci = spawnSync(process.execPath, ["scripts/run-tests.mjs", "test/helpers/mosquitto.test.ts"], {
    cwd: REPO,
    encoding: "utf8",
    env: { PATH: "", HOME: process.env.HOME ?? tmpdir(), CI: "true" },
    timeout: 60_000,
  });
  assert.notEqual(ci.status, 0);
  assert.match(ci.stdout + ci.stderr, /mosquitto: mosquitto not found on PATH/);
});

test("programs: every test file that starts a system program declares it with needs() (skip or CI failure)", () => {
  const dir = join(REPO, "test");
  const files = readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".test.ts"));
  const starters = /\b(startMosquitto|startInfluxd|startEtcd|launchChromium|requireProgram)\(/;
  const offenders = files.filter((f) => {
    const src = readFileSync(join(dir, f), "utf8");
    return starters.test(src) && !/\bneeds\(/.test(src);
  });
  assert.deepEqual(offenders, [], "test files starting a program without { skip: needs(...) }");
});
