/** WindowCounter and hysteresis helpers. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hysteresis, WindowCounter } from "../../src/health/window.ts";

const MS = 1e6;
const T0 = 1.8e18;

describe("WindowCounter", () => {
  test("counts events inside the window and forgets them after it", () => {
    const w = new WindowCounter(1000 * MS, 10);
    for (let i = 0; i < 10; i++) w.add(T0 + i * 100 * MS);
    assert.equal(w.sum(T0 + 950 * MS), 10);
    // the oldest buckets fall out as time advances
    assert.equal(w.sum(T0 + 1450 * MS), 5);
    assert.equal(w.sum(T0 + 5000 * MS), 0);
  });

  test("ignores events older than the window, accepts late ones inside it", () => {
    const w = new WindowCounter(1000 * MS, 10);
    w.add(T0 + 2000 * MS);
    w.add(T0 + 500 * MS); // older than the window ending at 2 s
    w.add(T0 + 1500 * MS, 3); // late but inside
    assert.equal(w.sum(T0 + 2000 * MS), 4);
  });

  test("span covers the window from the start of its oldest bucket", () => {
    const w = new WindowCounter(1000 * MS, 10);
    const span = w.spanNs(T0 + 2050 * MS);
    // nine full buckets plus the part of the newest one elapsed so far
    assert.ok(Math.abs(span - 950 * MS) < 1000, `${span / MS} ms`);
  });

  test("reset clears every bucket", () => {
    const w = new WindowCounter(1000 * MS, 10);
    w.add(T0, 5);
    w.reset();
    assert.equal(w.sum(T0), 0);
  });
});

describe("hysteresis", () => {
  test("raises above on, clears below off, holds in between", () => {
    assert.equal(hysteresis(false, 11, 10, 8), true);
    assert.equal(hysteresis(true, 9, 10, 8), true);
    assert.equal(hysteresis(true, 7.9, 10, 8), false);
    assert.equal(hysteresis(false, 9, 10, 8), false);
  });
});
