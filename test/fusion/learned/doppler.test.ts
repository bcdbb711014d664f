/** Radar Doppler on the learned decoder's velocities (src/fusion/learned/doppler.ts). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Decoded } from "../../../src/fusion/learned/decode.ts";
import { applyDoppler, DEFAULT_DOPPLER } from "../../../src/fusion/learned/doppler.ts";
import { Modality, ObjectClass } from "../../../src/msg/types.ts";
import { packedOf } from "./_fixtures.ts";

const FIELDS = ["x", "y", "z", "vr", "rcs", "ux", "uy"];

function det(x: number, y: number, opts: Partial<Decoded> = {}): Decoded {
  return {
    x,
    y,
    z: 1,
    dtS: 0,
    covXX: 0.16,
    covXY: 0,
    covYY: 0.16,
    vel: { vx: 15, vy: 0, covXX: 4, covXY: 0, covYY: 4 },
    length: 10,
    width: 2.5,
    height: 3.5,
    yaw: 0,
    yawConf: 1,
    shapeMeasured: false,
    cls: ObjectClass.TRUCK,
    clsConf: 1,
    score: 0.8,
    peak: 0.8,
    modalities: [Modality.RADAR],
    ...opts,
  };
}

const close = (a: number, b: number, msg: string) =>
  assert.ok(Math.abs(a - b) < 1e-5, `${msg}: ${a} != ${b}`);

describe("applyDoppler", () => {
  test("the radial component becomes the returns' median radial velocity, with a tight std along the ray", () => {
    const d = det(30, 0);
    // returns on the truck's rear face (5 m from its centre) and one outlier; one return far away
    const radar = packedOf(FIELDS, [
      [25.2, 0.3, 0.5, 22, 20, 1, 0],
      [25.4, -0.6, 0.5, 21.8, 20, 1, 0],
      [25.1, 0.9, 0.5, 0.3, 0, 1, 0],
      [45, 10, 0.5, -30, 10, 1, 0],
    ]);
    assert.equal(applyDoppler([d], radar), 1);
    close(d.vel!.vx, 21.8, "vx: median of 22, 21.8, 0.3");
    close(d.vel!.vy, 0, "vy: the tangential part stays the network's");
    close(d.vel!.covXX, DEFAULT_DOPPLER.doppler_std_mps ** 2, "radial variance");
    close(d.vel!.covYY, 4, "tangential variance");
    close(d.yaw, 0, "yaw along the motion");
  });

  test("an oblique ray corrects only its own component; covariance is rotated accordingly", () => {
    const d = det(20, 15, { vel: { vx: 10, vy: 0, covXX: 4, covXY: 0, covYY: 4 }, length: 4.5, width: 1.9 });
    const ux = 0.8;
    const uy = 0.6;
    const radar = packedOf(FIELDS, [[20.5, 14.6, 0.5, 2, 10, ux, uy]]);
    applyDoppler([d], radar);
    const v = d.vel!;
    close(v.vx * ux + v.vy * uy, 2, "radial component = Doppler");
    close(-v.vx * uy + v.vy * ux, -10 * uy, "tangential component kept");
    const r2 = DEFAULT_DOPPLER.doppler_std_mps ** 2;
    close(v.covXX * ux * ux + 2 * v.covXY * ux * uy + v.covYY * uy * uy, r2, "variance along the ray");
    close(v.covXX * uy * uy - 2 * v.covXY * ux * uy + v.covYY * ux * ux, 4, "variance across it");
  });

  test("an oncoming object the network got backwards turns round; without a velocity it gets one", () => {
    const a = det(30, 8, { vel: { vx: 6, vy: 0, covXX: 4, covXY: 0, covYY: 4 }, yaw: 0.02 });
    const b = det(40, -8, { vel: null, yaw: 3.1, cls: ObjectClass.CAR, length: 4.5, width: 1.9, score: 0.5 });
    const radar = packedOf(FIELDS, [
      [26, 8.2, 0.5, -20, 20, 0.96, 0.27],
      [39, -7.9, 0.5, 12, 10, 0.98, -0.2],
    ]);
    assert.equal(applyDoppler([a, b], radar), 2);
    assert.ok(a.vel!.vx < -10, `a.vx ${a.vel!.vx}`);
    close(a.yaw, 0.02 - Math.PI, "a turned round");
    assert.ok(b.vel !== null && b.vel.vx > 10, "b measured");
    const t2 = DEFAULT_DOPPLER.doppler_tangential_std_mps ** 2;
    assert.ok(b.vel.covXX + b.vel.covYY > t2, "b's tangential part stays uncertain");
    close(b.yaw, 3.1 - Math.PI, "b points along its measured motion");
  });

  test("with LiDAR support a Doppler far from the network's velocity is ignored; a return counts for one box", () => {
    const agrees = det(30, 0, { modalities: [Modality.LIDAR, Modality.RADAR] });
    const clutter = det(30, 20, { modalities: [Modality.LIDAR, Modality.RADAR] });
    const high = det(50, 0, { score: 0.9 });
    const low = det(51, 0, { score: 0.3 });
    const radar = packedOf(FIELDS, [
      [26, 0, 0.5, 17, 20, 1, 0], // 2 m/s from the network's 15: taken
      [26, 20, 0.5, 0.2, 0, 1, 0], // 14.8 m/s off (a stationary-looking clutter return): ignored
      [50.5, 0, 0.5, 18, 20, 1, 0],
    ]);
    assert.equal(applyDoppler([agrees, clutter, low, high], radar), 2);
    close(agrees.vel!.vx, 17, "LiDAR-supported, within the gate: corrected");
    close(clutter.vel!.vx, 15, "LiDAR-supported, beyond the gate: unchanged");
    close(high.vel!.vx, 18, "the higher-scored box takes the return");
    close(low.vel!.vx, 15, "the lower one keeps its own");
    assert.equal(applyDoppler([det(30, 0)], null), 0, "no radar, nothing");
  });
});
