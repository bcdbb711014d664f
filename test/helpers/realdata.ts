/**
 * The genuine dataset files of ../shared/realdata (MANIFEST.md there). CI has ../shared beside its
 * clone; a user's fresh clone does not: tests that need it skip with one clear line, except under
 * CI=true, where its absence is a failure.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const REALDATA = fileURLToPath(new URL("../../../shared/realdata/", import.meta.url));
export const NUSC_ROOT = `${REALDATA}nuscenes/Dororo99__nuScenes-Minimal-Visualization/data/`;
export const NUSC_TABLES = `${NUSC_ROOT}v1.0-mini-extract`;
export const KITTI_OBJECT = `${REALDATA}kitti_object/kuixu__kitti_object_vis/data/object/training/`;
export const KITTI_RAW_DRIVE = `${REALDATA}kitti_raw/JarnoRalli__python_camera_library/test_data/kitti/2011_09_26_drive_0001_sync/2011_09_26/2011_09_26_drive_0001_sync/`;
export const KITTI_RAW_CALIB = `${REALDATA}kitti_raw/JarnoRalli__python_camera_library/test_data/kitti/2011_09_26_calib/2011_09_26/`;

/** `skip` option of a describe() over real data: false when present; a one-line reason when not. */
export function realdataSkip(): false | string {
  if (existsSync(NUSC_TABLES)) return false;
  if (process.env.CI === "true")
    throw new Error(
      `../shared/realdata is absent under CI=true (expected ${REALDATA}): CI has ../shared beside its clone`,
    );
  return "../shared/realdata absent (fresh clone): real-data tests skipped";
}
