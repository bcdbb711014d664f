/**
 * Dashboard: an HTTP server that serves one page (public/) and streams JSON over a websocket at /ws.
 * Backpressure is explicit: a client whose send buffer exceeds `maxBufferedBytes` skips messages
 * (counted in stats) until it drains, so one slow browser never grows memory.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { WebSocket, WebSocketServer } from "ws";
import { PortInUseError } from "../broker/embedded.ts";

export interface DashboardOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Per-client send buffer above which messages are skipped, bytes. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** JSON for GET /api/status. */
  status?: () => unknown;
}

export interface DashboardStats {
  clients: number;
  sent: number;
  skipped_backpressure: number;
}

export interface Dashboard {
  url: string;
  port: number;
  stats: DashboardStats;
  /** Send one JSON message to every connected client. */
  broadcast(msg: unknown): void;
  close(): Promise<void>;
}

const PUBLIC = (f: string) => fileURLToPath(new URL(`./public/${f}`, import.meta.url));
const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
};

export async function startDashboard(opts: DashboardOptions = {}): Promise<Dashboard> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 8080;
  const maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
  const stats: DashboardStats = { clients: 0, sent: 0, skipped_backpressure: 0 };
  const cache = new Map<string, Buffer>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === "/api/status") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(opts.status?.() ?? {}));
      return;
    }
    const f = FILES[path];
    if (!f || req.method !== "GET") {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
      return;
    }
    let body = cache.get(f.file);
    if (!body) {
      body = readFileSync(PUBLIC(f.file));
      cache.set(f.file, body);
    }
    res.writeHead(200, { "content-type": f.type, "cache-control": "no-cache" });
    res.end(body);
  };

  const server: Server = createServer(handler);
  const wss = new WebSocketServer({ server, path: "/ws", maxPayload: 64 * 1024 });
  // The ws server re-emits the HTTP server's errors; they are handled on the server below.
  wss.on("error", () => {});
  wss.on("connection", (ws) => {
    stats.clients = wss.clients.size;
    ws.on("close", () => {
      stats.clients = wss.clients.size;
    });
    ws.on("error", () => ws.terminate());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new PortInUseError(`HTTP port ${host}:${port} is already in use (use --http HOST:PORT)`)
          : e,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;

  return {
    url: `http://${host}:${bound}`,
    port: bound,
    stats,
    broadcast(msg) {
      if (wss.clients.size === 0) return;
      const data = JSON.stringify(msg);
      for (const c of wss.clients) {
        if (c.readyState !== WebSocket.OPEN) continue;
        if (c.bufferedAmount > maxBuffered) {
          stats.skipped_backpressure++;
          continue;
        }
        c.send(data);
        stats.sent++;
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => server.close(() => resolve()));
        server.closeAllConnections?.();
      }),
  };
}
