/**
 * Dataset export from real logs (train/real-dataset.ts): the fixture log's samples and boxes in the
 * vehicle frame, the files train/data.py reads, and on the genuine scene-0523 the val / test split
 * (disjoint halves, the test half never exported by default).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { openLogs } from "../../src/eval/real-command.ts";
import { scoreFrame, TruthIndex } from "../../src/eval/real.ts";
import type { AlignedTick } from "../../src/align/types.ts";
import { exportRealDataset } from "../../train/real-dataset.ts";
import { NUSC_ROOT, realdataSkip } from "../helpers/realdata.ts";

const NS_FIX = fileURLToPath(new URL("../fixtures/nuscenes", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "real-dataset-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Index {
  count: number;
  summary: { split: string; samples: number; source: string };
  samples: { stampNs: number; objects: number; split: string }[];
}
const index = (d: string): Index => JSON.parse(readFileSync(join(d, "index.json"), "utf8")) as Index;
const BOX_COLS = 13;

describe("real-log dataset export", () => {
  it("the fixture log: one sample per annotated instant with a tick, boxes where the evaluation puts them", async () => {
    const out = join(dir, "fx");
    const s = await exportRealDataset({ data: `nuscenes:${NS_FIX}`, split: "all", outDir: out });
    // 3 annotated samples; sample 2's LiDAR file is truncated: no tick there, not exported
    assert.equal(s.samples, 2);
    assert.equal(s.source, "nuscenes:nuscenes", "the folder name, never this machine's path");
    for (const role of ["train", "val"]) {
      const d = join(out, role);
      const ix = index(d);
      assert.equal(ix.count, 2);
      const offsets = new BigInt64Array(new Uint8Array(readFileSync(join(d, "offsets.i64"))).buffer);
      assert.equal(offsets.length, 3);
      const nnz = Number(offsets[2]);
      assert.ok(nnz > 100, `non-zero raster cells ${nnz}`);
      assert.equal(statSync(join(d, "sparse_val.f32")).size, nnz * 4);
      const boxes = new Float32Array(new Uint8Array(readFileSync(join(d, "boxes.f32"))).buffer);
      assert.equal(boxes.length, 2 * BOX_COLS, "the one modelled car with points, in each sample");
    }
    // The box is the truth the evaluation scores, in the same vehicle frame (the cone is an
    // unmodelled class: not a training box).
    const boxes = new Float32Array(new Uint8Array(readFileSync(join(out, "train", "boxes.f32"))).buffer);
    const [run] = openLogs(`nuscenes:${NS_FIX}`, "derived");
    const ti = new TruthIndex(run!.rig, run!.items);
    const first = ti.instants()[0]!;
    const scored = scoreFrame({ lidar: null } as unknown as AlignedTick, first.truth, first.extra, [], 50);
    assert.equal(scored.frame.truth.length, 1);
    const g = scored.frame.truth[0]!;
    assert.equal(boxes[1], g.cls);
    assert.ok(
      Math.abs(boxes[2]! - g.x) < 1e-3 && Math.abs(boxes[3]! - g.y) < 1e-3,
      `${boxes[2]},${boxes[3]} vs ${g.x},${g.y}`,
    );
  });

  it("scene-0523: val and test are the two disjoint halves of the annotated instants", {
    skip: realdataSkip(),
  }, async () => {
    const val = await exportRealDataset({
      data: `nuscenes:${NUSC_ROOT}#scene-0523`,
      split: "val",
      outDir: join(dir, "v"),
    });
    const test = await exportRealDataset({
      data: `nuscenes:${NUSC_ROOT}#scene-0523`,
      split: "test",
      outDir: join(dir, "t"),
    });
    assert.equal(val.samples, 20);
    assert.equal(test.samples, 20);
    const vs = index(join(dir, "v", "train")).samples.map((x) => x.stampNs);
    const ts = index(join(dir, "t", "train")).samples.map((x) => x.stampNs);
    assert.ok(Math.max(...vs) < Math.min(...ts), "val is the first half in time");
    const boxes = new Float32Array(new Uint8Array(readFileSync(join(dir, "v", "train", "boxes.f32"))).buffer);
    const n = boxes.length / BOX_COLS;
    assert.ok(n > 100, `boxes ${n}`);
    const classes = new Set<number>();
    for (let i = 0; i < n; i++) classes.add(boxes[i * BOX_COLS + 1]!);
    assert.ok(classes.has(1) && classes.has(2) && classes.has(3), `classes ${[...classes]}`);
  });
});
