/**
 * The I/O-free, deterministic simulator core. One `VehicleSim` per vehicle (its own world, seeded
 * from the seed and the vehicle index); `Simulation` merges their event streams in send-time order.
 *
 * Per sensor, captures happen at t_k = phase + k / rate_hz (true time, ns from t = 0; the LiDAR
 * reference ends its first sweep at one period). A capture steps the world to t_k, asks the sensor
 * model for payloads, applies the faults active at t_k, stamps the message on the sensor clock
 * (true time + clock_offset_ms + clock faults) and schedules it at t_k + transport delay.
 * Ground truth is produced at every reference-sensor capture (true time, QoS 1).
 */
import { encodeGroundTruth, encodeSensorMessage } from "../src/msg/codec.ts";
import { topics } from "../src/msg/topics.ts";
import type { EgoState, GroundTruth, SensorPayload, TruthObject } from "../src/msg/types.ts";
import type { RigConfig, SensorConfig } from "../src/rig/schema.ts";
import { checkFaultTargets, effectsAt, type Fault, faultTargets, parseFaults } from "./faults.ts";
import { MinHeap } from "./heap.ts";
import { Rng } from "./rng.ts";
import { scenarioBuilder } from "./scenarios.ts";
import { CameraModel } from "./sensors/camera.ts";
import { GnssModel } from "./sensors/gnss.ts";
import { ImuModel } from "./sensors/imu.ts";
import { LidarModel } from "./sensors/lidar.ts";
import { RadarModel } from "./sensors/radar.ts";
import type { Conditions, ModelDeps, SensorModel } from "./sensors/types.ts";
import { type EgoKinematics, newEgoKinematics, type ScenarioName, World } from "./world.ts";

export interface SimOptions {
  /** Validated rig (loadRig). */
  rig: RigConfig;
  scenario: ScenarioName;
  conditions: Conditions;
  /** Seed of every random stream. */
  seed: number;
  /** Number of vehicles, ids sim-1..sim-N, each with its own world. */
  vehicles: number;
  /** Fault script, e.g. 'lidar:drop@10s+5s,gnss:outage@20s+10s' (sim/faults.ts). */
  faults: string;
  /** Also publish small JPEG frames on camera topics. */
  cameraFrames: boolean;
  /** True time at t = 0, ns. */
  startNs: number;
}

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, "rig"> = {
  scenario: "urban",
  conditions: "clear",
  seed: 1,
  vehicles: 1,
  faults: "",
  cameraFrames: false,
  startNs: 1.7e18,
};

export interface SimEvent {
  topic: string;
  payload: Uint8Array;
  /** Time the message leaves the sensor (true time + transport delay), ns. */
  sendNs: number;
  vehicle: string;
  /** null for ground truth. */
  sensorId: string | null;
  qos: 0 | 1;
  retain?: boolean;
}

interface Pending extends SimEvent {
  order: number;
}

/** Objects farther than this from the ego are left out of the ground truth, m. */
export const TRUTH_RANGE_M = 150;

interface Stream {
  cfg: SensorConfig;
  model: SensorModel;
  periodNs: number;
  phaseNs: number;
  k: number;
  nextNs: number;
  faults: Fault[];
  transport: Rng;
  latencyMs: number;
  latencyJitterMs: number;
  last: SensorPayload[] | null;
  topic: string;
}

const modelFor = (d: ModelDeps, frames: boolean): SensorModel => {
  switch (d.sensor.kind) {
    case "lidar":
      return new LidarModel(d);
    case "radar":
      return new RadarModel(d);
    case "camera":
      return new CameraModel(d, frames);
    case "gnss":
      return new GnssModel(d);
    case "imu":
      return new ImuModel(d);
    case "pose":
      // Localisation poses come from recorded logs (replay); the simulator has no model of them.
      throw new Error(
        `sensor ${d.sensor.id}: kind 'pose' is not simulated (use GNSS + IMU in a simulated rig)`,
      );
  }
};

export class VehicleSim {
  readonly world: World;
  readonly vehicle: string;
  private readonly streams: Stream[];
  private readonly heap = new MinHeap<Pending>();
  private order = 0;
  private readonly refPeriodNs: number;
  private truthK = 0;
  private truthNextNs: number;
  private lastTruth: GroundTruth | null = null;
  private readonly faults: Fault[];
  private readonly ego: EgoKinematics = newEgoKinematics();
  private readonly truthTopic: string;

  constructor(
    private readonly opts: SimOptions,
    index: number,
  ) {
    this.vehicle = `sim-${index + 1}`;
    const seed = opts.seed * 1000 + index;
    const profile = opts.rig.simulation.profile;
    this.world = new World(opts.scenario, seed, scenarioBuilder(opts.scenario, profile));
    this.faults = parseFaults(opts.faults);
    const ref = opts.rig.sensors.find((s) => s.id === opts.rig.reference)!;
    this.refPeriodNs = 1e9 / ref.rate_hz;
    this.truthNextNs = Math.round(this.refPeriodNs);
    this.truthTopic = topics.truth(this.vehicle);
    const phaseRng = new Rng(seed, `${this.vehicle}/phase`);
    this.streams = opts.rig.sensors.map((cfg) => {
      const periodNs = 1e9 / cfg.rate_hz;
      const phaseNs = cfg.id === ref.id ? periodNs : Math.round(phaseRng.uniform(0, periodNs));
      const rng = new Rng(seed, `${this.vehicle}/${cfg.id}/model`);
      const model = modelFor(
        { sensor: cfg, rng, conditions: opts.conditions, scenario: opts.scenario, profile },
        opts.cameraFrames,
      );
      const m = ((cfg as Record<string, unknown>)[cfg.kind] ?? {}) as {
        latency_ms?: number;
        latency_jitter_ms?: number;
      };
      return {
        cfg,
        model,
        periodNs,
        phaseNs,
        k: 0,
        nextNs: Math.round(phaseNs),
        faults: this.faults.filter((f) => faultTargets(f, cfg.id, cfg.kind)),
        transport: new Rng(seed, `${this.vehicle}/${cfg.id}/transport`),
        latencyMs: m.latency_ms ?? 0,
        latencyJitterMs: m.latency_jitter_ms ?? 0,
        last: null,
        topic: topics.sensor(this.vehicle, cfg.id),
      };
    });
  }

  /** Latest ground truth produced (true time), or null before the first. */
  get truth(): GroundTruth | null {
    return this.lastTruth;
  }

  /** Send time of the next event, ns (absolute). */
  peekSendNs(): number {
    for (;;) {
      const top = this.heap.peek();
      // Next capture time among sensors and truth.
      let s: Stream | null = null;
      let tNext = this.truthNextNs;
      for (const st of this.streams) {
        if (st.nextNs < tNext) {
          tNext = st.nextNs;
          s = st;
        }
      }
      // Every event's send time is >= its capture time, so the heap top is safe to emit once it
      // is not later than the next capture.
      if (top && top.sendNs <= this.opts.startNs + tNext) return top.sendNs;
      if (s) this.captureSensor(s);
      else this.captureTruth();
    }
  }

  /**
   * Run every capture with true time <= tRelNs now (in time order, exactly as lazily), so that a
   * paced runner computes ahead while it waits instead of at the deadline. Output is identical.
   */
  prepare(tRelNs: number): void {
    while (this.prepareOne(tRelNs));
  }

  /** Run the earliest pending capture if its true time is <= tRelNs; false when there is none. */
  prepareOne(tRelNs: number): boolean {
    {
      let s: Stream | null = null;
      let tNext = this.truthNextNs;
      for (const st of this.streams) {
        if (st.nextNs < tNext) {
          tNext = st.nextNs;
          s = st;
        }
      }
      if (tNext > tRelNs) return false;
      if (s) this.captureSensor(s);
      else this.captureTruth();
      return true;
    }
  }

  next(): SimEvent {
    this.peekSendNs();
    const e = this.heap.pop()!;
    const { order: _order, ...ev } = e;
    return ev;
  }

  private push(ev: SimEvent): void {
    this.heap.push({ ...ev, order: this.order++ });
  }

  private captureTruth(): void {
    const t = this.truthNextNs;
    this.truthK++;
    this.truthNextNs = Math.round(this.refPeriodNs * (this.truthK + 1));
    this.world.advanceTo(t);
    const g = this.groundTruthAt(t, this.truthK - 1);
    this.lastTruth = g;
    this.push({
      topic: this.truthTopic,
      payload: encodeGroundTruth(g),
      sendNs: this.opts.startNs + t,
      vehicle: this.vehicle,
      sensorId: null,
      qos: 1,
    });
  }

  /** Ground truth at true time t (ns from 0): ego and objects in the local ENU frame. */
  groundTruthAt(t: number, seq: number): GroundTruth {
    const w = this.world;
    const e = w.egoAt(t, this.ego);
    const ego: EgoState = {
      valid: true,
      x: e.x,
      y: e.y,
      z: 0,
      yaw: e.yaw,
      vx: e.vx,
      vy: e.vy,
      yawRate: e.yawRate,
      speed: e.speed,
      positionStdM: 0,
    };
    const B = w.boxes;
    const dt = (t - w.tNs) / 1e9;
    const objects: TruthObject[] = [];
    for (let i = 0; i < B.count; i++) {
      if (!B.dynamic[i]) continue;
      const x = B.x[i]! + B.vx[i]! * dt;
      const y = B.y[i]! + B.vy[i]! * dt;
      if (Math.hypot(x - e.x, y - e.y) > TRUTH_RANGE_M) continue;
      objects.push({
        id: B.id[i]!,
        cls: B.cls[i] as TruthObject["cls"],
        x,
        y,
        z: B.z[i]!,
        length: B.hl[i]! * 2,
        width: B.hw[i]! * 2,
        height: B.hh[i]! * 2,
        yaw: B.yaw[i]!,
        vx: B.vx[i]!,
        vy: B.vy[i]!,
      });
    }
    return {
      vehicle: this.vehicle,
      stampNs: this.opts.startNs + t,
      seq,
      ego,
      objects,
      activeFaults: this.faults.filter((f) => t >= f.startNs && t < f.endNs).map((f) => f.label),
      conditions: this.opts.conditions,
      scenario: this.opts.scenario,
    };
  }

  private captureSensor(s: Stream): void {
    const t = s.nextNs;
    const seq = s.k;
    s.k++;
    s.nextNs = Math.round(s.phaseNs + s.k * s.periodNs);
    const fx = effectsAt(s.faults, t, s.cfg.rate_hz, s.periodNs / 1e6);
    if (fx.drop) return;
    if (fx.keep < 1 && Math.floor((seq + 1) * fx.keep) === Math.floor(seq * fx.keep)) return;
    this.world.advanceTo(t);
    let payloads: SensorPayload[];
    if (fx.freeze && s.last) payloads = s.last;
    else {
      payloads = s.model.capture({ world: this.world, tNs: t, noise: fx.noise });
      s.last = payloads;
    }
    const tr = s.transport;
    const stampNs = this.opts.startNs + t + Math.round((s.cfg.clock_offset_ms + fx.clockMs) * 1e6);
    const delayMs =
      Math.max(0, s.latencyMs + s.latencyJitterMs * tr.gauss()) +
      fx.delayMs +
      (fx.jitterMs > 0 ? tr.uniform(0, fx.jitterMs) : 0) +
      (fx.reorderMs > 0 ? tr.uniform(0, fx.reorderMs) : 0);
    const sendNs = this.opts.startNs + t + Math.round(delayMs * 1e6);
    for (const p of payloads) {
      const payload = p.kind === "point_cloud" ? { ...p, sweepStartNs: stampNs - Math.round(s.periodNs) } : p;
      let bytes = encodeSensorMessage({
        header: { vehicle: this.vehicle, sensorId: s.cfg.id, frameId: s.cfg.id, stampNs, seq },
        payload,
      });
      if (fx.corruptP > 0 && tr.next() < fx.corruptP) bytes = corrupt(bytes, tr);
      const ev: SimEvent = {
        topic: s.topic,
        payload: bytes,
        sendNs,
        vehicle: this.vehicle,
        sensorId: s.cfg.id,
        qos: 0,
      };
      this.push(ev);
      if (fx.duplicateP > 0 && tr.next() < fx.duplicateP)
        this.push({ ...ev, sendNs: sendNs + Math.round(tr.uniform(0.1, 5) * 1e6) });
    }
  }
}

/** Damage a payload: truncate it, or overwrite bytes near the start (header and layout). */
function corrupt(bytes: Uint8Array, rng: Rng): Uint8Array {
  if (bytes.length < 4 || rng.chance(0.5))
    return bytes.slice(0, Math.max(1, rng.int(Math.max(1, bytes.length - 1))));
  const out = bytes.slice();
  const span = Math.min(out.length, 48);
  for (let k = 0; k < 12; k++) out[rng.int(span)] = rng.u32() & 0xff;
  return out;
}

/** Several vehicles, each its own world, merged in send-time order (ties: lower vehicle index). */
export class Simulation {
  readonly vehicles: VehicleSim[];

  constructor(readonly opts: SimOptions) {
    if (!Number.isInteger(opts.vehicles) || opts.vehicles < 1)
      throw new Error("vehicles must be an integer >= 1");
    checkFaultTargets(parseFaults(opts.faults), opts.rig.sensors);
    this.vehicles = Array.from({ length: opts.vehicles }, (_, i) => new VehicleSim(opts, i));
  }

  /** Send time of the next event, ns. */
  peekSendNs(): number {
    let best = Number.POSITIVE_INFINITY;
    for (const v of this.vehicles) best = Math.min(best, v.peekSendNs());
    return best;
  }

  /** Compute ahead: every capture up to absolute true time tNs (see VehicleSim.prepare). */
  prepare(tNs: number): void {
    for (const v of this.vehicles) v.prepare(tNs - this.opts.startNs);
  }

  /** One capture of the vehicle furthest behind, if any is due by tNs; false when none is. */
  prepareOne(tNs: number): boolean {
    const rel = tNs - this.opts.startNs;
    for (const v of this.vehicles) if (v.prepareOne(rel)) return true;
    return false;
  }

  /** Next event in send-time order (the simulation never ends, so never null). */
  next(): SimEvent | null {
    let best: VehicleSim | null = null;
    let bestNs = Number.POSITIVE_INFINITY;
    for (const v of this.vehicles) {
      const ns = v.peekSendNs();
      if (ns < bestNs) {
        bestNs = ns;
        best = v;
      }
    }
    return best ? best.next() : null;
  }

  /** Every event with sendNs <= tNs (absolute ns), in send-time order. */
  until(tNs: number): SimEvent[] {
    const out: SimEvent[] = [];
    while (this.peekSendNs() <= tNs) out.push(this.next()!);
    return out;
  }

  /** Latest ground truth of a vehicle (domain object), or null. */
  truth(vehicle: string): GroundTruth | null {
    return this.vehicles.find((v) => v.vehicle === vehicle)?.truth ?? null;
  }
}
