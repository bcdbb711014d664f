/**
 * Processing-time clocks. Logic never calls Date.now(): it receives a `NowNs` function.
 * `wallNs` is the wall clock with sub-millisecond resolution (performance.timeOrigin + now()),
 * comparable with sensor stamps of live sensors and of the live simulator.
 */
export type NowNs = () => number;

export const wallNs: NowNs = () => (performance.timeOrigin + performance.now()) * 1e6;

/** A NowNs driven by an RxJS scheduler's now() (ms), for virtual time in tests. */
export const schedulerNs =
  (s: { now(): number }): NowNs =>
  () =>
    s.now() * 1e6;
