/** The dashboard in a real headless Chromium: fused objects and sensor states arrive live over websocket. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { launchChromium } from "../helpers/browser.ts";
import { type Running, spawnFusion } from "../helpers/cli.ts";
import { needs } from "../helpers/programs.ts";

const skip = needs("chromium");

describe("dashboard in a real headless Chromium", { skip }, () => {
  let svc: Running;
  let browser: Browser;
  let url: string;

  before(async () => {
    svc = spawnFusion(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--seed", "2"]);
    url = (await svc.waitFor(/dashboard on (http:\/\/[\d.:]+)/))[1]!;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await svc?.stop();
  });

  test("dashboard: draws fused objects and per-sensor states live", async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    // Frames stream in over the websocket: the counter grows.
    await page.waitForFunction(() => Number(document.body.dataset.frames ?? 0) >= 5, undefined, {
      timeout: 20_000,
    });
    const first = Number(await page.evaluate(() => document.body.dataset.frames));
    await page.waitForFunction((n) => Number(document.body.dataset.frames ?? 0) >= n + 5, first, {
      timeout: 10_000,
    });
    await page.waitForFunction(
      () => Number(document.getElementById("objects-count")?.textContent ?? 0) > 0,
      undefined,
      {
        timeout: 15_000,
      },
    );
    const sensors = await page.$$eval("#sensors tbody tr", (rows) =>
      rows.map((r) => [(r as HTMLElement).dataset.sensor, (r as HTMLElement).dataset.state]),
    );
    assert.deepEqual(sensors.map((s) => s[0]).sort(), ["cam_front", "gnss", "imu", "lidar", "radar_front"]);
    for (const [, st] of sensors) assert.match(String(st), /^(OK|DEGRADED|STALE|FAILED|UNSPECIFIED)$/);
    assert.match((await page.textContent("#mode")) ?? "", /NOMINAL|DEGRADED|MINIMAL|SAFE_STOP/);
    // The canvas shows something beyond the background: count non-background pixels.
    const drawn = await page.evaluate(() => {
      const c = document.getElementById("bev") as HTMLCanvasElement;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i]! > 0x40 || d[i + 1]! > 0x40 || d[i + 2]! > 0x40) n++;
      return n;
    });
    assert.ok(drawn > 500, `drawn pixels ${drawn}`);
    if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
