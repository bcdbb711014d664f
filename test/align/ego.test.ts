/** Ego-state EKF on a synthetic drive: convergence, dead reckoning through an outage, gating. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EgoEkf } from "../../src/align/ego.ts";
import { enuToGeodetic, geodeticToEnu } from "../../sim/geo.ts";

const ORIGIN = { latDeg: 48.1, lonDeg: 11.5, altM: 500 };

/** Deterministic gaussian noise (Box-Muller over a small LCG). */
function rng(seed: number) {
  let s = seed;
  const u = () => ((s = (s * 1664525 + 1013904223) % 2 ** 32) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** Circle at 10 m/s, 0.1 rad/s, starting heading east at (5, 5). */
const V = 10;
const W = 0.1;
const truth = (t: number) => ({
  x: 5 + (V / W) * Math.sin(W * t),
  y: 5 + (V / W) * (1 - Math.cos(W * t)),
  yaw: W * t,
});

interface Drive {
  ekf: EgoEkf;
  errAt: (tS: number) => number;
  stdAt: number[];
}

/** A hostile or faulty source: replaces one measurement at time t (s) when it returns a value. */
interface Tamper {
  gnss?: (t: number, fix: import("../../src/align/ego.ts").GnssFixInput) => typeof fix | undefined;
  imu?: (t: number) => { accel: [number, number, number]; gyro: [number, number, number] } | undefined;
  /** Offset of the real fixes from the truth from this time on (a relocalisation), m east. */
  shiftFromS?: number;
  shiftM?: number;
}

function drive(o: {
  durationS: number;
  outage?: [number, number];
  jumpAtS?: number;
  tamper?: Tamper;
}): Drive {
  const ekf = new EgoEkf({ gnssStdM: 0.5, gnssVelStdMps: 0.1, gyroStdRadps: 0.002, accelStdMps2: 0.05 });
  const g = rng(7);
  const gyroBias = 0.001;
  const accelBias = 0.02;
  const stdAt: number[] = [];
  const errs: number[] = [];
  for (let k = 0; k <= o.durationS * 100; k++) {
    const t = k / 100;
    const ns = 1e12 + Math.round(t * 1e9);
    const bad = o.tamper?.imu?.(t);
    if (bad) ekf.processImu(ns, bad.accel, bad.gyro);
    else ekf.processImu(ns, [accelBias + 0.05 * g(), 0, 9.81], [0, 0, W + gyroBias + 0.002 * g()]);
    const out = o.outage && t >= o.outage[0] && t < o.outage[1];
    if (k % 10 === 0 && !out) {
      const p = truth(t);
      const jump = o.jumpAtS !== undefined && Math.abs(t - o.jumpAtS) < 1e-9 ? 6 : 0;
      const shift = o.tamper?.shiftFromS !== undefined && t >= o.tamper.shiftFromS ? o.tamper.shiftM! : 0;
      const geo = enuToGeodetic(ORIGIN, p.x + 0.3 * g() + jump + shift, p.y + 0.3 * g(), 0);
      const fix = {
        latitudeDeg: geo.latDeg,
        longitudeDeg: geo.lonDeg,
        altitudeM: geo.altM,
        fixType: 2 as const,
        covariance: null,
        velocityEN: [V * Math.cos(p.yaw) + 0.05 * g(), V * Math.sin(p.yaw) + 0.05 * g()] as [number, number],
      };
      ekf.processGnss(ns, o.tamper?.gnss?.(t, fix) ?? fix);
    }
    if (k % 100 === 0) {
      // Once per second: uncertainty, and error against the truth (the EKF's origin is the
      // first fix: shift its estimate into the drive's frame).
      const st = ekf.stateAt(ns);
      stdAt.push(st.positionStdM);
      const o = geodeticToEnu(ORIGIN, ekf.origin!.latDeg, ekf.origin!.lonDeg, ekf.origin!.altM);
      const p = truth(t);
      errs.push(Math.hypot(st.x + o.east - p.x, st.y + o.north - p.y));
    }
  }
  const errAt = (tS: number) => errs[Math.round(tS)]!;
  return { ekf, errAt, stdAt };
}

describe("ego EKF", () => {
  it("tracks a turning drive with GNSS up (error well below the fix noise)", () => {
    const d = drive({ durationS: 30 });
    const errs = [10, 15, 20, 25, 30].map((t) => d.errAt(t));
    const rms = Math.sqrt(errs.reduce((a, b) => a + b * b, 0) / errs.length);
    assert.ok(rms < 0.35, `rms ${rms} m`);
    const s = d.ekf.stateAt(1e12 + 30e9);
    assert.ok(Math.abs(s.speed - V) < 0.1, `speed ${s.speed}`);
    assert.ok(Math.abs(s.yawRate - W) < 0.005, `yaw rate ${s.yawRate} (gyro bias learned)`);
  });

  it("dead-reckons through a 10 s GNSS outage with growing uncertainty", () => {
    const d = drive({ durationS: 31, outage: [20, 30] });
    const during = d.stdAt.slice(20, 30); // t = 20 .. 29 s, no fix
    for (let i = 1; i < during.length; i++)
      assert.ok(during[i]! > during[i - 1]!, `std not growing at ${20 + i} s`);
    const e = d.errAt(29);
    assert.ok(e < 2, `error at the end of the outage ${e} m`);
    assert.ok(during.at(-1)! > d.stdAt[19]! * 2, "uncertainty at the end of the outage well above before");
  });

  it("refuses a multipath jump (innovation gate) and refuses stale measurements", () => {
    const d = drive({ durationS: 20, jumpAtS: 15 });
    assert.equal(d.ekf.gnssRejected, 1);
    assert.ok(d.errAt(16) < 0.5);
    assert.equal(d.ekf.processImu(1e12, [0, 0, 9.81], [0, 0, 0]), false, "older than the filter time");
  });

  it("a bit-flipped but valid fix 5,200 km away is refused and counted; the track holds", () => {
    const d = drive({
      durationS: 20,
      tamper: {
        gnss: (t, f) => (Math.abs(t - 12) < 1e-9 ? { ...f, latitudeDeg: f.latitudeDeg + 47 } : undefined),
      },
    });
    assert.equal(d.ekf.gnssRejected, 1);
    assert.equal(d.ekf.relocalisations, 0);
    for (const t of [12, 13, 15, 20]) assert.ok(d.errAt(t) < 0.5, `error ${d.errAt(t)} m at ${t} s`);
  });

  it("an absurd GNSS velocity or IMU sample is refused by its innovation gate and counted", () => {
    const d = drive({
      durationS: 20,
      tamper: {
        gnss: (t, f) => (Math.abs(t - 10) < 1e-9 ? { ...f, velocityEN: [1e6, -3e5] } : undefined),
        imu: (t) => (Math.abs(t - 14) < 1e-9 ? { accel: [5e4, 0, 9.81], gyro: [0, 0, 300] } : undefined),
      },
    });
    assert.equal(d.ekf.gnssVelRejected, 1);
    assert.equal(d.ekf.imuRejected, 1);
    for (const t of [11, 15, 20]) assert.ok(d.errAt(t) < 0.5, `error ${d.errAt(t)} m at ${t} s`);
  });

  it("recovers from a real relocalisation (every fix 40 m off from 12 s) after 5 s of agreeing fixes", () => {
    const d = drive({ durationS: 25, tamper: { shiftFromS: 12, shiftM: 40 } });
    assert.equal(d.ekf.relocalisations, 1);
    // Error against the shifted truth (the fixes are now right): small again at the end.
    const o = geodeticToEnu(ORIGIN, d.ekf.origin!.latDeg, d.ekf.origin!.lonDeg, d.ekf.origin!.altM);
    const st = d.ekf.stateAt(1e12 + 25e9);
    const p = truth(25);
    assert.ok(Math.abs(st.x + o.east - (p.x + 40)) < 1, `east ${st.x + o.east} vs ${p.x + 40}`);
    assert.ok(d.errAt(20) > 35, `off the old truth by the shift after the relocalisation: ${d.errAt(20)}`);
  });

  it("a multipath episode (6 m off for 3 s) is refused throughout, not mistaken for a relocalisation", () => {
    const d = drive({
      durationS: 20,
      tamper: {
        gnss: (t, f) =>
          t >= 10 && t < 13
            ? { ...f, longitudeDeg: f.longitudeDeg + 6 / (111_320 * Math.cos((48.1 * Math.PI) / 180)) }
            : undefined,
      },
    });
    assert.equal(d.ekf.relocalisations, 0);
    for (const t of [11, 12, 13, 15]) assert.ok(d.errAt(t) < 0.6, `error ${d.errAt(t)} m at ${t} s`);
  });

  it("pose history: relative motion between two instants matches the drive", () => {
    const d = drive({ durationS: 10 });
    const m = d.ekf.relativeMotion(1e12 + 9.9e9, 1e12 + 10e9);
    // 0.1 s at 10 m/s straight-ish: the earlier pose is ~1 m behind, rotated back by w * 0.1.
    assert.ok(Math.abs(m.dx + 1) < 0.05, `dx ${m.dx}`);
    assert.ok(Math.abs(m.dyaw + W * 0.1) < 0.002, `dyaw ${m.dyaw}`);
  });
});
