import assert from "node:assert/strict";
import { test } from "node:test";
import { delay, of } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { boundedConcatMap } from "../../src/streams/bounded-concat-map.ts";

const ts = () => new TestScheduler((a, e) => assert.deepEqual(a, e));

test("boundedConcatMap: processes sequentially when there is no backlog", () => {
  ts().run(({ cold, expectObservable }) => {
    const src = cold("a----b----c----|");
    const out = src.pipe(boundedConcatMap((v) => of(v.toUpperCase()).pipe(delay(2))));
    expectObservable(out).toBe("--A----B----C--|");
  });
});

test("boundedConcatMap: drops the oldest waiting input when full, and reports it", () => {
  const dropped: string[] = [];
  ts().run(({ cold, expectObservable }) => {
    // a takes 5 frames; b, c, d arrive while busy: capacity 1 keeps only the newest (d).
    const src = cold("abcd------|");
    const out = src.pipe(
      boundedConcatMap((v) => of(v.toUpperCase()).pipe(delay(5)), {
        capacity: 1,
        onDrop: (x) => dropped.push(x),
      }),
    );
    expectObservable(out).toBe("-----A----(D|)");
  });
  assert.deepEqual(dropped, ["b", "c"]);
});

test("boundedConcatMap: capacity 2 keeps two waiting inputs", () => {
  ts().run(({ cold, expectObservable }) => {
    const src = cold("abcd|");
    const out = src.pipe(boundedConcatMap((v) => of(v).pipe(delay(3)), { capacity: 2 }));
    expectObservable(out).toBe("---a--c--(d|)");
  });
});

test("boundedConcatMap: an error in project errors the output; unsubscribe tears down the inner", () => {
  ts().run(({ cold, expectObservable, expectSubscriptions }) => {
    const src = cold("a-b|");
    const out = src.pipe(
      boundedConcatMap((v) => {
        if (v === "b") throw new Error("boom");
        return of(v);
      }),
    );
    expectObservable(out).toBe("a-#", undefined, new Error("boom"));
    const src2 = cold("a---------|");
    const inner = cold("-----x|");
    expectObservable(src2.pipe(boundedConcatMap(() => inner)), "^--!").toBe("---");
    expectSubscriptions(inner.subscriptions).toBe("^--!");
  });
});
