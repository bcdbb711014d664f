/**
 * IMU: specific force (m/s^2, gravity included: +9.81 on z when level and still) and angular rate
 * (rad/s) in the sensor frame, with a constant per-run bias and white noise. The world is flat, so
 * pitch and roll rates are zero; accelerations are longitudinal (dv/dt) and centripetal (v * yaw rate).
 */
import type { SensorPayload } from "../../src/msg/types.ts";
import { type Mount, mountOf } from "../frames.ts";
import type { Rng } from "../rng.ts";
import type { EgoKinematics } from "../world.ts";
import { newEgoKinematics } from "../world.ts";
import type { CaptureContext, ModelDeps, SensorModel } from "./types.ts";

export const GRAVITY_MPS2 = 9.80665;

export class ImuModel implements SensorModel {
  readonly sensor: ModelDeps["sensor"];
  private readonly rng: Rng;
  private readonly m: NonNullable<ModelDeps["sensor"]["imu"]>;
  private readonly mount: Mount;
  private readonly accelBias: [number, number, number];
  private readonly gyroBias: [number, number, number];
  private readonly ego: EgoKinematics = newEgoKinematics();

  constructor(d: ModelDeps) {
    this.sensor = d.sensor;
    this.rng = d.rng;
    this.m = d.sensor.imu!;
    this.mount = mountOf(d.sensor);
    const ab = this.m.accel_bias_mps2;
    const gb = this.m.gyro_bias_radps;
    this.accelBias = [this.rng.normal(0, ab), this.rng.normal(0, ab), this.rng.normal(0, ab)];
    this.gyroBias = [this.rng.normal(0, gb), this.rng.normal(0, gb), this.rng.normal(0, gb)];
  }

  capture(ctx: CaptureContext): SensorPayload[] {
    const rng = this.rng;
    const ego = ctx.world.egoAt(ctx.tNs, this.ego);
    const t = this.mount.t;
    const w = ego.yawRate;
    // Vehicle-frame specific force at the mounting point: a + w x (w x r) (+ gravity).
    const ax = ego.accel - w * w * t[0];
    const ay = ego.speed * w - w * w * t[1];
    const az = GRAVITY_MPS2;
    // Vehicle -> sensor frame: R^T v.
    const R = this.mount.R;
    const an = this.m.accel_noise_mps2 * ctx.noise;
    const gn = this.m.gyro_noise_radps * ctx.noise;
    const accel: [number, number, number] = [
      R[0]! * ax + R[3]! * ay + R[6]! * az + this.accelBias[0] + an * rng.gauss(),
      R[1]! * ax + R[4]! * ay + R[7]! * az + this.accelBias[1] + an * rng.gauss(),
      R[2]! * ax + R[5]! * ay + R[8]! * az + this.accelBias[2] + an * rng.gauss(),
    ];
    const gyro: [number, number, number] = [
      R[6]! * w + this.gyroBias[0] + gn * rng.gauss(),
      R[7]! * w + this.gyroBias[1] + gn * rng.gauss(),
      R[8]! * w + this.gyroBias[2] + gn * rng.gauss(),
    ];
    return [{ kind: "imu", accel, gyro }];
  }
}
