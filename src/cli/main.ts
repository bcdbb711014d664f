/** `fusion` CLI dispatcher: one module per command. */
import { readFileSync } from "node:fs";
import { UsageError } from "./args.ts";

/** The package version (package.json), for `fusion --version`. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: {
    summary: "run the fusion service (default)",
    load: async () => (await import("./serve.ts")).serveCommand,
  },
  sim: {
    summary: "run the simulator, publishing sensor streams over MQTT",
    load: async () => (await import("./sim.ts")).simCommand,
  },
  echo: {
    summary: "print decoded messages of an MQTT topic filter as JSON lines",
    load: async () => (await import("./echo.ts")).echoCommand,
  },
  eval: {
    summary: "evaluate fusion models on held-out simulated scenarios (npm run eval)",
    // the CLI wires the simulator in as the source of evaluation runs (src/eval imports no sim/)
    load: async () => {
      const [{ evalCommand }, { SIM_EVAL_SOURCE }] = await Promise.all([
        import("../eval/command.ts"),
        import("../../sim/runs.ts"),
      ]);
      return (argv) => evalCommand(argv, SIM_EVAL_SOURCE);
    },
  },
  replay: {
    summary: "replay a recorded log (nuscenes, kitti, mcap) over MQTT",
    load: async () => (await import("./replay.ts")).replayCommand,
  },
  record: {
    summary: "record the service's topics to an MCAP file",
    load: async () => (await import("./record.ts")).recordCommand,
  },
  bench: {
    summary: "run benchmark suites (npm run bench -- <suite>)",
    load: async () => (await import("./bench.ts")).benchCommand,
  },
};

export const TOP_HELP = `Usage: fusion <command> [options]

Streaming sensor fusion: MQTT/protobuf sensor streams in, one fused world state per tick out.

Commands:
${Object.entries(COMMANDS)
  .map(([k, v]) => `  ${k.padEnd(8)} ${v.summary}`)
  .join("\n")}

Run 'fusion <command> --help' for a command's options; 'fusion --version' prints the version.
`;

export async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(TOP_HELP);
    return;
  }
  if (first === "--version" || first === "-V" || first === "version") {
    process.stdout.write(`fusion ${packageVersion()} (node ${process.versions.node})\n`);
    return;
  }
  const name = first === undefined || first.startsWith("-") ? "serve" : first;
  const args = first === undefined || first.startsWith("-") ? argv : rest;
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`fusion: unknown command '${name}' (try 'fusion --help')\n`);
    process.exitCode = 2;
    return;
  }
  try {
    const code = await (await cmd.load())(args);
    process.exitCode = code;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err instanceof UsageError || err.code === "E_CONFIG" || err.code === "E_USAGE") {
      process.stderr.write(`fusion ${name}: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`fusion ${name}: ${err.code ? `${err.code}: ` : ""}${err.message}\n`);
      if (process.env.FUSION_DEBUG) process.stderr.write(`${err.stack}\n`);
      process.exitCode = 1;
    }
  }
}
