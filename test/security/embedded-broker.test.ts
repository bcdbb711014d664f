/**
 * The embedded broker's security (issue 18): a password file (mosquitto_passwd hashes or plain
 * lines), no listening beyond loopback without one, and a packet-size limit enforced from the
 * packet header, before the body is buffered. Also the MQTT flags' one-line errors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import mqtt from "mqtt";
import { BrokerConfigError, PacketSizeGuard, startEmbeddedBroker } from "../../src/broker/embedded.ts";
import { redact, redactUrl, splitUrlCredentials } from "../../src/mqtt/security.ts";
import { runSync } from "../../harness/cli.ts";

// "alice:s3cret" hashed by mosquitto_passwd 2 ($7$: PBKDF2-SHA512, 101 iterations).
const ALICE_7 =
  "alice:$7$101$i9dI/jBzrtVXGNj9$s9EY+9FDyJrTFDqu+ZVxAO29b3A9opG5YvE9V2RIPue6dTFQIkAbfMAflzYltr82SbsoOdBbgbzUuzgdKMXXhw==";

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "emb-broker-"));
  writeFileSync(join(dir, "passwd"), `${ALICE_7}\nbob:plainpw\n`);
  writeFileSync(join(dir, "pw.txt"), "pw\n", { mode: 0o600 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("embedded broker security", () => {
  test("with a password file: known users log in, others are refused with 'bad username or password'", async () => {
    const warnings: string[] = [];
    const b = await startEmbeddedBroker({
      port: 0,
      passwordFile: join(dir, "passwd"),
      warn: (l) => warnings.push(l),
    });
    try {
      assert.match(warnings.join(), /1 plain-text password/);
      const ok = await mqtt.connectAsync(b.url, {
        username: "alice",
        password: "s3cret",
        reconnectPeriod: 0,
      });
      await ok.endAsync();
      const ok2 = await mqtt.connectAsync(b.url, {
        username: "bob",
        password: "plainpw",
        reconnectPeriod: 0,
      });
      await ok2.endAsync();
      for (const creds of [{ username: "alice", password: "nope" }, {}]) {
        await assert.rejects(
          mqtt.connectAsync(b.url, { ...creds, reconnectPeriod: 0 }),
          (e: Error & { code?: number }) => e.code === 4 || e.code === 5,
        );
      }
      assert.equal(b.stats.authFailures, 2);
      // The service's own per-start credentials work.
      const internal = await mqtt.connectAsync(b.url, { ...b.internal!, reconnectPeriod: 0 });
      await internal.endAsync();
    } finally {
      await b.close();
    }
  });

  test("refuses to listen beyond loopback without a password file", async () => {
    await assert.rejects(startEmbeddedBroker({ host: "0.0.0.0", port: 0 }), BrokerConfigError);
    const r = runSync(["serve", "--listen", "0.0.0.0:0", "--no-sim", "--http", "off"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /--broker-password-file/);
  });

  test("a packet larger than the limit closes its sender's connection; others keep working", async () => {
    const b = await startEmbeddedBroker({ port: 0, maxPacketBytes: 64 * 1024 });
    try {
      const sub = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
      const got: number[] = [];
      sub.on("message", (_t, p) => got.push(p.length));
      await sub.subscribeAsync("x/#");
      const big = await mqtt.connectAsync(b.url, { reconnectPeriod: 0 });
      const closed = new Promise<void>((r) => big.once("close", () => r()));
      big.publish("x/big", Buffer.alloc(1024 * 1024));
      await closed;
      await sub.publishAsync("x/small", Buffer.alloc(1000), { qos: 1 });
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(got, [1000]);
      assert.equal(b.stats.oversized, 1);
      big.end(true);
      await sub.endAsync();
    } finally {
      await b.close();
    }
  });

  test("the packet-size guard reads headers split across chunks", () => {
    const seen: number[] = [];
    const g = new PacketSizeGuard(200, (n) => seen.push(n));
    // PUBLISH with remaining length 100 (one byte), then one with 300 (two bytes: 0xac 0x02), split.
    const p1 = Buffer.concat([Buffer.from([0x30, 100]), Buffer.alloc(100)]);
    g.feed(p1.subarray(0, 50));
    g.feed(p1.subarray(50));
    g.feed(Buffer.from([0x30, 0xac]));
    assert.deepEqual(seen, []);
    g.feed(Buffer.from([0x02, 1, 2, 3]));
    assert.deepEqual(seen, [300]);
  });
});

describe("MQTT client flags", () => {
  test("credentials are redacted from URLs and text, and taken out of a broker URL", () => {
    assert.equal(redactUrl("mqtts://u:p%40ss@host:8883"), "mqtts://***@host:8883");
    assert.equal(
      redact("failed: wss://a:b@h/mqtt and pw hunter2", { password: "hunter2" }),
      "failed: wss://***@h/mqtt and pw ***",
    );
    const warned: string[] = [];
    const s = splitUrlCredentials("mqtt://alice:s%3Acret@h:1883", {}, (l) => warned.push(l));
    assert.equal(s.url, "mqtt://h:1883");
    assert.equal(s.security.username, "alice");
    assert.equal(s.security.password, "s:cret");
    assert.equal(warned.length, 1);
  });

  test("bad MQTT flags: one line naming the flag, exit 2", () => {
    const cases: [string[], RegExp][] = [
      [
        ["--mqtt-password-file", join(dir, "nope.txt"), "--mqtt-username", "u"],
        /--mqtt-password-file: cannot read/,
      ],
      [["--mqtt-cert", join(dir, "passwd")], /--mqtt-cert and --mqtt-key go together/],
      [["--mqtt-ca", join(dir, "passwd")], /--mqtt-ca: expected a PEM certificate/],
      [["--mqtt-password-file", join(dir, "pw.txt")], /an MQTT password needs --mqtt-username/],
    ];
    for (const [flags, re] of cases) {
      const r = runSync(["serve", "--broker", "mqtt://127.0.0.1:1", "--no-sim", "--http", "off", ...flags]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
    const sim = runSync(["sim", "--mqtt-cert", join(dir, "passwd")]);
    assert.equal(sim.code, 2);
    assert.match(sim.stderr, /--mqtt-cert and --mqtt-key go together/);
  });
});
