/**
 * Synthetic envelopes and a small rig for align tests. Envelopes go through the real codec
 * (encode -> decode) so that the payloads are exactly what the decode edge produces.
 */
import { merge, type Observable, type SchedulerLike, timer } from "rxjs";
import { map } from "rxjs/operators";
import { decodeSensorMessage, encodeSensorMessage, packed } from "../../src/msg/codec.ts";
import type { SensorEnvelope, SensorMessage, SensorPayload } from "../../src/msg/types.ts";
import { parseRig } from "../../src/rig/load.ts";
import type { RigConfig } from "../../src/rig/schema.ts";

export const VEH = "v1";
export const MS = 1e6;
/** Sensor clocks start here (stamps must be > 0); arrival times are virtual frames from 0. */
export const STAMP0 = 1e12;

/** 10 Hz LiDAR reference, 10 Hz radar and camera, no GNSS/IMU unless `ego` is set. */
export function testRig(opts: { align?: Record<string, unknown>; ego?: boolean; sensors?: object[] } = {}) {
  const sensors: object[] = opts.sensors ?? [
    { id: "lidar", kind: "lidar", rate_hz: 10, extrinsic: { translation_m: [1, 0, 2] } },
    { id: "radar", kind: "radar", rate_hz: 10, timeout_ms: 30, extrinsic: { translation_m: [3, 0, 0.5] } },
    {
      id: "cam",
      kind: "camera",
      rate_hz: 10,
      timeout_ms: 40,
      camera: { width: 640, height: 480, fx: 500, fy: 500, cx: 320, cy: 240 },
    },
  ];
  if (opts.ego)
    sensors.push(
      { id: "gnss", kind: "gnss", rate_hz: 10, timeout_ms: 30 },
      { id: "imu", kind: "imu", rate_hz: 100, timeout_ms: 20 },
    );
  return parseRig({ name: "test", reference: "lidar", sensors, align: opts.align ?? {} }, "test rig");
}

let seq = 0;
function roundTrip(sensorId: string, stampNs: number, payload: SensorPayload): SensorMessage {
  const msg: SensorMessage = {
    header: { vehicle: VEH, sensorId, frameId: sensorId, stampNs: Math.round(stampNs), seq: seq++ },
    payload,
  };
  const r = decodeSensorMessage(encodeSensorMessage(msg));
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

export function envelope(msg: SensorMessage, arrivalNs: number): SensorEnvelope {
  return { msg, arrivalNs, bytes: 0 };
}

/** One LiDAR point at (x, y, z) in the sensor frame (plus optional per-point time t, s). */
export function lidarMsg(stampNs: number, pts: number[][] = [[10, 0, 0]], sensorId = "lidar") {
  const hasT = pts.some((p) => p.length > 3);
  const fields = hasT ? ["x", "y", "z", "intensity", "t"] : ["x", "y", "z", "intensity"];
  const data = new Float32Array(pts.length * fields.length);
  pts.forEach((p, i) => {
    data.set(hasT ? [p[0]!, p[1]!, p[2]!, 0.5, p[3] ?? 0] : [p[0]!, p[1]!, p[2]!, 0.5], i * fields.length);
  });
  return roundTrip(sensorId, stampNs, { kind: "point_cloud", points: packed(fields, data), sweepStartNs: 0 });
}

/** Radar returns as [range, azimuth, radial_velocity, rcs]. */
export function radarMsg(stampNs: number, rets: number[][] = [[20, 0, 0, 5]], sensorId = "radar") {
  const data = new Float32Array(rets.flat());
  return roundTrip(sensorId, stampNs, {
    kind: "radar_scan",
    returns: packed(["range", "azimuth", "radial_velocity", "rcs"], data),
  });
}

export function cameraMsg(stampNs: number, sensorId = "cam") {
  return roundTrip(sensorId, stampNs, {
    kind: "camera_detections",
    width: 640,
    height: 480,
    detections: [{ xMin: 10, yMin: 10, xMax: 20, yMax: 20, cls: 1, score: 0.9 }],
  });
}

export function gnssMsg(
  stampNs: number,
  latDeg: number,
  lonDeg: number,
  vel: [number, number] | null = null,
  sensorId = "gnss",
) {
  return roundTrip(sensorId, stampNs, {
    kind: "gnss_fix",
    latitudeDeg: latDeg,
    longitudeDeg: lonDeg,
    altitudeM: 100,
    fixType: 2,
    covariance: null,
    velocityEN: vel,
  });
}

export function imuMsg(stampNs: number, ax = 0, gz = 0, sensorId = "imu") {
  return roundTrip(sensorId, stampNs, { kind: "imu", accel: [ax, 0, 9.81], gyro: [0, 0, gz] });
}

/** A scheduled input: message `msg` arrives at virtual time `atMs`. */
export interface Arrival {
  atMs: number;
  msg: SensorMessage;
}

/** Periodic stream of one sensor: stamps start+k*period, arrival = stamp + latency. */
export function periodic(
  make: (stampNs: number) => SensorMessage,
  o: { startMs: number; periodMs: number; count: number; latencyMs: number; skip?: number[] },
): Arrival[] {
  const out: Arrival[] = [];
  for (let k = 0; k < o.count; k++) {
    if (o.skip?.includes(k)) continue;
    const stampMs = o.startMs + k * o.periodMs;
    out.push({ atMs: stampMs + o.latencyMs, msg: make(STAMP0 + stampMs * MS) });
  }
  return out;
}

/** Envelopes delivered at their arrival times on `scheduler`, arrivalNs from scheduler.now(). */
export function deliver(arrivals: Arrival[], scheduler: SchedulerLike): Observable<SensorEnvelope> {
  const sorted = [...arrivals].sort((a, b) => a.atMs - b.atMs);
  return merge(
    ...sorted.map((a) => timer(a.atMs, scheduler).pipe(map(() => envelope(a.msg, scheduler.now() * MS)))),
  );
}

/**
 * Marble string with single-character values at given frames, e.g. [[10,"a"],[112,"b"]] ->
 * "10ms a 101ms b". Optional completion frame.
 */
export function marbleAt(events: [number, string][], completeAt?: number): string {
  const all: [number, string][] = [...events];
  if (completeAt !== undefined) all.push([completeAt, "|"]);
  const groups: [number, string][] = [];
  for (const [f, c] of all) {
    const last = groups[groups.length - 1];
    if (last && last[0] === f) last[1] += c;
    else groups.push([f, c]);
  }
  let s = "";
  let t = 0;
  for (const [f, c] of groups) {
    if (f < t) throw new Error(`frames overlap: ${f} < ${t}`);
    const tok = c.length > 1 ? `(${c})` : c;
    s += `${s ? " " : ""}${f > t ? `${f - t}ms ` : ""}${tok}`;
    t = f + tok.length;
  }
  return s;
}

/** A compact summary of a tick: "trigger@stampMs lidar=P radar=M cam=L" (P/M/L). */
export function summary(t: import("../../src/align/types.ts").AlignedTick): string {
  const st = t.inputs.map((i) => `${i.sensorId}=${i.status[0]!.toUpperCase()}`).join(" ");
  return `${t.trigger}@${Math.round((t.stampNs - STAMP0) / MS)} ${st}`;
}

export type { RigConfig };
