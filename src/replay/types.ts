/** What a replay source yields, in time order, and how it reports skipped files. */
import type { GroundTruth, SensorMessage } from "../msg/types.ts";

/** Per-box extras the evaluation needs beyond the wire GroundTruth (same order as truth.objects). */
export interface TruthExtra {
  /** false: a class the project does not model (an ignore region in the evaluation). */
  modelled: boolean;
  /** Source category name (nuScenes category, KITTI type). */
  category: string;
  /** LiDAR points and radar returns in the box, when the dataset counts them; null = unknown. */
  numPoints: number | null;
}

export type ReplayItem =
  | { kind: "sensor"; tNs: number; msg: SensorMessage }
  | { kind: "truth"; tNs: number; truth: GroundTruth; extra: TruthExtra[] }
  /** Already-encoded payload (MCAP playback): published as is. */
  | { kind: "raw"; tNs: number; topic: string; payload: Uint8Array };

/** Files skipped during a replay: each named once (by `warn`), all counted. */
export class SkipLog {
  readonly files = new Map<string, string>();
  constructor(private readonly warn: (line: string) => void = () => {}) {}
  skip(path: string, reason: string): void {
    if (this.files.has(path)) return;
    this.files.set(path, reason);
    this.warn(`skipped ${path}: ${reason}`);
  }
  /** A file inside an absent folder: the folder is named once, the file counted. */
  skipIn(folder: string, path: string, reason: string): void {
    if (this.files.has(path)) return;
    this.files.set(path, reason);
    const n = (this.folders.get(folder) ?? 0) + 1;
    this.folders.set(folder, n);
    if (n === 1) this.warn(`skipped ${folder}: ${reason} (every file in it is counted as skipped)`);
  }
  /** Absent folders and how many skipped files each held. */
  readonly folders = new Map<string, number>();
  get count(): number {
    return this.files.size;
  }
}

export interface ReplaySource {
  /** One line: what is replayed. */
  readonly description: string;
  /** Camera input: "derived:annotations", "images", or "none". */
  readonly cameraInput: string;
  readonly skipped: SkipLog;
  /** Log time covered by one pass, s, when known before playing (progress bar total). */
  logSpanS?(): number | null;
  /** Items in time order; files are read lazily as the iterator advances. */
  items(): Iterable<ReplayItem>;
}
