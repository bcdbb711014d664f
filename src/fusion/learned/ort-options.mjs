// Execution-provider options of the inference worker (./ort-worker.mjs), apart so a test can see them.

/**
 * onnxruntime-node's `executionProviders` entry for a provider. WebGPU runs in NCHW layout: in its
 * default NHWC layout a 3x3 Conv with 6 input channels (each encoder's first layer) gave wrong
 * outputs on an H200 (Vulkan); NCHW matched CPU within 2e-5 (docs/fusion-learned.md "GPU check",
 * DECISIONS L24).
 * @param {"cpu"|"webgpu"|"cuda"} provider
 * @returns {string | {name: string, preferredLayout?: "NCHW"}}
 */
export function providerOption(provider) {
  if (provider === "cpu") return "cpu";
  if (provider === "webgpu") return { name: "webgpu", preferredLayout: "NCHW" };
  return { name: provider };
}
