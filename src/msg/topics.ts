/** MQTT topic layout (../shared/PRODUCT.md "MQTT topics"). */

export const ROOT = "fusion";

export const topics = {
  sensor: (vehicle: string, sensor: string) => `${ROOT}/${vehicle}/sensors/${sensor}`,
  fused: (vehicle: string) => `${ROOT}/${vehicle}/fused`,
  health: (vehicle: string) => `${ROOT}/${vehicle}/health`,
  truth: (vehicle: string) => `${ROOT}/${vehicle}/truth`,
  /** Retained birth message of a vehicle (its rig name, JSON); cleared (empty) when it leaves. */
  rig: (vehicle: string) => `${ROOT}/${vehicle}/rig`,
  serviceStatus: (instance: string) => `${ROOT}/_service/${instance}/status`,
  /** Subscription filter for every sensor of every vehicle. */
  allSensors: `${ROOT}/+/sensors/+`,
  /** Subscription filter for every sensor of one vehicle (a fleet worker's per-vehicle filter). */
  vehicleSensors: (vehicle: string) => `${ROOT}/${vehicle}/sensors/+`,
  /** Subscription filter for one sensor id of every vehicle (traffic discovery). */
  sensorOfAll: (sensor: string) => `${ROOT}/+/sensors/${sensor}`,
  /** Subscription filter for every vehicle's birth message. */
  allRigs: `${ROOT}/+/rig`,
};

/** The vehicle level of any `fusion/<vehicle>/...` topic (not `_service`), or null. */
export function vehicleOfTopic(topic: string): string | null {
  const i = topic.indexOf("/");
  if (i < 0 || topic.slice(0, i) !== ROOT) return null;
  const j = topic.indexOf("/", i + 1);
  const v = topic.slice(i + 1, j < 0 ? undefined : j);
  return v && v !== "_service" ? v : null;
}

/** Parse `fusion/<vehicle>/sensors/<sensor>`; null for any other topic. */
export function parseSensorTopic(topic: string): { vehicle: string; sensorId: string } | null {
  const p = topic.split("/");
  if (p.length !== 4 || p[0] !== ROOT || p[2] !== "sensors" || !p[1] || !p[3] || p[1] === "_service")
    return null;
  return { vehicle: p[1], sensorId: p[3] };
}
