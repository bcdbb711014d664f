/**
 * A tick's model inputs: rasterization (BEV planes) and the LiDAR clusters of the refinement stage.
 * One function, run on the main thread or in the preparation worker (./prep-client.ts), so both
 * give the same inputs.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { Detection2D } from "../../msg/types.ts";
import type { BevFrame, BevRasterizer, ModalityMask, RasterTick } from "../bev/rasterize.ts";
import type { LidarCluster } from "../lidar/cluster.ts";
import type { FusionInputs } from "../types.ts";
import type { LidarRefiner } from "./refine.ts";

export function prepareTick(
  raster: BevRasterizer,
  refiner: LidarRefiner | null,
  tick: RasterTick,
  mask: ModalityMask,
  features: FusionInputs["features"] | null,
  frame: BevFrame,
  b: number,
): LidarCluster[] | null {
  raster.rasterize(tick, mask, features, frame, b);
  return refiner && mask.lidar ? refiner.cluster(tick) : null;
}

/**
 * What the preparation worker needs of a tick: what the rasterizer and the clusterer read, in a
 * form that is cheap to post (structured clone copies every object: a tick's camera detections and
 * input list as objects cost ~40-90 us per post, packed ~8-20 us; DECISIONS H7). LiDAR points go
 * through the shared staging slot; the input list only when the health features must be derived from
 * the tick (`features` null, offline).
 */
export interface PrepTick {
  vehicle: string;
  stampNs: number;
  reset?: boolean;
  ego: AlignedTick["ego"];
  inputs: AlignedTick["inputs"] | null;
  lidar: { count: number; stride: number; fields: Record<string, number> } | null;
  radar: AlignedTick["radar"];
  /** Per camera: its detections packed as [xMin, yMin, xMax, yMax, cls, score] x n. */
  cameras: { sensorId: string; width: number; height: number; boxes: Float64Array }[];
}

const BOX = 6;

export function prepTickOf(tick: AlignedTick, withInputs: boolean): PrepTick {
  return {
    vehicle: tick.vehicle,
    stampNs: tick.stampNs,
    reset: tick.reset,
    ego: tick.ego,
    inputs: withInputs ? tick.inputs : null,
    lidar: tick.lidar
      ? { count: tick.lidar.count, stride: tick.lidar.stride, fields: tick.lidar.fields }
      : null,
    radar: tick.radar,
    cameras: tick.cameras.map((c) => {
      const boxes = new Float64Array(c.detections.length * BOX);
      let o = 0;
      for (const d of c.detections) {
        boxes[o++] = d.xMin;
        boxes[o++] = d.yMin;
        boxes[o++] = d.xMax;
        boxes[o++] = d.yMax;
        boxes[o++] = d.cls;
        boxes[o++] = d.score;
      }
      return { sensorId: c.sensorId, width: c.width, height: c.height, boxes };
    }),
  };
}

/** The tick the rasterizer and clusterer read, rebuilt in the worker around the slot's points. */
export function tickOfPrep(p: PrepTick, points: Float32Array): RasterTick {
  const l = p.lidar;
  return {
    vehicle: p.vehicle,
    stampNs: p.stampNs,
    reset: p.reset,
    ego: p.ego,
    inputs: p.inputs ?? [],
    lidar: l ? { ...l, data: points.subarray(0, l.count * l.stride) } : null,
    radar: p.radar,
    cameras: p.cameras.map((c) => {
      const detections: Detection2D[] = [];
      for (let o = 0; o < c.boxes.length; o += BOX) {
        const b = c.boxes;
        detections.push({
          xMin: b[o]!,
          yMin: b[o + 1]!,
          xMax: b[o + 2]!,
          yMax: b[o + 3]!,
          cls: b[o + 4]! as Detection2D["cls"],
          score: b[o + 5]!,
        });
      }
      return { sensorId: c.sensorId, stampNs: p.stampNs, width: c.width, height: c.height, detections };
    }),
  };
}

/** Messages to the preparation worker. */
export type PrepRequest =
  | { type: "slot"; slot: number; frame: BevFrame; points: Float32Array }
  | {
      type: "prep";
      id: number;
      slot: number;
      tick: PrepTick;
      mask: ModalityMask;
      features: FusionInputs["features"] | null;
    }
  | { type: "forget"; vehicle: string };

/** Replies of the preparation worker. */
export type PrepReply =
  | { type: "ready" }
  | { type: "done"; id: number; clusters: LidarCluster[] | null }
  | { type: "failed"; id: number; error: string };
