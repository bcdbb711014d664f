/** Dashboard security (issue 18, point 3): token beyond loopback, Host and Origin checks, a connection limit. */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { WebSocket } from "ws";
import { startDashboard } from "../../src/dashboard/server.ts";
import { runSync } from "../../harness/cli.ts";

const TOKEN = "0123456789abcdef-test-token";

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers }, (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Open a websocket; resolves "open" or the HTTP status of the refusal. */
function ws(
  url: string,
  opts: { origin?: string; headers?: Record<string, string>; protocols?: string[] } = {},
) {
  return new Promise<{ result: "open" | number; sock: WebSocket }>((resolve) => {
    const sock = new WebSocket(url, opts.protocols ?? [], { origin: opts.origin, headers: opts.headers });
    sock.once("open", () => resolve({ result: "open", sock }));
    sock.once("unexpected-response", (_req, res) => resolve({ result: res.statusCode ?? 0, sock }));
    sock.once("error", () => resolve({ result: 0, sock }));
  });
}

test("security: --http beyond loopback without a token exits 2 with one line; a short token too", async () => {
  const r = runSync(["serve", "--http", "0.0.0.0:0", "--listen", "127.0.0.1:0"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /--http 0\.0\.0\.0:0 is beyond loopback: .*--token-file FILE/);
  const dir = mkdtempSync(join(tmpdir(), "tok-"));
  writeFileSync(join(dir, "t"), "short\n");
  const r2 = runSync(["serve", "--http", "0.0.0.0:0", "--token-file", join(dir, "t")]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /at least 16 characters/);
  const r3 = runSync(["serve", "--http", "0.0.0.0:0", "--token-file", join(dir, "missing")]);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /--token-file: cannot read/);
  await assert.rejects(startDashboard({ host: "0.0.0.0", port: 0 }), /needs a token/);
});

test("security: beyond loopback the page, API, websocket and Foxglove endpoint need the token", async () => {
  const d = await startDashboard({ host: "0.0.0.0", port: 0, token: TOKEN, status: () => ({ ok: 1 }) });
  try {
    for (const path of ["/", "/app.js", "/api/status"])
      assert.equal((await get(d.port, path)).status, 401, path);
    assert.equal(
      (await get(d.port, "/api/status", { authorization: "Bearer wrong-token-0000000" })).status,
      401,
    );
    assert.equal((await get(d.port, "/api/status", { authorization: `Bearer ${TOKEN}` })).status, 200);
    // ?token= sets an HttpOnly cookie, which then suffices.
    const page = await get(d.port, `/?token=${TOKEN}`);
    assert.equal(page.status, 200);
    const cookie = String(page.headers["set-cookie"]);
    assert.match(cookie, /fusion_token=.*HttpOnly; SameSite=Strict/);
    assert.equal((await get(d.port, "/app.js", { cookie: cookie.split(";")[0]! })).status, 200);
    const base = `ws://127.0.0.1:${d.port}`;
    assert.equal((await ws(`${base}/ws`)).result, 401);
    assert.equal((await ws(base, { protocols: ["foxglove.websocket.v1"] })).result, 401);
    const ok = await ws(`${base}/ws?token=${TOKEN}`);
    assert.equal(ok.result, "open");
    ok.sock.close();
    const fox = await ws(`${base}/?token=${TOKEN}`, { protocols: ["foxglove.websocket.v1"] });
    assert.equal(fox.result, "open");
    fox.sock.close();
  } finally {
    await d.close();
  }
});

test("security: on loopback a foreign Host (DNS rebinding) and foreign or null Origins are refused", async () => {
  const d = await startDashboard({ host: "127.0.0.1", port: 0, status: () => ({ ok: 1 }) });
  try {
    assert.equal((await get(d.port, "/api/status")).status, 200);
    assert.equal((await get(d.port, "/api/status", { host: `localhost:${d.port}` })).status, 200);
    const rebind = await get(d.port, "/api/status", { host: `attacker.example:${d.port}` });
    assert.equal(rebind.status, 403);
    assert.match(rebind.body, /DNS rebinding/);
    const base = `ws://127.0.0.1:${d.port}`;
    assert.equal((await ws(`${base}/ws`, { headers: { host: "attacker.example" } })).result, 403);
    assert.equal((await ws(`${base}/ws`, { origin: "http://attacker.example" })).result, 403);
    assert.equal((await ws(`${base}/ws`, { origin: "null" })).result, 403);
    const same = await ws(`${base}/ws`, { origin: `http://127.0.0.1:${d.port}` });
    assert.equal(same.result, "open");
    same.sock.close();
    // The Foxglove web app may connect to the Foxglove endpoint, not to the page's socket.
    const app = await ws(base, { origin: "https://app.foxglove.dev", protocols: ["foxglove.websocket.v1"] });
    assert.equal(app.result, "open");
    app.sock.close();
    assert.equal((await ws(`${base}/ws`, { origin: "https://app.foxglove.dev" })).result, 403);
  } finally {
    await d.close();
  }
});

test("security: the connection limit refuses further websockets with 503 and counts them", async () => {
  const d = await startDashboard({ host: "127.0.0.1", port: 0, maxClients: 2 });
  const socks: WebSocket[] = [];
  try {
    const base = `ws://127.0.0.1:${d.port}/ws`;
    for (let i = 0; i < 2; i++) {
      const c = await ws(base);
      assert.equal(c.result, "open");
      socks.push(c.sock);
    }
    assert.equal((await ws(base)).result, 503);
    assert.equal(d.stats.refused["503"], 1);
    socks.pop()!.close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await ws(base);
    assert.equal(again.result, "open");
    socks.push(again.sock);
  } finally {
    for (const s of socks) s.close();
    await d.close();
  }
});
