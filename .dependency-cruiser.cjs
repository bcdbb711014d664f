/**
 * Import rules of the project (docs/DECISIONS.md D12), checked by `npm run lint`
 * (`depcruise --config .dependency-cruiser.cjs src sim bench train harness test`).
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
        "Runtime code under src/ never imports sim/, eval/ (top level), bench/, train/, harness/ or test/: only src/cli wires them.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^(sim|eval|bench|train|harness|test)/" },
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
        "bench/, sim/, train/ and harness/ (loaded by the shipped CLI or tools) never import test/. What " +
        "benches and tests share (starting mosquitto, running the CLI, finding system programs) lives in harness/.",
      severity: "error",
      from: { path: "^(bench|sim|train|harness)/" },
      to: { path: "^test/" },
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
