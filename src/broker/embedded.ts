/** The embedded MQTT broker (aedes) of the default run mode. Tests of broker behaviour use mosquitto. */
import { createServer, type Server } from "node:net";
import { Aedes } from "aedes";

export interface EmbeddedBrokerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 1883; 0 picks a free port. */
  port?: number;
}

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

export class PortInUseError extends Error {
  readonly code = "E_PORT_IN_USE";
}

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 1883;
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      aedes.close();
      reject(
        e.code === "EADDRINUSE"
          ? new PortInUseError(
              `MQTT port ${host}:${port} is already in use (another broker? use --broker URL)`,
            )
          : e,
      );
    });
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  return {
    url: `mqtt://${host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => server.close(() => resolve()));
        // Server.close waits for open sockets; aedes.close ends its clients first.
      }),
  };
}
