"""Gated fusion transformer over per-modality BEV rasters (CenterPoint-style head).

One file, two modes from the same code (see docs/fusion-learned.md):
- intermediate: each modality is encoded into a grid of tokens; tokens of all modalities (plus an
  ego token) attend to each other; gated per-modality tokens and skip features are merged and one
  shared head predicts heatmaps and boxes.
- late: each modality has its own encoder, token self-attention and head; per-cell weights
  (modality gate x the head's own confidence) combine the heads' outputs.
Gates g_m in [0, 1] come from the modality's health vector, its pooled tokens and the ego input, and
are multiplied by the mask flag, so a masked (dropped) modality contributes exactly nothing.

Attention is written with plain matmul + softmax: torch 1.13's nn.MultiheadAttention takes a fused
path in eval mode that does not export to ONNX.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

import contract as K

MODALITIES = K.MODALITIES


@dataclass
class ModelConfig:
    mode: str = "intermediate"  # "intermediate" | "late"
    modalities: tuple = MODALITIES  # subset of MODALITIES the model reads (lidar_only: ("lidar",))
    in_ch: int = len(K.CHANNELS["lidar"])  # channels per modality raster (model-contract.json channels)
    grid: int = K.GRID["rows"]  # raster rows = cols (1 m cells, model-contract.json grid)
    feat: int = 24  # channels of the full-resolution (64x64) feature map = head resolution
    feat2: int = 32  # channels at 32x32
    feat4: int = 48  # channels at 16x16
    dim: int = 64  # token width; tokens live at stride 8 (8x8 per modality)
    heads: int = 4  # attention heads
    layers: int = 1  # transformer layers
    mlp: int = 128  # transformer MLP hidden width
    num_classes: int = len(K.CLASSES)  # car, truck, pedestrian, cyclist
    box_ch: int = len(K.BOX_CHANNELS)  # dx, dy (cells), z (m), log l, log w, log h, sin 2yaw, cos 2yaw, vx, vy (m/s)
    ego_dim: int = len(K.EGO_FEATURES)
    health_dim: int = len(K.HEALTH_FEATURES)  # mask, present, freshness, rate ratio, content ok

    @property
    def out_grid(self) -> int:
        return self.grid // K.OUT_STRIDE  # one head cell per OUT_STRIDE raster cells (1)

    @property
    def tok_grid(self) -> int:
        return self.grid // 8

    def to_dict(self) -> dict:
        d = asdict(self)
        d["modalities"] = list(self.modalities)
        return d


def conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Encoder(nn.Module):
    """Raster (B, C, G, G) -> skip features at G, G/2, G/4 and tokens (B, T, dim), T = (G/8)^2.

    No strided convolution: stride-1 3x3 convs and 2x2 max pooling. onnxruntime's WebGPU provider
    computes strided Conv wrongly (onnxruntime#26734, #29651; docs/fusion-learned.md, GPU check)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.s1 = conv_bn(c.in_ch, c.feat, 1)
        self.s2 = conv_bn(c.feat, c.feat2, 1)
        self.s4 = conv_bn(c.feat2, c.feat4, 1)
        self.s8 = conv_bn(c.feat4, c.dim, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        f1 = self.s1(x)  # (B, feat, G, G)
        f2 = self.s2(self.pool(f1))  # (B, feat2, G/2, G/2)
        f4 = self.s4(self.pool(f2))  # (B, feat4, G/4, G/4)
        t = self.s8(self.pool(f4))  # (B, dim, G/8, G/8)
        return (f1, f2, f4), t.flatten(2).transpose(1, 2)  # (B, T, dim)


class Block(nn.Module):
    """Pre-norm transformer block; attention with an additive key bias (B, 1, 1, S) for masking."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.h = c.heads
        self.ln1 = nn.LayerNorm(c.dim)
        self.qkv = nn.Linear(c.dim, 3 * c.dim)
        self.proj = nn.Linear(c.dim, c.dim)
        self.ln2 = nn.LayerNorm(c.dim)
        self.mlp = nn.Sequential(nn.Linear(c.dim, c.mlp), nn.GELU(), nn.Linear(c.mlp, c.dim))

    def forward(self, x, key_bias):
        B, S, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q = q.reshape(B, S, self.h, D // self.h).transpose(1, 2)  # (B, h, S, d)
        k = k.reshape(B, S, self.h, D // self.h).transpose(1, 2)
        v = v.reshape(B, S, self.h, D // self.h).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(D // self.h)) + key_bias  # (B, h, S, S)
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, S, D)
        x = x + self.proj(y)
        return x + self.mlp(self.ln2(x))


class Gate(nn.Module):
    """g_m = sigmoid(MLP([health_m, mean token_m, ego])) * mask_m  -> (B, 1)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(c.health_dim + c.dim + c.ego_dim, 32), nn.ReLU(inplace=True), nn.Linear(32, 1))
        nn.init.constant_(self.net[2].bias, 2.0)  # start trusting every present modality

    def forward(self, health_m, tokens_m, ego):
        z = torch.cat([health_m, tokens_m.mean(1), ego], dim=1)
        return torch.sigmoid(self.net(z)) * health_m[:, :1]


class Head(nn.Module):
    """Fused tokens (B, dim, g, g) + skips at 2g, 4g, 8g -> heat logits, box, confidence logit at 8g.
    A small U-Net decoder: 1x1 projection, nearest 2x upsampling, add the skip, 3x3 conv."""

    def __init__(self, c: ModelConfig, conf: bool = False):
        super().__init__()
        self.p4 = nn.Conv2d(c.dim, c.feat4, 1)
        self.p2 = nn.Conv2d(c.feat4, c.feat2, 1)
        self.m2 = conv_bn(c.feat2, c.feat2, 1)
        self.p1 = nn.Conv2d(c.feat2, c.feat, 1)
        self.m1 = conv_bn(c.feat, c.feat, 1)
        self.heat = nn.Conv2d(c.feat, c.num_classes, 1)
        self.box = nn.Conv2d(c.feat, c.box_ch, 1)
        self.conf = nn.Conv2d(c.feat, 1, 1) if conf else None
        nn.init.constant_(self.heat.bias, -2.19)  # CenterNet prior: p = 0.1

    def forward(self, tok_grid, skips):
        f1, f2, f4 = skips
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")  # noqa: E731
        x = up(self.p4(tok_grid)) + f4
        x = self.m2(up(self.p2(x)) + f2)
        x = self.m1(up(self.p1(x)) + f1)
        conf = self.conf(x) if self.conf is not None else None
        return self.heat(x), self.box(x), conf


class FusionNet(nn.Module):
    """Inputs: one raster per modality (B, 6, G, G), ego (B, 2), health (B, 3, 5).
    Outputs: heatmap (B, K, G, G) probabilities, box (B, 10, G, G), gates (B, 3);
    with aux=True (training) also per-modality heat probabilities (late mode) for auxiliary losses."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.c = c
        M = len(c.modalities)
        self.enc = nn.ModuleList([Encoder(c) for _ in range(M)])
        self.gate = nn.ModuleList([Gate(c) for _ in range(M)])
        T = c.tok_grid * c.tok_grid
        self.pos = nn.Parameter(torch.zeros(1, T, c.dim))
        self.mod_emb = nn.Parameter(torch.zeros(M, 1, c.dim))
        nn.init.normal_(self.pos, std=0.02)
        nn.init.normal_(self.mod_emb, std=0.02)
        self.ego_tok = nn.Linear(c.ego_dim, c.dim)
        if c.mode == "intermediate":
            self.blocks = nn.ModuleList([Block(c) for _ in range(c.layers)])
            self.head = Head(c)
        elif c.mode == "late":
            self.blocks = nn.ModuleList([nn.ModuleList([Block(c) for _ in range(c.layers)]) for _ in range(M)])
            self.heads = nn.ModuleList([Head(c, conf=True) for _ in range(M)])
        else:
            raise ValueError(f"unknown mode {c.mode!r}")
        self.midx = [MODALITIES.index(m) for m in c.modalities]

    def forward(self, lidar, radar, camera, ego, health, aux: bool = False):
        c = self.c
        rasters = {"lidar": lidar, "radar": radar, "camera": camera}
        B = ego.shape[0]
        g = c.tok_grid
        feats, toks, gates = [], [], []
        for i, m in enumerate(c.modalities):
            h_m = health[:, self.midx[i], :]  # (B, 5)
            f, t = self.enc[i](rasters[m])
            gm = self.gate[i](h_m, t, ego)  # (B, 1)
            feats.append(f)
            toks.append(t)
            gates.append(gm)
        ego_t = self.ego_tok(ego).unsqueeze(1)  # (B, 1, dim)
        eps = 1e-3
        if c.mode == "intermediate":
            seq = [ego_t] + [toks[i] * gates[i].unsqueeze(2) + self.pos + self.mod_emb[i] for i in range(len(toks))]
            x = torch.cat(seq, dim=1)  # (B, 1 + M*T, dim)
            T = g * g
            # keys of masked modalities are excluded; the ego token is always attendable
            bias = [torch.zeros(B, 1, device=ego.device)] + [
                (health[:, self.midx[i], :1] - 1.0).expand(B, T) * 1e4 for i in range(len(toks))
            ]
            key_bias = torch.cat(bias, dim=1).reshape(B, 1, 1, -1)
            for blk in self.blocks:
                x = blk(x, key_bias)
            wsum = eps
            tok_f = 0.0
            skip_f = [0.0, 0.0, 0.0]
            for i in range(len(toks)):
                ti = x[:, 1 + i * T : 1 + (i + 1) * T, :]  # (B, T, dim)
                w = gates[i].reshape(B, 1, 1)
                tok_f = tok_f + ti * w
                for lv in range(3):
                    skip_f[lv] = skip_f[lv] + feats[i][lv] * w.reshape(B, 1, 1, 1)
                wsum = wsum + w
            tok_f = (tok_f / wsum).transpose(1, 2).reshape(B, c.dim, g, g)
            skip_f = [sf / wsum.reshape(B, 1, 1, 1) for sf in skip_f]
            heat_l, box, _ = self.head(tok_f, skip_f)
            heat = torch.sigmoid(heat_l)
            per_mod = None
        else:
            heats, boxes, ws = [], [], []
            T = g * g
            for i in range(len(toks)):
                x = torch.cat([ego_t, toks[i] + self.pos + self.mod_emb[i]], dim=1)
                kb = torch.zeros(B, 1, 1, 1 + T, device=ego.device)
                for blk in self.blocks[i]:
                    x = blk(x, kb)
                ti = x[:, 1:, :].transpose(1, 2).reshape(B, c.dim, g, g)
                hl, bx, cf = self.heads[i](ti, feats[i])
                heats.append(torch.sigmoid(hl))
                boxes.append(bx)
                ws.append(gates[i].reshape(B, 1, 1, 1) * torch.sigmoid(cf))  # (B, 1, H, W)
            wsum = eps
            heat = 0.0
            box = 0.0
            for i in range(len(toks)):
                heat = heat + heats[i] * ws[i]
                box = box + boxes[i] * ws[i]
                wsum = wsum + ws[i]
            heat = heat / wsum
            box = box / wsum
            per_mod = heats
        # gates reported in MODALITIES order (0 for modalities the model does not read)
        gate_cols = [torch.zeros(B, 1, device=ego.device) for _ in MODALITIES]
        for i in range(len(toks)):
            gate_cols[self.midx[i]] = gates[i]
        gates_out = torch.cat(gate_cols, dim=1)
        if aux:
            return heat, box, gates_out, per_mod
        return heat, box, gates_out


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
