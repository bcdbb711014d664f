/**
 * The ONNX model contract: exported models describe themselves in `metadata_props` (written by
 * train/export.py; the constants of both sides come from src/fusion/model-contract.json, read here
 * through ../model-contract.ts and in Python by train/contract.py). onnxruntime-node does not expose metadata, so
 * this module reads it from the ModelProto bytes (a top-level scan: field 14 = metadata_props, each
 * a StringStringEntryProto {1: key, 2: value}) and checks it against what the rasterizer produces.
 */
import { readFileSync } from "node:fs";
import {
  BEV_VERSION,
  type BevGrid,
  CHANNELS,
  EGO_FEATURES,
  gridEquals,
  HEALTH_FEATURES,
} from "../bev/grid.ts";
import { MODEL_CONTRACT } from "../model-contract.ts";

export const MODEL_FORMAT: string = MODEL_CONTRACT.format;
/** 3: box orientation as the axis (sin/cos of 2 yaw), see decode.ts. */
export const MODEL_VERSION: number = MODEL_CONTRACT.version;
/** Class names of the heatmap channels, ObjectClass 1..4 in order. */
export const CLASS_NAMES: readonly string[] = MODEL_CONTRACT.classes;
/** Channels of the `box` output, in order (decode.ts reads them by these positions). */
export const BOX_CHANNELS: readonly string[] = MODEL_CONTRACT.box_channels;
/** Inputs a model may declare; the engine feeds those the model lists. */
export const INPUT_NAMES: readonly string[] = MODEL_CONTRACT.input_names;
/** Outputs every model has. */
export const OUTPUT_NAMES: readonly string[] = MODEL_CONTRACT.output_names;
export type InputName = string;

export class ModelContractError extends Error {
  readonly code = "E_MODEL";
  constructor(path: string, msg: string) {
    super(`model ${path}: ${msg}`);
  }
}

export interface ModelContract {
  name: string;
  mode: "intermediate" | "late";
  /** Modalities the model reads. */
  modalities: string[];
  inputs: { name: InputName; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
  grid: BevGrid;
  classes: string[];
  /** Output cell = outStride raster cells. */
  outStride: number;
  /** Output heatmap rows / cols. */
  outRows: number;
  outCols: number;
  /**
   * When the model places LiDAR-seen objects: `lidar_observation` = where the spinning LiDAR saw
   * them (the decoder hands the sweep time offset to the tracker as `dtS`), `tick` = at the tick.
   */
  targetTime: TargetTime;
  meta: Record<string, string>;
}

export interface TargetTime {
  convention: "tick" | "lidar_observation";
  /** Spin direction seen from above, and the azimuth (LiDAR frame) where a sweep starts. */
  rotation: "cw" | "ccw";
  sweep_start_azimuth_rad: number;
}

/** Read one protobuf varint at `pos.p` (advanced past it). */
function varint(buf: Uint8Array, pos: { p: number }): number {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (pos.p >= buf.length) throw new Error("truncated varint");
    const b = buf[pos.p++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) return v;
    mul *= 128;
  }
}

/** One top-level protobuf field: its number, its bytes [start, end) and, when length-delimited, its body. */
export interface ProtoField {
  field: number;
  start: number;
  end: number;
  body: Uint8Array | null;
}

/** The top-level fields of a protobuf message, in order. Throws on malformed protobuf. */
export function* protoFields(buf: Uint8Array): Generator<ProtoField> {
  const pos = { p: 0 };
  while (pos.p < buf.length) {
    const start = pos.p;
    const tag = varint(buf, pos);
    const wt = tag & 7;
    let body: Uint8Array | null = null;
    if (wt === 0) varint(buf, pos);
    else if (wt === 1) pos.p += 8;
    else if (wt === 5) pos.p += 4;
    else if (wt === 2) {
      const len = varint(buf, pos);
      body = buf.subarray(pos.p, pos.p + len);
      pos.p += len;
    } else throw new Error(`unsupported wire type ${wt}`);
    if (pos.p > buf.length) throw new Error("truncated field");
    yield { field: Math.floor(tag / 8), start, end: pos.p, body };
  }
}

/** ModelProto's metadata_props field number. */
export const ONNX_METADATA_FIELD = 14;

/** Key and value of a StringStringEntryProto body (one metadata_props entry). */
export function metadataEntry(body: Uint8Array): { key: string; value: string } {
  const dec = new TextDecoder();
  let key = "";
  let value = "";
  for (const f of protoFields(body)) {
    if (f.field === 1 && f.body) key = dec.decode(f.body);
    else if (f.field === 2 && f.body) value = dec.decode(f.body);
  }
  return { key, value };
}

/** Parse metadata_props of an ONNX ModelProto. Throws on malformed protobuf. */
export function readOnnxMetadata(buf: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of protoFields(buf)) {
    if (f.field !== ONNX_METADATA_FIELD || !f.body) continue;
    const { key, value } = metadataEntry(f.body);
    out[key] = value;
  }
  return out;
}

function json<T>(path: string, meta: Record<string, string>, key: string): T {
  const v = meta[key];
  if (v === undefined)
    throw new ModelContractError(path, `metadata '${key}' missing (not exported by train/export.py?)`);
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new ModelContractError(path, `metadata '${key}' is not valid JSON`);
  }
}

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Read and check a model file's contract against this build's rasterizer and decoder. */
export function loadModelContract(path: string, expectGrid: BevGrid): ModelContract {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new ModelContractError(path, `cannot read (${(e as Error).message})`);
  }
  let meta: Record<string, string>;
  try {
    meta = readOnnxMetadata(buf);
  } catch (e) {
    throw new ModelContractError(path, `not an ONNX model (${(e as Error).message})`);
  }
  return checkContract(path, meta, expectGrid);
}

export function checkContract(
  path: string,
  meta: Record<string, string>,
  expectGrid: BevGrid,
): ModelContract {
  if (meta["format"] !== MODEL_FORMAT)
    throw new ModelContractError(
      path,
      `metadata 'format' is ${JSON.stringify(meta["format"])}, expected '${MODEL_FORMAT}'`,
    );
  if (Number(meta["version"]) !== MODEL_VERSION)
    throw new ModelContractError(
      path,
      `metadata 'version' is ${meta["version"]}, this service reads version ${MODEL_VERSION}`,
    );
  if (Number(meta["bev_version"]) !== BEV_VERSION)
    throw new ModelContractError(
      path,
      `metadata 'bev_version' is ${meta["bev_version"]}, the rasterizer is version ${BEV_VERSION}`,
    );
  const mode = meta["mode"];
  if (mode !== "intermediate" && mode !== "late")
    throw new ModelContractError(path, `metadata 'mode' is ${JSON.stringify(mode)}`);
  const grid = json<BevGrid>(path, meta, "bev_grid");
  if (!gridEquals(grid, expectGrid))
    throw new ModelContractError(
      path,
      `metadata 'bev_grid' ${JSON.stringify(grid)} differs from the rasterizer's ${JSON.stringify(expectGrid)}`,
    );
  const channels = json<Record<string, string[]>>(path, meta, "channels");
  for (const m of ["lidar", "radar", "camera"] as const)
    if (!Array.isArray(channels[m]) || !sameList(channels[m], CHANNELS[m]))
      throw new ModelContractError(
        path,
        `metadata 'channels.${m}' differs from the rasterizer's ${CHANNELS[m].join(",")}`,
      );
  if (!sameList(json<string[]>(path, meta, "ego_features"), EGO_FEATURES))
    throw new ModelContractError(path, `metadata 'ego_features' differs from ${EGO_FEATURES.join(",")}`);
  if (!sameList(json<string[]>(path, meta, "health_features"), HEALTH_FEATURES))
    throw new ModelContractError(
      path,
      `metadata 'health_features' differs from ${HEALTH_FEATURES.join(",")}`,
    );
  const classes = json<string[]>(path, meta, "classes");
  if (!sameList(classes, CLASS_NAMES))
    throw new ModelContractError(
      path,
      `metadata 'classes' ${classes.join(",")} differs from ${CLASS_NAMES.join(",")}`,
    );
  if (!sameList(json<string[]>(path, meta, "box_channels"), BOX_CHANNELS))
    throw new ModelContractError(path, `metadata 'box_channels' differs from ${BOX_CHANNELS.join(",")}`);
  const inputs = json<{ name: InputName; shape: number[] }[]>(path, meta, "inputs");
  for (const i of inputs)
    if (!(INPUT_NAMES as readonly string[]).includes(i.name))
      throw new ModelContractError(path, `metadata 'inputs' names unknown input '${i.name}'`);
  const outputs = json<{ name: string; shape: number[] }[]>(path, meta, "outputs");
  const heat = outputs.find((o) => o.name === "heatmap");
  if (!OUTPUT_NAMES.every((n) => outputs.some((o) => o.name === n)) || !heat)
    throw new ModelContractError(path, `metadata 'outputs' must list ${OUTPUT_NAMES.join(", ")}`);
  const outStride = Number(meta["out_stride"]);
  if (!(outStride > 0) || grid.rows % outStride !== 0 || heat.shape[2] !== grid.rows / outStride)
    throw new ModelContractError(
      path,
      `metadata 'out_stride' ${meta["out_stride"]} does not fit the heatmap shape`,
    );
  const config = json<{ modalities: string[] }>(path, meta, "config");
  const tt = json<Partial<TargetTime>>(path, meta, "target_time");
  if (
    (tt.convention !== "tick" && tt.convention !== "lidar_observation") ||
    (tt.rotation !== "cw" && tt.rotation !== "ccw") ||
    !Number.isFinite(tt.sweep_start_azimuth_rad)
  )
    throw new ModelContractError(
      path,
      `metadata 'target_time' needs convention tick|lidar_observation, rotation cw|ccw and sweep_start_azimuth_rad`,
    );
  return {
    name: meta["name"] ?? "unnamed",
    mode,
    modalities: config.modalities,
    inputs,
    outputs,
    grid,
    classes,
    outStride,
    outRows: grid.rows / outStride,
    outCols: grid.cols / outStride,
    targetTime: tt as TargetTime,
    meta,
  };
}
