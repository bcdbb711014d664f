/**
 * Preparation worker (./prep-client.ts): rasterizes ticks into shared staging slots and clusters
 * their LiDAR for the refinement, off the main thread. Keeps the rasterizer's per-vehicle memory
 * (previous sweep), so every tick of a vehicle must come here, in order.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { RigConfig } from "../../rig/schema.ts";
import type { BevGrid } from "../bev/grid.ts";
import { type BevFrame, BevRasterizer } from "../bev/rasterize.ts";
import { type PrepReply, type PrepRequest, prepareTick, tickOfPrep } from "./prep.ts";
import { LidarRefiner, type RefineOptions } from "./refine.ts";

const cfg = workerData as { rig: RigConfig; grid: BevGrid; refine: RefineOptions | null };
const raster = new BevRasterizer(cfg.rig, cfg.grid);
const refiner = cfg.refine ? new LidarRefiner(cfg.rig, cfg.refine) : null;
const slots = new Map<number, { frame: BevFrame; points: Float32Array }>();
const port = parentPort!;
const reply = (r: PrepReply) => port.postMessage(r);

port.on("message", (m: PrepRequest) => {
  if (m.type === "slot") slots.set(m.slot, { frame: m.frame, points: m.points });
  else if (m.type === "forget") raster.forget(m.vehicle);
  else {
    try {
      const s = slots.get(m.slot);
      if (!s) throw new Error(`staging slot ${m.slot} unknown`);
      const tick = tickOfPrep(m.tick, s.points);
      reply({
        type: "done",
        id: m.id,
        clusters: prepareTick(raster, refiner, tick, m.mask, m.features, s.frame, 0),
      });
    } catch (e) {
      reply({ type: "failed", id: m.id, error: (e as Error).message });
    }
  }
});
reply({ type: "ready" });
