/**
 * Load generator for the headroom benchmarks: replays pre-encoded nuScenes-like sensor traffic for
 * N vehicles over MQTT, so that the publisher costs little (no simulation, no payload encoding at
 * run time). One vehicle's `cycleS` seconds of simulated traffic (zero transport delay) are encoded
 * once without their headers; at publish time each message gets a small header (vehicle, sensor,
 * stamp = wall clock now, seq) prepended: two protobuf encodings of the same message concatenate
 * into one message. Vehicles are phase-shifted so their sweeps do not all land at once.
 *
 * Run as a child process: `node --import tsx bench/_loadgen.ts <broker> <vehicles> <seconds>`;
 * prints one JSON line with what it published at the end.
 */
import mqtt from "mqtt";
import { alignmentPad, decodeSensorMessage, PB, packedDataOffset } from "../src/msg/codec.ts";
import { noDelay } from "../src/mqtt/connect.ts";
import { topics } from "../src/msg/topics.ts";
import type { SensorMessage } from "../src/msg/types.ts";
import { loadRig } from "../src/rig/load.ts";
import type { RigConfig } from "../src/rig/schema.ts";
import { DEFAULT_SIM_OPTIONS, Simulation } from "../sim/index.ts";

export interface Prepared {
  /** Offset in the cycle, ns. */
  atNs: number;
  sensorId: string;
  frameId: string;
  /** The message without its header (protobuf fields 2..). */
  body: Buffer;
  /** Where the body's packed data starts in it (point clouds, radar scans), else -1. */
  dataOffset: number;
}

/** The rig with every modelled transport delay set to zero (stamp = send time). */
export function zeroDelay(rig: RigConfig): RigConfig {
  const r = structuredClone(rig);
  for (const s of r.sensors) {
    const m = (s as Record<string, unknown>)[s.kind] as Record<string, unknown> | undefined;
    if (m && "latency_ms" in m) {
      m.latency_ms = 0;
      m.latency_jitter_ms = 0;
    }
  }
  return r;
}

/** Body of a SensorMessage: the payload oneof alone, encoded. */
function bodyOf(m: SensorMessage): Buffer {
  const p = m.payload;
  const f32 = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const layout = (pa: { stride: number; count: number; fields: Record<string, number> }) => ({
    stride: pa.stride * 4,
    count: pa.count,
    fields: Object.entries(pa.fields).map(([name, i]) => ({ name, offset: i * 4 })),
  });
  let o: object;
  switch (p.kind) {
    case "point_cloud":
      o = { pointCloud: { layout: layout(p.points), data: f32(p.points.data), sweepStartNs: 0 } };
      break;
    case "radar_scan":
      o = { radarScan: { layout: layout(p.returns), data: f32(p.returns.data) } };
      break;
    case "camera_detections":
      o = { cameraDetections: { imageWidth: p.width, imageHeight: p.height, detections: p.detections } };
      break;
    case "camera_image":
      o = { cameraImage: { width: p.width, height: p.height, encoding: p.encoding, data: p.data } };
      break;
    case "gnss_fix":
      o = {
        gnssFix: {
          latitudeDeg: p.latitudeDeg,
          longitudeDeg: p.longitudeDeg,
          altitudeM: p.altitudeM,
          fixType: p.fixType,
          positionCovariance: p.covariance ?? [],
          hasVelocity: p.velocityEN !== null,
          velocityEast: p.velocityEN?.[0] ?? 0,
          velocityNorth: p.velocityEN?.[1] ?? 0,
        },
      };
      break;
    case "imu":
      o = {
        imu: {
          linearAcceleration: { x: p.accel[0], y: p.accel[1], z: p.accel[2] },
          angularVelocity: { x: p.gyro[0], y: p.gyro[1], z: p.gyro[2] },
        },
      };
      break;
    default:
      throw new Error("unknown payload");
  }
  return Buffer.from(PB.SensorMessage.encode(o as never).finish());
}

/**
 * One vehicle's `cycleS` s of traffic, pre-encoded. The GNSS track of a loop jumps back at the
 * cycle's end; the ego filter's innovation gate refuses a few fixes then relocalises: the cost of
 * the real pipeline is unchanged, and the benchmark does not measure quality.
 */
export function prepare(rig: RigConfig, cycleS: number, seed = 11): Prepared[] {
  const so = { ...DEFAULT_SIM_OPTIONS, rig, vehicles: 1, seed };
  const sim = new Simulation(so);
  const out: Prepared[] = [];
  for (const e of sim.until(so.startNs + cycleS * 1e9)) {
    if (e.sensorId === null) continue;
    const r = decodeSensorMessage(e.payload);
    if (!r.ok) continue;
    const body = bodyOf(r.value);
    out.push({
      atNs: e.sendNs - so.startNs,
      sensorId: r.value.header.sensorId,
      frameId: r.value.header.frameId,
      body,
      dataOffset: packedDataOffset(body),
    });
  }
  return out.sort((a, b) => a.atNs - b.atNs);
}

export interface LoadGenStats {
  published: number;
  bytes: number;
  skippedLate: number;
}

/**
 * Publish `vehicles` copies of `msgs` (vehicle ids load-1..load-N) in real time for `seconds`.
 * Stamps are the wall clock at publish time (the service's e2e is stamp -> publish).
 */
export async function runLoad(
  brokerUrl: string,
  msgs: Prepared[],
  vehicles: number,
  seconds: number,
  cycleS: number,
): Promise<LoadGenStats> {
  const client = await mqtt.connectAsync(brokerUrl, { queueQoSZero: false, reconnectPeriod: 0 });
  noDelay(client); // DECISIONS H8
  const cycleNs = cycleS * 1e9;
  const wallNs = () => Math.round((performance.timeOrigin + performance.now()) * 1e6);
  const t0 = wallNs();
  const phase = Array.from({ length: vehicles }, (_, v) => Math.round((v / vehicles) * 50e6)); // spread over one LiDAR period
  const idx = new Array(vehicles).fill(0);
  const cycle = new Array(vehicles).fill(0);
  const seq = new Array(vehicles).fill(0);
  const stats: LoadGenStats = { published: 0, bytes: 0, skippedLate: 0 };
  const endNs = t0 + seconds * 1e9;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = wallNs();
      for (let v = 0; v < vehicles; v++) {
        for (;;) {
          const m = msgs[idx[v]]!;
          const due = t0 + phase[v]! + cycle[v]! * cycleNs + m.atNs;
          if (due > now) break;
          if (now - due < 200e6) {
            const header = PB.SensorMessage.encode({
              header: {
                vehicle: `load-${v + 1}`,
                sensorId: m.sensorId,
                frameId: m.frameId,
                stampNs: now,
                seq: seq[v]++,
              },
            } as never).finish();
            // the service's encoders align packed data (DECISIONS H9): so does the load
            const pad = m.dataOffset >= 0 ? alignmentPad(header.length + m.dataOffset) : null;
            const payload = Buffer.concat(pad?.length ? [pad, header, m.body] : [header, m.body]);
            client.publish(topics.sensor(`load-${v + 1}`, m.sensorId), payload, { qos: 0 });
            stats.published++;
            stats.bytes += payload.length;
          } else stats.skippedLate++;
          idx[v]++;
          if (idx[v] >= msgs.length) {
            idx[v] = 0;
            cycle[v]++;
          }
        }
      }
      if (now >= endNs) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 2);
  });
  await client.endAsync();
  return stats;
}

// Child-process entry point.
if (process.argv[1]?.endsWith("_loadgen.ts")) {
  const [broker, n, secs, rigName = "nuscenes", cycle = "6"] = process.argv.slice(2);
  const cycleS = Number(cycle);
  const msgs = prepare(zeroDelay(loadRig(rigName)), cycleS);
  process.stdout.write(`ready ${msgs.length}\n`);
  const stats = await runLoad(broker!, msgs, Number(n), Number(secs), cycleS);
  process.stdout.write(`${JSON.stringify(stats)}\n`);
  process.exit(0);
}
