/**
 * Access control of the dashboard's HTTP server (page, API, websocket and Foxglove endpoint):
 * - a token, required when the server is bound beyond loopback (from `--token-file` or
 *   FUSION_DASHBOARD_TOKEN), accepted as `Authorization: Bearer`, the `fusion_token` cookie the page
 *   sets after one visit with `?token=`, or `?token=` itself (the Foxglove app can only pass a URL);
 * - a Host check while bound to loopback (a DNS-rebinding page reaches 127.0.0.1 under its own
 *   name, which is refused);
 * - an Origin check on websockets: none (non-browser clients), the page's own origin, or a listed
 *   one (the Foxglove web app for the Foxglove endpoint); `null` is refused.
 */
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";

export const TOKEN_ENV = "FUSION_DASHBOARD_TOKEN";
export const TOKEN_COOKIE = "fusion_token";
/** Origins allowed on the Foxglove endpoint besides the page's own. */
export const FOXGLOVE_ORIGINS = ["https://app.foxglove.dev"];

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Read a token file (first line, trimmed); errors are one line naming the file. */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw Object.assign(
      new Error(
        `--token-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      ),
      {
        code: "E_USAGE",
      },
    );
  }
  const token = text.split("\n")[0]!.trim();
  if (token.length < 16)
    throw Object.assign(new Error(`--token-file: ${file}: the token must have at least 16 characters`), {
      code: "E_USAGE",
    });
  return token;
}

/** Host part of a Host header ("[::1]:8080" -> "::1", "a.b:80" -> "a.b"). */
export function hostOf(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(header.trim());
  return m ? m[1]!.replace(/^\[|\]$/g, "").toLowerCase() : null;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function tokenOf(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  const url = new URL(req.url ?? "/", "http://x");
  const q = url.searchParams.get("token");
  if (q) return q;
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === TOKEN_COOKIE) return decodeURIComponent(v.join("="));
  }
  return null;
}

export interface AccessPolicy {
  /** Address the server is bound to. */
  bindHost: string;
  /** Required token, or null (only allowed on loopback). */
  token: string | null;
}

export type Verdict = { ok: true } | { ok: false; status: number; reason: string };

/** Host and token checks, for every request and upgrade. */
export function checkRequest(req: IncomingMessage, p: AccessPolicy): Verdict {
  const host = hostOf(req.headers.host);
  if (!host) return { ok: false, status: 400, reason: "missing or malformed Host header" };
  if (isLoopbackHost(p.bindHost) && !isLoopbackHost(host) && host !== p.bindHost)
    return { ok: false, status: 403, reason: `Host '${host}' is not this loopback server (DNS rebinding?)` };
  if (p.token !== null) {
    const t = tokenOf(req);
    if (t === null || !safeEqual(t, p.token))
      return { ok: false, status: 401, reason: "token missing or wrong" };
  }
  return { ok: true };
}

/** Origin check for websocket upgrades; `extra` lists further allowed origins. */
export function checkOrigin(req: IncomingMessage, extra: readonly string[] = []): Verdict {
  const origin = req.headers.origin;
  if (origin === undefined) return { ok: true };
  if (extra.includes(origin)) return { ok: true };
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return { ok: false, status: 403, reason: `Origin '${origin}' refused` };
  }
  if ((u.protocol === "http:" || u.protocol === "https:") && u.host === req.headers.host) return { ok: true };
  return { ok: false, status: 403, reason: `Origin '${origin}' refused` };
}
