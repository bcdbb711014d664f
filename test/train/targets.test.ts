/**
 * Training targets and the decoder agree on the box orientation: train/data.py `make_targets`
 * writes the orientation axis as (sin 2yaw, cos 2yaw) (model version 3) and `yawOf` turns it back
 * into a yaw, taking the direction from the velocity.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BOX_CHANNELS } from "../../src/fusion/learned/contract.ts";
import { yawOf } from "../../src/fusion/learned/decode.ts";
import { runPython, torchMissing } from "../fusion/learned/_python.ts";

const skip = torchMissing();

test("make_targets' orientation channels decode to the box's yaw (axis; direction from velocity)", {
  skip: skip ?? false,
}, () => {
  const yaws = [0, 0.3, Math.PI / 2, -Math.PI / 2, 2.5, -2.9, Math.PI];
  const code = [
    "import json, sys, math, numpy as np",
    "sys.path.insert(0, 'train')",
    "import contract as K",
    "from data import make_targets",
    "out = []",
    "for yaw in json.loads(sys.argv[1]):",
    "    v = 6.0",
    "    b = np.array([[1, 20.3, 4.6, 0.8, 4.5, 1.9, 1.5, yaw, v * math.cos(yaw), v * math.sin(yaw), 50, 2]], np.float32)",
    "    heat, reg, regm = make_targets(b)",
    "    i, j = int(20.3 - K.GRID['xMinM']), int(4.6 - K.GRID['yMinM'])",
    "    out.append([float(x) for x in reg[:, i, j]])",
    "print(json.dumps({'reg': out, 'channels': K.BOX_CHANNELS}))",
  ].join("\n");
  const r = JSON.parse(runPython(["-c", code, JSON.stringify(yaws)]).stdout) as {
    reg: number[][];
    channels: string[];
  };
  assert.deepEqual(r.channels, [...BOX_CHANNELS]);
  const diff = (a: number, b: number) => Math.abs(Math.atan2(Math.sin(a - b), Math.cos(a - b)));
  yaws.forEach((yaw, k) => {
    const b = r.reg[k]!;
    assert.ok(Math.abs(Math.hypot(b[6]!, b[7]!) - 1) < 1e-5);
    assert.ok(diff(yawOf(b[6]!, b[7]!, b[8]!, b[9]!), yaw) < 1e-5, `yaw ${yaw}: moving`);
    // standing still, only the axis is known
    assert.ok(Math.abs(Math.sin(yawOf(b[6]!, b[7]!, 0, 0) - yaw)) < 1e-5, `yaw ${yaw}: axis`);
  });
});
