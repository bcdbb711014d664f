/**
 * Vehicle admission: which vehicle ids the fleet runtime accepts.
 *
 * A vehicle id is 1 to 64 characters of `A-Z a-z 0-9 _ - . :` (the MQTT topic level of
 * `fusion/<vehicle>/...`, without wildcards, separators or spaces). Ids of the form `_name` are
 * reserved (`fusion/_service/...`).
 */

export const MAX_VEHICLE_ID_LENGTH = 64;
export const VEHICLE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export type AdmissionRefusal = "invalid_id" | "capacity" | "no_rig";

/** null when the id is acceptable, else why not (one line, for logs). */
export function vehicleIdProblem(id: string): string | null {
  if (id.length === 0) return "empty vehicle id";
  if (id.length > MAX_VEHICLE_ID_LENGTH) return `vehicle id longer than ${MAX_VEHICLE_ID_LENGTH} characters`;
  if (!VEHICLE_ID_RE.test(id))
    return "vehicle id must start with a letter or digit and contain only letters, digits, _ - . :";
  return null;
}
