#!/usr/bin/env node
// Entry point of the `fusion` CLI. Runs the TypeScript sources through tsx (see docs/DECISIONS.md).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
await main(process.argv.slice(2));
