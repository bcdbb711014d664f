// Preparation worker of the learned engine (./prep-client.ts): loads the TypeScript sources through
// tsx, as bin/fusion.js does for the main thread, then runs ./prep-worker-core.ts.
import { register } from "tsx/esm/api";

register();
await import("./prep-worker-core.ts");
