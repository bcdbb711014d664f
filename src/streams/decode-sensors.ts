import { Observable, type OperatorFunction } from "rxjs";
import { DEFAULT_DECODE_LIMITS, type DecodeLimits, decodeSensorMessage, validId } from "../msg/codec.ts";
import { parseSensorTopic } from "../msg/topics.ts";
import { KIND_OF_PAYLOAD, type SensorKind } from "../msg/kinds.ts";
import type { SensorEnvelope } from "../msg/types.ts";
import type { DecodeFailure, RawMessage } from "./types.ts";

export interface DecodeSensorsOptions {
  limits?: DecodeLimits;
  /** Kind of a sensor id from the rig (undefined = not in the rig). When given, payloads of unknown
   *  sensors (E_UNKNOWN_SENSOR) and of the wrong kind (E_KIND_MISMATCH) are rejected too. */
  kindOf?: (sensorId: string) => SensorKind | undefined;
  /** Called once per rejected payload (count it, log it rate-limited). Must not throw. */
  onFailure: (f: DecodeFailure) => void;
}

/**
 * Decode and validate sensor payloads. Messages on foreign topics and malformed payloads go to
 * `onFailure`; only valid, typed envelopes flow on. The stream never errors because of input.
 */
export function decodeSensors(opts: DecodeSensorsOptions): OperatorFunction<RawMessage, SensorEnvelope> {
  const limits = opts.limits ?? DEFAULT_DECODE_LIMITS;
  return (source) =>
    new Observable<SensorEnvelope>((subscriber) =>
      source.subscribe({
        next(raw) {
          const where = parseSensorTopic(raw.topic);
          // Ids that are not short printable ASCII are not keyed on anywhere (counters, logs).
          if (
            !where ||
            !validId(where.vehicle, limits.maxIdBytes) ||
            !validId(where.sensorId, limits.maxIdBytes)
          ) {
            opts.onFailure({
              topic: raw.topic,
              vehicle: null,
              sensorId: null,
              code: "E_TOPIC",
              message: where
                ? "vehicle or sensor id not 1-64 printable ASCII characters"
                : "not a sensor topic",
              arrivalNs: raw.arrivalNs,
            });
            return;
          }
          const r = decodeSensorMessage(raw.payload, where, limits);
          if (!r.ok) {
            opts.onFailure({ topic: raw.topic, ...where, ...r.error, arrivalNs: raw.arrivalNs });
            return;
          }
          if (opts.kindOf) {
            const want = opts.kindOf(where.sensorId);
            const got = KIND_OF_PAYLOAD[r.value.payload.kind];
            if (want !== got) {
              opts.onFailure({
                topic: raw.topic,
                ...where,
                code: want === undefined ? "E_UNKNOWN_SENSOR" : "E_KIND_MISMATCH",
                message: want === undefined ? "sensor not in the rig" : `${got} payload on a ${want} sensor`,
                arrivalNs: raw.arrivalNs,
              });
              return;
            }
          }
          subscriber.next({ msg: r.value, arrivalNs: raw.arrivalNs, bytes: raw.payload.byteLength });
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      }),
    );
}
