/**
 * Which file of a model the engine serves: the float model `fusion-<mode>.onnx` or its int8 sibling
 * `fusion-<mode>.int8.onnx` (train/quantize.ts; docs/fusion-learned.md "int8 model", DECISIONS H6).
 *
 * - `fp32`: the float file.
 * - `int8`: the int8 file; an error when it is missing or was quantized from another float file.
 * - `auto` (default): the int8 file on the CPU provider when it exists and was quantized from this
 *   very float file (its `quantization` metadata names the float file's sha256), else the float
 *   file. GPU providers get the float file: int8 convolutions are a CPU speed-up.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readOnnxMetadata } from "./contract.ts";

export type ModelPrecision = "auto" | "fp32" | "int8";
export const MODEL_PRECISIONS: readonly ModelPrecision[] = ["auto", "fp32", "int8"];

export interface ServedModel {
  path: string;
  precision: "fp32" | "int8";
  /** Why `auto` chose the float file when an int8 file was looked for; absent otherwise. */
  note?: string;
}

/** `models/fusion-x.onnx` -> `models/fusion-x.int8.onnx`. */
export function int8PathOf(modelPath: string): string {
  return modelPath.replace(/(\.int8)?\.onnx$/, "") + ".int8.onnx";
}

/** Why an int8 file cannot stand in for `floatPath`, or null when it can. */
export function int8Mismatch(floatPath: string, q8Path: string): string | null {
  if (!existsSync(q8Path)) return `no ${q8Path} (npm run quantize writes it)`;
  let meta: { source?: { sha256?: string } };
  try {
    meta = JSON.parse(readOnnxMetadata(readFileSync(q8Path))["quantization"] ?? "null") ?? {};
  } catch (e) {
    return `${q8Path}: unreadable quantization metadata (${(e as Error).message})`;
  }
  if (!meta.source?.sha256) return `${q8Path} carries no 'quantization' metadata`;
  if (!existsSync(floatPath)) return null; // shipped without its float file: nothing to compare
  const sha = createHash("sha256").update(readFileSync(floatPath)).digest("hex");
  return meta.source.sha256 === sha
    ? null
    : `${q8Path} was quantized from another float model (sha256 differs)`;
}

/**
 * The file to serve for `modelPath` (a float model, or an int8 file named directly, which is served
 * as it is) at `precision` on a provider. `cpuProvider`: the session will run on the CPU provider.
 */
export function servedModel(modelPath: string, precision: ModelPrecision, cpuProvider: boolean): ServedModel {
  if (/\.int8\.onnx$/.test(modelPath)) return { path: modelPath, precision: "int8" };
  if (precision === "fp32") return { path: modelPath, precision: "fp32" };
  const q8 = int8PathOf(modelPath);
  const why = int8Mismatch(modelPath, q8);
  if (precision === "int8") {
    if (why) throw new Error(`model precision int8: ${why}`);
    return { path: q8, precision: "int8" };
  }
  if (!cpuProvider) return { path: modelPath, precision: "fp32", note: "GPU provider: float model" };
  return why ? { path: modelPath, precision: "fp32", note: why } : { path: q8, precision: "int8" };
}
