/**
 * Constant-velocity Kalman filter in the ground plane. State x = [px, py, vx, vy] (m, m/s),
 * covariance P row-major 4x4. Measurements observe either the position (indices 0,1) or the
 * velocity (indices 2,3), each a 2-vector with a 2x2 covariance.
 */

export interface CvState {
  x: Float64Array; // (4)
  P: Float64Array; // (4, 4) row-major
}

export function cvInit(
  px: number,
  py: number,
  vx: number,
  vy: number,
  pos: [number, number, number],
  vel: [number, number, number],
): CvState {
  const P = new Float64Array(16);
  P[0] = pos[0];
  P[1] = P[4] = pos[1];
  P[5] = pos[2];
  P[10] = vel[0];
  P[11] = P[14] = vel[1];
  P[15] = vel[2];
  return { x: Float64Array.of(px, py, vx, vy), P };
}

const tmp = new Float64Array(16);

/** Predict by dt seconds with white-acceleration noise of std q (m/s^2). */
export function cvPredict(s: CvState, dt: number, q: number): void {
  if (dt <= 0) return;
  const x = s.x;
  const P = s.P;
  x[0]! += dt * x[2]!;
  x[1]! += dt * x[3]!;
  // tmp = F P  (F = I + dt * E, E moves rows 2,3 into rows 0,1)
  for (let c = 0; c < 4; c++) {
    tmp[c] = P[c]! + dt * P[8 + c]!;
    tmp[4 + c] = P[4 + c]! + dt * P[12 + c]!;
    tmp[8 + c] = P[8 + c]!;
    tmp[12 + c] = P[12 + c]!;
  }
  // P = tmp F^T
  for (let r = 0; r < 4; r++) {
    const o = 4 * r;
    P[o] = tmp[o]! + dt * tmp[o + 2]!;
    P[o + 1] = tmp[o + 1]! + dt * tmp[o + 3]!;
    P[o + 2] = tmp[o + 2]!;
    P[o + 3] = tmp[o + 3]!;
  }
  const q2 = q * q;
  const a = (q2 * dt ** 4) / 4;
  const b = (q2 * dt ** 3) / 2;
  const c = q2 * dt * dt;
  P[0]! += a;
  P[5]! += a;
  P[2]! += b;
  P[8]! += b;
  P[7]! += b;
  P[13]! += b;
  P[10]! += c;
  P[15]! += c;
}

/** Innovation of a 2-vector measurement at index i (0 = position, 2 = velocity): [y0, y1, S00, S01, S11]. */
export function cvInnovation(
  s: CvState,
  i: number,
  z0: number,
  z1: number,
  r00: number,
  r01: number,
  r11: number,
): [number, number, number, number, number] {
  const P = s.P;
  return [z0 - s.x[i]!, z1 - s.x[i + 1]!, P[5 * i]! + r00, P[5 * i + 1]! + r01, P[5 * i + 5]! + r11];
}

/** Squared Mahalanobis distance of a 2-vector innovation. */
export function mahalanobis2(y0: number, y1: number, s00: number, s01: number, s11: number): number {
  const det = s00 * s11 - s01 * s01;
  if (!(det > 0)) return Number.POSITIVE_INFINITY;
  return (s11 * y0 * y0 - 2 * s01 * y0 * y1 + s00 * y1 * y1) / det;
}

const K = new Float64Array(8);
const HP = new Float64Array(8);

/** Kalman update with a 2-vector measurement of components (i, i+1). */
export function cvUpdate(
  s: CvState,
  i: number,
  z0: number,
  z1: number,
  r00: number,
  r01: number,
  r11: number,
): void {
  const [y0, y1, s00, s01, s11] = cvInnovation(s, i, z0, z1, r00, r01, r11);
  const det = s00 * s11 - s01 * s01;
  if (!(det > 0)) return;
  const i00 = s11 / det;
  const i01 = -s01 / det;
  const i11 = s00 / det;
  const P = s.P;
  // K = P H^T S^-1  (4x2); P H^T = columns i, i+1 of P
  for (let r = 0; r < 4; r++) {
    const a = P[4 * r + i]!;
    const b = P[4 * r + i + 1]!;
    K[2 * r] = a * i00 + b * i01;
    K[2 * r + 1] = a * i01 + b * i11;
  }
  for (let c = 0; c < 4; c++) {
    HP[c] = P[4 * i + c]!;
    HP[4 + c] = P[4 * (i + 1) + c]!;
  }
  for (let r = 0; r < 4; r++) {
    s.x[r]! += K[2 * r]! * y0 + K[2 * r + 1]! * y1;
    for (let c = 0; c < 4; c++) P[4 * r + c]! -= K[2 * r]! * HP[c]! + K[2 * r + 1]! * HP[4 + c]!;
  }
  // keep P symmetric against round-off
  for (let r = 0; r < 4; r++)
    for (let c = r + 1; c < 4; c++) {
      const m = 0.5 * (P[4 * r + c]! + P[4 * c + r]!);
      P[4 * r + c] = m;
      P[4 * c + r] = m;
    }
}

const PHt = new Float64Array(8);

/**
 * Innovation of a position measured `dt` seconds from the state time (z = p + dt * v; dt <= 0 for
 * a measurement older than the state): [y0, y1, S00, S01, S11].
 */
export function cvInnovationAt(
  s: CvState,
  dt: number,
  z0: number,
  z1: number,
  r00: number,
  r01: number,
  r11: number,
): [number, number, number, number, number] {
  if (dt === 0) return cvInnovation(s, 0, z0, z1, r00, r01, r11);
  const P = s.P;
  const x = s.x;
  // H P H^T with H = [I, dt I]
  const s00 = P[0]! + 2 * dt * P[2]! + dt * dt * P[10]! + r00;
  const s01 = P[1]! + dt * (P[3]! + P[9]!) + dt * dt * P[11]! + r01;
  const s11 = P[5]! + 2 * dt * P[7]! + dt * dt * P[15]! + r11;
  return [z0 - x[0]! - dt * x[2]!, z1 - x[1]! - dt * x[3]!, s00, s01, s11];
}

/** Kalman update with a position measured `dt` seconds from the state time (z = p + dt * v). */
export function cvUpdateAt(
  s: CvState,
  dt: number,
  z0: number,
  z1: number,
  r00: number,
  r01: number,
  r11: number,
): void {
  if (dt === 0) {
    cvUpdate(s, 0, z0, z1, r00, r01, r11);
    return;
  }
  const [y0, y1, s00, s01, s11] = cvInnovationAt(s, dt, z0, z1, r00, r01, r11);
  const det = s00 * s11 - s01 * s01;
  if (!(det > 0)) return;
  const i00 = s11 / det;
  const i01 = -s01 / det;
  const i11 = s00 / det;
  const P = s.P;
  // P H^T (4x2): columns P[:,0] + dt P[:,2] and P[:,1] + dt P[:,3]
  for (let r = 0; r < 4; r++) {
    PHt[2 * r] = P[4 * r]! + dt * P[4 * r + 2]!;
    PHt[2 * r + 1] = P[4 * r + 1]! + dt * P[4 * r + 3]!;
  }
  for (let r = 0; r < 4; r++) {
    const a = PHt[2 * r]!;
    const b = PHt[2 * r + 1]!;
    K[2 * r] = a * i00 + b * i01;
    K[2 * r + 1] = a * i01 + b * i11;
  }
  // H P (2x4) = (P H^T)^T
  for (let c = 0; c < 4; c++) {
    HP[c] = PHt[2 * c]!;
    HP[4 + c] = PHt[2 * c + 1]!;
  }
  for (let r = 0; r < 4; r++) {
    s.x[r]! += K[2 * r]! * y0 + K[2 * r + 1]! * y1;
    for (let c = 0; c < 4; c++) P[4 * r + c]! -= K[2 * r]! * HP[c]! + K[2 * r + 1]! * HP[4 + c]!;
  }
  for (let r = 0; r < 4; r++)
    for (let c = r + 1; c < 4; c++) {
      const m = 0.5 * (P[4 * r + c]! + P[4 * c + r]!);
      P[4 * r + c] = m;
      P[4 * c + r] = m;
    }
}
