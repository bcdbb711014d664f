/**
 * Import rules of the project (docs/DECISIONS.md D12), checked by `npm run lint`
 * (`depcruise --config .dependency-cruiser.cjs src sim bench train test`).
 * test/lint/depcruise.test.ts shows that each rule fails when broken.
 */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No import cycles anywhere.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "runtime-not-to-tools",
      comment:
        "Runtime code under src/ never imports sim/, eval/ (top level), bench/, train/ or test/: only src/cli wires them.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^(sim|eval|bench|train|test)/" },
    },
    {
      name: "only-cli-imports-cli",
      comment: "The CLI wires the parts; no part imports the CLI back.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
    {
      name: "engines-apart",
      comment:
        "A fusion engine (src/fusion/classical, src/fusion/learned) never imports the other: what both use " +
        "lives in the shared libraries (src/fusion/lidar, tracker, bev, calibration.ts, camera.ts).",
      severity: "error",
      from: { path: "^src/fusion/(classical|learned)/" },
      to: { path: "^src/fusion/(classical|learned)/", pathNot: "^src/fusion/$1/" },
    },
    {
      name: "shared-fusion-not-to-engines",
      comment:
        "The shared fusion libraries never import an engine. The composers are exempt: src/fusion/index.ts " +
        "(engine by mode) and src/fusion/guard/select.ts (a learned engine behind its OOD guard, or classical).",
      severity: "error",
      from: {
        path: "^src/fusion/",
        pathNot: "^src/fusion/(classical|learned)/|^src/fusion/index\\.ts$|^src/fusion/guard/select\\.ts$",
      },
      to: { path: "^src/fusion/(classical|learned)/" },
    },
    {
      name: "shipped-not-to-test",
      comment:
        "bench/, sim/ and train/ (loaded by the shipped CLI or tools) never import test/. Known break left " +
        "(issue 15): bench/e2e.ts, bench/replay.ts, bench/sim.ts and bench/_headroom.ts start mosquitto through the test harness " +
        "(test/helpers/{cli,mosquitto,mqtt-collect}.ts); it moves to a shared harness folder once the work on " +
        "test/helpers (issue 17) has landed. No other file may join them.",
      severity: "error",
      from: { path: "^(bench|sim|train)/", pathNot: "^bench/(e2e|replay|sim|_headroom)\\.ts$" },
      to: { path: "^test/" },
    },
    {
      name: "shipped-not-to-test-known",
      comment: "The known break above, limited to the test harness helpers.",
      severity: "error",
      from: { path: "^bench/(e2e|replay|sim|_headroom)\\.ts$" },
      to: { path: "^test/", pathNot: "^test/helpers/(cli|mosquitto|mqtt-collect)\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/|^bench/results/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".mts", ".mjs", ".js", ".d.mts"] },
  },
};
