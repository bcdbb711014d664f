/** The logger under hostile input: escaped, truncated, and one shared budget for limited lines. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, sanitize } from "../../src/util/log.ts";

function capture(opts = {}) {
  const lines: string[] = [];
  let t = 1.7e18;
  const logger = createLogger({ level: "debug", write: (l) => lines.push(l), now: () => t, ...opts });
  return { logger, lines, advance: (ms: number) => (t += ms * 1e6) };
}

test("a newline in an attacker's id cannot forge a log line", () => {
  const { logger, lines } = capture();
  logger.log("warn", "rejected payload on fusion/car\n2026-12-04T00:00:00.000Z ERROR forged/sensors/x");
  logger.log("info", "fields too", { id: "a\r\nb\u2028c" });
  const text = lines.join("");
  assert.equal(text.split("\n").length, 3, "one line per call");
  assert.match(text, /car\\n2026/);
  assert.ok(!/\u2028/.test(text));
});

test("20 messages of 1 MB add kilobytes of log, not 20 MB", () => {
  const { logger, lines, advance } = capture();
  const mb = "x".repeat(1024 * 1024);
  for (let i = 0; i < 20; i++) {
    logger.limited(`decode:v${i}`, "warn", `rejected: ${mb}`, { frame: mb });
    advance(10);
  }
  const bytes = lines.reduce((n, l) => n + l.length, 0);
  assert.ok(bytes < 40_000, `${bytes} bytes of log`);
  assert.match(lines[0]!, /\.\.\.\(\+1048\d+ chars\)/);
});

test("60,000 invented keys share one budget: a handful of lines, the rest counted", () => {
  const { logger, lines, advance } = capture();
  for (let i = 0; i < 60_000; i++) {
    logger.limited(`vehicle:${i}`, "warn", `vehicle fake-${i} rejected`);
    if (i % 100 === 0) advance(10); // 60,000 messages over 6 s
  }
  assert.ok(lines.length <= 20 + 2 * 7, `${lines.length} lines`);
  advance(5000);
  logger.limited("vehicle:last", "warn", "vehicle last rejected");
  assert.match(lines.at(-1)!, /\+\d{4,} other lines suppressed: log budget/);
});

test("sanitize escapes control characters and cuts long text with a count", () => {
  assert.equal(sanitize("a\tb\u0000c"), "a\\tb\\u0000c");
  assert.equal(sanitize("abcdef", 3), "abc...(+3 chars)");
});
