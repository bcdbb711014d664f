/**
 * decode: throughput of decoding + validating a nuScenes-sized LiDAR sweep (34,720 points x 5
 * float32 fields) from protobuf bytes, against a plain memory copy of the same bytes (baseline,
 * same run). Also the same sweep as an unaligned view (forces the copy path).
 */
import type { BenchOptions } from "../src/cli/bench.ts";
import { decodeSensorMessage, encodeSensorMessage, packed } from "../src/msg/codec.ts";
import { median, p99 } from "./_stats.ts";

function sweep(): Uint8Array {
  const n = 34_720;
  const data = new Float32Array(n * 5);
  for (let i = 0; i < n; i++) {
    const a = (i / n) * 2 * Math.PI * 32;
    const r = 5 + (i % 97);
    data.set(
      [r * Math.cos(a), r * Math.sin(a), -1.5 + (i % 32) * 0.1, (i % 255) / 255, -(i / n) * 0.05],
      i * 5,
    );
  }
  return encodeSensorMessage({
    header: { vehicle: "bench", sensorId: "LIDAR_TOP", frameId: "LIDAR_TOP", stampNs: 1.7e18, seq: 1 },
    payload: {
      kind: "point_cloud",
      points: packed(["x", "y", "z", "intensity", "t"], data),
      sweepStartNs: 1.7e18 - 5e7,
    },
  });
}

function timeLoop(iters: number, fn: () => void): number {
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) fn();
  return (performance.now() - t0) / iters; // ms per op
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const bytes = sweep();
  const unaligned = new Uint8Array(bytes.byteLength + 1).subarray(1);
  unaligned.set(bytes);
  const mb = bytes.byteLength / 1e6;
  const reps = opts.quick ? 3 : 11;
  const iters = opts.quick ? 50 : 200;
  let sink = 0;
  const decodeMs: number[] = [];
  const decodeUnalignedMs: number[] = [];
  const copyMs: number[] = [];
  // warm-up
  for (let i = 0; i < 50; i++) decodeSensorMessage(bytes);
  for (let r = 0; r < reps; r++) {
    decodeMs.push(
      timeLoop(iters, () => {
        const d = decodeSensorMessage(bytes);
        if (d.ok) sink += d.value.header.seq;
      }),
    );
    decodeUnalignedMs.push(
      timeLoop(iters, () => {
        const d = decodeSensorMessage(unaligned);
        if (d.ok) sink += d.value.header.seq;
      }),
    );
    copyMs.push(
      timeLoop(iters, () => {
        const c = new Uint8Array(bytes.byteLength);
        c.set(bytes);
        sink += c[7]!;
      }),
    );
  }
  if (sink === -1) console.log(sink);
  const lidar_mb_s = mb / (median(decodeMs) / 1000);
  const copy_mb_s = mb / (median(copyMs) / 1000);
  return {
    lidar_mb_s,
    copy_mb_s,
    ratio_to_copy: lidar_mb_s / copy_mb_s,
    sweep_bytes: bytes.byteLength,
    decode_us_p50: median(decodeMs) * 1000,
    decode_us_p99: p99(decodeMs) * 1000,
    decode_unaligned_us_p50: median(decodeUnalignedMs) * 1000,
    copy_us_p50: median(copyMs) * 1000,
    repetitions: reps,
    iterations_per_repetition: iters,
  };
}
