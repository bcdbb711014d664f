/** JSON views of frames and health reports for the dashboard (names instead of enum numbers). */
import {
  type FusedFrame,
  type GroundTruth,
  type HealthReport,
  Modality,
  type OodGuardInfo,
  OBJECT_CLASS_NAMES,
  SENSOR_STATE_NAMES,
  SYSTEM_MODE_NAMES,
} from "../msg/types.ts";

const MOD_NAMES: Record<number, string> = {
  [Modality.LIDAR]: "lidar",
  [Modality.RADAR]: "radar",
  [Modality.CAMERA]: "camera",
  [Modality.GNSS]: "gnss",
  [Modality.IMU]: "imu",
  [Modality.POSE]: "pose",
};
const r2 = (x: number) => Math.round(x * 100) / 100;

export function frameView(f: FusedFrame, e2eMs: number | null) {
  return {
    type: "frame",
    vehicle: f.vehicle,
    seq: f.seq,
    stampNs: f.stampNs,
    mode: SYSTEM_MODE_NAMES[f.mode],
    modeReasons: f.modeReasons,
    fusion: f.fusion,
    trigger: f.trigger,
    e2eMs,
    ego: f.ego,
    objects: f.objects.map((o) => ({
      id: o.id,
      cls: OBJECT_CLASS_NAMES[o.cls],
      x: r2(o.x),
      y: r2(o.y),
      z: r2(o.z),
      age: o.age,
      length: r2(o.length),
      width: r2(o.width),
      yaw: r2(o.yaw),
      vx: r2(o.vx),
      vy: r2(o.vy),
      score: r2(o.score),
      modalities: o.modalities.map((m) => MOD_NAMES[m] ?? "?"),
    })),
    sensors: f.sensors.map((s) => ({
      sensorId: s.sensorId,
      modality: MOD_NAMES[s.modality] ?? "?",
      state: SENSOR_STATE_NAMES[s.state],
      gateWeight: s.gateWeight,
      used: s.used,
      reason: s.reason,
    })),
    latency: f.latency,
    // The out-of-distribution guard of a learned engine (shown in the page's slot); null: classical.
    guard: f.guard ? guardView(f.guard) : null,
  };
}

/** Ground truth for the overlay: world-frame objects and the true ego pose. */
export function truthView(t: GroundTruth) {
  return {
    type: "truth",
    vehicle: t.vehicle,
    stampNs: t.stampNs,
    ego: { x: r2(t.ego.x), y: r2(t.ego.y), yaw: t.ego.yaw },
    scenario: t.scenario,
    conditions: t.conditions,
    activeFaults: t.activeFaults,
    objects: t.objects.map((o) => ({
      id: o.id,
      cls: OBJECT_CLASS_NAMES[o.cls],
      x: r2(o.x),
      y: r2(o.y),
      length: r2(o.length),
      width: r2(o.width),
      yaw: r2(o.yaw),
    })),
  };
}

export function guardView(g: OodGuardInfo) {
  return {
    state: g.state,
    served: g.served,
    distance: r2(g.distance),
    modality: g.modality,
    feature: g.feature,
    threshold: r2(g.threshold),
    trigger:
      g.state === "fallback" && g.triggerDistance >= 0
        ? { distance: r2(g.triggerDistance), modality: g.triggerModality, feature: g.triggerFeature }
        : null,
    fallbacks: g.fallbacks,
    reason: g.reason,
    distances: Object.fromEntries(Object.entries(g.distances).map(([k, v]) => [k, r2(v)])),
  };
}

export function healthView(h: HealthReport) {
  return {
    type: "health",
    vehicle: h.vehicle,
    mode: SYSTEM_MODE_NAMES[h.mode],
    reasons: h.reasons,
    sensors: h.sensors.map((s) => ({
      sensorId: s.sensorId,
      state: SENSOR_STATE_NAMES[s.state],
      reasons: s.reasons,
      rateHz: s.rateHz,
      nominalRateHz: s.nominalRateHz,
      latencyMs: s.latencyMs,
      ageMs: s.ageMs,
      decodeErrors: s.decodeErrors,
      drops: s.drops,
    })),
    guard: h.guard ? guardView(h.guard) : null,
  };
}
