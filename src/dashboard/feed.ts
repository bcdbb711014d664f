/**
 * What the live views (the dashboard page and the Foxglove endpoint) are fed: the service's fused
 * frames and health reports, plus the raw MQTT messages the service already receives (sensors) and
 * the ground truth, decoded here only for vehicles somebody is watching. Sensor data is put into the
 * vehicle frame with the rig's extrinsics and decimated, in typed arrays (no per-point objects).
 *
 * The service hands over one small `DashboardSource`; nothing here reaches into the pipeline.
 */
import type { MqttClient } from "mqtt";
import { type Observable, Subscription } from "rxjs";
import { extrinsicToRigid } from "../align/geometry.ts";
import { cameraModelOf, type CameraModel, pixelRay } from "../fusion/camera.ts";
import { decodeGroundTruth, decodeSensorMessage } from "../msg/codec.ts";
import { parseSensorTopic, topics } from "../msg/topics.ts";
import type { FusedFrame, GroundTruth, HealthReport, ObjectClass } from "../msg/types.ts";
import type { RigConfig, SensorConfig } from "../rig/schema.ts";
import type { RawMessage } from "../streams/types.ts";

/** What the service gives the dashboard: its outputs, its raw input, and a way to subscribe more. */
export interface DashboardSource {
  rig: RigConfig;
  frames$: Observable<FusedFrame>;
  health$: Observable<HealthReport>;
  /** Raw MQTT messages the service receives (its sensor subscription). */
  raw$?: Observable<RawMessage>;
  /** A connected MQTT client for topics the service does not subscribe (ground truth). */
  connectMqtt?: () => Promise<MqttClient>;
}

export interface LidarView {
  sensorId: string;
  stampNs: number;
  /** Vehicle frame, stride 4: x, y, z, intensity (0 when the cloud has none). */
  points: Float32Array;
  /** Points in the sweep before decimation. */
  total: number;
}
export interface RadarView {
  sensorId: string;
  stampNs: number;
  /** Vehicle frame, stride 5: x, y, Doppler vector along the ray (vx, vy, m/s), rcs. */
  returns: Float32Array;
}
export interface CameraRay {
  ox: number;
  oy: number;
  dx: number;
  dy: number;
  cls: ObjectClass;
  score: number;
}
export interface CameraView {
  sensorId: string;
  stampNs: number;
  rays: CameraRay[];
}
export interface GnssView {
  sensorId: string;
  stampNs: number;
  latitudeDeg: number;
  longitudeDeg: number;
  altitudeM: number;
  covariance: number[] | null;
}

export type FeedEvent =
  | { kind: "frame"; vehicle: string; frame: FusedFrame }
  | { kind: "health"; vehicle: string; health: HealthReport }
  | { kind: "truth"; vehicle: string; truth: GroundTruth }
  | { kind: "lidar"; vehicle: string; lidar: LidarView }
  | { kind: "radar"; vehicle: string; radar: RadarView }
  | { kind: "camera"; vehicle: string; camera: CameraView }
  | { kind: "gnss"; vehicle: string; gnss: GnssView };

export interface FeedOptions {
  /** Largest number of LiDAR points passed on per sweep (evenly decimated). Default 8000. */
  maxPoints?: number;
  /** Whether anybody watches this vehicle's sensor data (decode only then). */
  watched: (vehicle: string) => boolean;
  /** The vehicles watched now; ground truth is subscribed for these only (checked twice a second). */
  watchedList: () => Iterable<string>;
}

interface SensorGeom {
  cfg: SensorConfig;
  R: Float64Array;
  t: [number, number, number];
  cam: CameraModel | null;
}

export interface Feed {
  stats: { decoded: number; decodeErrors: number };
  close(): Promise<void>;
}

export async function startFeed(
  src: DashboardSource,
  o: FeedOptions,
  emit: (ev: FeedEvent) => void,
): Promise<Feed> {
  const maxPoints = o.maxPoints ?? 8000;
  const geom = new Map<string, SensorGeom>();
  for (const s of src.rig.sensors) {
    const T = extrinsicToRigid(s.extrinsic);
    geom.set(s.id, { cfg: s, R: T.R, t: T.t, cam: cameraModelOf(s) });
  }
  const stats = { decoded: 0, decodeErrors: 0 };
  const subs = new Subscription();
  subs.add(src.frames$.subscribe((frame) => emit({ kind: "frame", vehicle: frame.vehicle, frame })));
  subs.add(src.health$.subscribe((health) => emit({ kind: "health", vehicle: health.vehicle, health })));

  const onRaw = (m: { topic: string; payload: Uint8Array }) => {
    const where = parseSensorTopic(m.topic);
    if (!where || !o.watched(where.vehicle)) return;
    const g = geom.get(where.sensorId);
    if (!g) return;
    const r = decodeSensorMessage(m.payload, where);
    if (!r.ok) {
      stats.decodeErrors++;
      return;
    }
    stats.decoded++;
    const { header, payload } = r.value;
    const vehicle = where.vehicle;
    const R = g.R;
    const [tx, ty, tz] = g.t;
    if (payload.kind === "point_cloud") {
      const p = payload.points;
      const fx = p.fields.x!;
      const fy = p.fields.y!;
      const fz = p.fields.z!;
      const fi = p.fields.intensity;
      const step = Math.max(1, Math.ceil(p.count / maxPoints));
      const n = Math.floor((p.count + step - 1) / step);
      const out = new Float32Array(n * 4);
      const d = p.data;
      let k = 0;
      for (let i = 0; i < p.count; i += step) {
        const b = i * p.stride;
        const x = d[b + fx]!;
        const y = d[b + fy]!;
        const z = d[b + fz]!;
        out[k] = R[0]! * x + R[1]! * y + R[2]! * z + tx;
        out[k + 1] = R[3]! * x + R[4]! * y + R[5]! * z + ty;
        out[k + 2] = R[6]! * x + R[7]! * y + R[8]! * z + tz;
        out[k + 3] = fi === undefined ? 0 : d[b + fi]!;
        k += 4;
      }
      emit({
        kind: "lidar",
        vehicle,
        lidar: { sensorId: where.sensorId, stampNs: header.stampNs, points: out, total: p.count },
      });
    } else if (payload.kind === "radar_scan") {
      const p = payload.returns;
      const fr = p.fields.range!;
      const fa = p.fields.azimuth!;
      const fv = p.fields.radial_velocity!;
      const fc = p.fields.rcs!;
      const fe = p.fields.elevation;
      const out = new Float32Array(p.count * 5);
      const d = p.data;
      for (let i = 0; i < p.count; i++) {
        const b = i * p.stride;
        const r = d[b + fr]!;
        const az = d[b + fa]!;
        const el = fe === undefined ? 0 : d[b + fe]!;
        const ce = Math.cos(el);
        const ux = ce * Math.cos(az);
        const uy = ce * Math.sin(az);
        const uz = Math.sin(el);
        const vx = R[0]! * ux + R[1]! * uy + R[2]! * uz;
        const vy = R[3]! * ux + R[4]! * uy + R[5]! * uz;
        const vr = d[b + fv]!;
        out[i * 5] = tx + r * vx;
        out[i * 5 + 1] = ty + r * vy;
        out[i * 5 + 2] = vr * vx;
        out[i * 5 + 3] = vr * vy;
        out[i * 5 + 4] = d[b + fc]!;
      }
      emit({
        kind: "radar",
        vehicle,
        radar: { sensorId: where.sensorId, stampNs: header.stampNs, returns: out },
      });
    } else if (payload.kind === "camera_detections" && g.cam) {
      const cam = g.cam;
      const su = cam.width / (payload.width || cam.width);
      const sv = cam.height / (payload.height || cam.height);
      const rays: CameraRay[] = payload.detections.map((det) => {
        const u = ((det.xMin + det.xMax) / 2) * su;
        const v = ((det.yMin + det.yMax) / 2) * sv;
        const [dx, dy] = pixelRay(cam, u, v);
        const h = Math.hypot(dx, dy) || 1;
        return { ox: cam.t[0]!, oy: cam.t[1]!, dx: dx / h, dy: dy / h, cls: det.cls, score: det.score };
      });
      emit({ kind: "camera", vehicle, camera: { sensorId: where.sensorId, stampNs: header.stampNs, rays } });
    } else if (payload.kind === "gnss_fix") {
      emit({
        kind: "gnss",
        vehicle,
        gnss: {
          sensorId: where.sensorId,
          stampNs: header.stampNs,
          latitudeDeg: payload.latitudeDeg,
          longitudeDeg: payload.longitudeDeg,
          altitudeM: payload.altitudeM,
          covariance: payload.covariance,
        },
      });
    }
  };
  if (src.raw$) subs.add(src.raw$.subscribe(onRaw));

  let truthClient: MqttClient | null = null;
  let truthTimer: NodeJS.Timeout | null = null;
  if (src.connectMqtt) {
    try {
      const client = await src.connectMqtt();
      truthClient = client;
      client.on("message", (topic, payload) => {
        const p = topic.split("/");
        if (p.length !== 3 || p[2] !== "truth" || !o.watched(p[1]!)) return;
        const r = decodeGroundTruth(payload);
        if (r.ok) emit({ kind: "truth", vehicle: p[1]!, truth: r.value });
        else stats.decodeErrors++;
      });
      // Ground truth of watched vehicles only: nobody watching, no truth traffic.
      const subscribed = new Set<string>();
      const sync = () => {
        const want = new Set(o.watchedList());
        for (const v of want)
          if (!subscribed.has(v) && /^[\x21-\x7e]{1,64}$/.test(v) && !/[/+#]/.test(v)) {
            subscribed.add(v);
            client.subscribe(topics.truth(v), { qos: 0 });
          }
        for (const v of subscribed)
          if (!want.has(v)) {
            subscribed.delete(v);
            client.unsubscribe(topics.truth(v));
          }
      };
      truthTimer = setInterval(sync, 500);
      truthTimer.unref();
    } catch {
      // Truth is an overlay: without it the views still work.
      truthClient?.end(true);
      truthClient = null;
    }
  }
  return {
    stats,
    async close() {
      subs.unsubscribe();
      if (truthTimer) clearInterval(truthTimer);
      await truthClient?.endAsync(true).catch(() => undefined);
    },
  };
}
