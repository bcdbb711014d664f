/**
 * The learned models' contract constants (raster grid and channels, classes, box channels, feature
 * lists, input and output names, versions), read from ./model-contract.json: the one file that
 * TypeScript (this module) and Python (train/contract.py) both read. test/train/contract.test.ts
 * fails when the two sides differ from it. The names are re-exported where they were used before
 * (bev/grid.ts, learned/contract.ts).
 *
 * A malformed file fails at load with the field that is wrong.
 */
import { readFileSync } from "node:fs";

export const MODEL_CONTRACT_PATH = new URL("./model-contract.json", import.meta.url);

export interface ModelContractConstants {
  format: string;
  version: number;
  bev_version: number;
  grid: { xMinM: number; yMinM: number; cellM: number; rows: number; cols: number };
  modalities: readonly ["lidar", "radar", "camera"];
  channels: Readonly<Record<"lidar" | "radar" | "camera", readonly string[]>>;
  classes: readonly string[];
  ego_features: readonly string[];
  health_features: readonly string[];
  box_channels: readonly string[];
  out_stride: number;
  input_names: readonly string[];
  output_names: readonly string[];
}

function fail(field: string, want: string): never {
  throw new Error(`${MODEL_CONTRACT_PATH.pathname}: '${field}' must be ${want}`);
}

const strings = (v: unknown, field: string): readonly string[] => {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "string"))
    fail(field, "a non-empty list of strings");
  return Object.freeze([...v]);
};
const int = (v: unknown, field: string): number => {
  if (!Number.isInteger(v) || (v as number) < 0) fail(field, "a non-negative integer");
  return v as number;
};

/** Parse and check the contract file's text. */
export function parseModelContract(text: string): ModelContractConstants {
  const j = JSON.parse(text) as Record<string, unknown>;
  if (typeof j["format"] !== "string") fail("format", "a string");
  const g = j["grid"] as Record<string, unknown> | undefined;
  const num = (k: string) => {
    const v = g?.[k];
    if (typeof v !== "number" || !Number.isFinite(v)) fail(`grid.${k}`, "a number");
    return v;
  };
  const mods = strings(j["modalities"], "modalities");
  if (mods.join() !== "lidar,radar,camera") fail("modalities", "lidar, radar, camera (raster order)");
  const ch = (j["channels"] ?? {}) as Record<string, unknown>;
  const channels = Object.freeze({
    lidar: strings(ch["lidar"], "channels.lidar"),
    radar: strings(ch["radar"], "channels.radar"),
    camera: strings(ch["camera"], "channels.camera"),
  });
  if (channels.radar.length !== channels.lidar.length || channels.camera.length !== channels.lidar.length)
    fail("channels", "lists of one length (one raster shape for every modality)");
  return Object.freeze({
    format: j["format"] as string,
    version: int(j["version"], "version"),
    bev_version: int(j["bev_version"], "bev_version"),
    grid: Object.freeze({
      xMinM: num("xMinM"),
      yMinM: num("yMinM"),
      cellM: num("cellM"),
      rows: int(g?.["rows"], "grid.rows"),
      cols: int(g?.["cols"], "grid.cols"),
    }),
    modalities: mods as ModelContractConstants["modalities"],
    channels,
    classes: strings(j["classes"], "classes"),
    ego_features: strings(j["ego_features"], "ego_features"),
    health_features: strings(j["health_features"], "health_features"),
    box_channels: strings(j["box_channels"], "box_channels"),
    out_stride: int(j["out_stride"], "out_stride"),
    input_names: strings(j["input_names"], "input_names"),
    output_names: strings(j["output_names"], "output_names"),
  });
}

export const MODEL_CONTRACT: ModelContractConstants = parseModelContract(
  readFileSync(MODEL_CONTRACT_PATH, "utf8"),
);
