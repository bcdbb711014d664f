/** Float32Pool (src/util/float-pool.ts): reuse, detaching on give-back, and its bounds. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Float32Pool } from "../../src/util/float-pool.ts";

describe("Float32Pool", () => {
  test("a given-back buffer serves the next take, and the giver's view reads as empty", () => {
    const pool = new Float32Pool({ maxFree: 2, minFloats: 16 });
    const a = pool.take(100);
    assert.equal(a.length, 100);
    a.fill(7);
    pool.give(a);
    assert.equal(a.length, 0, "detached: a late reader sees nothing, not another sweep");
    const b = pool.take(110); // fits in the 25 % headroom of the first buffer
    assert.equal(b.length, 110);
    assert.equal(b[0], 7, "same memory, not a new allocation");
    assert.deepEqual(pool.stats, { reused: 1, allocated: 1, returned: 1, dropped: 0 });
  });

  test("the smallest free buffer that fits is taken; none fits: a new one", () => {
    const pool = new Float32Pool({ maxFree: 4, minFloats: 16 });
    const small = pool.take(100);
    const big = pool.take(1000);
    pool.give(big);
    pool.give(small);
    assert.equal(pool.take(90).buffer.byteLength, 125 * 4, "the small one");
    assert.equal(pool.take(900).buffer.byteLength, 1250 * 4, "the big one");
    assert.equal(pool.take(2000).buffer.byteLength, 2500 * 4, "nothing free fits: allocated");
    assert.equal(pool.stats.allocated, 3);
  });

  test("bounded: beyond maxFree, small buffers and offset views are left to the GC, counted", () => {
    const pool = new Float32Pool({ maxFree: 1, minFloats: 16 });
    const a = pool.take(100);
    const b = pool.take(100);
    pool.give(a);
    pool.give(b); // pool full
    assert.equal(pool.size, 1);
    assert.equal(b.length, 100, "not pooled, not detached");
    pool.give(new Float32Array(8)); // too small to pool
    pool.give(new Float32Array(new ArrayBuffer(4000), 4, 100)); // not the buffer's start
    assert.equal(pool.stats.dropped, 3);
    const s = pool.take(8);
    assert.equal(s.length, 8, "below minFloats: a plain array");
  });
});
