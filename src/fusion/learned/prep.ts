/**
 * A tick's model inputs: rasterization (BEV planes) and the LiDAR clusters of the refinement stage.
 * One function, run on the main thread or in the preparation worker (./prep-client.ts), so both
 * give the same inputs.
 */
import type { AlignedTick } from "../../align/types.ts";
import type { BevFrame, BevRasterizer, ModalityMask } from "../bev/rasterize.ts";
import type { LidarCluster } from "../lidar/cluster.ts";
import type { FusionInputs } from "../types.ts";
import type { LidarRefiner } from "./refine.ts";

export function prepareTick(
  raster: BevRasterizer,
  refiner: LidarRefiner | null,
  tick: AlignedTick,
  mask: ModalityMask,
  features: FusionInputs["features"] | null,
  frame: BevFrame,
  b: number,
): LidarCluster[] | null {
  raster.rasterize(tick, mask, features, frame, b);
  return refiner && mask.lidar ? refiner.cluster(tick) : null;
}

/** What the preparation worker needs of a tick (no pixels, LiDAR points in shared memory). */
export type PrepTick = Omit<AlignedTick, "lidar" | "cameras" | "diagnostics" | "egoOrigin"> & {
  lidar: { count: number; stride: number; fields: Record<string, number> } | null;
  cameras: Omit<AlignedTick["cameras"][number], "image">[];
};

export function prepTickOf(tick: AlignedTick): PrepTick {
  return {
    vehicle: tick.vehicle,
    seq: tick.seq,
    stampNs: tick.stampNs,
    trigger: tick.trigger,
    inputs: tick.inputs,
    ego: tick.ego,
    reset: tick.reset,
    lidar: tick.lidar
      ? { count: tick.lidar.count, stride: tick.lidar.stride, fields: tick.lidar.fields }
      : null,
    radar: tick.radar,
    cameras: tick.cameras.map(({ image: _image, ...c }) => c),
    lastArrivalNs: tick.lastArrivalNs,
    emittedNs: tick.emittedNs,
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
