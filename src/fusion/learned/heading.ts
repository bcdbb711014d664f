/** Which way along its axis a box points, from a velocity (shared by the decoder and the Doppler stage). */

/** Below this speed a velocity says nothing about the direction, m/s. */
export const HEADING_MIN_SPEED_MPS = 1;

/**
 * `yaw`, or `yaw` turned by pi when a velocity of at least `HEADING_MIN_SPEED_MPS` points against
 * it: the box's axis stays, its direction follows the motion. Result in (-pi, pi] for `yaw` there.
 */
export function alongVelocity(yaw: number, vx: number, vy: number): number {
  if (Math.hypot(vx, vy) >= HEADING_MIN_SPEED_MPS && Math.cos(yaw) * vx + Math.sin(yaw) * vy < 0)
    return yaw > 0 ? yaw - Math.PI : yaw + Math.PI;
  return yaw;
}
