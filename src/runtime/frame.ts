/** Assemble the FusedFrame of one tick from the stage outputs. Pure. */
import type { AlignedTick } from "../align/types.ts";
import type { FusionResult } from "../fusion/types.ts";
import type { HealthSnapshot, PerceptionModality } from "../health/types.ts";
import { isPerceptionKind, MODALITY_OF_KIND } from "../msg/kinds.ts";
import type { GuardStatus } from "../fusion/guard/ood.ts";
import {
  type FusedFrame,
  type OodGuardInfo,
  SENSOR_STATE_NAMES,
  SensorState,
  type SensorStatus,
  type StageLatency,
} from "../msg/types.ts";
import type { RigConfig } from "../rig/schema.ts";

export function sensorStatuses(
  rig: RigConfig,
  tick: AlignedTick,
  health: HealthSnapshot,
  gates: FusionResult["gates"] | null,
): SensorStatus[] {
  return rig.sensors.map((s) => {
    const input = tick.inputs.find((i) => i.sensorId === s.id);
    const h = health.sensors.find((x) => x.sensorId === s.id);
    const perception = isPerceptionKind(s.kind);
    const masked = perception && !health.mask[s.kind as PerceptionModality];
    const present = input?.status === "present";
    const state = h?.state ?? SensorState.UNSPECIFIED;
    const reasons: string[] = [];
    if (h && h.state !== SensorState.OK && h.state !== SensorState.UNSPECIFIED)
      reasons.push(`${SENSOR_STATE_NAMES[h.state]}${h.reasons.length ? `: ${h.reasons.join(", ")}` : ""}`);
    if (masked) reasons.push("masked by health");
    if (input && input.status !== "present") reasons.push(input.status);
    const gate = perception ? (gates?.[s.kind as PerceptionModality] ?? 0) : present ? 1 : 0;
    return {
      sensorId: s.id,
      modality: MODALITY_OF_KIND[s.kind],
      state,
      gateWeight: masked ? 0 : gate,
      used: present && !masked,
      reason: reasons.join("; "),
      ageMs: input?.stampNs != null ? (tick.stampNs - input.stampNs) / 1e6 : -1,
    };
  });
}

export function buildFrame(args: {
  rig: RigConfig;
  tick: AlignedTick;
  health: HealthSnapshot;
  result: FusionResult | null;
  fusion: string;
  latency: StageLatency[];
}): FusedFrame {
  const { rig, tick, health, result } = args;
  return {
    vehicle: tick.vehicle,
    stampNs: tick.stampNs,
    seq: tick.seq,
    ego: tick.ego,
    objects: result?.objects ?? [],
    sensors: sensorStatuses(rig, tick, health, result?.gates ?? null),
    latency: args.latency,
    mode: health.mode,
    modeReasons: result ? health.reasons : [...health.reasons, "fusion failed this tick"],
    fusion: args.fusion,
    trigger: tick.trigger,
    ...(result?.guard ? { guard: guardInfo(result.guard) } : {}),
  };
}

/** The guard's status as published (FusedFrame.guard, HealthReport.guard); NaN (unknown) as -1. */
export function guardInfo(g: GuardStatus): OodGuardInfo {
  const num = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : -1);
  const distances: Record<string, number> = {};
  for (const [m, d] of Object.entries(g.distances)) distances[m] = num(d);
  return {
    state: g.state,
    served: g.served,
    distance: num(g.distance),
    modality: g.modality,
    feature: g.feature,
    threshold: num(g.threshold),
    triggerDistance: num(g.trigger?.distance),
    triggerModality: g.trigger?.modality ?? "",
    triggerFeature: g.trigger?.feature ?? "",
    triggerStampNs: g.trigger?.stampNs ?? 0,
    fallbacks: g.fallbacks,
    reason: g.reason ?? "",
    distances,
  };
}

/** Sensor stamp of the newest input the tick used, ns (the start of the end-to-end latency). */
export function lastInputStampNs(tick: AlignedTick): number {
  let t = Number.NEGATIVE_INFINITY;
  for (const i of tick.inputs)
    if (i.status === "present" && i.stampNs !== null && i.stampNs > t) t = i.stampNs;
  return Number.isFinite(t) ? t : tick.stampNs;
}
