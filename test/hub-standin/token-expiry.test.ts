// enforceTokenExpiry: the stand-in closes a connection when its SAS token expires, as IoT Hub does.
import { afterEach, describe, expect, it } from 'vitest';
import { randomKey, startHubStandin, type HubStandin } from './index.js';
import { hubConnectPacket, RawMqttClient } from './raw-client.js';

let hub: HubStandin | null = null;
let client: RawMqttClient | null = null;
afterEach(async () => {
  client?.close();
  await hub?.stop();
  client = null;
  hub = null;
});

describe('token expiry', () => {
  it('closes a connection whose SAS token expired, and only then', async () => {
    const key = randomKey();
    hub = await startHubStandin({ identities: [{ deviceId: 'dev-a', key }], enforceTokenExpiry: true });
    client = await RawMqttClient.open(hub.port, hub.caPem);
    client.send(hubConnectPacket({ hostName: hub.hostName, deviceId: 'dev-a', key, expirySeconds: Math.floor(Date.now() / 1000) + 2 }));
    expect(await client.next('connack')).toMatchObject({ returnCode: 0 });
    expect(hub.stats.tokenExpiries).toBe(0);
    await hub.waitUntil(() => hub!.stats.tokenExpiries === 1, 5000, 'token expiry');
    expect(hub.connectionLog.some((e) => /token-expired/.test(JSON.stringify(e)))).toBe(true);
  });
});
