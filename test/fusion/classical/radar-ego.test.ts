/**
 * Radar ghosts when the ego velocity is off: the returns' own fit of the ego-velocity error, and on
 * the real scene-0523 (its first half, the validation split) the radar-only detections with a
 * 1.8 m/s ego-speed error injected, with and without the correction.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AlignedTick } from "../../../src/align/types.ts";
import { openLogs } from "../../../src/eval/real-command.ts";
import { classicalConfigSchema } from "../../../src/fusion/classical/config.ts";
import { ClassicalDetector } from "../../../src/fusion/classical/detect.ts";
import {
  correctRadarEgo,
  RADAR_EGO_DEFAULTS,
  radarEgoResidual,
} from "../../../src/fusion/classical/radar-ego.ts";
import { Modality } from "../../../src/msg/types.ts";
import { replayTicks } from "../../../src/runtime/offline.ts";
import { packedOf } from "../learned/_fixtures.ts";
import { NUSC_ROOT, realdataSkip } from "../../helpers/realdata.ts";

const FIELDS = ["x", "y", "z", "vr", "rcs", "ux", "uy"];

/** Returns with ego-speed error (ex, ey): static ones read e . u; movers add their own speed. */
function returns(ex: number, ey: number, movers: number) {
  const rows: number[][] = [];
  for (let i = 0; i < 120; i++) {
    const az = -1.2 + (2.4 * i) / 119; // a front radar's field of view
    const r = 10 + (i % 7) * 5;
    const ux = Math.cos(az);
    const uy = Math.sin(az);
    const moving = i < movers ? 8 * ((i % 2) * 2 - 1) : 0;
    rows.push([r * ux, r * uy, 0.5, ex * ux + ey * uy + moving + 0.1 * Math.sin(i * 12.9898), 5, ux, uy]);
  }
  return packedOf(FIELDS, rows);
}

describe("radar ego-velocity residual", () => {
  it("fits the error from the static returns despite 25 % movers, and the correction zeroes them", () => {
    const pa = returns(-1.8, 0.4, 30);
    const e = radarEgoResidual(pa);
    assert.ok(e, "fitted");
    assert.ok(Math.abs(e.ex + 1.8) < 0.1 && Math.abs(e.ey - 0.4) < 0.15, `e = ${e.ex}, ${e.ey}`);
    const c = correctRadarEgo(pa, e);
    let worst = 0;
    for (let i = 30; i < c.count; i++) worst = Math.max(worst, Math.abs(c.data[i * c.stride + 3]!));
    assert.ok(worst < 0.3, `static returns after correction within ${worst} m/s of 0`);
    assert.ok(Math.abs(Math.abs(c.data[3]!) - 8) < 0.3, "a mover keeps its speed");
  });

  it("too few returns, or a fit beyond its bound, is no fit", () => {
    assert.equal(radarEgoResidual(packedOf(FIELDS, [[10, 0, 0, 1, 0, 1, 0]])), null);
    assert.equal(
      radarEgoResidual(returns(-1.8, 0, 0), { ...RADAR_EGO_DEFAULTS, maxMps: 1 }),
      null,
      "beyond maxMps: not trusted",
    );
    assert.ok(radarEgoResidual(returns(-1.8, 0, 0)), "within it: fitted");
  });

  it("scene-0523 validation half: a 1.8 m/s ego-speed error no longer multiplies radar-only detections", {
    skip: realdataSkip(),
  }, async () => {
    const log = openLogs(`nuscenes:${NUSC_ROOT}#scene-0523`, "none")[0]!;
    const envs = log.items.flatMap((i) =>
      i.kind === "sensor"
        ? [{ msg: { ...i.msg, header: { ...i.msg.header, vehicle: "g" } }, arrivalNs: i.tNs, bytes: 0 }]
        : [],
    );
    const ticks = (await replayTicks(log.rig, envs)).map((t) => t.tick).filter((t) => t.radar);
    const half = ticks.slice(0, Math.floor(ticks.length / 2));
    const biased = (t: AlignedTick, ex: number): AlignedTick => {
      const R = t.radar!;
      const d = R.data.slice();
      for (let i = 0, p = 0; i < R.count; i++, p += R.stride)
        d[p + R.fields["vr"]!]! += ex * d[p + R.fields["ux"]!]!;
      return { ...t, radar: { ...R, data: d } };
    };
    const radarOnly = (correct: boolean, ex: number) => {
      const det = new ClassicalDetector(
        log.rig,
        classicalConfigSchema.parse({ ...log.rig.fusion.classical, radar_ego_correction: correct }),
      );
      let n = 0;
      for (const t of half)
        n += det
          .detect(biased(t, ex), { lidar: true, radar: true, camera: false })
          .detections.filter((d) => d.modalities.length === 1 && d.modalities[0] === Modality.RADAR).length;
      return n / half.length;
    };
    const clean = radarOnly(false, 0);
    const off = radarOnly(false, -1.8);
    const on = radarOnly(true, -1.8);
    process.stdout.write(
      `# radar-only detections per frame: clean ${clean.toFixed(1)}, 1.8 m/s error ${off.toFixed(1)} uncorrected, ${on.toFixed(1)} corrected\n`,
    );
    assert.ok(off > 2 * clean, "the error multiplies ghosts without the correction (the check can fail)");
    assert.ok(on < 1.2 * clean, "with the correction, about as many as with the right ego velocity");
  });
});
