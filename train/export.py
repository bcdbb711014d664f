"""Export a FusionNet to ONNX (dynamic batch) with self-describing metadata_props."""
from __future__ import annotations

import json

import onnx
import torch

import contract as K
from model import FusionNet, ModelConfig


def dummy_inputs(c: ModelConfig, batch: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    ras = [r(batch, c.in_ch, c.grid, c.grid) * (r(batch, c.in_ch, c.grid, c.grid) > 0.8) for _ in range(3)]
    health = torch.ones(batch, 3, c.health_dim)
    return (*ras, r(batch, c.ego_dim) - 0.5, health)


def export_onnx(model: FusionNet, path: str, name: str, extra: dict | None = None, opset: int = 13) -> None:
    c = model.c
    model.eval()
    args = dummy_inputs(c, 2)
    # every model takes all five inputs so the service feeds one layout; unused ones are pruned by
    # the exporter, so the metadata lists the inputs the graph really has
    torch.onnx.export(
        model,
        args,
        path,
        input_names=K.INPUT_NAMES,
        output_names=K.OUTPUT_NAMES,
        dynamic_axes={n: {0: "batch"} for n in K.INPUT_NAMES + K.OUTPUT_NAMES},
        opset_version=opset,
        do_constant_folding=True,
    )
    m = onnx.load(path)
    graph_inputs = [i.name for i in m.graph.input]
    G, O = c.grid, c.out_grid
    shapes = {
        "lidar": [-1, c.in_ch, G, G],
        "radar": [-1, c.in_ch, G, G],
        "camera": [-1, c.in_ch, G, G],
        "ego": [-1, c.ego_dim],
        "health": [-1, 3, c.health_dim],
        "heatmap": [-1, c.num_classes, O, O],
        "box": [-1, c.box_ch, O, O],
        "gates": [-1, 3],
    }
    meta = {
        "format": K.FORMAT,
        "version": str(K.VERSION),
        "bev_version": str(K.BEV_VERSION),
        "name": name,
        "mode": c.mode,
        "config": json.dumps(c.to_dict()),
        "inputs": json.dumps([{"name": n, "shape": shapes[n]} for n in graph_inputs]),
        "outputs": json.dumps([{"name": n, "shape": shapes[n]} for n in K.OUTPUT_NAMES]),
        "bev_grid": json.dumps(K.GRID),
        "channels": json.dumps(K.CHANNELS),
        "classes": json.dumps(K.CLASSES),
        "ego_features": json.dumps(K.EGO_FEATURES),
        "health_features": json.dumps(K.HEALTH_FEATURES),
        "box_channels": json.dumps(K.BOX_CHANNELS),
        "out_stride": str(K.OUT_STRIDE),
        "target_time": json.dumps({**K.TARGET_TIME, "train_lidar": K.TRAIN_LIDAR}),
        "normalisation": json.dumps(
            {"ego": {"speed_mps": 20.0, "yaw_rate_radps": 0.5}, "heatmap": "sigmoid probability", "box": "see box_channels"}
        ),
    }
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "sensor-fusion-service/train"
    onnx.checker.check_model(m)
    onnx.save(m, path)
