/**
 * GNSS receiver: latitude/longitude/altitude of the antenna around the rig's GNSS origin
 * (sim/geo.ts), with a slowly wandering bias (Gauss-Markov, 30 s), white noise, and multipath
 * jumps (a few metres for 1-4 s, more often in urban canyons) during which the fix type degrades
 * and the reported covariance only sometimes grows (receivers do not always know). Ground velocity
 * (ENU) with noise.
 */
import { FixType, type SensorPayload } from "../../src/msg/types.ts";
import { type Mount, mountOf, newPose, type SensorPose, sensorPose } from "../frames.ts";
import { enuToGeodetic, type GeoOrigin, originOfGnssModel } from "../geo.ts";
import type { Rng } from "../rng.ts";
import type { EgoKinematics } from "../world.ts";
import { newEgoKinematics } from "../world.ts";
import type { CaptureContext, ModelDeps, SensorModel } from "./types.ts";

const FIX: Record<string, FixType> = {
  fix_3d: FixType.FIX_3D,
  dgps: FixType.DGPS,
  rtk_float: FixType.RTK_FLOAT,
  rtk_fixed: FixType.RTK_FIXED,
};
const MULTIPATH_SCALE: Record<string, number> = { urban: 2, intersection: 1.5, highway: 0.3 };
const TAU_S = 30;

export class GnssModel implements SensorModel {
  readonly sensor: ModelDeps["sensor"];
  private readonly rng: Rng;
  private readonly m: NonNullable<ModelDeps["sensor"]["gnss"]>;
  private readonly mount: Mount;
  private readonly origin: GeoOrigin;
  private readonly multipathRate: number;
  private readonly pose: SensorPose = newPose();
  private readonly ego: EgoKinematics = newEgoKinematics();
  private bias = [0, 0, 0];
  private lastNs = Number.NaN;
  private mpUntilNs = Number.NEGATIVE_INFINITY;
  private mp = [0, 0];
  private mpReported = false;

  constructor(d: ModelDeps) {
    this.sensor = d.sensor;
    this.rng = d.rng;
    this.m = d.sensor.gnss!;
    this.mount = mountOf(d.sensor);
    this.origin = originOfGnssModel(this.m);
    this.multipathRate = this.m.multipath_rate_hz * (MULTIPATH_SCALE[d.scenario] ?? 1);
    const sb = this.m.noise_m * 0.7;
    this.bias = [this.rng.normal(0, sb), this.rng.normal(0, sb), this.rng.normal(0, sb * 1.5)];
  }

  capture(ctx: CaptureContext): SensorPayload[] {
    const rng = this.rng;
    const m = this.m;
    const ego = ctx.world.egoAt(ctx.tNs, this.ego);
    const p = sensorPose(ego, this.mount, this.pose);
    const dt = Number.isNaN(this.lastNs) ? 0 : (ctx.tNs - this.lastNs) / 1e9;
    this.lastNs = ctx.tNs;
    // Gauss-Markov bias: stationary std 0.7 * noise_m.
    const phi = Math.exp(-dt / TAU_S);
    const q = m.noise_m * 0.7 * Math.sqrt(1 - phi * phi);
    for (let k = 0; k < 3; k++) this.bias[k] = phi * this.bias[k]! + q * (k === 2 ? 1.5 : 1) * rng.gauss();
    if (ctx.tNs >= this.mpUntilNs && rng.next() < this.multipathRate * dt) {
      this.mpUntilNs = ctx.tNs + rng.uniform(1, 4) * 1e9;
      const ang = rng.uniform(0, 2 * Math.PI);
      const mag = m.multipath_m * rng.uniform(0.5, 1.5);
      this.mp = [mag * Math.cos(ang), mag * Math.sin(ang)];
      this.mpReported = rng.chance(0.5);
    }
    const inMp = ctx.tNs < this.mpUntilNs;
    const white = m.noise_m * 0.3 * ctx.noise;
    const e = p.ox + this.bias[0]! + (inMp ? this.mp[0]! : 0) + white * rng.gauss();
    const n = p.oy + this.bias[1]! + (inMp ? this.mp[1]! : 0) + white * rng.gauss();
    const u = p.oz + this.bias[2]! + white * 1.5 * rng.gauss();
    const geo = enuToGeodetic(this.origin, e, n, u);
    const sh = m.noise_m * ctx.noise * (inMp && this.mpReported ? 4 : 1);
    const nominal = FIX[m.fix_type] ?? FixType.DGPS;
    const lever = ego.yawRate;
    const vE = ego.vx - lever * (p.oy - ego.y) + 0.05 * ctx.noise * rng.gauss();
    const vN = ego.vy + lever * (p.ox - ego.x) + 0.05 * ctx.noise * rng.gauss();
    return [
      {
        kind: "gnss_fix",
        latitudeDeg: geo.latDeg,
        longitudeDeg: geo.lonDeg,
        altitudeM: geo.altM,
        fixType: inMp ? FixType.FIX_3D : nominal,
        covariance: [sh * sh, 0, 0, 0, sh * sh, 0, 0, 0, 2.25 * sh * sh],
        velocityEN: [vE, vN],
      },
    ];
  }
}
