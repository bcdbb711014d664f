/** Real headless (playwright gives each launch a fresh temporary profile) Chromium (Debian package `chromium`) driven by playwright-core. */
import { existsSync } from "node:fs";
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
    ],
  });
}
