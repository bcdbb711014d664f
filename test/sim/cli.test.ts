import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { decodeGroundTruth } from "../../src/msg/codec.ts";
import { type Mosquitto, startMosquitto } from "../../harness/mosquitto.ts";
import { needs } from "../../harness/programs.ts";
import { decodeOk, runFor, simOptions } from "./_helpers.ts";

const BIN = fileURLToPath(new URL("../../bin/fusion.js", import.meta.url));

function fusion(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => {
      stdout += d;
    });
    p.stderr.on("data", (d) => {
      stderr += d;
    });
    p.once("error", reject);
    p.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("fusion sim (CLI) against a real mosquitto", { skip: needs("mosquitto") }, () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  it("--help lists every flag", async () => {
    const r = await fusion(["sim", "--help"]);
    assert.equal(r.code, 0);
    for (const f of [
      "--broker",
      "--rig",
      "--scenario",
      "--conditions",
      "--seed",
      "--vehicles",
      "--rate",
      "--faults",
      "--duration",
      "--camera-frames",
    ])
      assert.ok(r.stdout.includes(f), `help lacks ${f}`);
    assert.ok(r.stdout.includes("mqtt://127.0.0.1:1883"));
  });

  it("bad flags and bad fault scripts fail with one line and exit code 2", async () => {
    for (const args of [
      ["--scenario", "moon"],
      ["--faults", "lidar:explode@1s"],
      ["--rate", "-1"],
      ["--rig", "nope"],
    ]) {
      const r = await fusion(["sim", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /^fusion sim: /);
    }
  });

  it("real-time run stops cleanly on SIGINT and reports what it published", async () => {
    const p = spawn(process.execPath, [BIN, "sim", "--broker", broker.url, "--rig", "nuscenes"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    const started = new Promise<void>((resolve) => {
      p.stderr.on("data", (d) => {
        stderr += d;
        if (stderr.includes("vehicle(s)")) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => p.once("exit", (code) => resolve(code)));
    await started;
    // Let it publish a little (the simulator's own clock decides how much), then interrupt.
    const sub = await mqtt.connectAsync(broker.url);
    await sub.subscribeAsync("fusion/sim-1/sensors/LIDAR_TOP");
    await new Promise<void>((resolve) => sub.once("message", () => resolve()));
    await sub.endAsync();
    p.kill("SIGINT");
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /published \d+ messages/);
  });

  it("publishes every vehicle's sensors and truth; payloads match the library byte for byte", async () => {
    const sub = await mqtt.connectAsync(broker.url);
    const got = new Map<string, Buffer[]>();
    sub.on("message", (topic, payload) => {
      const l = got.get(topic) ?? [];
      l.push(Buffer.from(payload));
      got.set(topic, l);
    });
    await sub.subscribeAsync("fusion/#", { qos: 1 });
    try {
      const r = await fusion([
        "sim",
        "--broker",
        broker.url,
        "--duration",
        "2",
        "--rate",
        "0",
        "--vehicles",
        "2",
        "--seed",
        "3",
        "--faults",
        "gnss:drop@0.5s+0.5s",
      ]);
      assert.equal(r.code, 0, r.stderr);
      // Let the last QoS 1 truth messages arrive.
      await new Promise<void>((resolve) => {
        const check = () =>
          (got.get("fusion/sim-2/truth")?.length ?? 0) >= 19 ? resolve() : setTimeout(check, 20);
        check();
      });
    } finally {
      await sub.endAsync();
    }
    const expected = runFor(simOptions({ seed: 3, vehicles: 2, faults: "gnss:drop@0.5s+0.5s" }), 2);
    for (const v of ["sim-1", "sim-2"]) {
      for (const id of ["lidar", "radar_front", "cam_front", "gnss", "imu"]) {
        const topic = `fusion/${v}/sensors/${id}`;
        const want = expected.filter((e) => e.topic === topic);
        const have = got.get(topic) ?? [];
        assert.ok(want.length > 5);
        assert.equal(have.length, want.length, `${topic}: ${have.length} of ${want.length}`);
        have.forEach((b, i) => {
          assert.ok(b.equals(Buffer.from(want[i]!.payload)), `${topic} #${i} differs`);
        });
        decodeOk({ ...want[0]!, payload: have[0]! });
      }
      const truth = got.get(`fusion/${v}/truth`)!;
      const g = decodeGroundTruth(truth[7]!);
      assert.ok(g.ok);
      assert.deepEqual(g.value.activeFaults, ["gnss:drop@0.5s+0.5s"]);
    }
  });
});
