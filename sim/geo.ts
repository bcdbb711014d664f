/**
 * ENU <-> geodetic conversion for the simulator: the converters live with the aligner
 * (src/align/geo.ts; runtime code never imports sim/), plus the rig's GNSS origin.
 */
import type { GeoOrigin } from "../src/align/geo.ts";

export { enuToGeodetic, type GeoOrigin, geodeticToEnu } from "../src/align/geo.ts";

/** The GNSS origin of a rig (the first gnss sensor's model), in the form the converters take. */
export function originOfGnssModel(m: {
  origin_lat_deg: number;
  origin_lon_deg: number;
  origin_alt_m: number;
}): GeoOrigin {
  return { latDeg: m.origin_lat_deg, lonDeg: m.origin_lon_deg, altM: m.origin_alt_m };
}
