"""Dataset written by train/export-dataset.ts (train/dataset.ts), and CenterPoint targets.

Layout of data/bev/<split>/:
  index.json      {"version", "grid", "channels", "count", "samples": [{seed, scenario, conditions, faults, stampNs, nnz}]}
  offsets.i64     (count + 1) offsets into the sparse arrays
  sparse_idx.u32  flat indices into the (18, rows, cols) raster stack (lidar, radar, camera channels)
  sparse_val.f32  their values (exact float32 from the TypeScript rasterizer)
  aux.f32         (count, 17): ego (2) then health (3 x 5)
  boxes.f32       (n, 13): sample, cls (1..4), x, y, z, l, w, h, yaw, vx, vy, n_lidar, n_radar (vehicle frame)
Targets are derived here (not stored) so their hyper-parameters live with the training code.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

import contract as K

BOX_COLS = 13


class BevDataset:
    def __init__(self, root: str):
        with open(os.path.join(root, "index.json")) as f:
            self.index = json.load(f)
        if self.index["grid"] != K.GRID:
            raise ValueError(f"{root}: grid {self.index['grid']} differs from train/contract.py {K.GRID}")
        if self.index["channels"] != K.CHANNELS:
            raise ValueError(f"{root}: channels differ from train/contract.py")
        self.n = self.index["count"]
        self.off = np.fromfile(os.path.join(root, "offsets.i64"), dtype="<i8")
        self.idx = np.fromfile(os.path.join(root, "sparse_idx.u32"), dtype="<u4")
        self.val = np.fromfile(os.path.join(root, "sparse_val.f32"), dtype="<f4")
        self.aux = np.fromfile(os.path.join(root, "aux.f32"), dtype="<f4").reshape(self.n, K.AUX)
        boxes = np.fromfile(os.path.join(root, "boxes.f32"), dtype="<f4").reshape(-1, BOX_COLS)
        self.boxes = [boxes[boxes[:, 0] == i, 1:] for i in range(self.n)] if len(boxes) else [np.zeros((0, BOX_COLS - 1), "f4")] * self.n
        G = K.GRID
        self.shape = (K.RASTER_CHANNELS, G["rows"], G["cols"])
        self.targets = [targets_both(b) for b in self.boxes]

    def __len__(self) -> int:
        return self.n

    def rasters(self, ids) -> np.ndarray:
        out = np.zeros((len(ids),) + self.shape, dtype=np.float32)
        flat = out.reshape(len(ids), -1)
        for r, i in enumerate(ids):
            a, b = self.off[i], self.off[i + 1]
            flat[r, self.idx[a:b]] = self.val[a:b]
        return out

    def batch(self, ids):
        """Rasters, aux, and targets with a time axis: heat (B, 2, K, R, C), reg (B, 2, 10, R, C),
        regm (B, 2, 1, R, C); index 0 = tick time, 1 = LiDAR observation time (select_time)."""
        ras = self.rasters(ids)
        aux = self.aux[ids]
        heat = np.stack([self.targets[i][0] for i in ids])
        reg = np.stack([self.targets[i][1] for i in ids])
        regm = np.stack([self.targets[i][2] for i in ids])
        return ras, aux, heat, reg, regm


def lidar_dt(x, y):
    """Sweep time offset (s, <= 0) at which the training rig's LiDAR saw the point (x, y)."""
    L, T = K.TRAIN_LIDAR, K.TARGET_TIME
    az = np.arctan2(y - L["y_m"], x - L["x_m"]) - L["yaw_rad"]
    a0 = T["sweep_start_azimuth_rad"]
    swept = a0 - az if T["rotation"] == "cw" else az - a0
    frac = np.mod(swept / (2 * math.pi), 1.0)
    return -L["period_s"] * (1 - frac)


def targets_both(boxes: np.ndarray):
    """make_targets at tick time and at LiDAR observation time (objects with LiDAR points move by
    their ground velocity x lidar_dt), stacked on a leading axis of 2."""
    obs = boxes.copy()
    if len(obs):
        seen = obs[:, 10] > 0
        dt = lidar_dt(obs[:, 1], obs[:, 2])
        obs[:, 1] += np.where(seen, obs[:, 8] * dt, 0)
        obs[:, 2] += np.where(seen, obs[:, 9] * dt, 0)
    a, b = make_targets(boxes, NEIGHBOURHOOD), make_targets(obs, NEIGHBOURHOOD)
    return tuple(np.stack([x, y]) for x, y in zip(a, b))


def select_time(heat, reg, regm, lidar_present):
    """Per sample: LiDAR-observation-time targets where LiDAR is present, else tick time."""
    sel = np.asarray(lidar_present, dtype=np.int64)
    r = np.arange(len(sel))
    return heat[r, sel], reg[r, sel], regm[r, sel]


# box regression at the centre cell and its 8 neighbours (weight 0.5): at 1 m cells the peak is often
# one cell off the true centre cell
NEIGHBOURHOOD = 1


def make_targets(boxes: np.ndarray, neighbourhood: int = 0):
    """CenterPoint targets on the output grid: Gaussian class heatmaps, and box regression at the
    centre cell and, with `neighbourhood` > 0, its neighbours (offsets relative to each cell;
    neighbours weigh 0.5; a cell belongs to the nearest object centre). Decoding reads the peak cell.
    At output stride 2 neighbourhood 1 was no better; the stride-1 models use NEIGHBOURHOOD = 1."""
    G = K.GRID
    S = K.OUT_STRIDE
    R, C = G["rows"] // S, G["cols"] // S
    cell = G["cellM"] * S
    heat = np.zeros((len(K.CLASSES), R, C), np.float32)
    reg = np.zeros((len(K.BOX_CHANNELS), R, C), np.float32)
    regm = np.zeros((1, R, C), np.float32)
    owner_d = np.full((R, C), np.inf, np.float32)
    ii, jj = np.meshgrid(np.arange(R) + 0.5, np.arange(C) + 0.5, indexing="ij")
    for b in boxes:
        cls, x, y, z, l, w, h, yaw, vx, vy = b[:10]
        k = int(cls) - 1
        if k < 0 or k >= len(K.CLASSES):
            continue
        ci = (x - G["xMinM"]) / cell
        cj = (y - G["yMinM"]) / cell
        if not (0 <= ci < R and 0 <= cj < C):
            continue
        sigma = max(0.6, 0.2 * math.sqrt(max(l * w, 0.01)) / (cell / 2))
        g = np.exp(-((ii - ci) ** 2 + (jj - cj) ** 2) / (2 * sigma * sigma))
        i0, j0 = int(ci), int(cj)
        g[i0, j0] = 1.0
        np.maximum(heat[k], g, out=heat[k])
        rest = [z, math.log(max(l, 0.1)), math.log(max(w, 0.1)), math.log(max(h, 0.1)), math.sin(2 * yaw), math.cos(2 * yaw), vx, vy]
        for di in range(-neighbourhood, neighbourhood + 1):
            for dj in range(-neighbourhood, neighbourhood + 1):
                i, j = i0 + di, j0 + dj
                if not (0 <= i < R and 0 <= j < C):
                    continue
                d = (i + 0.5 - ci) ** 2 + (j + 0.5 - cj) ** 2
                centre = di == 0 and dj == 0
                if not centre and d >= owner_d[i, j]:
                    continue
                if not centre and regm[0, i, j] == 1.0:
                    continue  # another object's centre cell
                owner_d[i, j] = -1 if centre else d
                reg[:, i, j] = [ci - i, cj - j] + rest
                regm[0, i, j] = 1.0 if centre else 0.5
    return heat, reg, regm


def synthetic(n: int, seed: int = 0):
    """Tiny synthetic dataset (boxes drawn into the rasters) for the smoke test; same layout as BevDataset."""
    rng = np.random.default_rng(seed)
    G = K.GRID
    H, W = G["rows"], G["cols"]

    class Syn(BevDataset):
        def __init__(self):  # noqa: D401 - no files
            self.n = n
            self.shape = (K.RASTER_CHANNELS, H, W)
            self.ras = np.zeros((n, K.RASTER_CHANNELS, H, W), np.float32)
            self.aux = np.zeros((n, K.AUX), np.float32)
            self.aux[:, K.NE :] = np.tile(np.array([1, 1, 0.9, 1, 1], np.float32), K.NM)
            self.boxes = []
            for s in range(n):
                bs = []
                for _ in range(rng.integers(1, 6)):
                    k = int(rng.integers(1, 5))
                    x, y = rng.uniform(0, 50), rng.uniform(-25, 25)
                    l, w, h = [(4.6, 1.9, 1.6), (9.5, 2.5, 3.4), (0.6, 0.6, 1.75), (1.8, 0.6, 1.7)][k - 1]
                    i, j = int((x - G["xMinM"]) / G["cellM"]), int((y - G["yMinM"]) / G["cellM"])
                    r = max(1, int(l / G["cellM"] / 2))
                    lc, lz = K.channel("lidar", "log_count"), K.channel("lidar", "max_z")
                    self.ras[s, lc, max(0, i - r): i + r + 1, max(0, j - 1): j + 2] = 0.8
                    self.ras[s, lz, max(0, i - r): i + r + 1, max(0, j - 1): j + 2] = h / 4
                    self.ras[s, K.channel("radar", "log_count"), i, j] = 0.5
                    self.ras[s, K.channel("camera", "ray_" + K.CLASSES[k - 1]), i, :] = 0.7
                    bs.append([k, x, y, h / 2, l, w, h, 0.0, 0.0, 0.0, 10, 1])
                self.boxes.append(np.array(bs, np.float32))
            self.targets = [targets_both(b) for b in self.boxes]

        def rasters(self, ids):
            return self.ras[ids]

    return Syn()
