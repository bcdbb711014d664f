/**
 * Attacker process of the fake-vehicle flood test: publishes valid-looking messages for `n`
 * invented vehicles (IMU + one-point LiDAR each) and garbage on an invented sensor topic, then keeps
 * the invented vehicles talking for `holdS` seconds. Usage: node --import tsx _flood.ts URL n holdS
 */
import mqtt from "mqtt";
import { encodeSensorMessage, packed } from "../../src/msg/codec.ts";
import { topics } from "../../src/msg/topics.ts";

const [url, nArg, holdArg] = process.argv.slice(2);
const n = Number(nArg);
const holdS = Number(holdArg);
const client = await mqtt.connectAsync(url!, { reconnectPeriod: 0 });
const stamp = () => Math.round((performance.timeOrigin + performance.now()) * 1e6);
let seq = 0;
const burst = (from: number, to: number) => {
  for (let i = from; i < to; i++) {
    const vehicle = `fake-${i}`;
    const imu = encodeSensorMessage({
      header: { vehicle, sensorId: "imu", frameId: "imu", stampNs: stamp(), seq: seq++ },
      payload: { kind: "imu", accel: [0, 0, 9.8], gyro: [0, 0, 0] },
    });
    const lidar = encodeSensorMessage({
      header: { vehicle, sensorId: "lidar", frameId: "lidar", stampNs: stamp(), seq: seq++ },
      payload: {
        kind: "point_cloud",
        points: packed(["x", "y", "z"], new Float32Array([5, 0, 0])),
        sweepStartNs: 0,
      },
    });
    client.publish(topics.sensor(vehicle, "imu"), Buffer.from(imu));
    client.publish(topics.sensor(vehicle, "lidar"), Buffer.from(lidar));
    client.publish(`fusion/${vehicle}/sensors/not-in-rig`, Buffer.from([1, 2, 3]));
  }
};
for (let i = 0; i < n; i += 100) {
  burst(i, Math.min(n, i + 100));
  await new Promise((r) => setTimeout(r, 5));
}
process.stdout.write("flooded\n");
const t0 = Date.now();
while (Date.now() - t0 < holdS * 1000) {
  burst(0, 100); // the first invented vehicles keep talking
  await new Promise((r) => setTimeout(r, 100));
}
await client.endAsync();
process.exit(0);
