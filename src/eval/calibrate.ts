/**
 * Fits the classical engine's score calibration (calibration.ts) on simulated runs and prints the
 * weights for `classicalConfigSchema.score_calibration`. A development tool, not used at run time:
 *
 *   node --import tsx src/fusion/classical/calibrate.ts [--seeds 101,102] [--duration-s 15] [--rig sim]
 *
 * Runs: every scenario x seed in clear weather with all modalities and with each one masked, and in
 * rain, fog and night. Label: a true positive at 2 m (same class, greedy by descending raw score,
 * truth with at least one LiDAR point or radar return within 50 m), as in the evaluation's ECE.
 * Use seeds disjoint from the evaluation seeds (>= 9000).
 */
import { parseArgs } from "node:util";
import { simulateRun } from "../../eval/simdata.ts";
import type { PerceptionModality } from "../../health/types.ts";
import { SystemMode } from "../../msg/types.ts";
import { loadRig } from "../../rig/load.ts";
import { type Conditions, SCENARIOS } from "../../../sim/index.ts";
import { CALIBRATION_FEATURES, calibrationFeatures, fitLogistic } from "./calibration.ts";
import { createClassicalEngine } from "./index.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "101,102" },
    "duration-s": { type: "string", default: "15" },
    rig: { type: "string", default: "sim" },
  },
});
const seeds = values.seeds!.split(",").map(Number);
if (seeds.some((s) => !Number.isInteger(s) || s >= 9000)) throw new Error("--seeds: integers below 9000");
const rig = loadRig(values.rig!);
const durationS = Number(values["duration-s"]);
const D = CALIBRATION_FEATURES.length;
const xs: number[] = [];
const ys: number[] = [];
const runs: { conditions: Conditions; masked: PerceptionModality | null }[] = [
  { conditions: "clear", masked: null },
  { conditions: "clear", masked: "lidar" },
  { conditions: "clear", masked: "radar" },
  { conditions: "clear", masked: "camera" },
  { conditions: "rain", masked: null },
  { conditions: "fog", masked: null },
  { conditions: "night", masked: null },
];
const f = new Float64Array(D);
for (const seed of seeds)
  for (const scenario of SCENARIOS)
    for (const conditions of ["clear", "rain", "fog", "night"] as const) {
      const frames = await simulateRun(rig, { seed, scenario, conditions, faults: "", durationS });
      for (const run of runs.filter((r) => r.conditions === conditions)) {
        const engine = createClassicalEngine(rig, { score_calibration: null });
        const mask = { lidar: true, radar: true, camera: true };
        if (run.masked) mask[run.masked] = false;
        const health = {
          vehicle: "sim-1",
          nowNs: 0,
          mode: SystemMode.NOMINAL,
          reasons: [],
          sensors: [],
          mask,
          features: { lidar: [1, 1, 1, 1], radar: [1, 1, 1, 1], camera: [1, 1, 1, 1] },
          changed: false,
          usable: {},
          transitions: [],
          drift: [],
        } as Parameters<typeof engine.fuseSync>[1];
        frames.forEach((fr, i) => {
          const objs = engine.fuseSync(fr.tick, health).objects;
          if (i < 10) return;
          const truth = fr.truth.filter((g) => (g.nLidar > 0 || g.nRadar > 0) && Math.hypot(g.x, g.y) <= 50);
          const used = new Set<number>();
          for (const o of objs.slice().sort((a, b) => b.score - a.score)) {
            if (Math.hypot(o.x, o.y) > 50) continue;
            let best = -1;
            let bestD = 2;
            truth.forEach((g, k) => {
              const d = Math.hypot(g.x - o.x, g.y - o.y);
              if (!used.has(k) && g.cls === o.cls && d < bestD) {
                bestD = d;
                best = k;
              }
            });
            if (best >= 0) used.add(best);
            calibrationFeatures(o, f);
            xs.push(...f);
            ys.push(best >= 0 ? 1 : 0);
          }
        });
      }
      process.stderr.write(`seed ${seed} ${scenario} ${conditions}: ${ys.length} samples\n`);
    }
const w = fitLogistic(Float64Array.from(xs), Uint8Array.from(ys), D);
const out = Object.fromEntries(CALIBRATION_FEATURES.map((k, i) => [k, Math.round(w[i]! * 1000) / 1000]));
process.stdout.write(`${JSON.stringify(out)}\n`);
