/**
 * `fusion eval --gap [--data nuscenes:<dataroot>#scene] [--rig nuscenes] [--seeds …] [--scenario urban]`:
 * the sim-to-real gap statistics (src/eval/gap.ts) of simulated runs on a rig and of a real log, side
 * by side, both through the live aligner (fleet runtime in replay mode). The simulated runs come
 * from the `EvalSource` the CLI wires (sim/runs.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { SensorEnvelope } from "../msg/types.ts";
import { loadRig } from "../rig/load.ts";
import { replayTicks } from "../runtime/offline.ts";
import { formatGap, type GapFrame, type GapStats, gapStats } from "./gap.ts";
import { openLogs } from "./real-command.ts";
import type { EvalSource } from "./run.ts";
import { FIRST_EVAL_SEED } from "./seeds.ts";
import { pairTruth, truthInVehicle } from "./truth.ts";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));

export const GAP_HELP = `Usage: fusion eval --gap [--data nuscenes:<dataroot>#scene] [options]

Sim-to-real gap: the same statistics for simulated runs on a rig and for a real log, side by side
(BEV cells occupied per modality in the learned models' grid, non-ground LiDAR points, radar returns
with their RCS and velocity, LiDAR points per object by range, objects per frame by class).

Options:
  --data SPEC         the real log (nuscenes:<dataroot>[#scene] or kitti:<path>); without it, simulation only
  --rig RIG           rig of the simulated runs (default nuscenes: the preset of the nuScenes rig)
  --seeds a,b,c       simulation seeds, below ${FIRST_EVAL_SEED} (default 101,102,103)
  --scenario NAME     simulated scenario (default urban)
  --duration-s S      seconds per simulated run (default 20)
  --radar-filter      nuScenes: the devkit's default radar state filters on the real log
  --out FILE          JSON (default bench/results/gap.json)
`;

class UsageError extends Error {
  readonly code = "E_USAGE";
}

const GAP_OPTIONS = {
  data: { type: "string" },
  rig: { type: "string", default: "nuscenes" },
  seeds: { type: "string", default: "101,102,103" },
  scenario: { type: "string", default: "urban" },
  "duration-s": { type: "string", default: "20" },
  out: { type: "string" },
  "radar-filter": { type: "boolean", default: false },
  help: { type: "boolean", default: false },
} as const;

export async function gapCommand(argv: string[], source: EvalSource): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof GAP_OPTIONS }>>["values"];
  try {
    ({ values } = parseArgs({ args: argv.filter((a) => a !== "--gap"), options: GAP_OPTIONS }));
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!);
  }
  if (values.help) {
    process.stdout.write(GAP_HELP);
    return 0;
  }
  const seeds = values.seeds.split(",").map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0 || s >= FIRST_EVAL_SEED))
    throw new UsageError(
      `--seeds: integers below ${FIRST_EVAL_SEED} (evaluation seeds are not for looking at), got '${values.seeds}'`,
    );
  if (!source.scenarios.includes(values.scenario))
    throw new UsageError(`--scenario: one of ${source.scenarios.join(", ")}, got '${values.scenario}'`);
  const durationS = Number(values["duration-s"]);
  if (!(durationS >= 3)) throw new UsageError("--duration-s: at least 3 s");
  const rig = loadRig(values.rig);
  const sides: { name: string; stats: GapStats }[] = [];
  const simFrames: GapFrame[] = [];
  for (const seed of seeds) {
    const { envs, truths } = source.run(rig, {
      seed,
      scenario: values.scenario,
      conditions: "clear",
      faults: "",
      durationS,
    });
    const ticks = (await replayTicks(rig, envs)).map((f) => f.tick);
    const t0 = ticks[0]?.stampNs ?? 0;
    // after the aligner's 1.5 s warm-up, as the evaluation scores
    simFrames.push(...pairTruth(ticks, truths).filter((f) => f.tick.stampNs - t0 >= 1.5e9));
  }
  sides.push({
    name: `sim ${rig.name} ${values.scenario} seeds ${seeds.join(",")}`,
    stats: gapStats(simFrames),
  });
  if (values.data) {
    for (const log of openLogs(values.data, "derived", undefined, {}, values["radar-filter"])) {
      const truths = log.items.flatMap((i) => (i.kind === "truth" ? [i] : []));
      const envs: SensorEnvelope[] = log.items.flatMap((i) =>
        i.kind === "sensor"
          ? [{ msg: { ...i.msg, header: { ...i.msg.header, vehicle: "gap" } }, arrivalNs: i.tNs, bytes: 0 }]
          : [],
      );
      const ref = log.rig.sensors.find((s) => s.id === log.rig.reference)!;
      const windowNs = ref.jitter_window_ms * 1e6;
      const frames: GapFrame[] = [];
      for (const { tick } of await replayTicks(log.rig, envs)) {
        let best: (typeof truths)[number] | null = null;
        for (const t of truths)
          if (
            Math.abs(t.tNs - tick.stampNs) <= windowNs &&
            (!best || Math.abs(t.tNs - tick.stampNs) < Math.abs(best.tNs - tick.stampNs))
          )
            best = t;
        if (!best) continue;
        frames.push({ tick, truth: truthInVehicle(best.truth, (tick.stampNs - best.tNs) / 1e9, tick) });
      }
      sides.push({
        name: `real ${log.name}${values["radar-filter"] ? " radar-filtered" : ""} (camera ${log.cameraInput})`,
        stats: gapStats(frames),
      });
    }
  }
  process.stdout.write(formatGap(sides));
  const out = values.out ?? `${RESULTS}gap.json`;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(Object.fromEntries(sides.map((s) => [s.name, s.stats])), null, 2)}\n`);
  process.stdout.write(`eval --gap -> ${out}\n`);
  return 0;
}
