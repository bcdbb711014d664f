/** Standalone entry of `fusion eval` (tsx src/eval/main.ts ...), for npm run eval. */
import { evalCommand } from "./command.ts";

try {
  process.exitCode = await evalCommand(process.argv.slice(2));
} catch (e) {
  const err = e as Error & { code?: string };
  process.stderr.write(`fusion eval: ${err.message}\n`);
  process.exitCode = err.code === "E_USAGE" || err.code === "E_CONFIG" ? 2 : 1;
}
