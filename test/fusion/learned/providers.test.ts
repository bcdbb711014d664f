import assert from "node:assert/strict";
import { test } from "node:test";
import { autoProviders } from "../../../src/fusion/learned/session.ts";

test("--ep auto never picks webgpu (its outputs failed parity with CPU on the GPU check)", () => {
  const order = autoProviders();
  assert.equal(order.at(-1), "cpu");
  assert.ok(!order.includes("webgpu"), order.join(","));
});
