/** MQTT topic layout (../shared/PRODUCT.md "MQTT topics"). */

export const ROOT = "fusion";

export const topics = {
  sensor: (vehicle: string, sensor: string) => `${ROOT}/${vehicle}/sensors/${sensor}`,
  fused: (vehicle: string) => `${ROOT}/${vehicle}/fused`,
  health: (vehicle: string) => `${ROOT}/${vehicle}/health`,
  truth: (vehicle: string) => `${ROOT}/${vehicle}/truth`,
  serviceStatus: (instance: string) => `${ROOT}/_service/${instance}/status`,
  /** Subscription filter for every sensor of every vehicle. */
  allSensors: `${ROOT}/+/sensors/+`,
};

/** Parse `fusion/<vehicle>/sensors/<sensor>`; null for any other topic. */
export function parseSensorTopic(topic: string): { vehicle: string; sensorId: string } | null {
  const p = topic.split("/");
  if (p.length !== 4 || p[0] !== ROOT || p[2] !== "sensors" || !p[1] || !p[3] || p[1] === "_service")
    return null;
  return { vehicle: p[1], sensorId: p[3] };
}
