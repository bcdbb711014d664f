/**
 * Automotive radar: one scan = a list of detections with range, azimuth, elevation, radial
 * (Doppler) velocity and RCS, in the sensor frame. Radial velocity is the raw Doppler relative to
 * the moving sensor: (v_target - v_sensor) . line-of-sight (negative = approaching); the aligner
 * compensates ego motion. Objects give 1-3 returns from their visible surface unless scenery
 * blocks the sight line (radar sees under and around cars, not through buildings); static scenery gives
 * occasional stationary returns; clutter false alarms are uniform in the field of view.
 * Rain raises clutter and noise; fog barely affects radar.
 */
import { packed } from "../../src/msg/codec.ts";
import { ObjectClass, type SensorPayload } from "../../src/msg/types.ts";
import { type Mount, mountOf, newPose, type SensorPose, segmentHitsBox, sensorPose } from "../frames.ts";
import type { Rng } from "../rng.ts";
import { Material, RADAR_REAL } from "../realism.ts";
import type { EgoKinematics } from "../world.ts";
import { newEgoKinematics } from "../world.ts";
import type { CaptureContext, Conditions, ModelDeps, SensorModel } from "./types.ts";

export const RADAR_FIELDS = ["range", "azimuth", "elevation", "radial_velocity", "rcs"] as const;
const DEG = Math.PI / 180;

const RCS_DBSM: Record<number, number> = {
  [ObjectClass.UNKNOWN]: 0,
  [ObjectClass.CAR]: 10,
  [ObjectClass.TRUCK]: 20,
  [ObjectClass.PEDESTRIAN]: -8,
  [ObjectClass.CYCLIST]: -3,
};
const RETURNS: Record<number, number> = {
  [ObjectClass.UNKNOWN]: 1,
  [ObjectClass.CAR]: 2,
  [ObjectClass.TRUCK]: 3,
  [ObjectClass.PEDESTRIAN]: 1,
  [ObjectClass.CYCLIST]: 1,
};
const WEATHER: Record<Conditions, { clutter: number; noise: number; pd: number }> = {
  clear: { clutter: 1, noise: 1, pd: 1 },
  night: { clutter: 1, noise: 1, pd: 1 },
  rain: { clutter: 4, noise: 1.5, pd: 0.93 },
  fog: { clutter: 1.2, noise: 1.05, pd: 0.99 },
};

export class RadarModel implements SensorModel {
  readonly sensor: ModelDeps["sensor"];
  private readonly rng: Rng;
  private readonly m: NonNullable<ModelDeps["sensor"]["radar"]>;
  private readonly mount: Mount;
  private readonly weather: (typeof WEATHER)[Conditions];
  private readonly pose: SensorPose = newPose();
  private readonly ego: EgoKinematics = newEgoKinematics();

  constructor(d: ModelDeps) {
    this.sensor = d.sensor;
    this.rng = d.rng;
    this.m = d.sensor.radar!;
    this.mount = mountOf(d.sensor);
    this.weather = WEATHER[d.conditions];
    this.real = d.profile === "realistic";
  }

  private readonly real: boolean;
  /** Realistic profile: nearest occluder range per 1-degree world azimuth bin, m. */
  private readonly shadow = new Float64Array(360);
  private readonly shadowOwner = new Int32Array(360);

  capture(ctx: CaptureContext): SensorPayload[] {
    if (this.real) return this.captureRealistic(ctx);
    const { world, tNs } = ctx;
    const B = world.boxes;
    const rng = this.rng;
    const m = this.m;
    const wx = this.weather;
    const ego = world.egoAt(tNs, this.ego);
    const p = sensorPose(ego, this.mount, this.pose);
    const R = p.R;
    // Sensor velocity in the world: ego velocity + yaw rate x lever arm.
    const svx = ego.vx - ego.yawRate * (p.oy - ego.y);
    const svy = ego.vy + ego.yawRate * (p.ox - ego.x);
    const halfFov = (m.fov_deg / 2) * DEG;
    const dt = (tNs - world.tNs) / 1e9;
    const noise = ctx.noise * wx.noise;
    const rows: number[] = [];
    const emit = (px: number, py: number, pz: number, tvx: number, tvy: number, rcs: number, pd: number) => {
      // World point -> sensor frame (R^T (p - o)).
      const dx = px - p.ox;
      const dy = py - p.oy;
      const dz = pz - p.oz;
      const sx = R[0]! * dx + R[3]! * dy + R[6]! * dz;
      const sy = R[1]! * dx + R[4]! * dy + R[7]! * dz;
      const sz = R[2]! * dx + R[5]! * dy + R[8]! * dz;
      const range = Math.hypot(sx, sy, sz);
      if (range < 0.5 || range > m.max_range_m) return;
      const az = Math.atan2(sy, sx);
      if (Math.abs(az) > halfFov) return;
      // Detection probability falls off near max range, more for small RCS.
      const snr = rcs + 40 - 40 * Math.log10(Math.max(1, range) / 10);
      const pdet = pd * m.p_detect * wx.pd * (snr > 30 ? 1 : Math.max(0, snr / 30));
      if (rng.next() >= pdet) return;
      const el = Math.asin(sz / range);
      const vr = ((tvx - svx) * dx + (tvy - svy) * dy) / range;
      rows.push(
        range + m.range_noise_m * noise * rng.gauss(),
        az + m.azimuth_noise_deg * DEG * noise * rng.gauss(),
        el + m.elevation_noise_deg * DEG * noise * rng.gauss(),
        vr + m.velocity_noise_mps * noise * rng.gauss(),
        rcs + m.rcs_noise_db * rng.gauss(),
      );
    };
    // Scenery within range, for occlusion: radar does not see through buildings and barriers.
    // Per occluder: index, near distance, azimuth and angular half-width (bounding circle).
    const occ: number[] = [];
    const occNear: number[] = [];
    const occAz: number[] = [];
    const occHalf: number[] = [];
    for (let i = 0; i < B.count; i++) {
      if (B.dynamic[i]) continue;
      const dx = B.x[i]! - p.ox;
      const dy = B.y[i]! - p.oy;
      const d = Math.hypot(dx, dy);
      const r = Math.hypot(B.hl[i]!, B.hw[i]!);
      if (d - r >= m.max_range_m) continue;
      occ.push(i);
      occNear.push(d - r);
      occAz.push(Math.atan2(dy, dx));
      occHalf.push(d <= r ? Math.PI : Math.asin(r / d));
    }
    const hidden = (bx: number, by: number, tz: number): boolean => {
      const dx = bx - p.ox;
      const dy = by - p.oy;
      const dist = Math.hypot(dx, dy);
      const az = Math.atan2(dy, dx);
      for (let k = 0; k < occ.length; k++) {
        if (occNear[k]! >= dist) continue;
        let da = Math.abs(az - occAz[k]!);
        if (da > Math.PI) da = 2 * Math.PI - da;
        if (da > occHalf[k]!) continue;
        const j = occ[k]!;
        const hit = segmentHitsBox(
          p.ox,
          p.oy,
          p.oz,
          bx,
          by,
          tz,
          B.x[j]!,
          B.y[j]!,
          B.z[j]!,
          B.yaw[j]!,
          B.hl[j]!,
          B.hw[j]!,
          B.hh[j]!,
        );
        if (hit) return true;
      }
      return false;
    };
    for (let i = 0; i < B.count; i++) {
      const bx = B.x[i]! + B.vx[i]! * dt;
      const by = B.y[i]! + B.vy[i]! * dt;
      const ddx = bx - p.ox;
      const ddy = by - p.oy;
      if (Math.abs(ddx) > m.max_range_m + 20 || Math.abs(ddy) > m.max_range_m + 20) continue;
      const c = Math.cos(B.yaw[i]!);
      const s = Math.sin(B.yaw[i]!);
      // Sensor position in the box frame; the nearest surface point faces the sensor.
      const lx = -(c * ddx + s * ddy);
      const ly = -(-s * ddx + c * ddy);
      const hl = B.hl[i]!;
      const hw = B.hw[i]!;
      const dynamic = B.dynamic[i] === 1;
      if (!dynamic) {
        // Static scenery: an occasional stationary return from the nearest point.
        if (rng.next() > 0.25) continue;
        const nx = Math.max(-hl, Math.min(hl, lx));
        const ny = Math.max(-hw, Math.min(hw, ly));
        emit(
          bx + c * nx - s * ny,
          by + s * nx + c * ny,
          Math.min(B.hh[i]! * 2, 1.0),
          0,
          0,
          5 + 5 * rng.gauss(),
          0.8,
        );
        continue;
      }
      if (hidden(bx, by, Math.min(B.hh[i]!, 0.8))) continue;
      const nRet = 1 + rng.int(RETURNS[B.cls[i]!]!);
      for (let r = 0; r < nRet; r++) {
        // First return at the nearest point, others spread over the facing surface.
        let nx = Math.max(-hl, Math.min(hl, lx));
        let ny = Math.max(-hw, Math.min(hw, ly));
        if (r > 0) {
          if (Math.abs(nx) === hl) ny = rng.uniform(-hw, hw);
          else nx = rng.uniform(-hl, hl);
        }
        const pz = rng.uniform(0.3, Math.min(1.2, B.hh[i]! * 2));
        emit(
          bx + c * nx - s * ny,
          by + s * nx + c * ny,
          pz,
          B.vx[i]!,
          B.vy[i]!,
          RCS_DBSM[B.cls[i]!]! - 3 * r,
          1,
        );
      }
    }
    // Clutter false alarms: stationary-looking points uniform in the field of view.
    const nClutter = rng.poisson(m.clutter_per_scan * wx.clutter);
    for (let k = 0; k < nClutter; k++) {
      const range = rng.uniform(2, m.max_range_m * 0.6);
      const az = rng.uniform(-halfFov, halfFov);
      const el = rng.normal(0, 2 * DEG);
      const lx = range * Math.cos(el) * Math.cos(az);
      const ly = range * Math.cos(el) * Math.sin(az);
      const lz = range * Math.sin(el);
      const dx = R[0]! * lx + R[1]! * ly + R[2]! * lz;
      const dy = R[3]! * lx + R[4]! * ly + R[5]! * lz;
      const vr = (-svx * dx - svy * dy) / range;
      rows.push(range, az, el, vr + m.velocity_noise_mps * 3 * rng.gauss(), rng.uniform(-15, 0));
    }
    return [{ kind: "radar_scan", returns: packed(RADAR_FIELDS, Float32Array.from(rows)) }];
  }

  /**
   * Realistic profile (sim/realism.ts RADAR_REAL): every surface in view returns in proportion to
   * its visible width (vehicles, buildings, walls, barriers, foliage, kerbs; poles and signs one
   * each), with a per-kind RCS that fluctuates from scan to scan; tall scenery and trucks shadow
   * what is behind them (a per-azimuth range buffer); moving objects leave multipath ghosts farther
   * along the same line of sight; the scan keeps at most RADAR_REAL.maxReturns returns.
   */
  private captureRealistic(ctx: CaptureContext): SensorPayload[] {
    const { world, tNs } = ctx;
    const B = world.boxes;
    const rng = this.rng;
    const m = this.m;
    const wx = this.weather;
    const RR = RADAR_REAL;
    const ego = world.egoAt(tNs, this.ego);
    const p = sensorPose(ego, this.mount, this.pose);
    const R = p.R;
    const svx = ego.vx - ego.yawRate * (p.oy - ego.y);
    const svy = ego.vy + ego.yawRate * (p.ox - ego.x);
    const halfFov = (m.fov_deg / 2) * DEG;
    const dt = (tNs - world.tNs) / 1e9;
    const noise = ctx.noise * wx.noise;
    const maxR = m.max_range_m;
    const rows: number[] = [];
    const emit = (px: number, py: number, pz: number, tvx: number, tvy: number, rcs: number) => {
      const dx = px - p.ox;
      const dy = py - p.oy;
      const dz = pz - p.oz;
      const sx = R[0]! * dx + R[3]! * dy + R[6]! * dz;
      const sy = R[1]! * dx + R[4]! * dy + R[7]! * dz;
      const sz = R[2]! * dx + R[5]! * dy + R[8]! * dz;
      const range = Math.hypot(sx, sy, sz);
      if (range < 0.5 || range > maxR) return;
      const az = Math.atan2(sy, sx);
      if (Math.abs(az) > halfFov) return;
      // Antenna gain falls off towards the edge of the field of view (-12 dB at the edge).
      const u = az / halfFov;
      const snr = rcs + 40 + RR.sensitivityDb - 40 * Math.log10(Math.max(1, range) / 10) - 12 * u * u;
      const pdet = m.p_detect * wx.pd * (snr > 30 ? 1 : Math.max(0, snr / 30));
      if (rng.next() >= pdet) return;
      const el = Math.asin(sz / range);
      const vr = ((tvx - svx) * dx + (tvy - svy) * dy) / range;
      rows.push(
        range + m.range_noise_m * noise * rng.gauss(),
        az + m.azimuth_noise_deg * DEG * noise * rng.gauss(),
        el + m.elevation_noise_deg * DEG * noise * rng.gauss(),
        vr + m.velocity_noise_mps * noise * rng.gauss(),
        rcs + m.rcs_noise_db * rng.gauss(),
      );
    };
    // Shadow buffer: per world azimuth degree, the nearest face of tall scenery or a truck.
    const shadow = this.shadow;
    const owner = this.shadowOwner;
    shadow.fill(Number.POSITIVE_INFINITY);
    owner.fill(-1);
    const binOf = (a: number) => {
      let k = Math.floor((a / (2 * Math.PI)) * 360);
      k %= 360;
      return k < 0 ? k + 360 : k;
    };
    for (let i = 0; i < B.count; i++) {
      const tall = B.dynamic[i] ? B.hh[i]! * 2 >= RR.truckM : B.hh[i]! * 2 >= RR.occluderM;
      if (!tall || B.porosity[i]! > 0) continue;
      const dx = B.x[i]! + B.vx[i]! * dt - p.ox;
      const dy = B.y[i]! + B.vy[i]! * dt - p.oy;
      const d = Math.hypot(dx, dy);
      const rad = Math.hypot(B.hl[i]!, B.hw[i]!);
      if (d - rad > maxR || d <= rad) continue;
      // Near face: the nearest point of the box; the shadow starts a little behind it.
      const c = Math.cos(B.yaw[i]!);
      const sn = Math.sin(B.yaw[i]!);
      const lx = -(c * dx + sn * dy);
      const ly = -(-sn * dx + c * dy);
      const nx = Math.max(-B.hl[i]!, Math.min(B.hl[i]!, lx));
      const ny = Math.max(-B.hw[i]!, Math.min(B.hw[i]!, ly));
      const near = Math.hypot(lx - nx, ly - ny) + Math.min(B.hl[i]!, B.hw[i]!) * 2;
      // Angular extent: the box's true silhouette is narrower than the bounding circle.
      const half = Math.asin(
        Math.min(
          1,
          (Math.abs(B.hl[i]! * Math.sin(B.yaw[i]! - Math.atan2(dy, dx))) +
            Math.abs(B.hw[i]! * Math.cos(B.yaw[i]! - Math.atan2(dy, dx)))) /
            d,
        ),
      );
      const a = Math.atan2(dy, dx);
      const k0 = Math.floor(((a - half) / (2 * Math.PI)) * 360);
      const k1 = Math.floor(((a + half) / (2 * Math.PI)) * 360);
      for (let k = k0; k <= k1; k++) {
        const j = ((k % 360) + 360) % 360;
        if (near < shadow[j]!) {
          shadow[j] = near;
          owner[j] = i;
        }
      }
    }
    // A return is seen unless a nearer occluder's shadow covers it (an occluder never hides itself).
    const visible = (px: number, py: number, self: number) => {
      const dx = px - p.ox;
      const dy = py - p.oy;
      const k = binOf(Math.atan2(dy, dx));
      return owner[k] === self || Math.hypot(dx, dy) <= shadow[k]!;
    };
    const fl = RR.rcsFluctuationDb;
    for (let i = 0; i < B.count; i++) {
      const bx = B.x[i]! + B.vx[i]! * dt;
      const by = B.y[i]! + B.vy[i]! * dt;
      const ddx = bx - p.ox;
      const ddy = by - p.oy;
      if (Math.abs(ddx) > maxR + 20 || Math.abs(ddy) > maxR + 20) continue;
      const c = Math.cos(B.yaw[i]!);
      const s = Math.sin(B.yaw[i]!);
      const lx = -(c * ddx + s * ddy);
      const ly = -(-s * ddx + c * ddy);
      const hl = B.hl[i]!;
      const hw = B.hw[i]!;
      const hh = B.hh[i]!;
      const dynamic = B.dynamic[i] === 1;
      const mat = B.material[i]!;
      // Faces seen: the x face when the sensor is beyond it, the y face likewise.
      const seeX = Math.abs(lx) > hl;
      const seeY = Math.abs(ly) > hw;
      const width = (seeX ? 2 * hw : 0) + (seeY ? 2 * hl : 0);
      let mean: number;
      let rcs0: number;
      if (dynamic) {
        mean = RR.vehicleBase + RR.perMetre.vehicle * width;
        const cls = B.cls[i]!;
        rcs0 =
          cls === ObjectClass.TRUCK
            ? RR.rcsDbsm.truck
            : cls === ObjectClass.PEDESTRIAN
              ? RR.rcsDbsm.pedestrian
              : cls === ObjectClass.CYCLIST
                ? RR.rcsDbsm.cyclist
                : RR.rcsDbsm.car;
        if (cls === ObjectClass.PEDESTRIAN || cls === ObjectClass.CYCLIST) mean = 1;
      } else if (mat === Material.POLE || mat === Material.SIGN || mat === Material.CONE) {
        mean = mat === Material.CONE ? 0.4 : 0.8;
        rcs0 =
          mat === Material.POLE ? RR.rcsDbsm.pole : mat === Material.SIGN ? RR.rcsDbsm.sign : RR.rcsDbsm.cone;
      } else if (mat === Material.KERB) {
        mean = RR.perMetre.kerb * width;
        rcs0 = RR.rcsDbsm.kerb;
      } else if (mat === Material.VEGETATION) {
        mean = RR.perMetre.vegetation * width;
        rcs0 = RR.rcsDbsm.vegetation;
      } else if (mat === Material.BARRIER) {
        mean = RR.perMetre.barrier * width;
        rcs0 = RR.rcsDbsm.barrier;
      } else if (mat === Material.WALL) {
        mean = RR.perMetre.wall * width;
        rcs0 = RR.rcsDbsm.wall;
      } else {
        mean = RR.perMetre.building * Math.min(width, 40);
        rcs0 = RR.rcsDbsm.building;
      }
      const n = rng.poisson(mean);
      const moving = dynamic && (B.vx[i]! !== 0 || B.vy[i]! !== 0);
      for (let r = 0; r < n; r++) {
        // A point on a visible face.
        let nx: number;
        let ny: number;
        if (seeX && (!seeY || rng.next() < hw / (hw + hl))) {
          nx = Math.sign(lx) * hl;
          ny = rng.uniform(-hw, hw);
        } else {
          nx = rng.uniform(-hl, hl);
          ny = Math.sign(ly) * hw;
        }
        if (!seeX && !seeY) {
          nx = rng.uniform(-hl, hl);
          ny = rng.uniform(-hw, hw);
        }
        const px = bx + c * nx - s * ny;
        const py = by + s * nx + c * ny;
        if (!visible(px, py, i)) continue;
        const pz = rng.uniform(Math.min(0.3, hh), Math.min(2.5, hh * 2));
        const rcs = rcs0 + fl * rng.gauss();
        emit(px, py, pz, B.vx[i]!, B.vy[i]!, rcs);
        if (moving && rng.next() < RR.ghostChance) {
          // Multipath: the same object seen via a reflection, farther along the line of sight.
          const f = rng.uniform(RR.ghostRange[0], RR.ghostRange[1]);
          const ga = rng.normal(0, 2 * DEG);
          const gx = (px - p.ox) * f;
          const gy = (py - p.oy) * f;
          emit(
            p.ox + Math.cos(ga) * gx - Math.sin(ga) * gy,
            p.oy + Math.sin(ga) * gx + Math.cos(ga) * gy,
            pz,
            B.vx[i]!,
            B.vy[i]!,
            rcs + RR.ghostRcsDb,
          );
        }
      }
    }
    // Clutter false alarms (ground, drains, unmodelled small objects): stationary, uniform.
    const nClutter = rng.poisson(m.clutter_per_scan * wx.clutter);
    for (let k = 0; k < nClutter; k++) {
      const range = rng.uniform(maxR * RR.clutterRange[0], maxR * RR.clutterRange[1]);
      const az = rng.uniform(-halfFov, halfFov);
      const el = rng.normal(0, 2 * DEG);
      const lx = range * Math.cos(el) * Math.cos(az);
      const ly = range * Math.cos(el) * Math.sin(az);
      const lz = range * Math.sin(el);
      const dx = R[0]! * lx + R[1]! * ly + R[2]! * lz;
      const dy = R[3]! * lx + R[4]! * ly + R[5]! * lz;
      const vr = (-svx * dx - svy * dy) / range;
      const doppler =
        rng.next() < RR.clutterDopplerShare
          ? rng.uniform(-RR.clutterDopplerMps, RR.clutterDopplerMps)
          : m.velocity_noise_mps * 3 * rng.gauss();
      rows.push(range, az, el, vr + doppler, rng.normal(-4, 4));
    }
    // The sensor reports at most maxReturns clusters: keep a random subset (in order).
    const STRIDE = RADAR_FIELDS.length;
    let n = rows.length / STRIDE;
    const keep = new Uint8Array(n).fill(1);
    for (let drop = n - RR.maxReturns; drop > 0; drop--) {
      let j = rng.int(n);
      while (!keep[j]) j = (j + 1) % n;
      keep[j] = 0;
    }
    const out = new Float32Array(Math.min(n, RR.maxReturns) * STRIDE);
    let o = 0;
    for (let j = 0; j < n; j++) {
      if (!keep[j]) continue;
      for (let f = 0; f < STRIDE; f++) out[o++] = rows[j * STRIDE + f]!;
    }
    n = o / STRIDE;
    return [{ kind: "radar_scan", returns: packed(RADAR_FIELDS, out.subarray(0, n * STRIDE)) }];
  }
}
