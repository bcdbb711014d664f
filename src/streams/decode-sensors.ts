import { Observable, type OperatorFunction } from "rxjs";
import { DEFAULT_DECODE_LIMITS, type DecodeLimits, decodeSensorMessage } from "../msg/codec.ts";
import { parseSensorTopic } from "../msg/topics.ts";
import type { SensorEnvelope } from "../msg/types.ts";
import type { DecodeFailure, RawMessage } from "./types.ts";

export interface DecodeSensorsOptions {
  limits?: DecodeLimits;
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
          if (!where) {
            opts.onFailure({
              topic: raw.topic,
              vehicle: null,
              sensorId: null,
              code: "E_TOPIC",
              message: "not a sensor topic",
              arrivalNs: raw.arrivalNs,
            });
            return;
          }
          const r = decodeSensorMessage(raw.payload, where, limits);
          if (!r.ok) {
            opts.onFailure({ topic: raw.topic, ...where, ...r.error, arrivalNs: raw.arrivalNs });
            return;
          }
          subscriber.next({ msg: r.value, arrivalNs: raw.arrivalNs, bytes: raw.payload.byteLength });
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      }),
    );
}
