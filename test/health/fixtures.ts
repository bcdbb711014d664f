/**
 * Synthetic, deterministic sensor traffic for health-monitor tests: a virtual clock, one envelope
 * generator per sensor kind, and a driver that interleaves all sensors at their nominal rates and
 * evaluates the monitor at a fixed period. No I/O, no wall clock.
 */
import type { AlignedTick } from "../../src/align/types.ts";
import { HealthMonitor } from "../../src/health/index.ts";
import type { HealthSnapshot } from "../../src/health/types.ts";
import { EMPTY_EGO, FixType, type SensorEnvelope, type SensorPayload } from "../../src/msg/types.ts";
import { loadRig, parseRig } from "../../src/rig/load.ts";
import type { RigConfig, SensorConfig } from "../../src/rig/schema.ts";

export const MS = 1e6;
export const S = 1e9;
/** Start of virtual time (a realistic epoch in ns). */
export const T0 = 1_800_000_000 * S;

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sim rig, optionally with a `health` section override. */
export function simRig(health: Record<string, unknown> = {}): RigConfig {
  const base = loadRig("sim");
  const raw = {
    name: base.name,
    reference: base.reference,
    sensors: base.sensors.map((s) => ({
      id: s.id,
      kind: s.kind,
      rate_hz: s.rate_hz,
      ...(s.kind === "camera" ? { camera: s.camera } : {}),
    })),
    health,
  };
  return parseRig(raw, "test-rig");
}

export interface PayloadOpts {
  /** Multiplier of LiDAR intensities / radar rcs / camera scores (drift injection). */
  scale?: number;
  /** LiDAR point count. */
  points?: number;
}

export function payloadFor(sensor: SensorConfig, r: () => number, opts: PayloadOpts = {}): SensorPayload {
  const scale = opts.scale ?? 1;
  switch (sensor.kind) {
    case "lidar": {
      const n = opts.points ?? 1500 + Math.floor(r() * 200);
      const data = new Float32Array(n * 4);
      for (let i = 0; i < n; i++) {
        const range = 3 + r() * 40;
        const az = r() * 2 * Math.PI;
        data[i * 4] = range * Math.cos(az);
        data[i * 4 + 1] = range * Math.sin(az);
        data[i * 4 + 2] = -1 + r() * 2;
        data[i * 4 + 3] = (10 + r() * 30) * scale;
      }
      return {
        kind: "point_cloud",
        points: { stride: 4, count: n, fields: { x: 0, y: 1, z: 2, intensity: 3 }, data },
        sweepStartNs: 0,
      };
    }
    case "radar": {
      const n = 10 + Math.floor(r() * 10);
      const data = new Float32Array(n * 4);
      for (let i = 0; i < data.length; i++) data[i] = r() * 50;
      for (let i = 0; i < n; i++) data[i * 4 + 3] = (5 + r() * 10) * scale;
      return {
        kind: "radar_scan",
        returns: { stride: 4, count: n, fields: { range: 0, azimuth: 1, radial_velocity: 2, rcs: 3 }, data },
      };
    }
    case "camera": {
      const n = 1 + Math.floor(r() * 5);
      const detections = Array.from({ length: n }, () => ({
        xMin: r() * 600,
        yMin: r() * 300,
        xMax: 600 + r() * 600,
        yMax: 300 + r() * 300,
        cls: 1 as const,
        score: Math.min(1, (0.5 + r() * 0.4) * scale),
      }));
      return { kind: "camera_detections", width: 1280, height: 720, detections };
    }
    case "gnss":
      return {
        kind: "gnss_fix",
        latitudeDeg: 48.137 + r() * 1e-6,
        longitudeDeg: 11.575 + r() * 1e-6,
        altitudeM: 520,
        fixType: FixType.FIX_3D,
        covariance: [0.25, 0, 0, 0, 0.25, 0, 0, 0, 1],
        velocityEN: [0, 0],
      };
    case "imu":
      return {
        kind: "imu",
        accel: [r() * 0.1, r() * 0.1, 9.81 + r() * 0.1],
        gyro: [r() * 0.01, r() * 0.01, r() * 0.01],
      };
    case "pose":
      return {
        kind: "pose",
        position: [100 + r(), 200 + r(), 0],
        orientation: [1, 0, 0, 0],
        covariance: null,
      };
  }
}

export function envelope(
  vehicle: string,
  sensorId: string,
  payload: SensorPayload,
  stampNs: number,
  arrivalNs: number,
  seq = 0,
): SensorEnvelope {
  return {
    msg: { header: { vehicle, sensorId, frameId: sensorId, stampNs, seq }, payload },
    arrivalNs,
    bytes: 100,
  };
}

/** What a sensor does at time `t` (ns since T0): emit (default), skip, or emit a replaced payload. */
export type Fault = (
  sensorId: string,
  tRelNs: number,
) =>
  | undefined
  | {
      drop?: boolean;
      payload?: SensorPayload;
      scale?: number;
      stampShiftNs?: number;
      latencyNs?: number;
    };

export interface DriveResult {
  snaps: HealthSnapshot[];
  endNs: number;
}

/**
 * Drive `mon` from `fromRelNs` to `toRelNs` (relative to T0): every sensor publishes at its nominal
 * rate (arrival = stamp + 5 ms unless the fault says otherwise), and the monitor is evaluated every
 * `evalMs` (the wiring evaluates on each tick). Returns every snapshot.
 */
export function drive(
  mon: HealthMonitor,
  rig: RigConfig,
  fromRelNs: number,
  toRelNs: number,
  fault: Fault = () => undefined,
  opts: { evalMs?: number; seed?: number; onSnap?: (s: HealthSnapshot) => void } = {},
): DriveResult {
  const r = rng(opts.seed ?? 1);
  const evalNs = (opts.evalMs ?? 50) * MS;
  const next = rig.sensors.map((s) => Math.ceil(fromRelNs / (S / s.rate_hz)) * (S / s.rate_hz));
  const seqs = rig.sensors.map(() => 0);
  let nextEval = Math.ceil(fromRelNs / evalNs) * evalNs;
  const snaps: HealthSnapshot[] = [];
  // envelopes in flight, delivered in arrival order (latency faults reorder them against evaluations)
  const inFlight: SensorEnvelope[] = [];
  const deliver = (uptoNs: number) => {
    while (inFlight.length && inFlight[0]!.arrivalNs <= uptoNs) mon.onMessage(inFlight.shift()!);
  };
  for (;;) {
    let k = 0;
    for (let i = 1; i < next.length; i++) if (next[i]! < next[k]!) k = i;
    const tMsg = next[k]!;
    if (nextEval <= tMsg) {
      if (nextEval >= toRelNs) break;
      deliver(T0 + nextEval);
      const snap = mon.evaluate(T0 + nextEval);
      snaps.push(snap);
      opts.onSnap?.(snap);
      nextEval += evalNs;
      continue;
    }
    if (tMsg >= toRelNs) break;
    const s = rig.sensors[k]!;
    next[k] = tMsg + S / s.rate_hz;
    const f = fault(s.id, tMsg);
    if (f?.drop) continue;
    const payload = f?.payload ?? payloadFor(s, r, { scale: f?.scale ?? 1 });
    const stamp = T0 + tMsg + (f?.stampShiftNs ?? 0);
    const arrival = T0 + tMsg + (f?.latencyNs ?? 5 * MS);
    const env = envelope(mon.vehicle, s.id, payload, stamp, arrival, seqs[k]!++);
    let at = inFlight.length;
    while (at > 0 && inFlight[at - 1]!.arrivalNs > arrival) at--;
    inFlight.splice(at, 0, env);
    deliver(T0 + tMsg);
  }
  return { snaps, endNs: T0 + toRelNs };
}

export const stateOf = (snap: HealthSnapshot, id: string) => snap.sensors.find((s) => s.sensorId === id)!;

/** A minimal aligned tick carrying only diagnostics (for drop / clock-skew inputs). */
export function diagTick(
  vehicle: string,
  emittedNs: number,
  drops: Record<string, Record<string, number>>,
  clockSkew: string[] = [],
): AlignedTick {
  return {
    vehicle,
    seq: 0,
    stampNs: emittedNs,
    trigger: "reference",
    inputs: [],
    ego: EMPTY_EGO,
    egoOrigin: null,
    reset: false,
    lidar: null,
    radar: null,
    cameras: [],
    lastArrivalNs: emittedNs,
    emittedNs,
    diagnostics: { drops, clockSkew, resets: 0, unused: {}, ticks: { reference: 0, timer: 0 } },
  };
}

export function newMonitor(health: Record<string, unknown> = {}): { mon: HealthMonitor; rig: RigConfig } {
  const rig = simRig(health);
  return { mon: new HealthMonitor("v1", rig), rig };
}
