/**
 * I/O-free protobuf codec: bytes in, validated domain messages out (and back).
 * Never throws on bad input: decode returns `{ ok: false, error }` with a stable error code
 * (docs/ERRORS.md), so that a malformed payload is counted and dropped, not thrown into a pipeline.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import type {
  Detection2D,
  FusedFrame,
  GroundTruth,
  HealthReport,
  PackedArray,
  SensorMessage,
  SensorPayload,
  ServiceStatus,
} from "./types.ts";

const PROTO_PATH = fileURLToPath(new URL("../../proto/fusion.proto", import.meta.url));
const root = protobuf.parse(readFileSync(PROTO_PATH, "utf8"), { keepCase: false }).root;
/** The parsed schema (recordings embed it as a FileDescriptorSet). */
export const PROTO_ROOT: protobuf.Root = root;

export const PB = {
  SensorMessage: root.lookupType("fusion.v1.SensorMessage"),
  FusedFrame: root.lookupType("fusion.v1.FusedFrame"),
  HealthReport: root.lookupType("fusion.v1.HealthReport"),
  GroundTruth: root.lookupType("fusion.v1.GroundTruth"),
  ServiceStatus: root.lookupType("fusion.v1.ServiceStatus"),
};

/** Stable decode error codes; documented in docs/ERRORS.md. */
export type DecodeErrorCode =
  | "E_TOO_LARGE"
  | "E_LIMIT"
  | "E_PROTO"
  | "E_MISSING_FIELD"
  | "E_LAYOUT"
  | "E_NOT_FINITE"
  | "E_TOPIC_MISMATCH";

export interface DecodeError {
  code: DecodeErrorCode;
  message: string;
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: DecodeError };

export interface DecodeLimits {
  /** Largest accepted payload, bytes. Default 16 MiB. */
  maxPayloadBytes: number;
  /** Largest record count of a packed array. Default 500,000. */
  maxRecords: number;
  /** Largest number of camera detections. Default 1,000. */
  maxDetections: number;
  /** Vehicle and sensor ids: bytes (printable ASCII, no '/', '+', '#'). Default 64. */
  maxIdBytes: number;
  /** header.frame_id: bytes (printable ASCII). Default 256. */
  maxFrameIdBytes: number;
  /** Fields of a packed layout. Default 16; field names at most maxIdBytes. */
  maxPackedFields: number;
  /** Camera image width or height, pixels. Default 16,384. */
  maxImageSide: number;
}

/** Limits checked at decode (docs/ERRORS.md "Limits"); every one is a stable E_* code. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxPayloadBytes: 16 * 1024 * 1024,
  maxRecords: 500_000,
  maxDetections: 1000,
  maxIdBytes: 64,
  maxFrameIdBytes: 256,
  maxPackedFields: 16,
  maxImageSide: 16_384,
};

/** An id usable as a topic level and in a log line: printable ASCII without MQTT wildcards or '/'. */
export function validId(s: string, maxBytes = DEFAULT_DECODE_LIMITS.maxIdBytes): boolean {
  return s.length > 0 && s.length <= maxBytes && /^[!-~]+$/.test(s) && !/[/+#]/.test(s);
}

/**
 * Check the header's string lengths on the wire, before protobufjs turns them into strings: a 15 MB
 * frame_id is refused without being decoded. Returns an error message, or null. Malformed wire data
 * is left to the full decode (E_PROTO).
 */
function headerPrecheck(bytes: Uint8Array, limits: DecodeLimits): string | null {
  try {
    const r = protobuf.Reader.create(bytes);
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === 1 && (tag & 7) === 2) {
        const len = r.uint32();
        const end = r.pos + len;
        if (end > r.len) return null;
        while (r.pos < end) {
          const t = r.uint32();
          const field = t >>> 3;
          if ((t & 7) === 2) {
            const n = r.uint32();
            const max = field === 3 ? limits.maxFrameIdBytes : limits.maxIdBytes;
            const name =
              field === 1
                ? "vehicle"
                : field === 2
                  ? "sensor_id"
                  : field === 3
                    ? "frame_id"
                    : `field ${field}`;
            if (n > max) return `header.${name} is ${n} bytes, limit ${max}`;
            r.skip(n);
          } else r.skipType(t & 7);
        }
        return null;
      }
      r.skipType(tag & 7);
    }
  } catch {
    return null;
  }
  return null;
}

/** Required float fields per packed payload kind. */
export const REQUIRED_FIELDS = {
  point_cloud: ["x", "y", "z"],
  radar_scan: ["range", "azimuth", "radial_velocity", "rcs"],
} as const;

const fail = <T>(code: DecodeErrorCode, message: string): DecodeResult<T> => ({
  ok: false,
  error: { code, message },
});

/** int64 from protobufjs arrives as number or Long; fold it into a float64 number of ns. */
export function toNum(v: unknown): number {
  if (typeof v === "number") return v;
  if (v && typeof v === "object" && "toNumber" in v) return (v as { toNumber(): number }).toNumber();
  if (typeof v === "string") return Number(v);
  return 0;
}

interface PbPacked {
  layout?: { stride?: number; count?: number; fields?: { name?: string; offset?: number }[] } | null;
  data?: Uint8Array;
}

function decodePacked(
  p: PbPacked,
  required: readonly string[],
  limits: DecodeLimits,
): DecodeResult<PackedArray> {
  const layout = p.layout;
  if (!layout) return fail("E_MISSING_FIELD", "packed payload has no layout");
  const stride = layout.stride ?? 0;
  const count = layout.count ?? 0;
  // protobufjs gives [] (not a Uint8Array) for an absent bytes field: an empty array is valid.
  const data = p.data instanceof Uint8Array ? p.data : new Uint8Array(0);
  if (stride === 0 || stride % 4 !== 0)
    return fail("E_LAYOUT", `stride ${stride} is not a positive multiple of 4`);
  if (count > limits.maxRecords) return fail("E_LIMIT", `count ${count} exceeds limit ${limits.maxRecords}`);
  if (data.byteLength !== stride * count)
    return fail("E_LAYOUT", `data is ${data.byteLength} bytes, layout says ${stride} x ${count}`);
  const fields: Record<string, number> = {};
  if ((layout.fields?.length ?? 0) > limits.maxPackedFields)
    return fail("E_LIMIT", `${layout.fields!.length} packed fields exceed limit ${limits.maxPackedFields}`);
  for (const f of layout.fields ?? []) {
    const off = f.offset ?? 0;
    if (!f.name) return fail("E_LAYOUT", "field without a name");
    if (!validId(f.name, limits.maxIdBytes))
      return fail("E_LIMIT", "packed field name not a short printable id");
    if (off % 4 !== 0 || off + 4 > stride)
      return fail("E_LAYOUT", `field ${f.name} at offset ${off} outside stride`);
    fields[f.name] = off / 4;
  }
  for (const r of required) if (!(r in fields)) return fail("E_MISSING_FIELD", `layout lacks field '${r}'`);
  // A bytes field is a view into the MQTT buffer at any offset: copy when unaligned.
  // (Buffer#slice is a view, not a copy: copy explicitly.)
  let aligned = data;
  if (data.byteOffset % 4 !== 0) {
    aligned = new Uint8Array(data.byteLength);
    aligned.set(data);
  }
  const f32 = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  // x * 0 is 0 for every finite x and NaN for +-Inf and NaN: one multiply-add per float, and the
  // index is looked up only on failure. Four accumulators, so that the adds do not wait on each
  // other: one accumulator made the loop latency-bound (a scratch timing of a 34,720-point sweep,
  // alternated, while the test suite ran: 269 and 146 us with one, 206 and 87 us with four).
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const n4 = f32.length & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    a0 += f32[i]! * 0;
    a1 += f32[i + 1]! * 0;
    a2 += f32[i + 2]! * 0;
    a3 += f32[i + 3]! * 0;
  }
  for (; i < f32.length; i++) a0 += f32[i]! * 0;
  if (a0 + a1 + a2 + a3 !== 0) {
    const i = f32.findIndex((x) => !Number.isFinite(x));
    return fail("E_NOT_FINITE", `non-finite value in record ${Math.floor(i / (stride / 4))}`);
  }
  return { ok: true, value: { stride: stride / 4, count, fields, data: f32 } };
}

const finite = (...xs: number[]) => xs.every(Number.isFinite);

function vec3(v: { x?: number; y?: number; z?: number } | null | undefined): [number, number, number] | null {
  if (!v) return null;
  const r: [number, number, number] = [v.x ?? 0, v.y ?? 0, v.z ?? 0];
  return finite(...r) ? r : null;
}

/**
 * Decode and validate one SensorMessage. `expect` (from the topic) is checked against the header.
 */
export function decodeSensorMessage(
  bytes: Uint8Array,
  expect?: { vehicle: string; sensorId: string },
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): DecodeResult<SensorMessage> {
  if (bytes.byteLength > limits.maxPayloadBytes)
    return fail("E_TOO_LARGE", `payload ${bytes.byteLength} bytes exceeds ${limits.maxPayloadBytes}`);
  const tooLong = headerPrecheck(bytes, limits);
  if (tooLong) return fail("E_LIMIT", tooLong);
  // biome-ignore lint/suspicious/noExplicitAny: protobufjs message objects are untyped at the edge
  let m: any;
  try {
    m = PB.SensorMessage.decode(bytes);
  } catch (e) {
    return fail("E_PROTO", `protobuf decode failed: ${(e as Error).message}`);
  }
  const h = m.header;
  if (!h) return fail("E_MISSING_FIELD", "header missing");
  if (!h.vehicle) return fail("E_MISSING_FIELD", "header.vehicle empty");
  if (!h.sensorId) return fail("E_MISSING_FIELD", "header.sensor_id empty");
  if (!validId(h.vehicle, limits.maxIdBytes) || !validId(h.sensorId, limits.maxIdBytes))
    return fail(
      "E_LIMIT",
      `header vehicle/sensor_id must be 1-${limits.maxIdBytes} printable ASCII characters without / + #`,
    );
  if (h.frameId && (h.frameId.length > limits.maxFrameIdBytes || !/^[ -~]*$/.test(h.frameId)))
    return fail(
      "E_LIMIT",
      `header.frame_id must be at most ${limits.maxFrameIdBytes} printable ASCII characters`,
    );
  const stampNs = toNum(h.stampNs);
  if (!(stampNs > 0) || !Number.isFinite(stampNs))
    return fail("E_MISSING_FIELD", "header.stamp_ns missing or <= 0");
  if (expect && (expect.vehicle !== h.vehicle || expect.sensorId !== h.sensorId))
    return fail(
      "E_TOPIC_MISMATCH",
      `header says ${h.vehicle}/${h.sensorId}, topic says ${expect.vehicle}/${expect.sensorId}`,
    );
  const header = {
    vehicle: h.vehicle,
    sensorId: h.sensorId,
    frameId: h.frameId ?? "",
    stampNs,
    seq: toNum(h.seq),
  };
  let payload: SensorPayload;
  switch (m.payload as string | undefined) {
    case "pointCloud": {
      const r = decodePacked(m.pointCloud, REQUIRED_FIELDS.point_cloud, limits);
      if (!r.ok) return r;
      const imax = m.pointCloud.intensityMax ?? 0;
      if (!Number.isFinite(imax) || imax < 0) return fail("E_LAYOUT", "intensity_max not finite or < 0");
      payload = {
        kind: "point_cloud",
        points: r.value,
        sweepStartNs: toNum(m.pointCloud.sweepStartNs),
        ...(imax > 0 ? { intensityMax: imax } : {}),
      };
      break;
    }
    case "radarScan": {
      const r = decodePacked(m.radarScan, REQUIRED_FIELDS.radar_scan, limits);
      if (!r.ok) return r;
      payload = { kind: "radar_scan", returns: r.value };
      break;
    }
    case "cameraImage": {
      const c = m.cameraImage;
      if (!c.width || !c.height) return fail("E_MISSING_FIELD", "camera_image width/height missing");
      if (c.width > limits.maxImageSide || c.height > limits.maxImageSide)
        return fail(
          "E_LIMIT",
          `camera_image ${c.width}x${c.height} exceeds ${limits.maxImageSide} pixels a side`,
        );
      if (!c.data || c.data.byteLength === 0) return fail("E_MISSING_FIELD", "camera_image data empty");
      payload = {
        kind: "camera_image",
        width: c.width,
        height: c.height,
        encoding: c.encoding ?? 0,
        data: new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength), // plain Uint8Array view, no copy
      };
      break;
    }
    case "cameraDetections": {
      const c = m.cameraDetections;
      if (!c.imageWidth || !c.imageHeight)
        return fail("E_MISSING_FIELD", "camera_detections image size missing");
      if (c.imageWidth > limits.maxImageSide || c.imageHeight > limits.maxImageSide)
        return fail("E_LIMIT", `camera_detections image size exceeds ${limits.maxImageSide} pixels a side`);
      const dets = (c.detections ?? []) as Detection2D[];
      if (dets.length > limits.maxDetections)
        return fail("E_LIMIT", `${dets.length} detections exceed limit ${limits.maxDetections}`);
      const out: Detection2D[] = [];
      for (const d of dets) {
        const xMin = d.xMin ?? 0;
        const yMin = d.yMin ?? 0;
        const xMax = d.xMax ?? 0;
        const yMax = d.yMax ?? 0;
        const score = d.score ?? 0;
        if (!finite(xMin, yMin, xMax, yMax, score)) return fail("E_NOT_FINITE", "non-finite detection");
        if (xMax < xMin || yMax < yMin) return fail("E_LAYOUT", "detection box with max < min");
        out.push({ xMin, yMin, xMax, yMax, cls: d.cls ?? 0, score });
      }
      payload = {
        kind: "camera_detections",
        width: c.imageWidth,
        height: c.imageHeight,
        detections: out,
        ...(c.source ? { source: c.source as string } : {}),
      };
      break;
    }
    case "gnssFix": {
      const g = m.gnssFix;
      const lat = g.latitudeDeg ?? 0;
      const lon = g.longitudeDeg ?? 0;
      const alt = g.altitudeM ?? 0;
      if (!finite(lat, lon, alt) || Math.abs(lat) > 90 || Math.abs(lon) > 180)
        return fail("E_NOT_FINITE", "gnss position not finite or out of range");
      const cov = (g.positionCovariance ?? []) as number[];
      if (cov.length !== 0 && (cov.length !== 9 || !finite(...cov)))
        return fail("E_LAYOUT", "gnss covariance must be 9 finite numbers");
      const vel: [number, number] | null = g.hasVelocity ? [g.velocityEast ?? 0, g.velocityNorth ?? 0] : null;
      if (vel && !finite(...vel)) return fail("E_NOT_FINITE", "gnss velocity not finite");
      payload = {
        kind: "gnss_fix",
        latitudeDeg: lat,
        longitudeDeg: lon,
        altitudeM: alt,
        fixType: g.fixType ?? 0,
        covariance: cov.length === 9 ? cov : null,
        velocityEN: vel,
      };
      break;
    }
    case "imu": {
      const accel = vec3(m.imu.linearAcceleration);
      const gyro = vec3(m.imu.angularVelocity);
      if (!accel || !gyro) return fail("E_NOT_FINITE", "imu vectors missing or not finite");
      payload = { kind: "imu", accel, gyro };
      break;
    }
    case "pose": {
      const pos = vec3(m.pose.position);
      const q = m.pose.orientation;
      const ori: [number, number, number, number] | null = q
        ? [q.w ?? 0, q.x ?? 0, q.y ?? 0, q.z ?? 0]
        : null;
      if (!pos || !ori || !finite(...ori))
        return fail("E_NOT_FINITE", "pose position/orientation missing or not finite");
      const norm = Math.hypot(...ori);
      if (Math.abs(norm - 1) > 1e-3)
        return fail("E_LAYOUT", `pose orientation is not a unit quaternion (|q| = ${norm})`);
      const cov = (m.pose.covariance ?? []) as number[];
      if (cov.length !== 0 && (cov.length !== 36 || !finite(...cov)))
        return fail("E_LAYOUT", "pose covariance must be 36 finite numbers");
      payload = { kind: "pose", position: pos, orientation: ori, covariance: cov.length === 36 ? cov : null };
      break;
    }
    default:
      return fail("E_MISSING_FIELD", "no payload");
  }
  return { ok: true, value: { header, payload } };
}

/** Field list of a packed array in record order, for encoding. */
function packedLayout(p: PackedArray) {
  return {
    stride: p.stride * 4,
    count: p.count,
    fields: Object.entries(p.fields).map(([name, idx]) => ({ name, offset: idx * 4 })),
  };
}

/** Bytes of a Float32Array, little-endian on every platform we run on (x86-64, arm64). */
export function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Encode a domain SensorMessage to protobuf bytes. */
export function encodeSensorMessage(msg: SensorMessage): Uint8Array {
  const p = msg.payload;
  // biome-ignore lint/suspicious/noExplicitAny: protobufjs accepts plain objects
  const o: any = { header: msg.header };
  switch (p.kind) {
    case "point_cloud":
      o.pointCloud = {
        layout: packedLayout(p.points),
        data: f32Bytes(p.points.data),
        sweepStartNs: p.sweepStartNs,
        intensityMax: p.intensityMax ?? 0,
      };
      break;
    case "radar_scan":
      o.radarScan = { layout: packedLayout(p.returns), data: f32Bytes(p.returns.data) };
      break;
    case "camera_image":
      o.cameraImage = { width: p.width, height: p.height, encoding: p.encoding, data: p.data };
      break;
    case "camera_detections":
      o.cameraDetections = {
        imageWidth: p.width,
        imageHeight: p.height,
        detections: p.detections,
        source: p.source ?? "",
      };
      break;
    case "gnss_fix":
      o.gnssFix = {
        latitudeDeg: p.latitudeDeg,
        longitudeDeg: p.longitudeDeg,
        altitudeM: p.altitudeM,
        fixType: p.fixType,
        positionCovariance: p.covariance ?? [],
        hasVelocity: p.velocityEN !== null,
        velocityEast: p.velocityEN?.[0] ?? 0,
        velocityNorth: p.velocityEN?.[1] ?? 0,
      };
      break;
    case "imu":
      o.imu = {
        linearAcceleration: { x: p.accel[0], y: p.accel[1], z: p.accel[2] },
        angularVelocity: { x: p.gyro[0], y: p.gyro[1], z: p.gyro[2] },
      };
      break;
    case "pose":
      o.pose = {
        position: { x: p.position[0], y: p.position[1], z: p.position[2] },
        orientation: { w: p.orientation[0], x: p.orientation[1], y: p.orientation[2], z: p.orientation[3] },
        covariance: p.covariance ?? [],
      };
      break;
    default: {
      const never: never = p;
      throw new Error(`unknown payload ${(never as { kind: string }).kind}`);
    }
  }
  const bytes = PB.SensorMessage.encode(o).finish();
  return p.kind === "point_cloud" || p.kind === "radar_scan" ? alignPackedData(bytes) : bytes;
}

/**
 * Offset of the packed `data` bytes of a PointCloud (field 10) or RadarScan (field 11) in an
 * encoded SensorMessage, found by walking the tags (nothing is decoded); -1 when there is none or
 * the bytes are malformed.
 */
export function packedDataOffset(bytes: Uint8Array): number {
  try {
    const r = protobuf.Reader.create(bytes);
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      if ((field === 10 || field === 11) && (tag & 7) === 2) {
        const end = r.uint32() + r.pos;
        while (r.pos < end) {
          const t = r.uint32();
          if (t === 0x12) {
            r.uint32();
            return r.pos;
          }
          r.skipType(t & 7);
        }
        return -1;
      }
      r.skipType(tag & 7);
    }
  } catch {
    return -1;
  }
  return -1;
}

/**
 * Field 2 of SensorMessage (reserved in fusion.proto) as a bytes field of 0, 1 or 3 bytes: 2, 3 or 5
 * bytes on the wire, indexed by how many bytes it must shift what follows it (mod 4).
 */
const ALIGN_PAD: readonly Uint8Array[] = [
  new Uint8Array(0),
  Uint8Array.of(0x12, 3, 0, 0, 0),
  Uint8Array.of(0x12, 0),
  Uint8Array.of(0x12, 1, 0),
];

/**
 * The padding field that, written before a message whose packed data starts `dataOffset` bytes
 * after the padding, puts that data at a multiple of 4 bytes (empty when it already is).
 */
export function alignmentPad(dataOffset: number): Uint8Array {
  return ALIGN_PAD[(4 - (dataOffset % 4)) % 4]!;
}

/**
 * `bytes` with the padding field in front when its packed data does not start at a multiple of 4
 * bytes (docs/DECISIONS.md H9). A receiver whose payload buffer starts 4-aligned (the MQTT client's
 * reassembled payload does) then reads the floats in place instead of copying the sweep: one
 * ~0.7 MB allocation fewer per nuScenes sweep. Any protobuf decoder skips the field.
 */
export function alignPackedData(bytes: Uint8Array): Uint8Array {
  const off = packedDataOffset(bytes);
  if (off < 0) return bytes;
  const pad = alignmentPad(off);
  if (pad.length === 0) return bytes;
  const out = new Uint8Array(pad.length + bytes.length);
  out.set(pad);
  out.set(bytes, pad.length);
  return out;
}

/** Build a PackedArray from named fields (in order) and a Float32Array of records. */
export function packed(fieldNames: readonly string[], data: Float32Array): PackedArray {
  const fields: Record<string, number> = {};
  fieldNames.forEach((n, i) => {
    fields[n] = i;
  });
  const stride = fieldNames.length;
  return { stride, count: data.length / stride, fields, data };
}

// ------------------------------------------------------------------------------------------------
// Output messages: encode from plain domain objects, decode with longs folded into numbers.
// ------------------------------------------------------------------------------------------------

const toObjOpts = { longs: Number, enums: Number, defaults: true, arrays: true } as const;

function decodeOut<T>(type: protobuf.Type, bytes: Uint8Array): DecodeResult<T> {
  try {
    return { ok: true, value: type.toObject(type.decode(bytes), toObjOpts) as T };
  } catch (e) {
    return fail("E_PROTO", `protobuf decode failed: ${(e as Error).message}`);
  }
}

export const encodeFusedFrame = (f: FusedFrame): Uint8Array => PB.FusedFrame.encode(f as never).finish();
/** An absent optional message field (the OOD guard) stays absent instead of `null`. */
function dropNullGuard<T extends { guard?: unknown }>(r: DecodeResult<T>): DecodeResult<T> {
  if (r.ok && r.value.guard == null) delete r.value.guard;
  return r;
}
export const decodeFusedFrame = (b: Uint8Array) => dropNullGuard(decodeOut<FusedFrame>(PB.FusedFrame, b));
export const encodeHealthReport = (h: HealthReport): Uint8Array =>
  PB.HealthReport.encode(h as never).finish();
export const decodeHealthReport = (b: Uint8Array) =>
  dropNullGuard(decodeOut<HealthReport>(PB.HealthReport, b));
export const encodeGroundTruth = (g: GroundTruth): Uint8Array => PB.GroundTruth.encode(g as never).finish();
export const decodeGroundTruth = (b: Uint8Array) => decodeOut<GroundTruth>(PB.GroundTruth, b);
export const encodeServiceStatus = (s: ServiceStatus): Uint8Array =>
  PB.ServiceStatus.encode(s as never).finish();
export const decodeServiceStatus = (b: Uint8Array) => decodeOut<ServiceStatus>(PB.ServiceStatus, b);
