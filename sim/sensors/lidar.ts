/**
 * Spinning LiDAR: ray casting of the beam pattern against the ground plane (analytic) and against
 * oriented boxes (slab test in the box frame), after a coarse azimuth cull of the boxes.
 * Each azimuth column is cast from the sensor pose at its own time within the sweep (rolling
 * shutter), so points are NOT motion-compensated: the aligner deskews them with the `t` field.
 *
 * Output fields x, y, z, intensity, t, ring (float32, sensor frame). t = seconds relative to the
 * stamp (<= 0); the stamp is the end of the sweep. Intensity = reflectance in [0, 1].
 * Conditions: rain adds drop-outs, spurious near returns and lowers intensity; fog attenuates
 * returns exponentially with range (effective range ~30 m) and adds backscatter near the sensor.
 */
import { packed } from "../../src/msg/codec.ts";
import type { SensorPayload } from "../../src/msg/types.ts";
import { type Mount, mountOf, newPose, type SensorPose, sensorPose } from "../frames.ts";
import type { Rng } from "../rng.ts";
import { LIDAR_REAL, SCENE } from "../realism.ts";
import type { EgoKinematics } from "../world.ts";
import { newEgoKinematics } from "../world.ts";
import type { CaptureContext, Conditions, ModelDeps, SensorModel } from "./types.ts";

export const LIDAR_FIELDS = ["x", "y", "z", "intensity", "t", "ring"] as const;
const STRIDE = LIDAR_FIELDS.length;
const AZ_BINS = 720;
const GROUND_REFLECTIVITY = 0.12;
const MARKING_REFLECTIVITY = 0.6;

interface Weather {
  /** Extinction coefficient, 1/m: P(return) *= exp(-2 alpha r). */
  alpha: number;
  extraDropout: number;
  /** Probability that a ray returns a spurious near echo (rain drops, fog backscatter). */
  spurious: number;
  spuriousMaxM: number;
  intensityScale: number;
}

const WEATHER: Record<Conditions, Weather> = {
  clear: { alpha: 0, extraDropout: 0, spurious: 0, spuriousMaxM: 0, intensityScale: 1 },
  night: { alpha: 0, extraDropout: 0, spurious: 0, spuriousMaxM: 0, intensityScale: 1 },
  rain: { alpha: 0.004, extraDropout: 0.12, spurious: 0.004, spuriousMaxM: 15, intensityScale: 0.75 },
  fog: { alpha: 0.035, extraDropout: 0.05, spurious: 0.02, spuriousMaxM: 6, intensityScale: 0.6 },
};

export class LidarModel implements SensorModel {
  readonly sensor: ModelDeps["sensor"];
  private readonly rng: Rng;
  private readonly w: Weather;
  private readonly mount: Mount;
  private readonly beams: number;
  private readonly cols: number;
  private readonly periodNs: number;
  private readonly maxRange: number;
  private readonly rangeNoise: number;
  private readonly dropout: number;
  private readonly intensityNoise: number;
  // Beam pattern, sensor frame: direction of ray (col, beam) = (cosEl cosAz, cosEl sinAz, sinEl).
  private readonly cosEl: Float64Array;
  private readonly sinEl: Float64Array;
  private readonly cosAz: Float64Array;
  private readonly sinAz: Float64Array;
  private readonly az: Float64Array;
  private readonly buf: Float32Array;
  // Azimuth cull: per bin, a list of candidate box indices.
  private readonly binStart = new Int32Array(AZ_BINS + 1);
  private binItems = new Int32Array(1024);
  // Per-column candidate scratch: box-frame ray origin, rotation, box index.
  private cPx = new Float64Array(0);
  private cPy = new Float64Array(0);
  private cRz = new Float64Array(0);
  private cC = new Float64Array(0);
  private cS = new Float64Array(0);
  private cIdx = new Int32Array(0);
  // Per candidate, the lowest and highest beam that can reach the box (elevation cull).
  private cB0 = new Int32Array(0);
  private cB1 = new Int32Array(0);
  /** tan(elevation) of each beam (ascending: beams are spread from the lowest). */
  private readonly tanEl: Float64Array;
  private readonly pose: SensorPose = newPose();
  private readonly ego: EgoKinematics = newEgoKinematics();
  /** Realistic profile (sim/realism.ts): ground relief, roof returns, no-return points, speckle. */
  private readonly real: boolean;
  /** Realistic: range to the roof under the sensor per (column, beam), 0 where the ray clears it. */
  private readonly roofR: Float32Array;
  private sweep = 0;

  constructor(d: ModelDeps) {
    this.sensor = d.sensor;
    const m = d.sensor.lidar!;
    this.rng = d.rng;
    this.w = WEATHER[d.conditions];
    this.mount = mountOf(d.sensor);
    this.beams = m.beams;
    this.cols = m.azimuth_steps;
    this.periodNs = 1e9 / d.sensor.rate_hz;
    this.maxRange = m.max_range_m;
    this.rangeNoise = m.range_noise_m;
    this.dropout = m.dropout;
    this.intensityNoise = m.intensity_noise;
    const [lo, hi] = m.vertical_fov_deg;
    this.cosEl = new Float64Array(this.beams);
    this.sinEl = new Float64Array(this.beams);
    for (let b = 0; b < this.beams; b++) {
      const el = ((lo + (this.beams === 1 ? 0 : ((hi - lo) * b) / (this.beams - 1))) * Math.PI) / 180;
      this.cosEl[b] = Math.cos(el);
      this.sinEl[b] = Math.sin(el);
    }
    this.tanEl = new Float64Array(this.beams);
    for (let b = 0; b < this.beams; b++) this.tanEl[b] = this.sinEl[b]! / this.cosEl[b]!;
    // Clockwise rotation (seen from above), starting behind the sensor.
    this.az = new Float64Array(this.cols);
    this.cosAz = new Float64Array(this.cols);
    this.sinAz = new Float64Array(this.cols);
    for (let k = 0; k < this.cols; k++) {
      const a = Math.PI - (2 * Math.PI * (k + 0.5)) / this.cols;
      this.az[k] = a;
      this.cosAz[k] = Math.cos(a);
      this.sinAz[k] = Math.sin(a);
    }
    this.buf = new Float32Array(this.beams * this.cols * STRIDE);
    this.real = d.profile === "realistic";
    this.roofR = new Float32Array(this.real ? this.beams * this.cols : 0);
    if (this.real) {
      const [x0, x1, y0, y1, top] = LIDAR_REAL.roof;
      for (let k = 0; k < this.cols; k++)
        for (let b = 0; b < this.beams; b++) {
          const lz = this.sinEl[b]!;
          if (lz >= 0) continue;
          const t = top / lz;
          const x = t * this.cosEl[b]! * this.cosAz[k]!;
          const y = t * this.cosEl[b]! * this.sinAz[k]!;
          if (x >= x0 && x <= x1 && y >= y0 && y <= y1) this.roofR[k * this.beams + b] = t;
        }
    }
  }

  /** Realistic profile: a point written for a ray without a return (nuScenes keeps the full grid). */
  private noReturn(o: number, tSec: number, b: number): void {
    const rng = this.rng;
    const [x, y, z] = LIDAR_REAL.noReturnXyz;
    const out = this.buf;
    out[o] = x + 0.002 * rng.gauss();
    out[o + 1] = y + LIDAR_REAL.noReturnJitterM * rng.gauss();
    out[o + 2] = z + 0.003 * rng.gauss();
    out[o + 3] = this.speckled(LIDAR_REAL.noReturnIntensity);
    out[o + 4] = tSec;
    out[o + 5] = b;
  }

  /** Realistic profile: intensity with log-normal speckle, quantised to 1/255 as the sensor reports it. */
  private speckled(mean: number): number {
    const s = LIDAR_REAL.speckleSigma;
    const v = mean * Math.exp(s * this.rng.gauss() - (s * s) / 2);
    return Math.min(255, Math.round(v * 255)) / 255;
  }

  private allocScratch(n: number): void {
    this.cPx = new Float64Array(n);
    this.cPy = new Float64Array(n);
    this.cRz = new Float64Array(n);
    this.cC = new Float64Array(n);
    this.cS = new Float64Array(n);
    this.cIdx = new Int32Array(n);
    this.cB0 = new Int32Array(n);
    this.cB1 = new Int32Array(n);
  }

  capture(ctx: CaptureContext): SensorPayload[] {
    const { world, tNs } = ctx;
    const B = world.boxes;
    const rng = this.rng;
    const w = this.w;
    const noiseStd = this.rangeNoise * ctx.noise;
    const pDrop = Math.min(1, this.dropout + w.extraDropout);
    const maxR = this.maxRange;
    const worldT = world.tNs;
    // Coarse cull at mid-sweep: boxes within range, binned by world azimuth interval.
    world.egoAt(tNs - this.periodNs / 2, this.ego);
    const mid = sensorPose(this.ego, this.mount, this.pose);
    const sweepMove = 2 + this.ego.speed * (this.periodNs / 1e9);
    this.binStart.fill(0);
    const counts = this.binStart;
    const cand: number[] = [];
    const lo: number[] = [];
    const hi: number[] = [];
    for (let i = 0; i < B.count; i++) {
      const dx = B.x[i]! - mid.ox;
      const dy = B.y[i]! - mid.oy;
      const rad = Math.hypot(B.hl[i]!, B.hw[i]!) + sweepMove + Math.hypot(B.vx[i]!, B.vy[i]!) * 0.12;
      const d = Math.hypot(dx, dy);
      if (d - rad > maxR) continue;
      let a0: number;
      let a1: number;
      if (d <= rad) {
        a0 = 0;
        a1 = AZ_BINS - 1;
      } else {
        const c = Math.atan2(dy, dx);
        const half = Math.asin(Math.min(1, rad / d));
        a0 = Math.floor(((c - half) / (2 * Math.PI)) * AZ_BINS);
        a1 = Math.floor(((c + half) / (2 * Math.PI)) * AZ_BINS);
      }
      cand.push(i);
      lo.push(a0);
      hi.push(a1);
      for (let a = a0; a <= a1; a++) counts[(((a % AZ_BINS) + AZ_BINS) % AZ_BINS) + 1]!++;
    }
    for (let a = 0; a < AZ_BINS; a++) counts[a + 1]! += counts[a]!;
    const total = counts[AZ_BINS]!;
    if (this.binItems.length < total) this.binItems = new Int32Array(total * 2);
    const fillPos = counts.slice(0, AZ_BINS);
    for (let j = 0; j < cand.length; j++) {
      for (let a = lo[j]!; a <= hi[j]!; a++) {
        const bin = ((a % AZ_BINS) + AZ_BINS) % AZ_BINS;
        this.binItems[fillPos[bin]!++] = cand[j]!;
      }
    }

    const out = this.buf;
    let n = 0;
    const R = this.pose.R;
    const beams = this.beams;
    const cols = this.cols;
    const cap = B.count;
    if (this.cPx.length < cap) this.allocScratch(cap);
    const cPx = this.cPx;
    const cPy = this.cPy;
    const cRz = this.cRz;
    const cC = this.cC;
    const cS = this.cS;
    const cIdx = this.cIdx;
    const cB0 = this.cB0;
    const cB1 = this.cB1;
    const tanEl = this.tanEl;
    const MR = this.mount.R;
    const level = MR[6] === 0 && MR[7] === 0 && MR[8] === 1;
    const real = this.real;
    const relief = real ? world.ground : null;
    const porous = real ? B.porosity : null;
    const sweepSalt = real ? Math.imul(++this.sweep, 0x9e3779b1) : 0;
    const groundRefl = real ? LIDAR_REAL.groundReflectivity : GROUND_REFLECTIVITY;
    const markingRefl = real ? LIDAR_REAL.markingReflectivity : MARKING_REFLECTIVITY;
    for (let k = 0; k < cols; k++) {
      const tRel = -(this.periodNs * (1 - (k + 1) / cols)); // ns, <= 0
      const tCol = tNs + tRel;
      world.egoAt(tCol, this.ego);
      const p = sensorPose(this.ego, this.mount, this.pose);
      const ox = p.ox;
      const oy = p.oy;
      const oz = p.oz;
      const dtBox = (tCol - worldT) / 1e9;
      const ca = this.cosAz[k]!;
      const sa = this.sinAz[k]!;
      // World azimuth of this column's rays (roll/pitch of the mount ignored for the cull).
      const wa = Math.atan2(R[3]! * ca + R[4]! * sa, R[0]! * ca + R[1]! * sa);
      let bin = Math.floor((wa / (2 * Math.PI)) * AZ_BINS);
      bin = ((bin % AZ_BINS) + AZ_BINS) % AZ_BINS;
      // Candidate boxes of this column, moved to the column time, in their own frames (once per
      // column, not per ray).
      let nc = 0;
      for (let j = this.binStart[bin]!, j1 = this.binStart[bin + 1]!; j < j1; j++) {
        const i = this.binItems[j]!;
        const c = Math.cos(B.yaw[i]!);
        const sn = Math.sin(B.yaw[i]!);
        const rx = ox - (B.x[i]! + B.vx[i]! * dtBox);
        const ry = oy - (B.y[i]! + B.vy[i]! * dtBox);
        cPx[nc] = c * rx + sn * ry;
        cPy[nc] = -sn * rx + c * ry;
        cRz[nc] = oz - B.z[i]!;
        cC[nc] = c;
        cS[nc] = sn;
        cIdx[nc] = i;
        // Elevation cull (exact, conservative): a ray of elevation el reaches the box only if
        // tan(el) lies between the least and greatest z / horizontal distance over the box. Only
        // for a level mount (no roll or pitch: the ray's world elevation is the beam's).
        let b0 = 0;
        let b1 = beams - 1;
        const d = Math.hypot(cPx[nc]!, cPy[nc]!);
        const rad = Math.hypot(B.hl[i]!, B.hw[i]!);
        if (level && d > rad + 0.05) {
          const dMin = d - rad;
          const dMax = d + rad;
          const zLo = -cRz[nc]! - B.hh[i]!;
          const zHi = -cRz[nc]! + B.hh[i]!;
          const tLo = (zLo < 0 ? zLo / dMin : zLo / dMax) - 1e-6;
          const tHi = (zHi > 0 ? zHi / dMin : zHi / dMax) + 1e-6;
          while (b0 < beams && tanEl[b0]! < tLo) b0++;
          while (b1 >= 0 && tanEl[b1]! > tHi) b1--;
        }
        cB0[nc] = b0;
        cB1[nc] = b1;
        nc++;
      }
      const tSec = tRel / 1e9;
      const hEgo = relief ? relief.at(this.ego.x, this.ego.y) : 0;
      for (let b = 0; b < beams; b++) {
        if (real) {
          const rr = this.roofR[k * beams + b]!;
          if (rr > 0) {
            const rn = rr + noiseStd * rng.gauss();
            const o = n * STRIDE;
            out[o] = rn * this.cosEl[b]! * ca;
            out[o + 1] = rn * this.cosEl[b]! * sa;
            out[o + 2] = rn * this.sinEl[b]!;
            out[o + 3] = this.speckled(LIDAR_REAL.roofReflectivity);
            out[o + 4] = tSec;
            out[o + 5] = b;
            n++;
            continue;
          }
        }
        // Local ray direction, then world.
        const lx = this.cosEl[b]! * ca;
        const ly = this.cosEl[b]! * sa;
        const lz = this.sinEl[b]!;
        const dx = R[0]! * lx + R[1]! * ly + R[2]! * lz;
        const dy = R[3]! * lx + R[4]! * ly + R[5]! * lz;
        const dz = R[6]! * lx + R[7]! * ly + R[8]! * lz;
        let best = dz < -1e-6 ? -oz / dz : Number.POSITIVE_INFINITY;
        if (relief && best < Number.POSITIVE_INFINITY) {
          // Ground relief relative to the ground under the ego (one fixed-point step from the plane).
          const h = relief.at(ox + best * dx, oy + best * dy) - hEgo;
          best = h < oz ? (h - oz) / dz : Number.POSITIVE_INFINITY;
        }
        let refl = groundRefl;
        let cosInc = -dz;
        for (let c = 0; c < nc; c++) {
          if (b < cB0[c]! || b > cB1[c]!) continue;
          const i = cIdx[c]!;
          // Foliage lets a share of the rays through (a hash of sweep, ray and box: no random draw).
          if (porous !== null && porous[i]! > 0) {
            let hsh = Math.imul(sweepSalt ^ (k * 32 + b), 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35);
            hsh ^= hsh >>> 15;
            hsh = Math.imul(hsh, 0x2c1b3c6d);
            hsh ^= hsh >>> 12;
            if ((hsh >>> 0) / 4294967296 < porous[i]!) continue;
          }
          const cy = cC[c]!;
          const sy = cS[c]!;
          const px = cPx[c]!;
          const py = cPy[c]!;
          const rz = cRz[c]!;
          const qx = cy * dx + sy * dy;
          const qy = -sy * dx + cy * dy;
          const hl = B.hl[i]!;
          const hw = B.hw[i]!;
          const hh = B.hh[i]!;
          // Slab test.
          let tmin = 0;
          let tmax = best;
          let axis = -1;
          if (Math.abs(qx) < 1e-12) {
            if (px < -hl || px > hl) continue;
          } else {
            const inv = 1 / qx;
            let t0 = (-hl - px) * inv;
            let t1 = (hl - px) * inv;
            if (t0 > t1) {
              const tt = t0;
              t0 = t1;
              t1 = tt;
            }
            if (t0 > tmin) {
              tmin = t0;
              axis = 0;
            }
            if (t1 < tmax) tmax = t1;
            if (tmin > tmax) continue;
          }
          if (Math.abs(qy) < 1e-12) {
            if (py < -hw || py > hw) continue;
          } else {
            const inv = 1 / qy;
            let t0 = (-hw - py) * inv;
            let t1 = (hw - py) * inv;
            if (t0 > t1) {
              const tt = t0;
              t0 = t1;
              t1 = tt;
            }
            if (t0 > tmin) {
              tmin = t0;
              axis = 1;
            }
            if (t1 < tmax) tmax = t1;
            if (tmin > tmax) continue;
          }
          if (Math.abs(dz) < 1e-12) {
            if (rz < -hh || rz > hh) continue;
          } else {
            const inv = 1 / dz;
            let t0 = (-hh - rz) * inv;
            let t1 = (hh - rz) * inv;
            if (t0 > t1) {
              const tt = t0;
              t0 = t1;
              t1 = tt;
            }
            if (t0 > tmin) {
              tmin = t0;
              axis = 2;
            }
            if (t1 < tmax) tmax = t1;
            if (tmin > tmax) continue;
          }
          if (axis < 0 || tmin >= best) continue; // inside the box, or behind a nearer hit
          best = tmin;
          refl = B.reflectivity[i]!;
          cosInc = Math.abs(axis === 0 ? qx : axis === 1 ? qy : dz);
        }
        // Ground hit on road paint: retro-reflective, several times brighter than asphalt.
        const ground = refl === groundRefl;
        if (ground && best <= maxR && world.markings.at(ox + best * dx, oy + best * dy)) refl = markingRefl;
        let r = best;
        if (real && ground && r <= maxR)
          r += Math.max(-1, Math.min(1, (SCENE.roughnessM * rng.gauss()) / -dz));
        if (!(r <= maxR)) {
          if (real && !(w.spurious > 0)) {
            this.noReturn(n * STRIDE, tSec, b);
            n++;
            continue;
          }
          if (w.spurious > 0 && rng.next() < w.spurious) {
            r = rng.uniform(1, w.spuriousMaxM);
            refl = 0.05;
            cosInc = 1;
          } else if (real) {
            this.noReturn(n * STRIDE, tSec, b);
            n++;
            continue;
          } else continue;
        } else {
          if (rng.next() < pDrop || (w.alpha > 0 && rng.next() > Math.exp(-2 * w.alpha * r))) {
            if (real) {
              this.noReturn(n * STRIDE, tSec, b);
              n++;
            }
            continue;
          }
          if (w.spurious > 0 && rng.next() < w.spurious) {
            r = rng.uniform(1, Math.min(r, w.spuriousMaxM));
            refl = 0.05;
            cosInc = 1;
          }
        }
        r += noiseStd * rng.gauss();
        if (r <= 0.3) continue;
        let inten: number;
        if (real) inten = this.speckled(refl * w.intensityScale * (0.35 + 0.65 * cosInc));
        else {
          inten = refl * w.intensityScale * (0.35 + 0.65 * cosInc) + this.intensityNoise * rng.gauss();
          inten = Math.min(1, Math.max(0, inten));
        }
        const o = n * STRIDE;
        out[o] = r * lx;
        out[o + 1] = r * ly;
        out[o + 2] = r * lz;
        out[o + 3] = inten;
        out[o + 4] = tSec;
        out[o + 5] = b;
        n++;
      }
    }
    return [
      {
        kind: "point_cloud",
        // A view of the reused buffer: the caller encodes it before the next capture.
        points: packed(LIDAR_FIELDS, out.subarray(0, n * STRIDE)),
        sweepStartNs: 0, // filled with the sensor-clock sweep start by the caller
      },
    ];
  }
}
