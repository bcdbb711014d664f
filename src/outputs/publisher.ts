/**
 * MQTT outputs: FusedFrame (QoS 1), HealthReport (retained), service status (retained, with a last
 * will set at connect time by `serviceWill`). Publishing never throws into the pipeline: failures
 * are counted. Frames published while disconnected are dropped (counted) rather than queued
 * without bound; mqtt.js' own offline queue is disabled for that reason.
 */
import type { MqttClient } from "mqtt";
import { encodeFusedFrame, encodeHealthReport, encodeServiceStatus } from "../msg/codec.ts";
import { topics } from "../msg/topics.ts";
import type { FusedFrame, HealthReport, ServiceStatus } from "../msg/types.ts";

export interface PublisherStats {
  fused: number;
  health: number;
  dropped_disconnected: number;
  errors: number;
}

export function serviceWill(instance: string) {
  return {
    topic: topics.serviceStatus(instance),
    payload: Buffer.from(
      encodeServiceStatus({ instance, online: false, stampNs: 0, version: "", vehicles: [] }),
    ),
    qos: 1 as const,
    retain: true,
  };
}

export class Publisher {
  readonly stats: PublisherStats = { fused: 0, health: 0, dropped_disconnected: 0, errors: 0 };
  constructor(
    private readonly client: MqttClient,
    private readonly onError: (e: Error) => void = () => {},
  ) {}

  private send(topic: string, payload: Uint8Array, qos: 0 | 1, retain: boolean): boolean {
    if (!this.client.connected) {
      this.stats.dropped_disconnected++;
      return false;
    }
    this.client.publish(
      topic,
      Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      { qos, retain },
      (e) => {
        if (e) {
          this.stats.errors++;
          this.onError(e);
        }
      },
    );
    return true;
  }

  fused(f: FusedFrame): boolean {
    const ok = this.send(topics.fused(f.vehicle), encodeFusedFrame(f), 1, false);
    if (ok) this.stats.fused++;
    return ok;
  }

  health(h: HealthReport): boolean {
    const ok = this.send(topics.health(h.vehicle), encodeHealthReport(h), 1, true);
    if (ok) this.stats.health++;
    return ok;
  }

  /** Clear the retained health report of a vehicle (an empty retained payload deletes it). */
  clearHealth(vehicle: string): boolean {
    return this.send(topics.health(vehicle), new Uint8Array(0), 1, true);
  }

  status(s: ServiceStatus): boolean {
    return this.send(topics.serviceStatus(s.instance), encodeServiceStatus(s), 1, true);
  }
}
