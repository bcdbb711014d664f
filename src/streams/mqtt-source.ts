import type { MqttClient } from "mqtt";
import { Observable } from "rxjs";
import type { NowNs } from "../util/clock.ts";
import type { RawMessage } from "./types.ts";

/**
 * Messages an MQTT client receives, as an Observable of RawMessage stamped with the arrival time.
 * Subscribing to topics is the caller's business; this only listens. Teardown removes the listener.
 */
export function fromMqttMessages(client: MqttClient, now: NowNs): Observable<RawMessage> {
  return new Observable<RawMessage>((subscriber) => {
    const onMessage = (topic: string, payload: Buffer) =>
      subscriber.next({ topic, payload, arrivalNs: now() });
    client.on("message", onMessage);
    return () => {
      client.off("message", onMessage);
    };
  });
}
