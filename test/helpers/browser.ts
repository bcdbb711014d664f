/** Real headless (playwright gives each launch a fresh temporary profile) Chromium (Debian package `chromium`) driven by playwright-core. */
import { type Browser, chromium } from "playwright-core";
import { requireProgram } from "../../harness/programs.ts";

/** Chromium on PATH (or CHROMIUM_BIN); tests pass `{ skip: needs("chromium") }`. */
export function chromiumPath(): string {
  return requireProgram("chromium");
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
