#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's test runner through tsx (Node 20's --test has no globs),
// then prints a summary of the tests skipped for a missing system program (harness/programs.ts).
// Usage: node scripts/run-tests.mjs [filter-substring ...]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const filters = process.argv.slice(2);
const files = readdirSync("test", { recursive: true })
  .map((f) => join("test", String(f)))
  .filter((f) => f.endsWith(".test.ts"))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), "fusion-tests-"));
const skipsFile = join(dir, "skips.tsv");
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=1", ...files],
  { stdio: "inherit", env: { ...process.env, FUSION_TEST_SKIPS: skipsFile } },
);
let lines = [];
try {
  lines = readFileSync(skipsFile, "utf8").split("\n").filter(Boolean);
} catch {}
rmSync(dir, { recursive: true, force: true });
const byReason = new Map();
for (const l of lines) {
  const [reason, file] = l.split("\t");
  if (!byReason.has(reason)) byReason.set(reason, new Set());
  if (file) byReason.get(reason).add(file);
}
if (byReason.size === 0) {
  console.log("\nskipped for missing system programs: none");
} else {
  console.log(`\nskipped for missing system programs (${byReason.size}); CI=true makes these failures:`);
  for (const [reason, fs] of byReason) console.log(`  - ${reason} [${[...fs].sort().join(", ")}]`);
}
process.exit(r.status ?? 1);
