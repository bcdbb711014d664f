/**
 * Dashboard: an HTTP server that serves the page (public/, plus uPlot from node_modules; no build
 * step), `/api/status`, the page's websocket and a Foxglove WebSocket endpoint on the same port
 * (a websocket offering `foxglove.websocket.v1` or `foxglove.sdk.v1` is a Foxglove client, on any path).
 *
 * Every client gets the bounded send rule of queue.ts (latest wins per channel, counted drops).
 * Access rules (token beyond loopback, Host, Origin, connection limit): access.ts.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { type WebSocket, WebSocketServer } from "ws";
import { PortInUseError } from "../broker/embedded.ts";
import { frameView, healthView, truthView } from "../pipeline/dashboard-view.ts";
import {
  type AccessPolicy,
  checkOrigin,
  checkRequest,
  FOXGLOVE_ORIGINS,
  isLoopbackHost,
  TOKEN_COOKIE,
  tokenOf,
} from "./access.ts";
import { type DashboardSource, type Feed, type FeedEvent, startFeed } from "./feed.ts";
import { FOXGLOVE_SUBPROTOCOLS, FoxgloveEndpoint } from "./foxglove.ts";
import { binaryFrame, LatestPerChannel } from "./queue.ts";

export interface DashboardOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Access token; required (non-null) when `host` is not loopback. */
  token?: string | null;
  /** Most websocket clients at once (page and Foxglove together); further upgrades get 503. Default 16. */
  maxClients?: number;
  /** Per-client send buffer above which pending messages wait (and get replaced), bytes. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Largest number of LiDAR points sent per sweep. Default 8000. */
  maxPoints?: number;
  /** A vehicle silent this long leaves the list and the Foxglove channels, ms. Default 300000 (5 min). */
  forgetAfterMs?: number;
  /** JSON for GET /api/status. */
  status?: () => unknown;
  /** The service's streams; without it the page only shows what is broadcast. */
  source?: DashboardSource;
}

export interface DashboardStats {
  clients: number;
  foxgloveClients: number;
  sent: number;
  /** Messages replaced before they could be sent (latest wins per channel), all clients. */
  dropped: number;
  refused: Record<string, number>;
}

export interface Dashboard {
  url: string;
  port: number;
  stats: DashboardStats;
  close(): Promise<void>;
}

const PUBLIC = (f: string) => fileURLToPath(new URL(`./public/${f}`, import.meta.url));
const require = createRequire(import.meta.url);
const UPLOT_DIR = (f: string) => require.resolve(`uplot/dist/${f}`);
const FILES: Record<string, { path: () => string; type: string }> = {
  "/": { path: () => PUBLIC("index.html"), type: "text/html; charset=utf-8" },
  "/index.html": { path: () => PUBLIC("index.html"), type: "text/html; charset=utf-8" },
  "/app.js": { path: () => PUBLIC("app.js"), type: "text/javascript; charset=utf-8" },
  "/bev.js": { path: () => PUBLIC("bev.js"), type: "text/javascript; charset=utf-8" },
  "/style.css": { path: () => PUBLIC("style.css"), type: "text/css; charset=utf-8" },
  "/vendor/uPlot.iife.min.js": {
    path: () => UPLOT_DIR("uPlot.iife.min.js"),
    type: "text/javascript; charset=utf-8",
  },
  "/vendor/uPlot.min.css": { path: () => UPLOT_DIR("uPlot.min.css"), type: "text/css; charset=utf-8" },
};

/** Natural order: sim-2 before sim-10. */
export const naturalCompare = (a: string, b: string) =>
  a.localeCompare(b, "en", { numeric: true, sensitivity: "base" });

interface PageClient {
  ws: WebSocket;
  q: LatestPerChannel;
  vehicle: string | null;
}

export async function startDashboard(opts: DashboardOptions = {}): Promise<Dashboard> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 8080;
  const token = opts.token ?? null;
  if (!isLoopbackHost(host) && token === null)
    throw Object.assign(
      new Error(`dashboard on ${host} is beyond loopback and needs a token (--token-file FILE)`),
      {
        code: "E_USAGE",
      },
    );
  const policy: AccessPolicy = { bindHost: host, token };
  const maxClients = opts.maxClients ?? 16;
  const maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
  const stats: DashboardStats = { clients: 0, foxgloveClients: 0, sent: 0, dropped: 0, refused: {} };
  const refuse = (why: string) => {
    stats.refused[why] = (stats.refused[why] ?? 0) + 1;
  };
  const cache = new Map<string, Buffer>();
  const pages = new Set<PageClient>();
  const vehicles = new Map<string, { mode: string; lastMs: number; reasons: string[] }>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const v = checkRequest(req, policy);
    if (!v.ok) {
      refuse(String(v.status));
      res.writeHead(v.status, { "content-type": "text/plain; charset=utf-8" });
      res.end(`${v.reason}\n`);
      return;
    }
    const path = (req.url ?? "/").split("?")[0]!;
    const headers: Record<string, string> = {
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    };
    // A page opened with ?token= keeps it in a cookie for its own requests and websocket.
    if (token !== null && new URL(req.url ?? "/", "http://x").searchParams.has("token"))
      headers["set-cookie"] =
        `${TOKEN_COOKIE}=${encodeURIComponent(tokenOf(req) ?? "")}; HttpOnly; SameSite=Strict; Path=/`;
    if (path === "/api/status") {
      res.writeHead(200, { ...headers, "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({ ...((opts.status?.() as object) ?? {}), dashboard: stats }));
      return;
    }
    if (path === "/favicon.ico") {
      res.writeHead(204, headers);
      res.end();
      return;
    }
    const f = FILES[path];
    if (!f || req.method !== "GET") {
      res.writeHead(404, { ...headers, "content-type": "text/plain" });
      res.end("not found\n");
      return;
    }
    let body = cache.get(path);
    if (!body) {
      body = readFileSync(f.path());
      cache.set(path, body);
    }
    res.writeHead(200, { ...headers, "content-type": f.type, "cache-control": "no-cache" });
    res.end(body);
  };

  const server: Server = createServer(handler);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024,
    handleProtocols: (protocols) => {
      for (const p of FOXGLOVE_SUBPROTOCOLS) if (protocols.has(p)) return p;
      return false;
    },
  });
  const foxglove = new FoxgloveEndpoint({ maxBufferedBytes: maxBuffered, name: "sensor-fusion-service" });

  const watched = (vehicle: string) => {
    for (const c of pages) if (c.vehicle === vehicle) return true;
    return foxglove.watches(vehicle);
  };

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const deny = (status: number, reason: string) => {
      refuse(String(status));
      socket.end(
        `HTTP/1.1 ${status} ${reason.replace(/[\r\n]/g, " ")}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
    };
    const v = checkRequest(req, policy);
    if (!v.ok) return deny(v.status, v.reason);
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((s) => s.trim());
    const isFoxglove = offered.some((p) => (FOXGLOVE_SUBPROTOCOLS as readonly string[]).includes(p));
    const o = checkOrigin(req, isFoxglove ? FOXGLOVE_ORIGINS : []);
    if (!o.ok) return deny(o.status, o.reason);
    const path = (req.url ?? "/").split("?")[0];
    if (!isFoxglove && path !== "/ws") return deny(404, "Not Found");
    if (wss.clients.size >= maxClients) return deny(503, `Too many clients (limit ${maxClients})`);
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (isFoxglove) {
        foxglove.add(ws);
        stats.foxgloveClients = foxglove.size;
        ws.on("close", () => {
          stats.foxgloveClients = foxglove.size;
        });
      } else addPage(ws);
    });
  });
  wss.on("error", () => {});

  const hello = () =>
    JSON.stringify({
      type: "hello",
      rig: opts.source
        ? {
            name: opts.source.rig.name,
            sensors: opts.source.rig.sensors.map((s) => ({
              id: s.id,
              kind: s.kind,
              x: s.extrinsic.translation_m[0],
              y: s.extrinsic.translation_m[1],
              yaw: s.extrinsic.rotation_rpy_rad[2],
              nominalHz: s.rate_hz,
              fovDeg:
                s.kind === "camera" && s.camera
                  ? (2 * Math.atan(s.camera.width / 2 / s.camera.fx) * 180) / Math.PI
                  : s.kind === "radar"
                    ? (s.radar?.fov_deg ?? 90)
                    : null,
              rangeM:
                s.kind === "camera"
                  ? (s.camera?.max_range_m ?? 80)
                  : s.kind === "radar"
                    ? (s.radar?.max_range_m ?? 150)
                    : s.kind === "lidar"
                      ? (s.lidar?.max_range_m ?? 70)
                      : null,
            })),
          }
        : null,
      maxPoints: opts.maxPoints ?? 8000,
    });

  function addPage(ws: WebSocket) {
    const c: PageClient = { ws, q: new LatestPerChannel(ws, maxBuffered), vehicle: null };
    pages.add(c);
    stats.clients = pages.size;
    c.q.put("hello", hello());
    c.q.put("vehicles", vehiclesMsg());
    c.q.flush();
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      let m: { type?: unknown; vehicle?: unknown };
      try {
        m = JSON.parse(String(data));
      } catch {
        return;
      }
      if (m.type === "select" && typeof m.vehicle === "string" && m.vehicle.length <= 128) {
        c.vehicle = m.vehicle;
        const last = lastHealth.get(m.vehicle);
        if (last) c.q.put("health", last);
        c.q.flush();
      }
    });
    ws.on("close", () => {
      closed.sent += c.q.stats.sent;
      closed.dropped += c.q.stats.dropped;
      pages.delete(c);
      stats.clients = pages.size;
    });
    ws.on("error", () => ws.terminate());
  }

  const vehiclesMsg = () =>
    JSON.stringify({
      type: "vehicles",
      list: [...vehicles.entries()]
        .sort((a, b) => naturalCompare(a[0], b[0]))
        .map(([id, v]) => ({
          id,
          mode: v.mode,
          reasons: v.reasons,
          ageMs: Math.round(Date.now() - v.lastMs),
        })),
    });

  const lastHealth = new Map<string, string>();
  const closed = { sent: 0, dropped: 0 };
  let flushScheduled = false;
  const scheduleFlush = () => {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      for (const c of pages) c.q.flush();
      foxglove.flush();
    });
  };
  const toVehicle = (vehicle: string, channel: string, data: string | Uint8Array) => {
    for (const c of pages) if (c.vehicle === vehicle) c.q.put(channel, data);
    scheduleFlush();
  };

  const onEvent = (ev: FeedEvent) => {
    foxglove.onEvent(ev);
    switch (ev.kind) {
      case "frame": {
        const f = ev.frame;
        const isNew = !vehicles.has(f.vehicle);
        const v = vehicles.get(f.vehicle) ?? { mode: "", lastMs: 0, reasons: [] };
        v.lastMs = Date.now();
        v.reasons = f.modeReasons;
        vehicles.set(f.vehicle, v);
        if (isNew) foxglove.addVehicle(f.vehicle);
        const e2e = f.latency.find((l) => l.stage === "e2e")?.ms ?? null;
        const view = frameView(f, e2e);
        v.mode = view.mode ?? "";
        toVehicle(f.vehicle, "frame", JSON.stringify(view));
        break;
      }
      case "health": {
        const s = JSON.stringify(healthView(ev.health));
        lastHealth.set(ev.vehicle, s);
        toVehicle(ev.vehicle, "health", s);
        break;
      }
      case "truth":
        toVehicle(ev.vehicle, "truth", JSON.stringify(truthView(ev.truth)));
        break;
      case "lidar":
        toVehicle(
          ev.vehicle,
          `points:${ev.lidar.sensorId}`,
          binaryFrame(
            {
              type: "points",
              vehicle: ev.vehicle,
              sensorId: ev.lidar.sensorId,
              stampNs: ev.lidar.stampNs,
              stride: 4,
              total: ev.lidar.total,
            },
            ev.lidar.points,
          ),
        );
        break;
      case "radar":
        toVehicle(
          ev.vehicle,
          `radar:${ev.radar.sensorId}`,
          binaryFrame(
            {
              type: "radar",
              vehicle: ev.vehicle,
              sensorId: ev.radar.sensorId,
              stampNs: ev.radar.stampNs,
              stride: 5,
            },
            ev.radar.returns,
          ),
        );
        break;
      case "camera":
        toVehicle(
          ev.vehicle,
          `camera:${ev.camera.sensorId}`,
          JSON.stringify({ type: "camera", vehicle: ev.vehicle, ...ev.camera }),
        );
        break;
      case "gnss":
        break;
    }
  };

  let feed: Feed | null = null;
  if (opts.source)
    feed = await startFeed(
      opts.source,
      {
        watched,
        watchedList: () => {
          const s = new Set<string>();
          for (const c of pages) if (c.vehicle) s.add(c.vehicle);
          for (const v of foxglove.watchedVehicles()) s.add(v);
          return s;
        },
        maxPoints: opts.maxPoints ?? 8000,
      },
      onEvent,
    );

  // Once a second: the vehicle list, and the server's own figures (event-loop lag, drops).
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const ticker = setInterval(() => {
    const loop = {
      p50: lag.percentile(50) / 1e6,
      p99: lag.percentile(99) / 1e6,
      max: lag.max / 1e6,
    };
    lag.reset();
    const vm = vehiclesMsg();
    let sent = 0;
    let dropped = 0;
    for (const c of pages) {
      c.q.put("vehicles", vm);
      c.q.put(
        "stats",
        JSON.stringify({
          type: "stats",
          serverMs: Date.now(),
          loopLagMs: loop,
          client: c.q.stats,
          clients: pages.size,
          foxgloveClients: foxglove.size,
        }),
      );
      sent += c.q.stats.sent;
      dropped += c.q.stats.dropped;
    }
    foxglove.tick();
    // Vehicles that went quiet leave the list (and their Foxglove channels): the maps stay bounded
    // by the vehicles of the last few minutes, whatever ids came and went.
    const forget = opts.forgetAfterMs ?? 300_000;
    for (const [id, v] of vehicles)
      if (Date.now() - v.lastMs > forget) {
        vehicles.delete(id);
        lastHealth.delete(id);
        foxglove.removeVehicle(id);
      }
    stats.sent = closed.sent + sent + foxglove.stats.sent + foxglove.liveStats.sent;
    stats.dropped = closed.dropped + dropped + foxglove.stats.dropped + foxglove.liveStats.dropped;
    scheduleFlush();
  }, 1000);
  ticker.unref();
  // Pending messages of a client whose buffer was full go out when it drains.
  const drain = setInterval(() => {
    for (const c of pages) if (c.q.size) c.q.flush();
    foxglove.flush();
  }, 50);
  drain.unref();

  try {
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
  } catch (e) {
    clearInterval(ticker);
    clearInterval(drain);
    await feed?.close();
    throw e;
  }
  const bound = (server.address() as { port: number }).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;

  return {
    url: `http://${shownHost}:${bound}`,
    port: bound,
    stats,
    close: async () => {
      clearInterval(ticker);
      clearInterval(drain);
      lag.disable();
      await feed?.close();
      await new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => server.close(() => resolve()));
        server.closeAllConnections?.();
      });
    },
  };
}
