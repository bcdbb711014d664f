/** Real headless Chromium (Debian package `chromium`) driven by playwright-core. */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

export function chromiumPath(): string {
  const p = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
  if (!existsSync(p))
    throw new Error(`chromium not found at ${p} (apt-get install chromium, or set CHROMIUM_BIN)`);
  return p;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${mkdtempSync(join(tmpdir(), "chromium-"))}`,
    ],
  });
}
