/** Synthetic AlignedTick / HealthSnapshot builders for the learned-fusion tests. */
import type { AlignedTick } from "../../../src/align/types.ts";
import type { HealthSnapshot } from "../../../src/health/types.ts";
import { ObjectClass, SystemMode } from "../../../src/msg/types.ts";

export function packedOf(fields: string[], rows: number[][]) {
  const stride = fields.length;
  const data = new Float32Array(rows.length * stride);
  for (let i = 0; i < rows.length; i++) data.set(rows[i]!, i * stride);
  return { stride, count: rows.length, fields: Object.fromEntries(fields.map((f, i) => [f, i])), data };
}

/** A tick with a car-like cluster of LiDAR points at (x, y), a radar return there and a camera detection. */
export function syntheticTick(vehicle: string, seq: number, x = 20, y = 2): AlignedTick {
  const pts: number[][] = [];
  for (let dx = -2; dx <= 2; dx += 0.25)
    for (let dy = -0.9; dy <= 0.9; dy += 0.3) pts.push([x + dx, y + dy, 1.2, 0.4]);
  pts.push([5, -3, 0.05, 0.1]); // ground return
  const stampNs = 1.7e18 + seq * 1e8;
  // camera at (1.7, 0, 1.5) looking along +x, fx = fy = 1000, cx = 640, cy = 360
  const u = 640 - (1000 * (y - 0)) / (x - 1.7);
  const vBottom = 360 + (1000 * 1.5) / (x - 1.7);
  return {
    vehicle,
    seq,
    stampNs,
    trigger: "reference",
    inputs: [
      { sensorId: "lidar", kind: "lidar", status: "present", stampNs, arrivalNs: stampNs },
      { sensorId: "radar_front", kind: "radar", status: "present", stampNs, arrivalNs: stampNs },
      { sensorId: "cam_front", kind: "camera", status: "present", stampNs, arrivalNs: stampNs },
    ],
    ego: { valid: true, x: 0, y: 0, z: 0, yaw: 0, vx: 10, vy: 0, yawRate: 0.1, speed: 10, positionStdM: 0.1 },
    lidar: packedOf(["x", "y", "z", "intensity"], pts),
    radar: packedOf(["x", "y", "z", "vr", "rcs", "ux", "uy"], [[x, y, 0.5, -4, 10, 0.99, 0.1]]),
    cameras: [
      {
        sensorId: "cam_front",
        stampNs,
        width: 1280,
        height: 720,
        detections: [
          { xMin: u - 40, xMax: u + 40, yMin: vBottom - 60, yMax: vBottom, cls: ObjectClass.CAR, score: 0.9 },
        ],
      },
    ],
    lastArrivalNs: stampNs,
    emittedNs: stampNs,
    diagnostics: { drops: {}, clockSkew: [], resets: 0 },
  };
}

export function healthOf(mask: Partial<HealthSnapshot["mask"]> = {}): HealthSnapshot {
  const m = { lidar: true, radar: true, camera: true, ...mask };
  const f = (on: boolean): [number, number, number, number] => (on ? [1, 0.9, 1, 1] : [0, 0, 0, 0]);
  return {
    vehicle: "v",
    nowNs: 0,
    mode: SystemMode.NOMINAL,
    reasons: [],
    sensors: [],
    mask: m,
    features: { lidar: f(m.lidar), radar: f(m.radar), camera: f(m.camera) },
    changed: false,
    usable: {},
    transitions: [],
    drift: [],
  };
}
