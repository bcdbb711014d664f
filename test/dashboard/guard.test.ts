/**
 * The OOD guard's slot on the dashboard, in a real headless Chromium: `--fusion auto` on the sim rig
 * serves the model (state, engine and distance shown); on the nuscenes rig, which the shipped models
 * were not trained for, it serves classical and the slot says why.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { launchChromium } from "../helpers/browser.ts";
import { REPO, type Running, spawnFusion } from "../../harness/cli.ts";
import { needs } from "../../harness/programs.ts";

const skip = needs("chromium");
const ARTIFACTS = join(REPO, "test-artifacts");

describe("dashboard: the OOD guard slot", { skip }, () => {
  let browser: Browser | undefined;
  const running: Running[] = [];
  after(async () => {
    await browser?.close();
    for (const r of running) await r.stop();
  });

  // `titleRe`: wait for the slot's tooltip too (the first frames may precede any modality sample,
  // and their per-modality list is empty)
  const slotOf = async (rig: string, titleRe = /./) => {
    const svc = spawnFusion([
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--http",
      "127.0.0.1:0",
      "--rig",
      rig,
      "--fusion",
      "auto",
    ]);
    running.push(svc);
    const url = (await svc.waitFor(/dashboard on (http:\/\/[\d.:]+)/, 60_000))[1]!;
    browser ??= await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    // one snapshot of the slot, taken when it matches: the slot changes with every frame, and a
    // second read could see a later frame's state than the one waited for
    const slot = (await (
      await page.waitForFunction(
        (re) => {
          const el = document.getElementById("guard");
          if (!(/→/.test(el?.textContent ?? "") && new RegExp(re).test(el?.title ?? ""))) return null;
          return { text: el!.textContent ?? "", cls: el!.className, title: el!.title };
        },
        titleRe.source,
        { timeout: 30_000 },
      )
    ).jsonValue()) as { text: string; cls: string; title: string };
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `dashboard-guard-${rig}.png`) });
    await page.close();
    await svc.stop();
    assert.deepEqual(errors, [], "no page errors");
    return slot;
  };

  test("sim rig: the model is served, with its distance", async () => {
    const s = await slotOf("sim", /per modality: lidar [\d.]+/);
    assert.match(s.text, /OOD guard: model → intermediate \(distance [\d.]+ of 3\.0\)/);
    assert.match(s.cls, /\bok\b/);
    assert.match(s.title, /per modality: lidar [\d.]+/);
  });

  test("nuscenes rig: classical is served, and the slot says why", async () => {
    const s = await slotOf("nuscenes");
    assert.match(
      s.text,
      /OOD guard: fallback → classical \(rig 'nuscenes' is not the model's training rig 'sim'\)/,
    );
    assert.match(s.cls, /\bwarn\b/);
  });
});
