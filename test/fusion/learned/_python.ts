/** Shared helpers of the learned-fusion tests: the Python that runs train/ (PyTorch), repo paths. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";

/** null when PyTorch + onnx are importable, else the reason (the test is then skipped). */
export function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ["-c", "import torch, onnx"], { encoding: "utf8" });
  return r.status === 0
    ? null
    : `${PYTHON} cannot import torch/onnx: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`;
}

export function runPython(args: string[], timeoutMs = 120_000): { stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, args, {
    cwd: REPO,
    encoding: "utf8",
    timeout: timeoutMs,
    env: { ...process.env, OMP_NUM_THREADS: "1" },
  });
  if (r.status !== 0) throw new Error(`${PYTHON} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}
