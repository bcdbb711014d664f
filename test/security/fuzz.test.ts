/**
 * Fuzz (issue 18): fast-check generates 12,000 hostile payloads on every sensor topic of a simulated
 * vehicle (random bytes, mutated valid payloads, and valid messages with hostile field values) and
 * interleaves them with 20 s of its real traffic. Everything runs in-process through the service's
 * own stages: decode -> health -> aligner (arrival clock) -> health -> classical fusion. The stages
 * never throw, every hostile payload is counted (rejected at decode with a code, or dropped and
 * counted by the aligner / EKF, or taken as the valid message it is), and the real traffic is fused
 * around them about as well as without them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { from, lastValueFrom, tap, toArray } from "rxjs";
import { alignVehicle } from "../../src/align/index.ts";
import type { AlignedTick } from "../../src/align/types.ts";
import { createEngine } from "../../src/fusion/index.ts";
import { HealthMonitor } from "../../src/health/index.ts";
import { encodeSensorMessage, PB } from "../../src/msg/codec.ts";
import { topics } from "../../src/msg/topics.ts";
import type { SensorEnvelope, SensorMessage } from "../../src/msg/types.ts";
import { loadRig } from "../../src/rig/load.ts";
import { decodeSensors } from "../../src/streams/decode-sensors.ts";
import type { DecodeFailure, RawMessage } from "../../src/streams/types.ts";
import { DEFAULT_SIM_OPTIONS, Simulation } from "../../sim/index.ts";

const rig = loadRig("sim");
const VEH = "sim-1";
const DURATION_S = 20;
const N_CASES = 12_000;

/** 20 s of the vehicle's real traffic from the simulator (sensor topics only), in send order. */
function honestTraffic(): RawMessage[] {
  const so = { ...DEFAULT_SIM_OPTIONS, rig, vehicles: 1, seed: 5 };
  const sim = new Simulation(so);
  return sim
    .until(so.startNs + DURATION_S * 1e9)
    .filter((e) => e.sensorId !== null)
    .map((e) => ({ topic: e.topic, payload: e.payload, arrivalNs: e.sendNs }));
}

/** One hostile case: where it goes and what it carries. */
interface Case {
  sensor: number;
  at: number; // fraction of the run
  kind: "random" | "mutated" | "hostile_valid";
  payload: Uint8Array;
}

function arbitraries(honest: RawMessage[]) {
  const ids = rig.sensors.map((s) => s.id);
  const bySensor = ids.map((id) => honest.filter((m) => m.topic.endsWith(`/${id}`)));
  const random = fc.record({
    sensor: fc.nat({ max: ids.length - 1 }),
    at: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
    kind: fc.constant("random" as const),
    payload: fc.uint8Array({ maxLength: 600 }),
  });
  // A real payload of that sensor with 1-8 byte edits (overwrite, insert, delete, truncate).
  const mutated = fc
    .record({
      sensor: fc.nat({ max: ids.length - 1 }),
      at: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
      pick: fc.nat(),
      edits: fc.array(
        fc.record({
          op: fc.constantFrom("set", "ins", "del", "cut"),
          pos: fc.nat(),
          val: fc.nat({ max: 255 }),
        }),
        { minLength: 1, maxLength: 8 },
      ),
    })
    .map(({ sensor, at, pick, edits }): Case => {
      const pool = bySensor[sensor]!;
      let b = Array.from(pool[pick % pool.length]!.payload.subarray(0, 4096));
      for (const e of edits) {
        const p = b.length ? e.pos % b.length : 0;
        if (e.op === "set" && b.length) b[p] = e.val;
        else if (e.op === "ins") b.splice(p, 0, e.val);
        else if (e.op === "del") b.splice(p, 1);
        else b = b.slice(0, p);
      }
      return { sensor, at, kind: "mutated", payload: Uint8Array.from(b) };
    });
  // Valid protobuf with hostile values: any stamp, ids, floats (NaN, Inf, 1e308), layouts.
  const dbl = fc.oneof(fc.double(), fc.constantFrom(1e308, -1e308, 0, 5e6, Number.NaN));
  const hostileValid = fc
    .record({
      sensor: fc.nat({ max: ids.length - 1 }),
      at: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
      stampOff: fc.oneof(fc.integer({ min: -10_000, max: 10_000 }), fc.constantFrom(-5000, 5000, 0)),
      frameId: fc.oneof(fc.string({ maxLength: 40 }), fc.constant("x\nFORGED ERROR line")),
      // mostly the sensor's own payload kind (reaches the aligner and the EKF), else any kind
      which: fc.oneof(
        { arbitrary: fc.constant(-1), weight: 3 },
        { arbitrary: fc.nat({ max: 4 }), weight: 1 },
      ),
      v: fc.array(dbl, { minLength: 9, maxLength: 9 }),
      stride: fc.nat({ max: 40 }),
      count: fc.nat({ max: 2000 }),
    })
    .map((r): Case => {
      const id = ids[r.sensor]!;
      const header = { vehicle: VEH, sensorId: id, frameId: r.frameId, stampNs: 0, seq: 1 };
      const v = r.v;
      const own = { imu: 0, gnss: 1, lidar: 2, camera: 3, radar: 4 } as Record<string, number>;
      const which = r.which >= 0 ? r.which : (own[rig.sensors[r.sensor]!.kind] ?? 0);
      let body: object;
      switch (which) {
        case 0:
          body = {
            imu: {
              linearAcceleration: { x: v[0], y: v[1], z: v[2] },
              angularVelocity: { x: v[3], y: v[4], z: v[5] },
            },
          };
          break;
        case 1:
          body = {
            gnssFix: {
              latitudeDeg: v[0],
              longitudeDeg: v[1],
              altitudeM: v[2],
              hasVelocity: true,
              velocityEast: v[3],
              velocityNorth: v[4],
            },
          };
          break;
        case 2:
          body = {
            pointCloud: {
              layout: {
                stride: r.stride,
                count: r.count,
                fields: [
                  { name: "x", offset: 0 },
                  { name: "y", offset: 4 },
                  { name: "z", offset: 8 },
                ],
              },
              data: new Uint8Array(Math.min(r.stride * r.count, 40_000)),
            },
          };
          break;
        case 3:
          body = {
            cameraDetections: {
              imageWidth: 1600,
              imageHeight: 900,
              detections: [{ xMin: v[0], yMin: v[1], xMax: v[2], yMax: v[3], score: v[4], cls: 1 }],
            },
          };
          break;
        default:
          body = { radarScan: { layout: { stride: 16, count: 1, fields: [] }, data: new Uint8Array(16) } };
      }
      // Stamp: filled in at injection time (relative to the real clock there), via stampOff ms.
      return {
        sensor: r.sensor,
        at: r.at,
        kind: "hostile_valid",
        payload: encodeHeaderLater(header, body, r.stampOff),
      };
    });
  return fc.oneof(
    random.map((c) => c as Case),
    mutated,
    hostileValid,
  );
}

/** Hostile-valid payloads need the stamp of their injection time: keep the parts, stamp later. */
const pendingStamp = new WeakMap<Uint8Array, { header: object; body: object; stampOffMs: number }>();
function encodeHeaderLater(header: object, body: object, stampOffMs: number): Uint8Array {
  const placeholder = new Uint8Array(1);
  pendingStamp.set(placeholder, { header, body, stampOffMs });
  return placeholder;
}
function finalize(c: Case, atNs: number): Uint8Array {
  const p = pendingStamp.get(c.payload);
  if (!p) return c.payload;
  const stampNs = Math.max(1, Math.round(atNs + p.stampOffMs * 1e6));
  return PB.SensorMessage.encode({ header: { ...p.header, stampNs }, ...p.body } as never).finish();
}

interface RunResult {
  ticks: AlignedTick[];
  objectsPerFrame: number;
  failures: DecodeFailure[];
  decoded: number;
  egoEnd: { x: number; y: number };
}

async function runPipeline(raw: RawMessage[]): Promise<RunResult> {
  const health = new HealthMonitor(VEH, rig);
  const failures: DecodeFailure[] = [];
  let decoded = 0;
  const kindOf = new Map(rig.sensors.map((s) => [s.id, s.kind] as const));
  const ticks = await lastValueFrom(
    from(raw).pipe(
      decodeSensors({ kindOf: (id) => kindOf.get(id), onFailure: (f) => failures.push(f) }),
      tap((env: SensorEnvelope) => {
        decoded++;
        health.onMessage(env);
      }),
      alignVehicle(rig, { vehicle: VEH, clock: "arrival" }),
      toArray(),
    ),
  );
  const engine = await createEngine("classical", rig, { ep: "cpu" });
  let objects = 0;
  for (const t of ticks) {
    health.onTick(t);
    const snap = health.evaluate(t.emittedNs);
    const r = await engine.fuse(t, snap);
    objects += r.objects.length;
  }
  await engine.close();
  const last = ticks.at(-1)!;
  return {
    ticks,
    objectsPerFrame: objects / ticks.length,
    failures,
    decoded,
    egoEnd: { x: last.ego.x, y: last.ego.y },
  };
}

test(`fuzz: ${N_CASES} hostile payloads on every sensor topic; the service stays up, counts them, and fuses around them`, async () => {
  const honest = honestTraffic();
  const t0 = honest[0]!.arrivalNs;
  const t1 = honest.at(-1)!.arrivalNs;
  const cases = fc.sample(arbitraries(honest), { numRuns: N_CASES, seed: 18 });
  const kinds = { random: 0, mutated: 0, hostile_valid: 0 };
  const hostile: RawMessage[] = cases.map((c) => {
    kinds[c.kind]++;
    const at = Math.round(t0 + c.at * (t1 - t0));
    return { topic: topics.sensor(VEH, rig.sensors[c.sensor]!.id), payload: finalize(c, at), arrivalNs: at };
  });
  assert.ok(
    Object.values(kinds).every((n) => n > 2000),
    JSON.stringify(kinds),
  );
  const mixed = [...honest, ...hostile].sort((a, b) => a.arrivalNs - b.arrivalNs);

  const base = await runPipeline(honest);
  const fuzzed = await runPipeline(mixed);

  // Every hostile payload is accounted for: rejected at decode with a code, or passed on as a valid
  // message (then dropped and counted by the aligner or EKF, or used as the valid message it is).
  assert.equal(fuzzed.failures.length + fuzzed.decoded, mixed.length);
  assert.equal(base.failures.length, 0);
  const codes = new Set(fuzzed.failures.map((f) => f.code));
  for (const c of ["E_PROTO", "E_LAYOUT", "E_NOT_FINITE", "E_KIND_MISMATCH"])
    assert.ok(codes.has(c), `${c} seen`);
  const d = fuzzed.ticks.at(-1)!.diagnostics;
  const alignerDrops = Object.values(d.drops).reduce(
    (n, r) => n + Object.values(r).reduce((a, b) => a + b, 0),
    0,
  );
  assert.ok(alignerDrops > 50, `aligner drops ${alignerDrops}`);
  console.log(
    `# fuzz: ${mixed.length - honest.length} hostile (${JSON.stringify(kinds)}), ${fuzzed.failures.length} rejected at decode (${[...codes].join(" ")}), ${alignerDrops} dropped by the aligner/EKF, resets ${d.resets}; ticks ${fuzzed.ticks.length} vs ${base.ticks.length}; objects/frame ${fuzzed.objectsPerFrame.toFixed(2)} vs ${base.objectsPerFrame.toFixed(2)}`,
  );

  // The real traffic is fused around them.
  assert.equal(d.resets, 0, "no lone message reset the world state");
  const refTicks = (r: RunResult) =>
    r.ticks.filter(
      (t) =>
        t.trigger === "reference" && t.inputs.find((i) => i.sensorId === rig.reference)!.status === "present",
    ).length;
  assert.ok(
    refTicks(fuzzed) >= 0.95 * refTicks(base),
    `LiDAR ticks ${refTicks(fuzzed)} vs ${refTicks(base)}`,
  );
  assert.ok(fuzzed.objectsPerFrame >= 0.8 * base.objectsPerFrame, "objects per frame kept");
  const egoErr = Math.hypot(fuzzed.egoEnd.x - base.egoEnd.x, fuzzed.egoEnd.y - base.egoEnd.y);
  assert.ok(egoErr < 2, `ego at the end ${egoErr.toFixed(2)} m from the clean run`);
  const stamps = fuzzed.ticks.map((t) => t.stampNs);
  for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i]! > stamps[i - 1]!, "tick stamps only grow");
});

test("fuzz: decode never throws on 3,000 arbitrary byte strings (property)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
      const r = from([{ topic: topics.sensor(VEH, "lidar"), payload: b, arrivalNs: 1 }]);
      let threw = false;
      r.pipe(decodeSensors({ onFailure: () => {} })).subscribe({ error: () => (threw = true) });
      return !threw;
    }),
    { numRuns: 3000, seed: 18 },
  );
  // and a valid message still decodes (the property is not vacuous)
  const ok: SensorMessage = {
    header: { vehicle: VEH, sensorId: "imu", frameId: "imu", stampNs: 1e18, seq: 1 },
    payload: { kind: "imu", accel: [0, 0, 9.8], gyro: [0, 0, 0] },
  };
  let got = 0;
  from([{ topic: topics.sensor(VEH, "imu"), payload: encodeSensorMessage(ok), arrivalNs: 1 }])
    .pipe(decodeSensors({ onFailure: () => {} }))
    .subscribe(() => got++);
  assert.equal(got, 1);
});
