/**
 * The local ground model (ground_local): on a street that rises 10 % ahead, the flat plane z = 0
 * calls the far road surface "object"; the local ground keeps it ground and still finds a car on it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LIDAR_CLUSTER_DEFAULTS } from "../../../src/fusion/lidar/config.ts";
import { GROUND, OBJECT, segmentGround } from "../../../src/fusion/lidar/ground.ts";
import { packedOf } from "../learned/_fixtures.ts";

describe("local ground", () => {
  const rows: number[][] = [];
  // road: a grid of returns rising 0.1 m per m ahead of x = 5 m
  for (let x = 2; x <= 40; x += 0.5)
    for (let y = -6; y <= 6; y += 0.5) rows.push([x, y, Math.max(0, (x - 5) * 0.1), 0.1]);
  const road = rows.length;
  // a car on the slope at x = 30 (ground 2.5 m): its sides from 0.3 to 1.5 m above the road
  for (let x = 28; x <= 32; x += 0.2) for (let h = 0.4; h <= 1.5; h += 0.1) rows.push([x, 1, 2.5 + h, 0.5]);
  const pc = packedOf(["x", "y", "z", "intensity"], rows);

  it("flat plane: the rising road is object; local ground: road is ground, the car is object", () => {
    const flat = new Uint8Array(pc.count);
    segmentGround(pc, LIDAR_CLUSTER_DEFAULTS, flat);
    let roadObjectsFlat = 0;
    for (let i = 0; i < road; i++) if (flat[i] === OBJECT) roadObjectsFlat++;
    assert.ok(roadObjectsFlat > road / 3, `flat: ${roadObjectsFlat} road points called object`);
    const local = new Uint8Array(pc.count);
    segmentGround(pc, { ...LIDAR_CLUSTER_DEFAULTS, ground_local: true }, local);
    let roadObjects = 0;
    for (let i = 0; i < road; i++) if (local[i] !== GROUND) roadObjects++;
    assert.ok(roadObjects < road * 0.02, `local: ${roadObjects} of ${road} road points not ground`);
    let car = 0;
    for (let i = road; i < pc.count; i++) if (local[i] === OBJECT) car++;
    assert.ok(car > (pc.count - road) * 0.7, `local: ${car} of ${pc.count - road} car points are object`);
  });
});
