// Bird's-eye view renderer (Canvas 2D). World frame: ENU metres from the fused ego state; vehicle
// frame: x forward, y left. The view has a centre (world), a heading pointing up, and a scale (px/m).
// Points are drawn from typed arrays, one fill style per colour bin (no per-point objects).
/* exported BEV */
// biome-ignore lint/correctness/noUnusedVariables: a global for app.js (plain scripts, no bundler)
const BEV = (() => {
  const CLASS_COLORS = {
    car: "#4fc3f7",
    truck: "#ba68c8",
    pedestrian: "#ffd54f",
    cyclist: "#81c784",
    unknown: "#b0bec5",
  };
  // Turbo-like palette, 16 bins.
  const PALETTE = [
    "#30123b",
    "#4145ab",
    "#4675ed",
    "#39a2fc",
    "#1bcfd4",
    "#24eca6",
    "#61fc6c",
    "#a4fc3b",
    "#d1e834",
    "#f3c63a",
    "#fe9b2d",
    "#f36315",
    "#d93806",
    "#b11901",
    "#7a0402",
    "#5a0000",
  ];
  const NB = PALETTE.length;

  function niceStep(m) {
    const p = 10 ** Math.floor(Math.log10(m));
    for (const k of [1, 2, 5, 10]) if (k * p >= m) return k * p;
    return 10 * p;
  }

  /** view: {cx, cy, heading, scale, follow}; ego: {x, y, yaw}. Returns helpers for the frame. */
  function transforms(canvas, view) {
    const W = canvas.width;
    const H = canvas.height;
    const ox = W / 2;
    const oy = H * 0.58;
    const c = Math.cos(view.heading);
    const s = Math.sin(view.heading);
    const k = view.scale * (window.devicePixelRatio || 1);
    // world -> screen: forward (along heading) is up, left is left.
    const w2s = (X, Y) => {
      const dx = X - view.cx;
      const dy = Y - view.cy;
      const u = c * dx + s * dy;
      const v = -s * dx + c * dy;
      return [ox - v * k, oy - u * k];
    };
    const s2w = (sx, sy) => {
      const v = (ox - sx) / k;
      const u = (oy - sy) / k;
      return [view.cx + c * u - s * v, view.cy + s * u + c * v];
    };
    return { W, H, ox, oy, k, w2s, s2w, c, s };
  }

  /** Affine map vehicle frame -> screen for an ego pose: [a, b, c, d, e, f] with sx = a x + b y + c. */
  function vehicleToScreen(t, ego) {
    const ce = Math.cos(ego.yaw);
    const se = Math.sin(ego.yaw);
    const [x0, y0] = t.w2s(ego.x, ego.y);
    const [x1, y1] = t.w2s(ego.x + ce, ego.y + se); // +1 m along vehicle x
    const [x2, y2] = t.w2s(ego.x - se, ego.y + ce); // +1 m along vehicle y
    return [x1 - x0, x2 - x0, x0, y1 - y0, y2 - y0, y0];
  }

  function box(ctx, A, x, y, yaw, l, w) {
    const c = Math.cos(yaw);
    const s = Math.sin(yaw);
    const pts = [
      [l / 2, w / 2],
      [l / 2, -w / 2],
      [-l / 2, -w / 2],
      [-l / 2, w / 2],
    ].map(([a, b]) => {
      const px = x + c * a - s * b;
      const py = y + s * a + c * b;
      return [A[0] * px + A[1] * py + A[2], A[3] * px + A[4] * py + A[5]];
    });
    ctx.beginPath();
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (let i = 1; i < 4; i++) ctx.lineTo(pts[i][0], pts[i][1]);
    ctx.closePath();
    return pts;
  }

  /**
   * Draw one frame. `s` (state) holds: frame, ego, truth, lidar (Map id -> {data, stride}),
   * radar (Map), cameras (Map id -> rays), rig sensors, trails (Map id -> [[X,Y]...]), egoTrail,
   * layers, colorBy. Returns counts of what was drawn (for the tests and the counters).
   */
  function draw(canvas, view, s) {
    const ctx = canvas.getContext("2d");
    const t = transforms(canvas, view);
    const dpr = window.devicePixelRatio || 1;
    const drawn = { points: 0, radar: 0, rays: 0, objects: 0, truth: 0, offscreen: 0 };
    ctx.fillStyle = "#0b0e12";
    ctx.fillRect(0, 0, t.W, t.H);
    const ego = s.ego ?? { x: 0, y: 0, yaw: 0 };
    const A = vehicleToScreen(t, ego);
    const L = s.layers;
    // Sensor data received more than 1.5 s ago is not drawn while live (a silent sensor's last scan
    // must not linger as if current); judged by receipt, so a lagging service still shows its data.
    const now = Date.now();
    const fresh = (x) => s.paused || x.rx === undefined || now - x.rx <= 1500;

    // Grid and range rings around the ego.
    if (L.rings) {
      const step = niceStep(90 / view.scale);
      const [ex, ey] = t.w2s(ego.x, ego.y);
      ctx.lineWidth = 1;
      ctx.font = `${11 * dpr}px system-ui, sans-serif`;
      const maxR = Math.hypot(t.W, t.H) / t.k;
      for (let r = step; r <= maxR; r += step) {
        ctx.strokeStyle = r % (step * 5) === 0 ? "#2b3542" : "#1c232c";
        ctx.beginPath();
        ctx.arc(ex, ey, r * t.k, 0, Math.PI * 2);
        ctx.stroke();
        ctx.fillStyle = "#5d6b7a";
        ctx.fillText(`${r} m`, ex + 3 * dpr, ey - r * t.k - 3 * dpr);
      }
      ctx.strokeStyle = "#1c232c";
      ctx.beginPath();
      ctx.moveTo(A[2] - A[0] * 200, A[5] - A[3] * 200);
      ctx.lineTo(A[2] + A[0] * 200, A[5] + A[3] * 200);
      ctx.moveTo(A[2] - A[1] * 200, A[5] - A[4] * 200);
      ctx.lineTo(A[2] + A[1] * 200, A[5] + A[4] * 200);
      ctx.stroke();
    }

    // Camera frustums (from the rig) and detection rays.
    if (L.cameras && s.rig) {
      for (const cam of s.rig.sensors.filter((x) => x.kind === "camera" && x.fovDeg)) {
        const half = (cam.fovDeg * Math.PI) / 360;
        const r = Math.min(cam.rangeM ?? 60, 60);
        const p = (a, d) => {
          const x = cam.x + d * Math.cos(cam.yaw + a);
          const y = cam.y + d * Math.sin(cam.yaw + a);
          return [A[0] * x + A[1] * y + A[2], A[3] * x + A[4] * y + A[5]];
        };
        const o = p(0, 0);
        ctx.fillStyle = "rgba(88,166,255,0.04)";
        ctx.strokeStyle = "rgba(88,166,255,0.25)";
        ctx.beginPath();
        ctx.moveTo(o[0], o[1]);
        for (let a = -half; a <= half + 1e-9; a += half / 6) {
          const q = p(a, r);
          ctx.lineTo(q[0], q[1]);
        }
        ctx.closePath();
        ctx.fill();
        ctx.stroke();
      }
      ctx.lineWidth = 1.5 * dpr;
      for (const cam of s.cameras.values()) {
        if (!fresh(cam)) continue;
        for (const ray of cam.rays) {
          const x1 = ray.ox + ray.dx * 70;
          const y1 = ray.oy + ray.dy * 70;
          ctx.strokeStyle = CLASS_COLORS[ray.cls] ?? CLASS_COLORS.unknown;
          ctx.globalAlpha = 0.25 + 0.5 * Math.min(1, ray.score);
          ctx.beginPath();
          ctx.moveTo(A[0] * ray.ox + A[1] * ray.oy + A[2], A[3] * ray.ox + A[4] * ray.oy + A[5]);
          ctx.lineTo(A[0] * x1 + A[1] * y1 + A[2], A[3] * x1 + A[4] * y1 + A[5]);
          ctx.stroke();
          drawn.rays++;
        }
      }
      ctx.globalAlpha = 1;
    }

    // LiDAR points, binned by colour.
    if (L.points) {
      const size = Math.max(1.5, Math.min(3, view.scale / 6)) * dpr;
      for (const cloud of s.lidar.values()) {
        if (!fresh(cloud)) continue;
        const d = cloud.data;
        const n = d.length / 4;
        if (!cloud.bins || cloud.bins.length < n) cloud.bins = new Uint8Array(n);
        const bins = cloud.bins;
        const byI = s.colorBy === "intensity";
        for (let i = 0; i < n; i++) {
          const v = byI ? d[i * 4 + 3] : (d[i * 4 + 2] + 2) / 5; // height: -2 m .. 3 m
          bins[i] = Math.max(0, Math.min(NB - 1, Math.floor(v * NB)));
        }
        for (let b = 0; b < NB; b++) {
          ctx.fillStyle = PALETTE[b];
          for (let i = 0; i < n; i++) {
            if (bins[i] !== b) continue;
            const x = d[i * 4];
            const y = d[i * 4 + 1];
            const sx = A[0] * x + A[1] * y + A[2];
            const sy = A[3] * x + A[4] * y + A[5];
            if (sx < 0 || sy < 0 || sx > t.W || sy > t.H) continue;
            ctx.fillRect(sx - size / 2, sy - size / 2, size, size);
            drawn.points++;
          }
        }
      }
    }

    // Ego trail.
    if (L.trails && s.egoTrail.length > 1) {
      ctx.strokeStyle = "rgba(88,166,255,0.7)";
      ctx.lineWidth = 2 * dpr;
      ctx.beginPath();
      s.egoTrail.forEach(([X, Y], i) => {
        const [sx, sy] = t.w2s(X, Y);
        if (i === 0) ctx.moveTo(sx, sy);
        else ctx.lineTo(sx, sy);
      });
      ctx.stroke();
    }

    // Ground truth: relative to the true ego, drawn from the fused ego (errors show as offsets).
    if (L.truth && s.truth) {
      const te = s.truth.ego;
      const c = Math.cos(-te.yaw);
      const sn = Math.sin(-te.yaw);
      ctx.setLineDash([5 * dpr, 4 * dpr]);
      ctx.lineWidth = 1.5 * dpr;
      ctx.strokeStyle = "rgba(255,255,255,0.75)";
      for (const o of s.truth.objects) {
        const dx = o.x - te.x;
        const dy = o.y - te.y;
        const x = c * dx - sn * dy;
        const y = sn * dx + c * dy;
        box(ctx, A, x, y, o.yaw - te.yaw, o.length, o.width);
        ctx.stroke();
        drawn.truth++;
      }
      ctx.setLineDash([]);
    }

    // Radar returns with their Doppler (vector along the ray, 0.5 s).
    if (L.radar) {
      const r = Math.max(2, Math.min(4, view.scale / 5)) * dpr;
      for (const scan of s.radar.values()) {
        if (!fresh(scan)) continue;
        const d = scan.data;
        for (let i = 0; i + 4 < d.length; i += 5) {
          const x = d[i];
          const y = d[i + 1];
          const sx = A[0] * x + A[1] * y + A[2];
          const sy = A[3] * x + A[4] * y + A[5];
          const vx = d[i + 2];
          const vy = d[i + 3];
          const radial = vx * (x - 0) + vy * y; // > 0: moving away
          ctx.strokeStyle = ctx.fillStyle = radial > 0.2 ? "#ff7b72" : radial < -0.2 ? "#79c0ff" : "#e3b341";
          ctx.beginPath();
          ctx.arc(sx, sy, r, 0, Math.PI * 2);
          ctx.fill();
          const ex = x + vx * 0.5;
          const ey = y + vy * 0.5;
          ctx.lineWidth = 1.2 * dpr;
          ctx.beginPath();
          ctx.moveTo(sx, sy);
          ctx.lineTo(A[0] * ex + A[1] * ey + A[2], A[3] * ex + A[4] * ey + A[5]);
          ctx.stroke();
          drawn.radar++;
        }
      }
    }

    // Fused objects: box, heading, velocity (1 s), trail, label; count those outside the view.
    if (L.objects && s.frame) {
      const off = { n: 0 };
      ctx.font = `${11 * dpr}px system-ui, sans-serif`;
      for (const o of s.frame.objects) {
        const col = CLASS_COLORS[o.cls] ?? CLASS_COLORS.unknown;
        const sx = A[0] * o.x + A[1] * o.y + A[2];
        const sy = A[3] * o.x + A[4] * o.y + A[5];
        if (sx < -20 || sy < -20 || sx > t.W + 20 || sy > t.H + 20) {
          off.n++;
          // An arrow on the edge pointing at it.
          const cx = t.W / 2;
          const cy = t.H / 2;
          const a = Math.atan2(sy - cy, sx - cx);
          const ex = Math.max(14 * dpr, Math.min(t.W - 14 * dpr, cx + Math.cos(a) * t.W));
          const ey = Math.max(14 * dpr, Math.min(t.H - 14 * dpr, cy + Math.sin(a) * t.H));
          ctx.fillStyle = col;
          ctx.beginPath();
          ctx.moveTo(ex + Math.cos(a) * 8 * dpr, ey + Math.sin(a) * 8 * dpr);
          ctx.lineTo(ex + Math.cos(a + 2.5) * 7 * dpr, ey + Math.sin(a + 2.5) * 7 * dpr);
          ctx.lineTo(ex + Math.cos(a - 2.5) * 7 * dpr, ey + Math.sin(a - 2.5) * 7 * dpr);
          ctx.fill();
          continue;
        }
        if (L.trails) {
          const tr = s.trails.get(o.id);
          if (tr && tr.length > 1) {
            ctx.strokeStyle = col;
            ctx.globalAlpha = 0.45;
            ctx.lineWidth = 1.5 * dpr;
            ctx.beginPath();
            tr.forEach(([X, Y], i) => {
              const [px, py] = t.w2s(X, Y);
              if (i === 0) ctx.moveTo(px, py);
              else ctx.lineTo(px, py);
            });
            ctx.stroke();
            ctx.globalAlpha = 1;
          }
        }
        const pts = box(ctx, A, o.x, o.y, o.yaw, Math.max(o.length, 0.5), Math.max(o.width, 0.5));
        ctx.fillStyle = `${col}33`;
        ctx.fill();
        ctx.strokeStyle = col;
        ctx.lineWidth = 2 * dpr;
        ctx.stroke();
        // Heading: the front edge thicker.
        ctx.lineWidth = 3.5 * dpr;
        ctx.beginPath();
        ctx.moveTo(pts[0][0], pts[0][1]);
        ctx.lineTo(pts[1][0], pts[1][1]);
        ctx.stroke();
        const speed = Math.hypot(o.vx, o.vy);
        if (speed > 0.3) {
          const ex = o.x + o.vx;
          const ey = o.y + o.vy;
          ctx.lineWidth = 1.5 * dpr;
          ctx.beginPath();
          ctx.moveTo(sx, sy);
          ctx.lineTo(A[0] * ex + A[1] * ey + A[2], A[3] * ex + A[4] * ey + A[5]);
          ctx.stroke();
        }
        if (view.scale >= 3) {
          ctx.fillStyle = "#e6edf3";
          ctx.fillText(`${o.id} ${o.cls} ${speed.toFixed(1)}`, sx + 8 * dpr, sy - 8 * dpr);
        }
        drawn.objects++;
      }
      drawn.offscreen = off.n;
    }

    // Ego vehicle.
    {
      ctx.fillStyle = "#58a6ff";
      ctx.strokeStyle = "#cfe3ff";
      ctx.lineWidth = 1.5 * dpr;
      box(ctx, A, 0, 0, 0, 4.6, 1.9);
      ctx.fill();
      ctx.stroke();
      const nose = [A[0] * 3 + A[2], A[3] * 3 + A[5]];
      const l = [A[0] * 1.6 + A[1] * 0.8 + A[2], A[3] * 1.6 + A[4] * 0.8 + A[5]];
      const r = [A[0] * 1.6 - A[1] * 0.8 + A[2], A[3] * 1.6 - A[4] * 0.8 + A[5]];
      ctx.fillStyle = "#cfe3ff";
      ctx.beginPath();
      ctx.moveTo(nose[0], nose[1]);
      ctx.lineTo(l[0], l[1]);
      ctx.lineTo(r[0], r[1]);
      ctx.fill();
    }
    return { drawn, scaleStep: niceStep(90 / view.scale) };
  }

  return { draw, transforms, CLASS_COLORS, PALETTE, niceStep };
})();
