/**
 * Ego-state EKF on GNSS and IMU in a local ENU frame (origin at the first fix).
 *
 * State (8): [px, py, yaw, v, w, a, bg, ba] — position of the vehicle origin in ENU (m), heading
 * (rad, CCW from east), forward speed (m/s), yaw rate (rad/s), forward acceleration (m/s^2), gyro
 * z bias (rad/s) and forward accelerometer bias (m/s^2), both random walks. Motion model:
 * constant turn rate and acceleration (CTRA, midpoint Euler), so the filter dead-reckons through
 * GNSS outages with covariance growing with the process noise. IMU samples are *measurements* of
 * w and a (not control inputs): the filter keeps running, with growing uncertainty, if the IMU dies
 * too. GNSS gives position (with lever arm) and, when present, ENU ground velocity.
 *
 * Time: the filter only moves forward. Measurements are fed in stamp order (the collector sorts
 * them); one older than the filter time is refused (returns false) and counted by the caller.
 * A short pose history allows motion compensation at past instants (radar stamps, LiDAR points).
 */
import type { EgoState, FixType } from "../msg/types.ts";
import { type GeoOrigin, geodeticToEnu } from "./geo.ts";
import { type Mat3, matVec, type Planar, type Vec3, wrapAngle } from "./geometry.ts";

const N = 8;
const PX = 0;
const PY = 1;
const YAW = 2;
const V = 3;
const W = 4;
const ACC = 5;
const BG = 6;
const BA = 7;

export interface EgoParams {
  /** GNSS antenna position in the vehicle frame, m. */
  gnssLeverM: Vec3;
  /** Vehicle from IMU rotation (row-major 3x3). */
  imuRotation: Mat3;
  /** Gyro white noise, rad/s (1 sigma per sample). */
  gyroStdRadps: number;
  /** Accelerometer white noise, m/s^2 (1 sigma per sample). */
  accelStdMps2: number;
  /** GNSS horizontal position noise when the fix carries no covariance, m. */
  gnssStdM: number;
  /** GNSS velocity noise, m/s. */
  gnssVelStdMps: number;
  /** Process noise: yaw acceleration, rad/s^2 (1 sigma, continuous white). */
  yawAccelStdRadps2: number;
  /** Process noise: jerk, m/s^3 (1 sigma, continuous white). */
  jerkStdMps3: number;
  /** Initial gyro bias uncertainty, rad/s (1 sigma). */
  gyroBiasStdRadps: number;
  /** Initial accelerometer bias uncertainty, m/s^2 (1 sigma). */
  accelBiasStdMps2: number;
  /** Bias random walks, per sqrt(s). */
  gyroBiasWalk: number;
  accelBiasWalk: number;
  /** Innovation gate of GNSS positions (chi-square, 2 dof); Infinity disables it. */
  gnssGateChi2: number;
  /** Innovation gate of GNSS velocities (chi-square, 2 dof). */
  gnssVelGateChi2: number;
  /** Innovation gate of IMU samples (yaw rate and forward acceleration, chi-square, 2 dof). */
  imuGateChi2: number;
  /** Relocalisation: at least this many consecutive refused GNSS fixes whose innovations agree
   *  (within `agreeSigmas` of the fix noise, plus 1 m) over at least `gnssRelocaliseS` mean the
   *  filter, not the receiver, is wrong: the filter jumps to them. One forged or corrupt fix never
   *  agrees with the next real one; a multipath episode (a constant offset for 1-4 s) ends first. */
  gnssRelocaliseAfter: number;
  gnssRelocaliseS: number;
  /** The same for IMU samples (within `agreeSigmas` of the sensor noise). */
  imuRecoverAfter: number;
  agreeSigmas: number;
  /** Pose history kept for motion compensation, entries. */
  historyLen: number;
  /** A localisation pose this far (m) from the filter's position re-initialises the filter. */
  poseResetM: number;
}

export const DEFAULT_EGO_PARAMS: EgoParams = {
  gnssLeverM: [0, 0, 0],
  imuRotation: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]),
  gyroStdRadps: 0.002,
  accelStdMps2: 0.05,
  gnssStdM: 0.5,
  gnssVelStdMps: 0.2,
  yawAccelStdRadps2: 0.5,
  jerkStdMps3: 2,
  gyroBiasStdRadps: 0.002,
  accelBiasStdMps2: 0.05,
  gyroBiasWalk: 1e-5,
  accelBiasWalk: 1e-3,
  gnssGateChi2: 16,
  gnssVelGateChi2: 100,
  imuGateChi2: 10_000,
  gnssRelocaliseAfter: 5,
  gnssRelocaliseS: 5,
  imuRecoverAfter: 20,
  agreeSigmas: 4,
  historyLen: 400,
  poseResetM: 20,
};

export interface GnssFixInput {
  latitudeDeg: number;
  longitudeDeg: number;
  altitudeM: number;
  fixType: FixType;
  covariance: number[] | null;
  velocityEN: [number, number] | null;
}

/** Planar pose sample kept in the history ring. */
interface PoseSample {
  t: number;
  x: number;
  y: number;
  yaw: number;
  v: number;
  w: number;
  a: number;
}

/** Midpoint-Euler CTRA step of a state vector (in place). */
function step(x: Float64Array | number[], dt: number): void {
  const yawM = x[YAW]! + (x[W]! * dt) / 2;
  const vM = x[V]! + (x[ACC]! * dt) / 2;
  x[PX] = x[PX]! + vM * Math.cos(yawM) * dt;
  x[PY] = x[PY]! + vM * Math.sin(yawM) * dt;
  x[YAW] = wrapAngle(x[YAW]! + x[W]! * dt);
  x[V] = x[V]! + x[ACC]! * dt;
}

export class EgoEkf {
  readonly params: EgoParams;
  /** Filter time (vehicle clock), ns; null before the first fix. */
  t: number | null = null;
  private originGeo: GeoOrigin | null = null;
  private x = new Float64Array(N);
  private P = new Float64Array(N * N);
  private z = 0;
  private yawKnown = false;
  private firstPos: { t: number; e: number; n: number } | null = null;
  private hist: PoseSample[] = [];
  private histHead = 0;
  /** Counters for diagnostics. */
  gnssUpdates = 0;
  imuUpdates = 0;
  poseUpdates = 0;
  lastGnssNs: number | null = null;
  /** GNSS position fixes refused by the innovation gate, cumulative. */
  gnssRejected = 0;
  /** GNSS velocities and IMU samples refused by their gates, cumulative. */
  gnssVelRejected = 0;
  imuRejected = 0;
  /** Jumps to a run of agreeing refused measurements (relocalisation, IMU recovery), cumulative. */
  relocalisations = 0;
  /** Consecutive refused innovations per measurement (cleared by an accepted one). */
  private runs = { pos: [] as number[][], vel: [] as number[][], imu: [] as number[][] };

  constructor(params: Partial<EgoParams> = {}) {
    this.params = { ...DEFAULT_EGO_PARAMS, ...params };
  }

  get initialized(): boolean {
    return this.t !== null;
  }

  get origin(): GeoOrigin | null {
    return this.originGeo;
  }

  reset(): void {
    this.t = null;
    this.originGeo = null;
    this.x.fill(0);
    this.P.fill(0);
    this.z = 0;
    this.yawKnown = false;
    this.firstPos = null;
    this.hist = [];
    this.histHead = 0;
    this.lastGnssNs = null;
    this.runs = { pos: [], vel: [], imu: [] };
  }

  /**
   * A refused innovation `y` joins its run; true when the last `n` of the run agree within `tol`
   * (per component, around the latest): the filter is wrong, not the sensor.
   */
  private refusedRunAgrees(run: number[][], y: number[], n: number, tol: number, spanNs = 0): boolean {
    if (!y.every(Number.isFinite)) return false;
    // Only the agreeing tail counts: a disagreeing innovation starts the run again.
    for (const r of run)
      for (let i = 0; i < y.length; i++)
        if (Math.abs(r[i]! - y[i]!) > tol) {
          run.length = 0;
          break;
        }
    run.push([...y, this.t ?? 0]);
    if (run.length < n) return false;
    return this.t !== null && this.t - run[0]![y.length]! >= spanNs;
  }

  /** Forget what the filter knew about the states `idx` and set them (relocalisation). */
  private reseed(idx: number[], values: number[], variances: number[]): void {
    idx.forEach((k, j) => {
      for (let i = 0; i < N; i++) {
        this.P[k * N + i] = 0;
        this.P[i * N + k] = 0;
      }
      this.P[k * N + k] = variances[j]!;
      this.x[k] = values[j]!;
    });
    this.x[YAW] = wrapAngle(this.x[YAW]!);
    this.relocalisations++;
  }

  /** Advance the filter to `tNs` (no-op when tNs <= filter time). */
  private predict(tNs: number): void {
    if (this.t === null || tNs <= this.t) return;
    const dt = (tNs - this.t) / 1e9;
    const x = this.x;
    const yawM = x[YAW]! + (x[W]! * dt) / 2;
    const vM = x[V]! + (x[ACC]! * dt) / 2;
    const c = Math.cos(yawM);
    const s = Math.sin(yawM);
    // Jacobian F (row-major), identity plus the couplings of the midpoint step.
    const F = new Float64Array(N * N);
    for (let i = 0; i < N; i++) F[i * N + i] = 1;
    F[PX * N + YAW] = -vM * s * dt;
    F[PX * N + V] = c * dt;
    F[PX * N + W] = (-vM * s * dt * dt) / 2;
    F[PX * N + ACC] = (c * dt * dt) / 2;
    F[PY * N + YAW] = vM * c * dt;
    F[PY * N + V] = s * dt;
    F[PY * N + W] = (vM * c * dt * dt) / 2;
    F[PY * N + ACC] = (s * dt * dt) / 2;
    F[YAW * N + W] = dt;
    F[V * N + ACC] = dt;
    step(x, dt);
    // P = F P F^T + Q
    const FP = new Float64Array(N * N);
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let k = 0; k < N; k++) acc += F[i * N + k]! * this.P[k * N + j]!;
        FP[i * N + j] = acc;
      }
    const P = this.P;
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let k = 0; k < N; k++) acc += FP[i * N + k]! * F[j * N + k]!;
        P[i * N + j] = acc;
      }
    const qw = this.params.yawAccelStdRadps2 ** 2 * dt;
    const qa = this.params.jerkStdMps3 ** 2 * dt;
    P[W * N + W] = P[W * N + W]! + qw;
    P[ACC * N + ACC] = P[ACC * N + ACC]! + qa;
    P[PX * N + PX] = P[PX * N + PX]! + 1e-4 * dt;
    P[PY * N + PY] = P[PY * N + PY]! + 1e-4 * dt;
    P[YAW * N + YAW] = P[YAW * N + YAW]! + 1e-6 * dt;
    P[V * N + V] = P[V * N + V]! + 1e-4 * dt;
    P[BG * N + BG] = P[BG * N + BG]! + this.params.gyroBiasWalk ** 2 * dt;
    P[BA * N + BA] = P[BA * N + BA]! + this.params.accelBiasWalk ** 2 * dt;
    this.t = tNs;
  }

  /**
   * Measurement update with m <= 2 rows. H is m x N row-major, y the innovation, Rm the m x m noise.
   */
  private update(H: Float64Array, y: number[], Rm: number[], gate = Number.POSITIVE_INFINITY): boolean {
    const m = y.length;
    // A non-finite innovation (overflowing hostile values: 1e308 + 1e308) is refused, never folded
    // in: NaN compares false against any gate, and one NaN would poison the state for good.
    for (let r = 0; r < m; r++) if (!Number.isFinite(y[r]!)) return false;
    const P = this.P;
    // PHt (N x m)
    const PHt = new Float64Array(N * m);
    for (let i = 0; i < N; i++)
      for (let r = 0; r < m; r++) {
        let acc = 0;
        for (let k = 0; k < N; k++) acc += P[i * N + k]! * H[r * N + k]!;
        PHt[i * m + r] = acc;
      }
    // S = H P H^T + R (m x m)
    const S = new Float64Array(m * m);
    for (let r = 0; r < m; r++)
      for (let c = 0; c < m; c++) {
        let acc = Rm[r * m + c]!;
        for (let k = 0; k < N; k++) acc += H[r * N + k]! * PHt[k * m + c]!;
        S[r * m + c] = acc;
      }
    let Si: number[];
    if (m === 1) Si = [1 / S[0]!];
    else {
      const det = S[0]! * S[3]! - S[1]! * S[2]!;
      if (!(Math.abs(det) > 1e-18)) return false;
      Si = [S[3]! / det, -S[1]! / det, -S[2]! / det, S[0]! / det];
    }
    if (gate !== Number.POSITIVE_INFINITY) {
      // Mahalanobis distance of the innovation: reject outliers (multipath jumps).
      let d2 = 0;
      for (let r = 0; r < m; r++) for (let c = 0; c < m; c++) d2 += y[r]! * Si[r * m + c]! * y[c]!;
      if (!(d2 <= gate)) return false;
    }
    // K = PHt Si (N x m)
    const K = new Float64Array(N * m);
    for (let i = 0; i < N; i++)
      for (let c = 0; c < m; c++) {
        let acc = 0;
        for (let k = 0; k < m; k++) acc += PHt[i * m + k]! * Si[k * m + c]!;
        K[i * m + c] = acc;
      }
    const dx = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      let acc = 0;
      for (let r = 0; r < m; r++) acc += K[i * m + r]! * y[r]!;
      dx[i] = acc;
      if (!Number.isFinite(this.x[i]! + acc)) return false; // never leave the state non-finite
    }
    for (let i = 0; i < N; i++) this.x[i] = this.x[i]! + dx[i]!;
    this.x[YAW] = wrapAngle(this.x[YAW]!);
    // P = P - K (H P) ; H P = PHt^T
    const newP = new Float64Array(N * N);
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let r = 0; r < m; r++) acc += K[i * m + r]! * PHt[j * m + r]!;
        newP[i * N + j] = P[i * N + j]! - acc;
      }
    // Symmetrise to keep rounding from breaking positive definiteness.
    for (let i = 0; i < N; i++)
      for (let j = i; j < N; j++) {
        const v = (newP[i * N + j]! + newP[j * N + i]!) / 2;
        P[i * N + j] = v;
        P[j * N + i] = v;
      }
    return true;
  }

  private record(): void {
    if (this.t === null) return;
    const s: PoseSample = {
      t: this.t,
      x: this.x[PX]!,
      y: this.x[PY]!,
      yaw: this.x[YAW]!,
      v: this.x[V]!,
      w: this.x[W]!,
      a: this.x[ACC]!,
    };
    const cap = this.params.historyLen;
    const n = this.hist.length;
    // Replace the last sample when several updates share one stamp.
    const lastIdx = n < cap ? n - 1 : (this.histHead + cap - 1) % cap;
    if (n > 0 && this.hist[lastIdx]!.t === s.t) {
      this.hist[lastIdx] = s;
      return;
    }
    if (n < cap) this.hist.push(s);
    else {
      this.hist[this.histHead] = s;
      this.histHead = (this.histHead + 1) % cap;
    }
  }

  /** IMU sample (sensor frame). Returns false when older than the filter time. */
  processImu(tNs: number, accel: Vec3, gyro: Vec3): boolean {
    if (this.t === null) return true; // nothing to update before the first fix
    if (tNs < this.t) return false;
    this.predict(tNs);
    const R = this.params.imuRotation;
    const g = matVec(R, gyro);
    const a = matVec(R, accel);
    const H = new Float64Array(2 * N);
    H[W] = 1;
    H[BG] = 1;
    H[N + ACC] = 1;
    H[N + BA] = 1;
    const p = this.params;
    const y = [g[2] - this.x[W]! - this.x[BG]!, a[0] - this.x[ACC]! - this.x[BA]!];
    if (this.update(H, y, [p.gyroStdRadps ** 2, 0, 0, p.accelStdMps2 ** 2], p.imuGateChi2))
      this.runs.imu = [];
    else {
      this.imuRejected++;
      const tol = p.agreeSigmas * Math.max(p.gyroStdRadps, p.accelStdMps2);
      if (this.refusedRunAgrees(this.runs.imu, y, p.imuRecoverAfter, tol)) {
        this.reseed(
          [W, ACC],
          [g[2] - this.x[BG]!, a[0] - this.x[BA]!],
          [p.gyroStdRadps ** 2, p.accelStdMps2 ** 2],
        );
        this.runs.imu = [];
      }
    }
    this.imuUpdates++;
    this.record();
    return true;
  }

  /** GNSS fix. Returns false when older than the filter time. */
  processGnss(tNs: number, fix: GnssFixInput): boolean {
    if (this.t !== null && tNs < this.t) return false;
    if (!this.originGeo)
      this.originGeo = { latDeg: fix.latitudeDeg, lonDeg: fix.longitudeDeg, altM: fix.altitudeM };
    const {
      east: e,
      north: n,
      up: u,
    } = geodeticToEnu(this.originGeo, fix.latitudeDeg, fix.longitudeDeg, fix.altitudeM);
    const lever = this.params.gnssLeverM;
    const varPos = fix.covariance
      ? Math.max(1e-4, (fix.covariance[0]! + fix.covariance[4]!) / 2)
      : this.params.gnssStdM ** 2;
    this.lastGnssNs = tNs;
    if (this.t === null) {
      // First fix: initialise. Heading from the fix velocity when moving, else unknown.
      const vel = fix.velocityEN;
      const speed = vel ? Math.hypot(vel[0], vel[1]) : 0;
      const yaw = vel && speed > 0.5 ? Math.atan2(vel[1], vel[0]) : 0;
      this.yawKnown = Boolean(vel && speed > 0.5);
      const c = Math.cos(yaw);
      const s = Math.sin(yaw);
      this.x.set([
        e - (c * lever[0] - s * lever[1]),
        n - (s * lever[0] + c * lever[1]),
        yaw,
        speed,
        0,
        0,
        0,
        0,
      ]);
      this.P.fill(0);
      const diag = [
        varPos,
        varPos,
        this.yawKnown ? 0.05 ** 2 : Math.PI ** 2,
        vel ? 0.5 ** 2 : 4,
        0.1,
        1,
        this.params.gyroBiasStdRadps ** 2,
        this.params.accelBiasStdMps2 ** 2,
      ];
      for (let i = 0; i < N; i++) this.P[i * N + i] = diag[i]!;
      this.z = u - lever[2];
      this.t = tNs;
      this.firstPos = { t: tNs, e, n };
      this.gnssUpdates++;
      this.record();
      return true;
    }
    this.predict(tNs);
    // Without a velocity, learn heading from displacement once the vehicle has moved far enough.
    if (!this.yawKnown && this.firstPos) {
      const de = e - this.firstPos.e;
      const dn = n - this.firstPos.n;
      const d = Math.hypot(de, dn);
      if (d > Math.max(3, 6 * Math.sqrt(varPos))) {
        const dt = (tNs - this.firstPos.t) / 1e9;
        this.x[YAW] = Math.atan2(dn, de);
        this.x[V] = dt > 0 ? d / dt : this.x[V]!;
        this.P[YAW * N + YAW] = 0.1 ** 2;
        this.P[V * N + V] = 1;
        for (let i = 0; i < N; i++) {
          if (i === YAW) continue;
          this.P[YAW * N + i] = 0;
          this.P[i * N + YAW] = 0;
        }
        this.yawKnown = true;
      }
    }
    const yaw = this.x[YAW]!;
    const c = Math.cos(yaw);
    const s = Math.sin(yaw);
    const hx = this.x[PX]! + c * lever[0] - s * lever[1];
    const hy = this.x[PY]! + s * lever[0] + c * lever[1];
    const H = new Float64Array(2 * N);
    H[PX] = 1;
    H[YAW] = -s * lever[0] - c * lever[1];
    H[N + PY] = 1;
    H[N + YAW] = c * lever[0] - s * lever[1];
    // Gate position fixes (chi-square, 2 dof): a forged, corrupt or multipath fix is refused. A run
    // of refused fixes that agree with each other is a real relocalisation: the filter jumps.
    const p = this.params;
    const yPos = [e - hx, n - hy];
    if (this.update(H, yPos, [varPos, 0, 0, varPos], p.gnssGateChi2)) this.runs.pos = [];
    else {
      this.gnssRejected++;
      const tol = p.agreeSigmas * Math.sqrt(varPos) + 1;
      if (this.refusedRunAgrees(this.runs.pos, yPos, p.gnssRelocaliseAfter, tol, p.gnssRelocaliseS * 1e9)) {
        this.reseed([PX, PY], [this.x[PX]! + yPos[0]!, this.x[PY]! + yPos[1]!], [varPos, varPos]);
        this.runs.pos = [];
      }
    }
    const vel = fix.velocityEN;
    if (vel) {
      const sp = Math.hypot(vel[0], vel[1]);
      if (!this.yawKnown && sp > 0.5) {
        this.x[YAW] = Math.atan2(vel[1], vel[0]);
        this.x[V] = sp;
        this.P[YAW * N + YAW] = 0.05 ** 2;
        this.yawKnown = true;
      }
      const v = this.x[V]!;
      const yw = this.x[YAW]!;
      const cy = Math.cos(yw);
      const sy = Math.sin(yw);
      const Hv = new Float64Array(2 * N);
      Hv[YAW] = -v * sy;
      Hv[V] = cy;
      Hv[N + YAW] = v * cy;
      Hv[N + V] = sy;
      const rv = this.params.gnssVelStdMps ** 2;
      const yVel = [vel[0] - v * cy, vel[1] - v * sy];
      if (this.update(Hv, yVel, [rv, 0, 0, rv], p.gnssVelGateChi2)) this.runs.vel = [];
      else {
        this.gnssVelRejected++;
        const tol = p.agreeSigmas * Math.sqrt(rv) + 0.5;
        if (this.refusedRunAgrees(this.runs.vel, yVel, p.gnssRelocaliseAfter, tol, p.gnssRelocaliseS * 1e9)) {
          const moving = sp > 0.5;
          this.reseed(
            moving ? [V, YAW] : [V],
            moving ? [sp, Math.atan2(vel[1], vel[0])] : [sp],
            moving ? [rv, rv / (sp * sp)] : [rv],
          );
          this.runs.vel = [];
        }
      }
    }
    this.z += 0.2 * (u - lever[2] - this.z);
    this.gnssUpdates++;
    this.record();
    return true;
  }

  /**
   * Localisation pose (vehicle origin and orientation in a local world frame, e.g. nuScenes
   * ego_pose in the map frame), used in place of GNSS + IMU: position (2 rows) and heading (1 row)
   * measurements; speed and yaw rate follow from the motion model. The first pose initialises the
   * filter (the world frame is then the pose's frame, not a GNSS ENU frame). Returns false when older
   * than the filter time.
   */
  processPose(
    tNs: number,
    pose: {
      position: [number, number, number];
      orientation: [number, number, number, number];
      covariance: number[] | null;
    },
  ): boolean {
    if (this.t !== null && tNs < this.t) return false;
    const [w, qx, qy, qz] = pose.orientation;
    const yaw = Math.atan2(2 * (w * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz));
    const [px, py, pz] = pose.position;
    const c = pose.covariance;
    const varX = c ? Math.max(1e-4, c[0]!) : 0.1 ** 2;
    const varY = c ? Math.max(1e-4, c[7]!) : 0.1 ** 2;
    const varYaw = c ? Math.max(1e-6, c[35]!) : 0.01 ** 2;
    // A jump far beyond the filter's uncertainty (relocalisation, a looped log): start over there.
    const jump = this.t !== null && Math.hypot(px - this.x[PX]!, py - this.x[PY]!) > this.params.poseResetM;
    if (this.t === null || jump) {
      this.x.set([px, py, yaw, 0, 0, 0, 0, 0]);
      this.P.fill(0);
      const diag = [
        varX,
        varY,
        varYaw,
        4,
        0.1,
        1,
        this.params.gyroBiasStdRadps ** 2,
        this.params.accelBiasStdMps2 ** 2,
      ];
      for (let i = 0; i < N; i++) this.P[i * N + i] = diag[i]!;
      this.z = pz;
      this.t = tNs;
      this.yawKnown = true;
      this.poseUpdates++;
      this.record();
      return true;
    }
    this.predict(tNs);
    const H = new Float64Array(2 * N);
    H[PX] = 1;
    H[N + PY] = 1;
    this.update(H, [px - this.x[PX]!, py - this.x[PY]!], [varX, 0, 0, varY]);
    const Hy = new Float64Array(N);
    Hy[YAW] = 1;
    this.update(Hy, [wrapAngle(yaw - this.x[YAW]!)], [varYaw]);
    this.z = pz;
    this.poseUpdates++;
    this.record();
    return true;
  }

  /** Ego state predicted to `tNs` (does not move the filter). */
  stateAt(tNs: number): EgoState {
    if (this.t === null) {
      return { valid: false, x: 0, y: 0, z: 0, yaw: 0, vx: 0, vy: 0, yawRate: 0, speed: 0, positionStdM: 0 };
    }
    const x = Array.from(this.x);
    const dt = (tNs - this.t) / 1e9;
    if (dt !== 0) step(x, dt);
    // Position sigma grows with the time since the filter time (dead reckoning beyond the last
    // measurement): approximate with the speed variance, no covariance copy needed.
    const grow = dt > 0 ? this.P[V * N + V]! * dt * dt : 0;
    const varXY = this.P[PX * N + PX]! + this.P[PY * N + PY]! + grow;
    const yaw = x[YAW]!;
    const v = x[V]!;
    return {
      valid: true,
      x: x[PX]!,
      y: x[PY]!,
      z: this.z,
      yaw,
      vx: v * Math.cos(yaw),
      vy: v * Math.sin(yaw),
      yawRate: x[W]!,
      speed: Math.abs(v),
      positionStdM: Math.sqrt(Math.max(0, varXY)),
    };
  }

  /** Position covariance trace (m^2), for tests. */
  positionVariance(): number {
    return this.P[PX * N + PX]! + this.P[PY * N + PY]!;
  }

  /** Planar pose at `tNs` from the history (interpolated) or the model (extrapolated). */
  poseAt(tNs: number): { x: number; y: number; yaw: number } | null {
    if (this.t === null) return null;
    const n = this.hist.length;
    const cap = this.params.historyLen;
    const at = (i: number) => this.hist[n < cap ? i : (this.histHead + i) % cap]!;
    if (n === 0 || tNs >= at(n - 1).t) {
      const last = n > 0 ? at(n - 1) : null;
      const base = last ?? { t: this.t, x: this.x[PX]!, y: this.x[PY]!, yaw: this.x[YAW]!, v: 0, w: 0, a: 0 };
      const x = [base.x, base.y, base.yaw, base.v, base.w, base.a];
      step(x, (tNs - base.t) / 1e9);
      return { x: x[0]!, y: x[1]!, yaw: x[2]! };
    }
    const first = at(0);
    if (tNs <= first.t) {
      const x = [first.x, first.y, first.yaw, first.v, first.w, first.a];
      step(x, (tNs - first.t) / 1e9);
      return { x: x[0]!, y: x[1]!, yaw: x[2]! };
    }
    // Binary search for the bracket [lo, lo+1].
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (at(mid).t <= tNs) lo = mid;
      else hi = mid;
    }
    const a = at(lo);
    const b = at(hi);
    const f = (tNs - a.t) / (b.t - a.t);
    return {
      x: a.x + f * (b.x - a.x),
      y: a.y + f * (b.y - a.y),
      yaw: wrapAngle(a.yaw + f * wrapAngle(b.yaw - a.yaw)),
    };
  }

  /**
   * Ego motion "vehicle at `toNs` from vehicle at `fromNs`" (planar). Identity before the first fix.
   */
  relativeMotion(fromNs: number, toNs: number): Planar {
    const a = this.poseAt(fromNs);
    const b = this.poseAt(toNs);
    if (!a || !b) return { dx: 0, dy: 0, dyaw: 0 };
    const c = Math.cos(b.yaw);
    const s = Math.sin(b.yaw);
    const ex = a.x - b.x;
    const ey = a.y - b.y;
    return { dx: c * ex + s * ey, dy: -s * ex + c * ey, dyaw: wrapAngle(a.yaw - b.yaw) };
  }
}
