/**
 * The y-mirror augmentation of train/train.py (`augment`) must turn the rasters of a tick into the
 * rasters of the mirrored tick: columns reversed, and every channel whose sign follows y negated
 * (LiDAR and radar sub-cell y offsets, the radar's vr*uy, the ego yaw rate). A channel added to the
 * rasterizer without its place in the mirror fails here.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { AlignedTick } from "../../src/align/types.ts";
import { CHANNELS, DEFAULT_GRID, EGO_FEATURES } from "../../src/fusion/bev/grid.ts";
import { ALL_ON, BevRasterizer } from "../../src/fusion/bev/rasterize.ts";
import type { PackedArray } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import { packedOf, syntheticTick } from "../fusion/learned/_fixtures.ts";
import { runPython, torchMissing } from "../fusion/learned/_python.ts";

const skip = torchMissing();
const dir = mkdtempSync(join(tmpdir(), "mirror-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The tick seen in a mirror at y = 0: y, uy and the yaw rate change sign. */
function mirrored(t: AlignedTick): AlignedTick {
  const flip = (p: PackedArray, names: string[]): PackedArray => {
    const data = Float32Array.from(p.data);
    for (const n of names) {
      const f = p.fields[n]!;
      for (let k = 0; k < p.count; k++) data[k * p.stride + f]! *= -1;
    }
    return { ...p, data };
  };
  return {
    ...t,
    ego: { ...t.ego, yawRate: -t.ego.yawRate },
    lidar: flip(t.lidar!, ["y"]),
    radar: flip(t.radar!, ["y", "uy"]),
  };
}

test("augment's y-mirror of a tick's rasters equals the rasters of the mirrored tick", {
  skip: skip ?? false,
}, () => {
  const rig = loadRig("sim");
  const t = syntheticTick("m", 0, 20.3, 6.25);
  t.cameras = [];
  // LiDAR points at y = 5.35 .. 7.15, off the cell edges
  // radar returns off the cell edges (a return on an edge changes cell under the mirror)
  t.radar = packedOf(
    ["x", "y", "z", "vr", "rcs", "ux", "uy"],
    [
      [20.2, 6.3, 0.5, -4, 10, 0.95, 0.3],
      [20.7, 6.9, 0.5, -3, 25, 0.94, 0.33],
      [35.1, -12.2, 0.5, 6, 0, 0.94, -0.33],
    ],
  );
  const write = (name: string, tick: AlignedTick) => {
    const r = new BevRasterizer(rig);
    const f = r.alloc(1);
    r.rasterize(tick, ALL_ON, null, f);
    const ras = new Float32Array((18 * f.lidar.length) / 6);
    ras.set(f.lidar, 0);
    ras.set(f.radar, f.lidar.length);
    ras.set(f.camera, 2 * f.lidar.length);
    const aux = new Float32Array(17);
    aux.set(f.ego, 0);
    aux.set(f.health, EGO_FEATURES.length);
    writeFileSync(join(dir, `${name}.ras`), ras);
    writeFileSync(join(dir, `${name}.aux`), aux);
    return f;
  };
  const fa = write("a", t);
  write("b", mirrored(t));
  assert.ok(fa.radar.some((v) => v !== 0) && fa.lidar.some((v) => v !== 0));
  const g = DEFAULT_GRID;
  const code = [
    "import json, sys, numpy as np",
    "sys.path.insert(0, 'train')",
    "import train as T",
    "d, R, C = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])",
    "load = lambda n, s: np.fromfile(f'{d}/{n}', dtype='<f4').reshape(s)",
    "ras_a, aux_a = load('a.ras', (1, 18, R, C)).copy(), load('a.aux', (1, 17)).copy()",
    "ras_b, aux_b = load('b.ras', (1, 18, R, C)), load('b.aux', (1, 17))",
    "class FlipAll:",
    "    def random(self, n): return np.zeros(n)",
    "    def uniform(self, lo, hi, shape): return np.full(shape, hi)",
    "z = lambda k: np.zeros((1, 2, k, R, C), np.float32)",
    "ras, aux, *_ = T.augment(FlipAll(), ras_a, aux_a, z(4), z(10), z(1), fusion=False)",
    "diff = np.abs(ras - ras_b).reshape(18, -1).max(axis=1)",
    "print(json.dumps({'diff': diff[:12].tolist(), 'ego': (aux[0, :2] - aux_b[0, :2]).tolist()}))",
  ].join("\n");
  const r = JSON.parse(runPython(["-c", code, dir, String(g.rows), String(g.cols)]).stdout) as {
    diff: number[];
    ego: number[];
  };
  const names = [...CHANNELS.lidar.map((c) => `lidar ${c}`), ...CHANNELS.radar.map((c) => `radar ${c}`)];
  for (const [k, d] of r.diff.entries()) assert.ok(d < 1e-5, `${names[k]}: mirrored rasters differ by ${d}`);
  assert.ok(Math.abs(r.ego[0]!) < 1e-6 && Math.abs(r.ego[1]!) < 1e-6, `ego features ${r.ego}`);
});
