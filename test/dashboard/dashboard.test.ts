/**
 * The dashboard in a real headless Chromium: layers draw (points, radar, objects, truth), a sensor
 * tile turns STALE when the simulator drops that sensor, and the page says "disconnected" within
 * 3 s of the service stopping. Screenshots go to test-artifacts/ (git-ignored).
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../helpers/browser.ts";
import { REPO, type Running, spawnFusion } from "../../harness/cli.ts";
import { needs } from "../../harness/programs.ts";

const skip = needs("chromium");
const ARTIFACTS = join(REPO, "test-artifacts");

interface Drawn {
  points: number;
  radar: number;
  rays: number;
  objects: number;
  truth: number;
}

describe("dashboard in a real headless Chromium", { skip }, () => {
  let svc: Running;
  let browser: Browser;
  let page: Page;
  let url: string;
  const errors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // radar_front goes silent 12 s into the run, for good.
    svc = spawnFusion([
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--http",
      "127.0.0.1:0",
      "--seed",
      "2",
      "--faults",
      "radar_front:drop@12s+600s",
    ]);
    url = (await svc.waitFor(/dashboard on (http:\/\/[\d.:]+)/))[1]!;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
  });
  after(async () => {
    await browser?.close();
    await svc?.stop();
  });

  const drawn = async (): Promise<Drawn> =>
    JSON.parse((await page.evaluate(() => document.body.dataset.drawn)) ?? "{}") as Drawn;

  test("points, radar, camera rays, objects and truth layers draw; tiles and plots fill", async () => {
    // Points and radar arrive as binary websocket frames, not JSON.
    const kinds = { binary: 0, text: 0, textWithPoints: 0 };
    page.on("websocket", (w) =>
      w.on("framereceived", (f) => {
        if (typeof f.payload === "string") {
          kinds.text++;
          if (/"type":"points"/.test(f.payload)) kinds.textWithPoints++;
        } else kinds.binary++;
      }),
    );
    await page.goto(url);
    await page.waitForFunction(() => Number(document.body.dataset.frames ?? 0) >= 10, undefined, {
      timeout: 20_000,
    });
    await page.waitForFunction(
      () => {
        const d = JSON.parse(document.body.dataset.drawn ?? "{}");
        return d.points > 1000 && d.objects > 0 && d.truth > 0 && d.radar > 0;
      },
      undefined,
      { timeout: 30_000 },
    );
    const d = await drawn();
    assert.ok(d.points > 1000, `points ${d.points}`);
    assert.ok(d.objects > 0 && d.truth > 0 && d.radar > 0, JSON.stringify(d));
    assert.ok(kinds.binary > 0 && kinds.textWithPoints === 0, JSON.stringify(kinds));
    assert.equal(await page.evaluate(() => document.body.dataset.conn), "live");
    const tiles = await page.$$eval("#tiles .tile", (els) =>
      els.map((e) => [(e as HTMLElement).dataset.sensor, (e as HTMLElement).dataset.state]),
    );
    assert.deepEqual(tiles.map((t) => t[0]).sort(), ["cam_front", "gnss", "imu", "lidar", "radar_front"]);
    for (const [, st] of tiles) assert.match(String(st), /^(OK|DEGRADED|STALE|FAILED|UNSPECIFIED)$/);
    // The radar is live before the fault (its tile is not STALE yet), so the next test sees a change.
    await page.waitForSelector(
      '#tiles .tile[data-sensor="radar_front"]:is([data-state="OK"], [data-state="DEGRADED"])',
      {
        timeout: 10_000,
      },
    );
    assert.match((await page.textContent("#mode")) ?? "", /NOMINAL|DEGRADED|MINIMAL|SAFE_STOP/);
    // uPlot drew its charts.
    assert.equal(await page.$$eval(".plot .uplot canvas", (c) => c.length), 4);
    // Zoomed in far, objects outside the view are counted, not silently lost (paused: one frame).
    await page.click("#pause");
    for (let i = 0; i < 6; i++) await page.click("#zin");
    await page.waitForTimeout(300);
    const z = await page.evaluate(() => {
      const d = (
        window as unknown as {
          __dash: { drawn: Drawn & { offscreen: number }; frame: { objects: unknown[] } };
        }
      ).__dash;
      return { objects: d.drawn.objects, offscreen: d.drawn.offscreen, total: d.frame.objects.length };
    });
    assert.equal(z.objects + z.offscreen, z.total, JSON.stringify(z));
    for (let i = 0; i < 6; i++) await page.click("#zout");
    await page.click("#pause");
    // Switching a layer off stops drawing it.
    await page.click('#layers input[data-layer="points"]');
    await page.waitForFunction(
      () => JSON.parse(document.body.dataset.drawn ?? "{}").points === 0,
      undefined,
      {
        timeout: 5000,
      },
    );
    await page.click('#layers input[data-layer="points"]');
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-live.png") });
    assert.deepEqual(errors, []);
  });

  test("the radar tile turns STALE when the simulator drops it", async () => {
    await page.waitForSelector('#tiles .tile[data-sensor="radar_front"][data-state="STALE"]', {
      timeout: 30_000,
    });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-radar-stale.png") });
  });

  test('the page says "disconnected" and greys out within 3 s of the service stopping', async () => {
    const t0 = Date.now();
    await svc.stop();
    await page.waitForFunction(
      () =>
        document.body.dataset.conn === "disconnected" &&
        /Disconnected/.test(document.getElementById("banner")?.textContent ?? ""),
      undefined,
      { timeout: 3000 },
    );
    const ms = Date.now() - t0;
    assert.ok(ms <= 3000, `${ms} ms`);
    assert.match((await page.textContent("#banner")) ?? "", /Disconnected/);
    assert.equal(await page.evaluate(() => document.body.classList.contains("greyed")), true);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-disconnected.png") });
  });
});
