/**
 * Which modalities support a decoded detection: evidence near its centre, and inside its box
 * (grown by `support_box_margin_m`). A long truck's radar returns come from its near face, metres
 * from its centre; without the box they would not count and the truck would be taken for a
 * camera-only detection (its position std 1.2 m instead of 0.4). No model needed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_GRID } from "../../../src/fusion/bev/grid.ts";
import { DEFAULT_DECODE, decodeFrame } from "../../../src/fusion/learned/decode.ts";
import { Modality } from "../../../src/msg/types.ts";

const G = DEFAULT_GRID;
const R = G.rows;
const C = G.cols;
const RC = R * C;
const cellOf = (x: number, y: number) => Math.floor(x - G.xMinM) * C + Math.floor(y - G.yMinM);

/** One truck peak at (30.5, 0.5), 12 x 2.5 m, axis along x; radar returns in the given cells. */
function decodeTruck(returns: [number, number][], opts = DEFAULT_DECODE) {
  const heat = new Float32Array(4 * RC);
  const box = new Float32Array(10 * RC);
  const c = cellOf(30.5, 0.5);
  heat[RC + c] = 0.9; // class 2 (truck)
  box[c] = 0.5;
  box[RC + c] = 0.5;
  box[3 * RC + c] = Math.log(12);
  box[4 * RC + c] = Math.log(2.5);
  box[7 * RC + c] = 1; // cos 2yaw: axis along x
  const radar = new Float32Array(RC);
  for (const [x, y] of returns) radar[cellOf(x, y)] = 1;
  const dets = decodeFrame({ heat, box, K: 4, R, C }, G, 1, { lidar: null, radar, camera: null }, opts);
  assert.equal(dets.length, 1);
  return dets[0]!;
}

test("radar returns on a truck's near face, 5 m from its centre, support it", () => {
  const d = decodeTruck([[25.5, 0.5]]);
  assert.deepEqual(d.modalities, [Modality.RADAR]);
  const s = DEFAULT_DECODE.pos_std_m[1];
  assert.ok(Math.abs(d.covXX - s * s) < 1e-12, `position variance ${d.covXX}`);
  // the same return with the box off: only the 1.5 m radius counts
  const off = decodeTruck([[25.5, 0.5]], { ...DEFAULT_DECODE, support_box_margin_m: -1 });
  assert.deepEqual(off.modalities, []);
});

test("returns beside the box (a neighbour in the next lane) do not support it", () => {
  const d = decodeTruck([
    [25.5, 4.5],
    [36.5, -3.5],
  ]);
  assert.deepEqual(d.modalities, []);
});
