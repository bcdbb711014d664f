import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runSync } from "../../harness/cli.ts";

describe("fusion serve --worker flags", () => {
  for (const [args, line] of [
    [["--worker", "--broker", "mqtt://127.0.0.1:1"], /--worker: needs --etcd URL/],
    [["--etcd", "http://127.0.0.1:2379", "--broker", "mqtt://127.0.0.1:1"], /--etcd: only with --worker/],
    [["--worker", "--etcd", "http://127.0.0.1:2379"], /--worker: needs --broker URL/],
    [["--worker", "--etcd", "127.0.0.1:2379", "--broker", "mqtt://127.0.0.1:1"], /--etcd: expected URLs/],
    [
      ["--worker", "--etcd", "http://a:2379", "--broker", "mqtt://127.0.0.1:1", "--lease-s", "0"],
      /--lease-s: expected an integer >= 1/,
    ],
  ] as const)
    test(`serve ${args.join(" ")} -> one line, exit 2`, () => {
      const r = runSync(["serve", ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, line);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    });
});
