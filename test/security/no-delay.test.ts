/**
 * Nagle's algorithm is off on the service's MQTT sockets, its own client (after every reconnect)
 * and the embedded broker's accepted sockets (DECISIONS H8: with it on, a LiDAR sweep waited
 * ~20 ms per hop for a delayed acknowledgement). Node has no getter for TCP_NODELAY: the test
 * records setNoDelay calls per socket.
 */
import assert from "node:assert/strict";
import { Socket } from "node:net";
import { after, before, test } from "node:test";
import { startEmbeddedBroker } from "../../src/broker/embedded.ts";
import { connectMqtt } from "../../src/mqtt/connect.ts";

const noDelay = new WeakMap<Socket, boolean>();
const seen: Socket[] = [];
const original = Socket.prototype.setNoDelay;
before(() => {
  Socket.prototype.setNoDelay = function (this: Socket, on?: boolean) {
    noDelay.set(this, on !== false);
    seen.push(this);
    return original.call(this, on);
  };
});
after(() => {
  Socket.prototype.setNoDelay = original;
});

/** The client's TCP socket (under src/mqtt/framing.ts FramedSocket for mqtt://). */
const tcp = (stream: unknown) => ((stream as { socket?: Socket }).socket ?? stream) as Socket;

test("the client's socket and the embedded broker's sockets have Nagle off, after a reconnect too", async () => {
  const b = await startEmbeddedBroker({ port: 0 });
  // the broker's side of a connection: a socket whose local port is the broker's
  const accepted = () => seen.filter((s) => s.localPort === b.port && !s.destroyed);
  const c = await connectMqtt(b.url, { giveUpAfterMs: 3000, reconnectPeriodMs: 50 });
  try {
    const first = tcp(c.stream);
    assert.equal(noDelay.get(first), true, "client socket");
    const server = accepted();
    assert.equal(server.length, 1, "broker side of the connection");
    assert.equal(noDelay.get(server[0]!), true);
    // drop the connection from the broker's side: the client reconnects on a new socket
    server[0]!.destroy();
    const deadline = Date.now() + 3000;
    while (tcp(c.stream) === first || !c.connected) {
      assert.ok(Date.now() < deadline, "client reconnected");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(noDelay.get(tcp(c.stream)), true, "client socket after reconnect");
  } finally {
    c.end(true); // also when an assertion failed: a reconnecting client keeps the process alive
    await b.close();
  }
});
