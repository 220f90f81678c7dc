// A raw MQTT publish loop to the IoT Hub stand-in with mqtt.js, the MQTT client the Azure device SDK itself uses
// (azure-iot-mqtt-base depends on it; installed with the SDK, not a dependency of ours). What the broker, TLS and
// the client can carry without the agent: the ceiling for end-to-end and drain figures.
import mqtt from 'mqtt';
import { makeSasToken, resourceFor } from '../../test/hub-standin/index.js';
import type { StandinProcess } from './standin.js';

export interface RawResult {
  messages: number;
  ms: number;
}

/** Publishes `body` at QoS 1 for `seconds`, keeping `window` publishes unacknowledged at most. */
export async function rawPublishLoop(hub: StandinProcess, body: string, seconds: number, window: number): Promise<RawResult> {
  const client = mqtt.connect({
    protocol: 'mqtts',
    host: '127.0.0.1',
    port: hub.port,
    ca: hub.caPem,
    clientId: hub.deviceId,
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 0,
    username: `${hub.hostName}/${hub.deviceId}/?api-version=2021-04-12`,
    password: makeSasToken(resourceFor(hub.hostName, hub.deviceId), hub.key, Math.floor(Date.now() / 1000) + 3600),
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const props = '$.ct=application%2Fjson&$.ce=utf-8&kind=telemetry&schemaVersion=1&gatewayId=bench';
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const id = n++;
      client.publish(`devices/${hub.deviceId}/messages/events/$.mid=raw-${id}&${props}`, body, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
    });
  const lanes = Array.from({ length: window }, async () => {
    while (performance.now() < end) await one();
  });
  await Promise.all(lanes);
  const ms = performance.now() - t0;
  await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  return { messages: n, ms };
}

/** The same loop through the Azure device SDK (Client.sendEvent over its MQTT transport): the SDK's own ceiling. */
export async function sdkSendLoop(hub: StandinProcess, body: string, seconds: number, window: number): Promise<RawResult> {
  const { default: azureDevice } = await import('azure-iot-device');
  const { default: azureDeviceMqtt } = await import('azure-iot-device-mqtt');
  const client = azureDevice.Client.fromConnectionString(hub.connectionString, azureDeviceMqtt.Mqtt);
  await client.setOptions({ ca: hub.caPem });
  await client.open();
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const lanes = Array.from({ length: window }, async () => {
    while (performance.now() < end) {
      const m = new azureDevice.Message(body);
      m.messageId = `sdk-${n++}`;
      m.contentType = 'application/json';
      m.contentEncoding = 'utf-8';
      await client.sendEvent(m);
    }
  });
  await Promise.all(lanes);
  const ms = performance.now() - t0;
  await client.close();
  return { messages: n, ms };
}
