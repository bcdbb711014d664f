"""Static int8 quantization of a fusion model's 3x3 convolutions, in ONNX QDQ form (train/quantize.ts
drives it; docs/fusion-learned.md "int8 model", DECISIONS H6).

Two steps, because the activation ranges are measured by onnxruntime (in Node, train/quantize.ts)
between them:

  quantize.py plan    IN.onnx AUGMENTED.onnx PLAN.json
      Lists the convolutions to quantize (3x3, the bulk of the model's time; the 1x1 projections and
      the heat/box heads stay float) and writes a copy of the model whose outputs also include every
      tensor whose range the quantized model needs: each such convolution's input and its output
      after the ReLU that follows it.
  quantize.py write   IN.onnx PLAN.json RANGES.json OUT.onnx META.json
      Writes the QDQ model: activations uint8 (asymmetric, the measured [lo, hi] widened to hold 0),
      weights int8 symmetric per output channel, biases int32 at (input scale x weight scale).
      A convolution's ReLU output gets zero point 0, so onnxruntime folds the ReLU and runs
      DequantizeLinear -> Conv -> QuantizeLinear as one QLinearConv. A convolution fed by a MaxPool
      of a quantized tensor reuses that tensor's parameters, so the pool runs on uint8.
      META.json's object is stored as the metadata entry `quantization`; every other metadata entry
      (contract, OOD statistics) is kept as it is.

numpy and onnx only (onnxruntime's Python quantization tool is not in Debian).
"""
from __future__ import annotations

import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _consumers(g):
    out = {}
    for n in g.node:
        for i in n.input:
            out.setdefault(i, []).append(n)
    return out


def conv_plan(m) -> list[dict]:
    g = m.graph
    cons = _consumers(g)
    inits = {i.name: i for i in g.initializer}
    plan = []
    for n in g.node:
        if n.op_type != "Conv" or n.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[n.input[1]])
        if w.ndim != 4 or w.shape[2] == 1 or w.shape[3] == 1:
            continue
        after = cons.get(n.output[0], [])
        relu = after[0] if len(after) == 1 and after[0].op_type == "Relu" else None
        plan.append(
            {
                "conv": n.name,
                "x": n.input[0],
                "w": n.input[1],
                "b": n.input[2] if len(n.input) > 2 and n.input[2] else None,
                "y": relu.output[0] if relu else n.output[0],
                "relu": relu is not None,
            }
        )
    return plan


def cmd_plan(src: str, augmented: str, plan_path: str) -> None:
    m = onnx.load(src)
    plan = conv_plan(m)
    if not plan:
        raise SystemExit(f"{src}: no 3x3 convolution to quantize")
    tensors = sorted({p["x"] for p in plan} | {p["y"] for p in plan})
    graph_inputs = {i.name for i in m.graph.input}
    for t in tensors:
        if t not in graph_inputs:
            m.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    onnx.save(m, augmented)
    with open(plan_path, "w") as f:
        json.dump({"tensors": tensors, "convs": plan}, f, indent=1)


def _uint8_params(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0
    if scale <= 0:
        return 1.0, 0
    return scale, int(np.clip(round(-lo / scale), 0, 255))


def cmd_write(src: str, plan_path: str, ranges_path: str, out: str, meta_path: str) -> None:
    m = onnx.load(src)
    g = m.graph
    with open(plan_path) as f:
        plan = json.load(f)["convs"]
    with open(ranges_path) as f:
        ranges = json.load(f)
    with open(meta_path) as f:
        meta = json.load(f)
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    wrapped = {p["x"] for p in plan} | {p["y"] for p in plan}
    missing = sorted(t for t in wrapped if t not in ranges)
    if missing:
        raise SystemExit(f"{ranges_path}: no range for {missing[:3]}")
    # a pooled tensor keeps the parameters of the tensor it pools (uint8 max pooling)
    params = {}
    for t in sorted(wrapped):
        pn = producer.get(t)
        src_t = pn.input[0] if pn is not None and pn.op_type == "MaxPool" and pn.input[0] in wrapped else t
        params[t] = _uint8_params(*ranges[src_t])
    new_inits, new_nodes, dq = [], [], {}
    for t in sorted(wrapped):
        s, zp = params[t]
        new_inits += [numpy_helper.from_array(np.array(s, np.float32), f"{t}_qscale"),
                      numpy_helper.from_array(np.array(zp, np.uint8), f"{t}_qzero")]
        new_nodes += [helper.make_node("QuantizeLinear", [t, f"{t}_qscale", f"{t}_qzero"], [f"{t}_q"], name=f"{t}_Q"),
                      helper.make_node("DequantizeLinear", [f"{t}_q", f"{t}_qscale", f"{t}_qzero"], [f"{t}_dq"], name=f"{t}_DQ")]
        dq[t] = f"{t}_dq"
    conv_by_name = {n.name: n for n in g.node if n.op_type == "Conv"}
    for p in plan:
        w = numpy_helper.to_array(inits[p["w"]]).astype(np.float32)
        sw = np.abs(w).reshape(w.shape[0], -1).max(axis=1) / 127.0
        sw[sw == 0] = 1.0
        wq = np.clip(np.round(w / sw[:, None, None, None]), -127, 127).astype(np.int8)
        wn = f"{p['w']}_int8"
        new_inits += [numpy_helper.from_array(wq, wn), numpy_helper.from_array(sw.astype(np.float32), f"{wn}_scale"),
                      numpy_helper.from_array(np.zeros(w.shape[0], np.int8), f"{wn}_zero")]
        new_nodes.append(helper.make_node("DequantizeLinear", [wn, f"{wn}_scale", f"{wn}_zero"], [f"{wn}_dq"], name=f"{wn}_DQ", axis=0))
        conv = conv_by_name[p["conv"]]
        conv.input[1] = f"{wn}_dq"
        if p["b"]:
            b = numpy_helper.to_array(inits[p["b"]]).astype(np.float64)
            bs = (params[p["x"]][0] * sw).astype(np.float32)
            bq = np.round(b / bs.astype(np.float64)).astype(np.int32)
            bn = f"{p['b']}_int32"
            new_inits += [numpy_helper.from_array(bq, bn), numpy_helper.from_array(bs, f"{bn}_scale"),
                          numpy_helper.from_array(np.zeros(w.shape[0], np.int32), f"{bn}_zero")]
            new_nodes.append(helper.make_node("DequantizeLinear", [bn, f"{bn}_scale", f"{bn}_zero"], [f"{bn}_dq"], name=f"{bn}_DQ", axis=0))
            conv.input[2] = f"{bn}_dq"
    # every reader of a wrapped tensor reads its dequantized copy (the QuantizeLinear reads the original)
    for n in g.node:
        for k, i in enumerate(n.input):
            if i in dq:
                n.input[k] = dq[i]
    for o in g.output:
        if o.name in dq:
            raise SystemExit(f"{o.name} is a graph output: not supported")
    # topological order of the old and new nodes
    avail = {i.name for i in g.input} | {i.name for i in g.initializer} | {i.name for i in new_inits}
    pending, ordered = new_nodes + list(g.node), []
    while pending:
        rest = []
        for n in pending:
            if all(i == "" or i in avail for i in n.input):
                ordered.append(n)
                avail.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise SystemExit(f"cannot order nodes: {[n.name for n in rest[:3]]}")
        pending = rest
    del g.node[:]
    g.node.extend(ordered)
    g.initializer.extend(new_inits)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    props = [p for p in m.metadata_props if p.key != "quantization"]
    del m.metadata_props[:]
    m.metadata_props.extend(props)
    m.metadata_props.append(onnx.StringStringEntryProto(key="quantization", value=json.dumps(meta, sort_keys=True)))
    onnx.checker.check_model(m)
    onnx.save(m, out)
    print(f"quantized {len(plan)} convolutions -> {out}")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:] or [""]
    if cmd == "plan" and len(args) == 3:
        cmd_plan(*args)
    elif cmd == "write" and len(args) == 5:
        cmd_write(*args)
    else:
        raise SystemExit(__doc__)
