/** Subscribe a real MQTT client and collect decoded messages per topic, for end-to-end tests. */
import mqtt, { type MqttClient } from "mqtt";

export interface Collected {
  topic: string;
  payload: Buffer;
  atMs: number;
}

export class Collector {
  readonly messages: Collected[] = [];
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];
  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload) => {
      this.messages.push({ topic, payload, atMs: performance.now() });
      if (this.messages.length > 200_000) this.messages.splice(0, 100_000);
      this.waiters = this.waiters.filter((w) => {
        if (w.pred()) {
          w.resolve();
          return false;
        }
        return true;
      });
    });
  }
  static async connect(url: string, filters: string[]): Promise<Collector> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    const c = new Collector(client);
    await client.subscribeAsync(filters, { qos: 1 });
    return c;
  }
  on(topic: string | RegExp): Collected[] {
    return this.messages.filter((m) => (typeof topic === "string" ? m.topic === topic : topic.test(m.topic)));
  }
  /** Wait until pred() holds (checked on each message), or reject after timeoutMs. */
  until(pred: () => boolean, timeoutMs: number, what = "condition"): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }
  async close() {
    await this.client.endAsync(true);
  }
}
