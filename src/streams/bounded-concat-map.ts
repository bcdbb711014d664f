import { Observable, type ObservableInput, type OperatorFunction, from } from "rxjs";

export interface BoundedConcatMapOptions<T> {
  /** Inputs that may wait while one is being processed. Default 1 (process the newest next). */
  capacity?: number;
  /** Called for every input dropped because the queue was full (the oldest waiting input is dropped). */
  onDrop?: (dropped: T) => void;
}

/**
 * Like concatMap, but with a bounded wait queue: when the queue is full the OLDEST waiting input is
 * dropped (and reported), so a slow stage sheds stale ticks instead of building unbounded latency.
 * Completion waits for the in-flight and queued work. An error from `project` errors the output.
 */
export function boundedConcatMap<T, R>(
  project: (value: T, index: number) => ObservableInput<R>,
  opts: BoundedConcatMapOptions<T> = {},
): OperatorFunction<T, R> {
  const capacity = opts.capacity ?? 1;
  return (source) =>
    new Observable<R>((subscriber) => {
      const queue: T[] = [];
      let active = false;
      let sourceDone = false;
      let index = 0;
      let inner: { unsubscribe(): void } | null = null;

      const runNext = () => {
        const v = queue.shift();
        if (v === undefined) {
          active = false;
          if (sourceDone) subscriber.complete();
          return;
        }
        active = true;
        let result: ObservableInput<R>;
        try {
          result = project(v, index++);
        } catch (e) {
          subscriber.error(e);
          return;
        }
        inner = from(result).subscribe({
          next: (r) => subscriber.next(r),
          error: (e) => subscriber.error(e),
          complete: () => {
            inner = null;
            runNext();
          },
        });
      };

      const sub = source.subscribe({
        next(v) {
          if (queue.length >= capacity) {
            const dropped = queue.shift() as T;
            opts.onDrop?.(dropped);
          }
          queue.push(v);
          if (!active) runNext();
        },
        error: (e) => subscriber.error(e),
        complete() {
          sourceDone = true;
          if (!active) subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        inner?.unsubscribe();
        queue.length = 0;
      };
    });
}
