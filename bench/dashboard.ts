/**
 * dashboard: the frame rate the live page sustains in a real headless Chromium, with the service
 * fusing the simulator's nuScenes-like rig (1 LiDAR, 5 radars, 6 cameras) at 20 Hz.
 *  - draws_per_s: bird's-eye-view redraws per second as data arrives (the page redraws when a
 *    frame or a sensor layer changes, at most once per animation frame), median of the windows;
 *  - frames_per_s: fused frames the page received per second over the same windows (the draw rate
 *    cannot usefully exceed the data rate);
 *  - forced_draws_per_s: redraws per second when every animation frame is forced dirty (headroom);
 *  - draw_ms_p50 / draw_ms_p99: time of one BEV.draw call (points, radar, objects, truth, trails).
 * Headless Chromium renders in software (--disable-gpu) on this machine's CPU, beside the service,
 * so the figures are a floor for a desktop browser with a GPU.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import type { BenchOptions } from "../src/cli/bench.ts";
import { median, quantile } from "./_stats.ts";
import { findProgram } from "../harness/programs.ts";

const BIN = fileURLToPath(new URL("../bin/fusion.js", import.meta.url));

/** `fusion serve …` as a child process; resolves with the dashboard URL it prints. */
function serve(args: string[]) {
  const proc = spawn(process.execPath, [BIN, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve printed no dashboard URL in 60 s:\n${out.slice(-2000)}`)),
      60_000,
    );
    const onData = (d: Buffer) => {
      out = (out + d.toString()).slice(-100_000);
      const m = /dashboard on (http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}):\n${out.slice(-2000)}`));
    });
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.on("exit", () => resolve());
      proc.kill("SIGTERM");
      setTimeout(() => proc.kill("SIGKILL"), 5000).unref();
    });
  return { url, stop };
}

interface DashWindow {
  __dash: { draws: number; frames: number; dirty: boolean };
  __drawMs: number[];
  __force: boolean;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const chromiumBin = findProgram("chromium");
  if (!chromiumBin)
    return { draws_per_s: null, note: "chromium not on PATH (apt-get install chromium): nothing measured" };
  const windows = opts.quick ? 2 : 6;
  const windowS = 5;
  const svc = serve(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--rig", "nuscenes", "--seed", "2"]);
  const browser = await chromium.launch({
    executablePath: chromiumBin,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  try {
    const url = await svc.url;
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    await page.goto(url);
    await page.waitForFunction(() => Number(document.body.dataset.frames ?? 0) >= 20, undefined, {
      timeout: 60_000,
    });
    // Time every BEV.draw, and optionally force a redraw on every animation frame.
    // (A string, not a function: tsx would wrap named inner functions in a helper the page lacks.)
    await page.evaluate(`(() => {
      window.__drawMs = [];
      window.__force = false;
      const orig = BEV.draw;
      BEV.draw = (...a) => {
        const t = performance.now();
        const r = orig(...a);
        window.__drawMs.push(performance.now() - t);
        return r;
      };
      const force = () => {
        if (window.__force) window.__dash.dirty = true;
        requestAnimationFrame(force);
      };
      requestAnimationFrame(force);
    })()`);
    const sample = () =>
      page.evaluate(() => {
        const w = window as unknown as DashWindow;
        return { draws: w.__dash.draws, frames: w.__dash.frames, t: performance.now() };
      });
    const measure = async (force: boolean) => {
      await page.evaluate((f) => {
        (window as unknown as DashWindow).__force = f;
      }, force);
      await new Promise((r) => setTimeout(r, 1000));
      const draws: number[] = [];
      const frames: number[] = [];
      for (let i = 0; i < windows; i++) {
        const a = await sample();
        await new Promise((r) => setTimeout(r, windowS * 1000));
        const b = await sample();
        const dt = (b.t - a.t) / 1000;
        draws.push((b.draws - a.draws) / dt);
        frames.push((b.frames - a.frames) / dt);
      }
      return { draws, frames };
    };
    await page.evaluate(() => {
      (window as unknown as DashWindow).__drawMs = [];
    });
    const live = await measure(false);
    const drawMs = await page.evaluate(() => (window as unknown as DashWindow).__drawMs.splice(0));
    const forced = await measure(true);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return {
      draws_per_s: r2(median(live.draws)),
      draws_per_s_min: r2(Math.min(...live.draws)),
      frames_per_s: r2(median(live.frames)),
      forced_draws_per_s: r2(median(forced.draws)),
      draw_ms_p50: r2(median(drawMs)),
      draw_ms_p99: r2(quantile(drawMs, 0.99)),
      draws_measured: drawMs.length,
      windows,
      window_s: windowS,
      draws_per_s_windows: live.draws.map(r2),
      rig: "nuscenes (simulated nuScenes-like rig, 20 Hz LiDAR)",
    };
  } finally {
    await browser.close();
    await svc.stop();
  }
}
