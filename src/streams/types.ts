/** Raw transport message: what an MQTT subscription (or a replay reader) hands to the decode stage. */
export interface RawMessage {
  topic: string;
  payload: Uint8Array;
  /** Processing-time arrival, ns. */
  arrivalNs: number;
}

/** A payload that failed decoding or validation; counted and logged, never thrown into the pipeline. */
export interface DecodeFailure {
  topic: string;
  vehicle: string | null;
  sensorId: string | null;
  code: string;
  message: string;
  arrivalNs: number;
}
