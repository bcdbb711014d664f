/**
 * The simulator as a library (docs/sim.md). I/O-free core (`Simulation`), real-time pacing
 * (`runSimulation`), and the ENU <-> geodetic conversion shared with the aligner (`sim/geo.ts`).
 */
export { enuToGeodetic, type GeoOrigin, geodeticToEnu, originOfGnssModel } from "./geo.ts";
export { type Fault, FaultSpecError, parseFaults } from "./faults.ts";
export { type RunOptions, runSimulation, type SimRun, type SimStats } from "./run.ts";
export { CONDITIONS, type Conditions } from "./sensors/types.ts";
export { LIDAR_FIELDS } from "./sensors/lidar.ts";
export { RADAR_FIELDS } from "./sensors/radar.ts";
export {
  DEFAULT_SIM_OPTIONS,
  type SimEvent,
  type SimOptions,
  Simulation,
  TRUTH_RANGE_M,
  VehicleSim,
} from "./simulation.ts";
export { SCENARIOS, type ScenarioName } from "./world.ts";
