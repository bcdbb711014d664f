/**
 * Local ENU <-> geodetic (WGS84) conversion around an origin, as used by the aligner to turn GNSS
 * fixes into the local frame and by the simulator's GNSS model (sim/geo.ts re-exports this). Uses the local radii of
 * curvature at the origin (equirectangular approximation): error < 1 cm within ~2 km of the
 * origin, < 0.5 m within ~20 km — far below GNSS noise. The two functions are exact inverses.
 */

const WGS84_A = 6378137.0;
const WGS84_E2 = 6.69437999014e-3;
const DEG = Math.PI / 180;

export interface GeoOrigin {
  latDeg: number;
  lonDeg: number;
  altM: number;
}

/** Metres per radian of latitude (meridian radius) and of longitude at the origin's latitude. */
function radii(latDeg: number): { rn: number; re: number } {
  const s = Math.sin(latDeg * DEG);
  const w = Math.sqrt(1 - WGS84_E2 * s * s);
  const rPrimeVertical = WGS84_A / w;
  const rMeridian = (WGS84_A * (1 - WGS84_E2)) / (w * w * w);
  return { rn: rMeridian, re: rPrimeVertical * Math.cos(latDeg * DEG) };
}

/** Local ENU (m) to latitude, longitude (deg) and altitude (m). */
export function enuToGeodetic(
  origin: GeoOrigin,
  east: number,
  north: number,
  up: number,
): { latDeg: number; lonDeg: number; altM: number } {
  const { rn, re } = radii(origin.latDeg);
  return {
    latDeg: origin.latDeg + north / rn / DEG,
    lonDeg: origin.lonDeg + east / re / DEG,
    altM: origin.altM + up,
  };
}

/** Latitude, longitude (deg) and altitude (m) to local ENU (m). */
export function geodeticToEnu(
  origin: GeoOrigin,
  latDeg: number,
  lonDeg: number,
  altM: number,
): { east: number; north: number; up: number } {
  const { rn, re } = radii(origin.latDeg);
  let dLon = lonDeg - origin.lonDeg;
  if (dLon > 180) dLon -= 360;
  else if (dLon < -180) dLon += 360;
  return { east: dLon * DEG * re, north: (latDeg - origin.latDeg) * DEG * rn, up: altM - origin.altM };
}
