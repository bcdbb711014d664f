// Dashboard client. Messages (src/dashboard/server.ts): JSON hello, vehicles, stats, frame, health,
// truth, camera; binary points and radar (u32 header length, header JSON, float32 body).
/* global BEV, uPlot */
const $ = (id) => document.getElementById(id);
const MODS = ["lidar", "radar", "camera"];
const STALE_MS = 2000;

const S = {
  ws: null,
  conn: "connecting",
  lastMsgMs: 0,
  lastFrameMs: 0,
  selected: localStorage.getItem("fusion.vehicle") || null,
  vehicles: [],
  rig: null,
  frame: null,
  ego: null,
  truth: null,
  health: null,
  lidar: new Map(),
  radar: new Map(),
  cameras: new Map(),
  trails: new Map(),
  trailSeen: new Map(),
  egoTrail: [],
  history: [],
  frames: 0,
  paused: false,
  scrubIndex: -1,
  layers: {},
  colorBy: "height",
  dirty: true,
  drawn: null,
  draws: 0,
  fps: 0,
  drops: 0,
  series: { t: [], gates: [[], [], []], e2e50: [], e2e99: [], fus99: [], objects: [] },
  lag: { t: [], p50: [], p99: [], max: [] },
};
window.__dash = S;

const view = { cx: 0, cy: 0, heading: Math.PI / 2, scale: 5, follow: true };

// ---------------------------------------------------------------- connection
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  S.ws = ws;
  ws.onopen = () => {
    S.lastMsgMs = Date.now();
    if (S.selected) send({ type: "select", vehicle: S.selected });
  };
  ws.onclose = () => {
    S.ws = null;
    checkLiveness();
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => {
    S.lastMsgMs = Date.now();
    if (typeof ev.data === "string") onJson(JSON.parse(ev.data));
    else onBinary(ev.data);
  };
}
const send = (m) => S.ws?.readyState === 1 && S.ws.send(JSON.stringify(m));

function onBinary(buf) {
  const dv = new DataView(buf);
  const hl = dv.getUint32(0, true);
  const h = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, hl)));
  const off = 4 + hl + ((4 - ((4 + hl) % 4)) % 4);
  const data = new Float32Array(buf, off, (buf.byteLength - off) / 4);
  if (h.vehicle !== S.selected || S.paused) return;
  const rx = Date.now();
  if (h.type === "points") S.lidar.set(h.sensorId, { data, total: h.total, stampNs: h.stampNs, rx });
  else if (h.type === "radar") S.radar.set(h.sensorId, { data, stampNs: h.stampNs, rx });
  S.dirty = true;
}

function onJson(m) {
  switch (m.type) {
    case "hello":
      S.rig = m.rig;
      buildLegend();
      break;
    case "vehicles":
      onVehicles(m.list);
      break;
    case "stats":
      S.drops = m.client.dropped;
      $("drops").textContent = String(m.client.dropped);
      pushLag(m);
      break;
    case "frame":
      if (m.vehicle !== S.selected) return;
      onFrame(m);
      break;
    case "health":
      if (m.vehicle !== S.selected) return;
      S.health = m;
      renderTiles();
      break;
    case "truth":
      if (m.vehicle !== S.selected || S.paused) return;
      S.truth = m;
      S.dirty = true;
      break;
    case "camera":
      if (m.vehicle !== S.selected || S.paused) return;
      S.cameras.set(m.sensorId, { rays: m.rays, stampNs: m.stampNs, rx: Date.now() });
      S.dirty = true;
      break;
  }
}

function onVehicles(list) {
  S.vehicles = list; // sorted by the server (natural order)
  const sel = $("vehicle");
  const ids = list.map((v) => v.id);
  if (sel.options.length !== ids.length || ids.some((id, i) => sel.options[i].value !== id)) {
    sel.innerHTML = "";
    for (const id of ids) sel.add(new Option(id, id));
  }
  for (const o of sel.options) {
    const v = list.find((x) => x.id === o.value);
    o.textContent = v ? `${v.id}  ·  ${v.mode || "…"}` : o.value;
  }
  if ((!S.selected || !ids.includes(S.selected)) && ids.length) {
    if (!S.selected || !ids.includes(S.selected)) select(ids[0]);
  }
  if (S.selected) sel.value = S.selected;
}

function select(id) {
  S.selected = id;
  localStorage.setItem("fusion.vehicle", id);
  S.frame = S.truth = S.health = S.ego = null;
  S.lidar.clear();
  S.radar.clear();
  S.cameras.clear();
  S.trails.clear();
  S.egoTrail = [];
  S.history = [];
  for (const k of Object.keys(S.series)) {
    if (k === "gates") S.series.gates = [[], [], []];
    else S.series[k] = [];
  }
  $("tiles").innerHTML = "";
  send({ type: "select", vehicle: id });
  S.dirty = true;
}

// ---------------------------------------------------------------- frames
function toWorld(ego, x, y) {
  const c = Math.cos(ego.yaw);
  const s = Math.sin(ego.yaw);
  return [ego.x + c * x - s * y, ego.y + s * x + c * y];
}

function onFrame(f) {
  S.lastFrameMs = Date.now();
  S.frames++;
  document.body.dataset.frames = String(S.frames);
  S.history.push(f);
  if (S.history.length > 600) S.history.shift();
  pushSeries(f);
  if (!S.paused) show(f, true);
}

function egoOf(f) {
  return f.ego?.valid ? { x: f.ego.x, y: f.ego.y, yaw: f.ego.yaw } : { x: 0, y: 0, yaw: 0 };
}

/** Make frame f the one on screen; `live` also extends the trails. */
function show(f, live) {
  S.frame = f;
  S.ego = egoOf(f);
  if (live) {
    const last = S.egoTrail[S.egoTrail.length - 1];
    if (!last || Math.hypot(last[0] - S.ego.x, last[1] - S.ego.y) > 0.3) S.egoTrail.push([S.ego.x, S.ego.y]);
    if (S.egoTrail.length > 600) S.egoTrail.shift();
    const now = Date.now();
    for (const o of f.objects) {
      const tr = S.trails.get(o.id) ?? [];
      tr.push(toWorld(S.ego, o.x, o.y));
      if (tr.length > 25) tr.shift();
      S.trails.set(o.id, tr);
      S.trailSeen.set(o.id, now);
    }
    for (const [id, seen] of S.trailSeen)
      if (now - seen > 2000) {
        S.trails.delete(id);
        S.trailSeen.delete(id);
      }
  }
  $("objects-count").textContent = String(f.objects.length);
  $("e2e").textContent = f.e2eMs == null ? "—" : f.e2eMs.toFixed(1);
  const mode = f.mode ?? "—";
  $("mode").textContent = mode;
  $("mode").className = `badge ${mode}`;
  $("reasons").textContent = (f.modeReasons ?? []).join(" · ");
  $("reasons").title = (f.modeReasons ?? []).join("\n");
  $("fusion").textContent = `fusion: ${f.fusion}`;
  renderGuard(f.guard);
  renderTiles();
  updateTimeline();
  S.dirty = true;
}

/** The OOD guard's slot: state, the engine served, the distance (and what triggered a fallback). */
function renderGuard(g) {
  const el = $("guard");
  if (g == null) {
    el.textContent = "OOD guard: n/a";
    el.className = "pill muted";
    el.title = "out-of-distribution guard of the learned engine (none for the classical engine)";
    return;
  }
  const d = (v) => (v == null || v < 0 ? "—" : v.toFixed(1));
  let text = `OOD guard: ${g.state} → ${g.served}`;
  if (g.state === "fallback" && g.trigger)
    text += ` (${g.trigger.modality} ${g.trigger.feature} distance ${d(g.trigger.distance)} > ${d(g.threshold)}; now ${d(g.distance)})`;
  else if (g.reason) text += ` (${g.reason})`;
  else text += ` (distance ${d(g.distance)} of ${d(g.threshold)})`;
  el.textContent = text;
  el.className = `pill ${g.state === "model" ? "ok" : g.state === "fallback" ? "warn" : "muted"}`;
  el.title = `per modality: ${Object.entries(g.distances ?? {})
    .map(([k, v]) => `${k} ${d(v)}`)
    .join(", ")}; fallbacks so far: ${g.fallbacks}`;
}

// ---------------------------------------------------------------- sensor tiles
function renderTiles() {
  const h = S.health;
  const f = S.frame;
  const ids = new Set([
    ...(h?.sensors ?? []).map((s) => s.sensorId),
    ...(f?.sensors ?? []).map((s) => s.sensorId),
  ]);
  const box = $("tiles");
  for (const id of [...ids].sort()) {
    const hs = h?.sensors.find((s) => s.sensorId === id);
    const fs = f?.sensors.find((s) => s.sensorId === id);
    let el = box.querySelector(`[data-sensor="${CSS.escape(id)}"]`);
    if (!el) {
      el = document.createElement("div");
      el.className = "tile";
      el.dataset.sensor = id;
      el.innerHTML = `<div class="name"><span>${id}</span><span class="st"></span></div><div class="kv"></div><div class="rate"><div></div></div><div class="why"></div>`;
      const all = [...box.children, el].sort((a, b) => a.dataset.sensor.localeCompare(b.dataset.sensor));
      box.replaceChildren(...all);
    }
    const state = hs?.state ?? fs?.state ?? "UNSPECIFIED";
    el.dataset.state = state;
    el.querySelector(".st").textContent = state;
    const rate = hs ? `${hs.rateHz.toFixed(1)}/${hs.nominalRateHz.toFixed(0)} Hz` : "";
    const lat = hs?.latencyMs != null ? ` · ${hs.latencyMs.toFixed(0)} ms` : "";
    const gate = fs?.gateWeight != null && fs.used ? ` · gate ${fs.gateWeight.toFixed(2)}` : "";
    const drops = hs ? ` · drops ${hs.drops}${hs.decodeErrors ? ` · bad ${hs.decodeErrors}` : ""}` : "";
    el.querySelector(".kv").textContent = `${rate}${lat}${gate}${drops}`;
    el.querySelector(".rate div").style.width =
      `${hs && hs.nominalRateHz > 0 ? Math.min(100, (100 * hs.rateHz) / hs.nominalRateHz) : 0}%`;
    const why = [...(hs?.reasons ?? []), ...(fs?.reason ? [fs.reason] : [])].filter(Boolean);
    el.querySelector(".why").textContent = why.join(", ");
  }
}

// ---------------------------------------------------------------- plots
const plots = {};
function mkPlot(id, series, yLabel) {
  const el = $(id);
  const opts = {
    width: el.clientWidth - 4,
    height: 120,
    legend: { live: false },
    cursor: { show: false },
    scales: { x: { time: false } },
    axes: [
      { stroke: "#8893a0", grid: { stroke: "#262d36" }, ticks: { stroke: "#262d36" }, size: 24 },
      {
        stroke: "#8893a0",
        grid: { stroke: "#262d36" },
        ticks: { stroke: "#262d36" },
        size: 40,
        label: yLabel,
      },
    ],
    series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5 }))],
  };
  plots[id] = new uPlot(opts, [[], ...series.map(() => [])], el);
}
function initPlots() {
  mkPlot("plot-gates", [
    ["lidar", "#4fc3f7"],
    ["radar", "#ff7b72"],
    ["camera", "#ffd54f"],
  ]);
  mkPlot("plot-latency", [
    ["e2e p50", "#3fb950"],
    ["e2e p99", "#d29922"],
    ["fusion p99", "#a371f7"],
  ]);
  mkPlot("plot-objects", [["objects", "#58a6ff"]]);
  mkPlot("plot-lag", [
    ["p50", "#3fb950"],
    ["p99", "#d29922"],
    ["max", "#f85149"],
  ]);
}
const pct = (xs, p) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
let t0 = null;
function pushSeries(f) {
  const ts = f.stampNs / 1e9;
  t0 ??= ts;
  const se = S.series;
  se.t.push(ts - t0);
  const gate = MODS.map((m) => {
    const g = f.sensors.filter((s) => s.modality === m);
    return g.length ? g.reduce((a, s) => a + s.gateWeight, 0) / g.length : null;
  });
  gate.forEach((g, i) => {
    se.gates[i].push(g);
  });
  const lat = (stage) => f.latency.find((l) => l.stage === stage)?.ms ?? null;
  const recent = S.history.slice(-20);
  const e2es = recent.map((x) => x.e2eMs).filter((x) => x != null);
  const fus = recent.map((x) => x.latency.find((l) => l.stage === "fusion")?.ms).filter((x) => x != null);
  se.e2e50.push(pct(e2es, 50));
  se.e2e99.push(pct(e2es, 99));
  se.fus99.push(pct(fus, 99) ?? lat("fusion"));
  se.objects.push(f.objects.length);
  const max = 600;
  if (se.t.length > max) {
    se.t.shift();
    for (const g of se.gates) g.shift();
    se.e2e50.shift();
    se.e2e99.shift();
    se.fus99.shift();
    se.objects.shift();
  }
}
function pushLag(m) {
  const L = S.lag;
  L.t.push(m.serverMs / 1000);
  L.p50.push(m.loopLagMs.p50);
  L.p99.push(m.loopLagMs.p99);
  L.max.push(m.loopLagMs.max);
  if (L.t.length > 120) for (const k of Object.keys(L)) L[k].shift();
}
function updatePlots() {
  if (!plots["plot-gates"]) return;
  const se = S.series;
  plots["plot-gates"].setData([se.t, ...se.gates]);
  plots["plot-latency"].setData([se.t, se.e2e50, se.e2e99, se.fus99]);
  plots["plot-objects"].setData([se.t, se.objects]);
  const lt = S.lag.t.map((x) => x - (S.lag.t[0] ?? 0));
  plots["plot-lag"].setData([lt, S.lag.p50, S.lag.p99, S.lag.max]);
}

// ---------------------------------------------------------------- connection state
function setConn(c) {
  if (S.conn === c) return;
  S.conn = c;
  document.body.dataset.conn = c;
  const el = $("conn");
  el.className = `pill ${c}`;
  el.textContent = {
    live: "● live",
    stale: "◌ no data",
    disconnected: "✕ disconnected",
    connecting: "connecting…",
  }[c];
}
function checkLiveness() {
  const now = Date.now();
  const banner = $("banner");
  let msg = null;
  let cls = "";
  if (S.ws?.readyState !== 1 || now - S.lastMsgMs > 3000) {
    setConn("disconnected");
    msg = `Disconnected: the service at ${location.host} is unreachable. Showing the last data received; retrying…`;
  } else if (S.selected && (!S.lastFrameMs || now - S.lastFrameMs > STALE_MS)) {
    setConn("stale");
    const age = S.lastFrameMs ? `${((now - S.lastFrameMs) / 1000).toFixed(1)} s` : "ever";
    msg = `No data from ${S.selected} for ${age}: what you see is old.`;
    cls = "stale";
  } else setConn("live");
  if (msg !== null) S.dirty = true; // old sensor layers fade out even when nothing arrives
  const greyed = msg !== null && !S.paused;
  document.body.classList.toggle("greyed", greyed);
  document.body.classList.toggle("has-banner", msg !== null);
  banner.hidden = msg === null;
  if (msg) {
    banner.textContent = msg;
    banner.className = cls;
  }
}

// ---------------------------------------------------------------- pause and timeline
function setPaused(p) {
  S.paused = p;
  $("pause").classList.toggle("on", p);
  $("pause").textContent = p ? "▶ Resume" : "❚❚ Pause";
  const sc = $("scrub");
  sc.disabled = !p;
  if (!p && S.history.length) show(S.history[S.history.length - 1], false);
  updateTimeline();
}
function updateTimeline() {
  const h = S.history;
  const sc = $("scrub");
  if (!h.length) return;
  const first = h[0].stampNs;
  const last = h[h.length - 1].stampNs;
  sc.max = String(h.length - 1);
  if (!S.paused) sc.value = sc.max;
  const cur = S.frame?.stampNs ?? last;
  $("tl-start").textContent =
    `${new Date(first / 1e6).toISOString().slice(11, 19)} · ${((last - first) / 1e9).toFixed(0)} s kept`;
  $("tl-pos").textContent = S.paused ? `${((cur - last) / 1e9).toFixed(1)} s` : "LIVE";
}

// ---------------------------------------------------------------- legend, scale
function buildLegend() {
  const cls = Object.entries(BEV.CLASS_COLORS)
    .map(([k, c]) => `<span><i style="background:${c}"></i>${k}</span>`)
    .join("");
  const grad = `linear-gradient(90deg, ${BEV.PALETTE.join(",")})`;
  $("legend").innerHTML = `${cls}<span><i style="border:1.5px dashed #fff;height:10px"></i>truth</span>
    <span><i style="background:#ff7b72;border-radius:50%;width:10px"></i>radar away</span>
    <span><i style="background:#79c0ff;border-radius:50%;width:10px"></i>radar closing</span>
    <span><i style="background:#58a6ff"></i>ego + trail</span>
    <span><i class="grad" style="background:${grad}"></i><span id="legend-pts">height −2…3 m</span></span>`;
}

// ---------------------------------------------------------------- view interaction
const canvas = $("bev");
function resize() {
  const dpr = window.devicePixelRatio || 1;
  const r = canvas.getBoundingClientRect();
  canvas.width = Math.max(1, Math.round(r.width * dpr));
  canvas.height = Math.max(1, Math.round(r.height * dpr));
  for (const [id, p] of Object.entries(plots)) p.setSize({ width: $(id).clientWidth - 4, height: 120 });
  S.dirty = true;
}
function zoom(f, sx, sy) {
  const t = BEV.transforms(canvas, view);
  const before = sx === undefined ? null : t.s2w(sx, sy);
  view.scale = Math.max(0.3, Math.min(60, view.scale * f));
  if (before && !view.follow) {
    const after = BEV.transforms(canvas, view).s2w(sx, sy);
    view.cx += before[0] - after[0];
    view.cy += before[1] - after[1];
  }
  S.dirty = true;
}
function setFollow(on) {
  view.follow = on;
  $("follow").classList.toggle("on", on);
  S.dirty = true;
}
canvas.addEventListener(
  "wheel",
  (e) => {
    e.preventDefault();
    const dpr = window.devicePixelRatio || 1;
    zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.offsetX * dpr, e.offsetY * dpr);
  },
  { passive: false },
);
let drag = null;
canvas.addEventListener("mousedown", (e) => {
  drag = { x: e.clientX, y: e.clientY };
  canvas.classList.add("dragging");
});
window.addEventListener("mouseup", () => {
  drag = null;
  canvas.classList.remove("dragging");
});
window.addEventListener("mousemove", (e) => {
  if (!drag) return;
  const dpr = window.devicePixelRatio || 1;
  const t = BEV.transforms(canvas, view);
  const a = t.s2w(drag.x * dpr, drag.y * dpr);
  const b = t.s2w(e.clientX * dpr, e.clientY * dpr);
  view.cx += a[0] - b[0];
  view.cy += a[1] - b[1];
  drag = { x: e.clientX, y: e.clientY };
  setFollow(false);
});
canvas.addEventListener("dblclick", () => setFollow(true));
$("zin").onclick = () => zoom(1.4);
$("zout").onclick = () => zoom(1 / 1.4);
$("follow").onclick = () => setFollow(!view.follow);
$("pause").onclick = () => setPaused(!S.paused);
$("vehicle").onchange = (e) => select(e.target.value);
$("colorby").onchange = (e) => {
  S.colorBy = e.target.value;
  $("legend-pts").textContent = S.colorBy === "height" ? "height −2…3 m" : "intensity 0…1";
  S.dirty = true;
};
$("scrub").oninput = (e) => {
  const f = S.history[Number(e.target.value)];
  if (f) show(f, false);
};
for (const cb of document.querySelectorAll("#layers input")) {
  S.layers[cb.dataset.layer] = cb.checked;
  cb.onchange = () => {
    S.layers[cb.dataset.layer] = cb.checked;
    S.dirty = true;
  };
}
window.addEventListener("keydown", (e) => {
  if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
  if (e.key === " ") {
    e.preventDefault();
    setPaused(!S.paused);
  } else if (e.key === "f") setFollow(!view.follow);
  else if (e.key === "+" || e.key === "=") zoom(1.4);
  else if (e.key === "-") zoom(1 / 1.4);
});
window.addEventListener("resize", resize);

// ---------------------------------------------------------------- render loop
let fpsCount = 0;
let fpsT = performance.now();
let rafCount = 0;
function loop() {
  rafCount++;
  if (view.follow && S.ego) {
    view.cx = S.ego.x;
    view.cy = S.ego.y;
    view.heading = S.ego.yaw;
  }
  if (S.dirty) {
    S.dirty = false;
    const r = BEV.draw(canvas, view, S);
    S.drawn = r.drawn;
    document.body.dataset.drawn = JSON.stringify(r.drawn);
    $("points-count").textContent = String(r.drawn.points);
    const off = $("offscreen");
    off.hidden = r.drawn.offscreen === 0;
    off.textContent = `${r.drawn.offscreen} object${r.drawn.offscreen === 1 ? "" : "s"} outside the view (arrows at the edge; zoom out or press f)`;
    const px = r.scaleStep * view.scale;
    $("scale").querySelector(".bar").style.width = `${px}px`;
    $("scale").querySelector("span").textContent = `${r.scaleStep} m`;
    fpsCount++;
    S.draws++;
  }
  const now = performance.now();
  if (now - fpsT >= 1000) {
    S.fps = (fpsCount * 1000) / (now - fpsT);
    S.raf = (rafCount * 1000) / (now - fpsT);
    $("fps").textContent = S.fps.toFixed(0);
    document.body.dataset.fps = S.fps.toFixed(1);
    fpsCount = 0;
    rafCount = 0;
    fpsT = now;
    updatePlots();
  }
  requestAnimationFrame(loop);
}

initPlots();
buildLegend();
resize();
connect();
setInterval(checkLiveness, 250);
requestAnimationFrame(loop);
