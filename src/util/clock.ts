import { asyncScheduler, type SchedulerLike } from "rxjs";
/**
 * Processing-time clocks. Logic never calls Date.now(): it receives a `NowNs` function.
 * `wallNs` is the wall clock with sub-millisecond resolution (performance.timeOrigin + now()),
 * comparable with sensor stamps of live sensors and of the live simulator.
 */
export type NowNs = () => number;

export const wallNs: NowNs = () => (performance.timeOrigin + performance.now()) * 1e6;

/**
 * An RxJS scheduler that schedules like `asyncScheduler` but whose now() is the same sub-ms wall
 * clock as `wallNs` (in ms), so that arrival stamps taken with `wallNs` and times read from the
 * scheduler inside operators are directly comparable.
 */
export const wallScheduler: SchedulerLike = {
  now: () => wallNs() / 1e6,
  schedule: asyncScheduler.schedule.bind(asyncScheduler) as SchedulerLike["schedule"],
};
