/** Shared helpers of the learned-fusion tests: the Python that runs train/ (PyTorch), repo paths. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { noteSkip, searchDirs } from "../../../harness/programs.ts";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
/**
 * The Python that runs train/: $PYTHON, else the first `python3` on PATH (sbin siblings too) that
 * can import torch and onnx (a PATH may start with a pyenv or venv Python without them), else the
 * first `python3` on PATH, else plain "python3" (the tests then skip with one line, or fail under CI).
 */
export const PYTHON = process.env.PYTHON ?? findPython();

function findPython(): string {
  const found: string[] = [];
  for (const d of searchDirs(process.env.PATH)) {
    const p = join(d, "python3");
    try {
      accessSync(p, constants.X_OK);
      found.push(p);
    } catch {}
  }
  const withTorch = found.find(
    (p) => spawnSync(p, ["-c", "import torch, onnx"], { stdio: "ignore", timeout: 60_000 }).status === 0,
  );
  return withTorch ?? found[0] ?? "python3";
}

/**
 * null when PyTorch + onnx are importable, else the one-line reason (the test is then skipped and the
 * skip listed in the run's summary). Under CI=true nothing is skipped: the test fails instead.
 */
export function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ["-c", "import torch, onnx"], { encoding: "utf8" });
  if (r.status === 0 || process.env.CI === "true") return null;
  const why = (r.stderr || r.error?.message || "").trim().split("\n").pop();
  const msg = `python: ${PYTHON} cannot import torch/onnx (${why}); training tests skipped; install: apt-get install python3-torch python3-onnx, or set PYTHON`;
  noteSkip(msg);
  return msg;
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
