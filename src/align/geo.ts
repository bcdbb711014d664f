/**
 * WGS-84 geodetic <-> local ENU (east, north, up) about an origin. Exact (through ECEF), so that a
 * round trip is good to well below a millimetre over the few kilometres a drive covers.
 */

const A = 6378137.0; // WGS-84 semi-major axis, m
const F = 1 / 298.257223563;
const E2 = F * (2 - F); // first eccentricity squared
const DEG = Math.PI / 180;

export interface GeoOrigin {
  latDeg: number;
  lonDeg: number;
  altM: number;
}

export type Ecef = [number, number, number];

export function geodeticToEcef(latDeg: number, lonDeg: number, altM: number): Ecef {
  const lat = latDeg * DEG;
  const lon = lonDeg * DEG;
  const s = Math.sin(lat);
  const c = Math.cos(lat);
  const n = A / Math.sqrt(1 - E2 * s * s);
  return [(n + altM) * c * Math.cos(lon), (n + altM) * c * Math.sin(lon), (n * (1 - E2) + altM) * s];
}

export function ecefToGeodetic(x: number, y: number, z: number): GeoOrigin {
  const lon = Math.atan2(y, x);
  const p = Math.hypot(x, y);
  // Bowring's initial guess, then a few fixed-point iterations (converges to < 1e-12 rad).
  let lat = Math.atan2(z, p * (1 - E2));
  let alt = 0;
  for (let i = 0; i < 6; i++) {
    const s = Math.sin(lat);
    const n = A / Math.sqrt(1 - E2 * s * s);
    alt = p / Math.cos(lat) - n;
    lat = Math.atan2(z, p * (1 - (E2 * n) / (n + alt)));
  }
  return { latDeg: lat / DEG, lonDeg: lon / DEG, altM: alt };
}

/** A local ENU frame about a geodetic origin. */
export class EnuFrame {
  readonly origin: GeoOrigin;
  private readonly o: Ecef;
  private readonly sl: number;
  private readonly cl: number;
  private readonly so: number;
  private readonly co: number;

  constructor(origin: GeoOrigin) {
    this.origin = { ...origin };
    this.o = geodeticToEcef(origin.latDeg, origin.lonDeg, origin.altM);
    this.sl = Math.sin(origin.latDeg * DEG);
    this.cl = Math.cos(origin.latDeg * DEG);
    this.so = Math.sin(origin.lonDeg * DEG);
    this.co = Math.cos(origin.lonDeg * DEG);
  }

  /** Geodetic -> ENU (m). */
  toEnu(latDeg: number, lonDeg: number, altM: number): [number, number, number] {
    const p = geodeticToEcef(latDeg, lonDeg, altM);
    const dx = p[0] - this.o[0];
    const dy = p[1] - this.o[1];
    const dz = p[2] - this.o[2];
    const { sl, cl, so, co } = this;
    return [
      -so * dx + co * dy,
      -sl * co * dx - sl * so * dy + cl * dz,
      cl * co * dx + cl * so * dy + sl * dz,
    ];
  }

  /** ENU (m) -> geodetic. */
  toGeodetic(e: number, n: number, u: number): GeoOrigin {
    const { sl, cl, so, co } = this;
    const dx = -so * e - sl * co * n + cl * co * u;
    const dy = co * e - sl * so * n + cl * so * u;
    const dz = cl * n + sl * u;
    return ecefToGeodetic(this.o[0] + dx, this.o[1] + dy, this.o[2] + dz);
  }
}
