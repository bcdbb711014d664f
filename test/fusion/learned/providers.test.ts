import assert from "node:assert/strict";
import { test } from "node:test";
import { providerOption } from "../../../src/fusion/learned/ort-options.mjs";
import { autoProviders } from "../../../src/fusion/learned/session.ts";

test("--ep auto never picks webgpu (slower than one CPU core at batch 1, DECISIONS L24)", () => {
  const order = autoProviders();
  assert.equal(order.at(-1), "cpu");
  assert.ok(!order.includes("webgpu"), order.join(","));
});

test("webgpu runs in NCHW layout (its NHWC 3x3 Conv over 6 channels is wrong, DECISIONS L24)", () => {
  assert.deepEqual(providerOption("webgpu"), { name: "webgpu", preferredLayout: "NCHW" });
  assert.equal(providerOption("cpu"), "cpu");
  assert.deepEqual(providerOption("cuda"), { name: "cuda" });
});
