/** Types of ./ort-options.mjs (plain JS, loaded by the worker without the tsx hook). */
export function providerOption(
  provider: "cpu" | "webgpu" | "cuda",
): "cpu" | { name: string; preferredLayout?: "NCHW" };
