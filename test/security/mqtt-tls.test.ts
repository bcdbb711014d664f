/**
 * MQTT security against a real mosquitto (issue 18): password file, ACL and a self-signed CA made
 * here with openssl. `fusion serve` connects over TLS with a user name and a password file (its
 * built-in simulator too), wrong credentials give one clear line and retries with backoff, and no
 * credential appears in any line the service prints.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import mqtt from "mqtt";
import { decodeFusedFrame } from "../../src/msg/codec.ts";
import { topics } from "../../src/msg/topics.ts";
import { spawnFusion } from "../../harness/cli.ts";
import { freePort } from "../../src/util/net.ts";
import { needs, requireProgram } from "../../harness/programs.ts";

// Found on PATH (harness/programs.ts); absent: one skip line (a failure under CI=true).
const skip = needs("mosquitto", "mosquitto_passwd", "openssl");
const bin = (name: "mosquitto" | "mosquitto_passwd" | "openssl") => (skip ? name : requireProgram(name));
const MOSQUITTO = bin("mosquitto");
const PASSWD = bin("mosquitto_passwd");
const OPENSSL = bin("openssl");

const PASSWORD = "s3cret-Pa55word-xyz";
const WRONG = "wr0ng-Pa55word-abc";

describe("MQTT over TLS with a password file and an ACL (real mosquitto)", { skip }, () => {
  let dir = "";
  let port = 0;
  let broker: ChildProcess | null = null;
  let brokerLog = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mqtt-tls-"));
    const ssl = (...args: string[]) => execFileSync(OPENSSL, args, { cwd: dir, stdio: "pipe" });
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=test-ca",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
    );
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
    );
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    ssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "san.ext",
      "-out",
      "server.crt",
    );
    execFileSync(PASSWD, ["-b", "-c", join(dir, "passwd"), "fusion", PASSWORD]);
    execFileSync(PASSWD, ["-b", join(dir, "passwd"), "watcher", PASSWORD]);
    writeFileSync(
      join(dir, "acl"),
      ["user fusion", "topic readwrite fusion/#", "", "user watcher", "topic read fusion/+/fused", ""].join(
        "\n",
      ),
    );
    writeFileSync(join(dir, "pw.txt"), `${PASSWORD}\n`, { mode: 0o600 });
    writeFileSync(join(dir, "wrong.txt"), `${WRONG}\n`, { mode: 0o600 });
    port = await freePort();
    writeFileSync(
      join(dir, "mosquitto.conf"),
      [
        `listener ${port} 127.0.0.1`,
        `cafile ${join(dir, "ca.crt")}`,
        `certfile ${join(dir, "server.crt")}`,
        `keyfile ${join(dir, "server.key")}`,
        "allow_anonymous false",
        `password_file ${join(dir, "passwd")}`,
        `acl_file ${join(dir, "acl")}`,
        "persistence false",
        // Started as root (a container), mosquitto would drop to user mosquitto, who cannot read this
        // test's private folder; as anyone else the line is ignored.
        `user ${userInfo().username}`,
        "max_packet_size 8388608",
        "log_dest stderr",
        "",
      ].join("\n"),
    );
    broker = spawn(MOSQUITTO, ["-c", join(dir, "mosquitto.conf")], { stdio: ["ignore", "ignore", "pipe"] });
    broker.stderr!.on("data", (d) => {
      brokerLog += d;
    });
    const deadline = Date.now() + 5000;
    while (!/Opening ipv4 listen socket on port/.test(brokerLog)) {
      if (Date.now() > deadline || broker.exitCode !== null)
        throw new Error(`mosquitto did not start:\n${brokerLog}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    if (broker && broker.exitCode === null) {
      const gone = new Promise((r) => broker!.once("exit", r));
      broker.kill("SIGTERM");
      await gone;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const url = () => `mqtts://127.0.0.1:${port}`;

  test("serve connects over TLS with a user name and a password file; frames flow; no secret is printed", async () => {
    const ca = readFileSync(join(dir, "ca.crt"));
    const watcher = await mqtt.connectAsync(url(), {
      ca,
      username: "watcher",
      password: PASSWORD,
      reconnectPeriod: 0,
    });
    const frames: Buffer[] = [];
    watcher.on("message", (_t, p) => frames.push(p));
    await watcher.subscribeAsync(topics.fused("sim-1"));
    const svc = spawnFusion([
      "serve",
      "--broker",
      url(),
      "--mqtt-username",
      "fusion",
      "--mqtt-password-file",
      join(dir, "pw.txt"),
      "--mqtt-ca",
      join(dir, "ca.crt"),
      "--http",
      "off",
    ]);
    try {
      await svc.waitFor(/fusion service '.*' running/, 30_000);
      const deadline = Date.now() + 20_000;
      while (frames.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(frames.length >= 3, `fused frames seen by the read-only user: ${frames.length}`);
      const r = decodeFusedFrame(frames.at(-1)!);
      assert.ok(r.ok && r.value.vehicle === "sim-1");
    } finally {
      await svc.stop();
      await watcher.endAsync(true);
    }
    assert.ok(!svc.output().includes(PASSWORD), "the password never appears in the output");
    assert.ok(!/Connection refused|not authori/i.test(svc.output()), svc.output().slice(-2000));
  });

  test("the ACL holds: the read-only user cannot inject sensor data", async () => {
    const ca = readFileSync(join(dir, "ca.crt"));
    const spy = await mqtt.connectAsync(url(), {
      ca,
      username: "fusion",
      password: PASSWORD,
      reconnectPeriod: 0,
    });
    const got: string[] = [];
    spy.on("message", (t) => got.push(t));
    await spy.subscribeAsync("fusion/+/sensors/#");
    const watcher = await mqtt.connectAsync(url(), {
      ca,
      username: "watcher",
      password: PASSWORD,
      reconnectPeriod: 0,
    });
    await watcher.publishAsync("fusion/evil/sensors/lidar", Buffer.from([1, 2, 3]), { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(got, [], "the broker dropped the unauthorised publish");
    await watcher.endAsync(true);
    await spy.endAsync(true);
  });

  test("wrong credentials: one clear line per attempt, retried with backoff, no secret printed", async () => {
    const svc = spawnFusion([
      "serve",
      "--broker",
      url(),
      "--mqtt-username",
      "fusion",
      "--mqtt-password-file",
      join(dir, "wrong.txt"),
      "--mqtt-ca",
      join(dir, "ca.crt"),
      "--http",
      "off",
      "--no-sim",
    ]);
    try {
      await svc.waitFor(/retrying in 1\.0 s/, 20_000);
      const lines = svc
        .output()
        .split("\n")
        .filter((l) => /cannot connect to MQTT broker/.test(l));
      assert.ok(lines.length >= 2, svc.output());
      assert.match(lines[0]!, /bad username or password|not authorized/);
      assert.match(lines[0]!, /retrying in 0\.5 s/);
      assert.match(lines[1]!, /retrying in 1\.0 s/);
      assert.equal(svc.proc.exitCode, null, "still waiting, not exited");
    } finally {
      await svc.stop();
    }
    const out = svc.output();
    assert.ok(!out.includes(WRONG) && !out.includes(PASSWORD), "no credential in any line");
    assert.ok(!/\n\s+at /.test(out), "no stack trace");
  });

  test("credentials in the broker URL are taken out of it, warned about and never printed", async () => {
    const svc = spawnFusion([
      "serve",
      "--broker",
      `mqtts://fusion:${PASSWORD}@127.0.0.1:${port}`,
      "--mqtt-ca",
      join(dir, "ca.crt"),
      "--http",
      "off",
      "--no-sim",
    ]);
    try {
      await svc.waitFor(/fusion service '.*' running/, 30_000);
    } finally {
      await svc.stop();
    }
    assert.match(svc.output(), /visible to other users/);
    assert.ok(!svc.output().includes(PASSWORD), svc.output());
  });
});
