// Dashboard client: draws the fused objects of the selected vehicle in a bird's-eye view and the
// per-sensor states. Messages: {type:"frame", ...} and {type:"health", ...} (src/pipeline/dashboard-view.ts).

const $ = (id) => document.getElementById(id);
const CLASS_COLORS = {
  car: "#4fc3f7",
  truck: "#ba68c8",
  pedestrian: "#ffd54f",
  cyclist: "#81c784",
  unknown: "#bbb",
};
const state = { vehicles: new Map(), selected: null, frames: 0, times: [], health: new Map() };

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => ($("conn").className = "on");
  ws.onclose = () => {
    $("conn").className = "off";
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "frame") onFrame(m);
    else if (m.type === "health") state.health.set(m.vehicle, m);
  };
}

function onFrame(f) {
  if (!state.vehicles.has(f.vehicle)) {
    state.vehicles.set(f.vehicle, f);
    const o = document.createElement("option");
    o.value = o.textContent = f.vehicle;
    $("vehicle").appendChild(o);
    if (!state.selected) state.selected = f.vehicle;
  }
  state.vehicles.set(f.vehicle, f);
  if (f.vehicle !== state.selected) return;
  state.frames++;
  const now = performance.now();
  state.times.push(now);
  while (state.times.length && now - state.times[0] > 2000) state.times.shift();
  document.body.dataset.frames = String(state.frames);
  $("frames").textContent = state.frames;
  $("rate").textContent = (state.times.length / 2).toFixed(1);
  $("objects-count").textContent = f.objects.length;
  $("mode").textContent = f.mode;
  $("mode").className = `mode ${f.mode}`;
  $("reasons").textContent = f.modeReasons.join("; ");
  $("fusion").textContent = f.fusion;
  $("latency").textContent = f.e2eMs == null ? "—" : f.e2eMs.toFixed(1);
  $("ego").textContent = f.ego.valid
    ? `${f.ego.speed.toFixed(1)} m/s, ±${f.ego.positionStdM.toFixed(2)} m`
    : "no fix";
  const tb = $("sensors").querySelector("tbody");
  tb.innerHTML = "";
  const h = state.health.get(f.vehicle);
  for (const s of f.sensors) {
    const hs = h?.sensors.find((x) => x.sensorId === s.sensorId);
    const tr = document.createElement("tr");
    tr.dataset.sensor = s.sensorId;
    tr.dataset.state = s.state;
    tr.innerHTML = `<td>${s.sensorId}</td><td class="st-${s.state}">${s.state}</td><td>${s.gateWeight.toFixed(2)}</td><td>${hs ? hs.rateHz.toFixed(1) : ""}</td><td>${s.reason}</td>`;
    tb.appendChild(tr);
  }
  draw(f);
}

function draw(f) {
  const c = $("bev");
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth * dpr;
  const h = c.clientHeight * dpr;
  if (c.width !== w || c.height !== h) {
    c.width = w;
    c.height = h;
  }
  const g = c.getContext("2d");
  const scale = Math.min(w, h) / 120; // 120 m across
  g.setTransform(1, 0, 0, 1, 0, 0);
  g.fillStyle = "#111";
  g.fillRect(0, 0, w, h);
  // vehicle frame: x forward = up on screen, y left = left on screen
  g.translate(w / 2, h / 2);
  g.strokeStyle = "#222";
  for (let r = 10; r <= 60; r += 10) {
    g.beginPath();
    g.arc(0, 0, r * scale, 0, 2 * Math.PI);
    g.stroke();
  }
  const toScreen = (x, y) => [-y * scale, -x * scale];
  g.fillStyle = "#fff";
  g.fillRect(-1 * scale, -2.3 * scale, 2 * scale, 4.6 * scale);
  for (const o of f.objects) {
    const [sx, sy] = toScreen(o.x, o.y);
    g.save();
    g.translate(sx, sy);
    g.rotate(-o.yaw);
    g.strokeStyle = CLASS_COLORS[o.cls] || "#bbb";
    g.lineWidth = 2;
    g.strokeRect((-o.width / 2) * scale, (-o.length / 2) * scale, o.width * scale, o.length * scale);
    g.restore();
    const [vx, vy] = toScreen(o.x + o.vx, o.y + o.vy);
    g.strokeStyle = "#fff";
    g.beginPath();
    g.moveTo(sx, sy);
    g.lineTo(vx, vy);
    g.stroke();
    g.fillStyle = "#ccc";
    g.font = `${11 * dpr}px sans-serif`;
    g.fillText(`${o.id} ${o.modalities.join("+")}`, sx + 6, sy - 6);
  }
}

$("vehicle").onchange = (e) => {
  state.selected = e.target.value;
  state.frames = 0;
  state.times = [];
};
connect();
