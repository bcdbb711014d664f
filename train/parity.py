"""Parity helper for the ONNX-vs-PyTorch test (test/fusion/learned/parity.test.ts).

Builds a model (from a checkpoint, or freshly initialised with a fixed seed), exports it to ONNX,
runs PyTorch on a deterministic input and writes inputs and outputs as raw float32 files plus a
JSON index, for onnxruntime-node to compare against.

usage: parity.py OUT_DIR [--ckpt models/x.pt] [--mode intermediate|late] [--batch 2]
"""
from __future__ import annotations

import argparse
import json
import os

import torch

from export import dummy_inputs, export_onnx
from model import FusionNet, ModelConfig, MODALITIES


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--ckpt")
    ap.add_argument("--mode", default="intermediate")
    ap.add_argument("--lidar-only", action="store_true")
    ap.add_argument("--batch", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    if a.ckpt:
        ck = torch.load(a.ckpt, map_location="cpu")
        cfg = ModelConfig(**{**ck["config"], "modalities": tuple(ck["config"]["modalities"])})
        model = FusionNet(cfg)
        model.load_state_dict(ck["state_dict"])
    else:
        cfg = ModelConfig(mode=a.mode, modalities=("lidar",) if a.lidar_only else MODALITIES)
        model = FusionNet(cfg)
        # perturb BatchNorm statistics so the check covers them
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, "model.onnx")
    export_onnx(model, onnx_path, "parity")
    x = list(dummy_inputs(cfg, a.batch, seed=1))
    x[4][1, 1, :] = 0.0  # second frame: radar masked, as modality dropout does
    x[1][1] = 0.0
    with torch.no_grad():
        ys = model(*x)
    index = {"onnx": onnx_path, "inputs": {}, "outputs": {}}
    for name, t in zip(["lidar", "radar", "camera", "ego", "health"], x):
        p = os.path.join(a.out, f"in_{name}.f32")
        t.contiguous().numpy().astype("<f4").tofile(p)
        index["inputs"][name] = {"path": p, "shape": list(t.shape)}
    for name, t in zip(["heatmap", "box", "gates"], ys):
        p = os.path.join(a.out, f"out_{name}.f32")
        t.contiguous().numpy().astype("<f4").tofile(p)
        index["outputs"][name] = {"path": p, "shape": list(t.shape)}
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f)
    print(json.dumps({"ok": True, "dir": a.out}))


if __name__ == "__main__":
    main()
