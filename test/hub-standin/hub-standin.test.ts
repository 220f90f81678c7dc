import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// The SDK packages are CommonJS; Node's ESM loader only exposes them whole as the default export.
import azureDevice from 'azure-iot-device';
import azureDeviceMqtt from 'azure-iot-device-mqtt';
import { randomKey, startHubStandin, HubMethodError, type HubStandin } from './index.js';

const { Client, ModuleClient, Message } = azureDevice;
const { Mqtt } = azureDeviceMqtt;

/** Real azure-iot-device + azure-iot-device-mqtt against the stand-in, over TLS on loopback. */

type AnyClient = InstanceType<typeof Client> | InstanceType<typeof ModuleClient>;

const keys = {
  telemetry: randomKey(),
  twin: randomKey(),
  methods: randomKey(),
  module: randomKey(),
  faults: randomKey(),
  acks: randomKey(),
};

let hub: HubStandin;
const openClients: AnyClient[] = [];

async function openDevice(deviceId: string): Promise<InstanceType<typeof Client>> {
  const client = Client.fromConnectionString(hub.connectionString(deviceId), Mqtt);
  openClients.push(client);
  await client.setOptions({ ca: hub.caPem });
  await client.open();
  return client;
}

function settledFlag(p: Promise<unknown>): { settled: boolean } {
  const flag = { settled: false };
  p.then(
    () => (flag.settled = true),
    () => (flag.settled = true),
  );
  return flag;
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  hub = await startHubStandin({
    hubName: 'test-hub',
    identities: [
      { deviceId: 'bed-telemetry', key: keys.telemetry },
      { deviceId: 'bed-twin', key: keys.twin, twin: { desired: { intervalSec: 5, limits: { hrHigh: 120 } } } },
      { deviceId: 'bed-methods', key: keys.methods },
      { deviceId: 'gw-device', moduleId: 'edge-agent', key: keys.module },
      { deviceId: 'bed-faults', key: keys.faults },
      { deviceId: 'bed-acks', key: keys.acks },
    ],
  });
});

afterEach(async () => {
  hub.refuseConnections('off');
  hub.setPubackPolicy({});
  hub.setStalled(false);
  await Promise.all(openClients.splice(0).map((c) => c.close().catch(() => undefined)));
});

afterAll(async () => {
  await hub.stop();
});

describe('hub stand-in with the real Azure device SDK (MQTT over TLS)', () => {
  it('records telemetry with system and application properties exactly', async () => {
    const client = await openDevice('bed-telemetry');
    const msg = new Message(JSON.stringify({ hr: 72 }));
    msg.messageId = 'mid-1';
    msg.correlationId = 'corr-9';
    msg.contentType = 'application/json';
    msg.contentEncoding = 'utf-8';
    msg.properties.add('bed', '12 A');
    msg.properties.add('odd key', 'é&=/?#%');
    await client.sendEvent(msg);

    const got = await hub.waitForMessage((m) => m.messageId === 'mid-1');
    expect(got).toMatchObject({
      deviceId: 'bed-telemetry',
      messageId: 'mid-1',
      correlationId: 'corr-9',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      qos: 1,
      dup: false,
      puback: 'sent',
    });
    expect(got.moduleId).toBeUndefined();
    expect(got.output).toBeUndefined();
    expect({ ...got.properties }).toEqual({ bed: '12 A', 'odd key': 'é&=/?#%' });
    expect(Object.keys(got.systemProperties).sort()).toEqual(['$.ce', '$.cid', '$.ct', '$.mid']);
    expect(JSON.parse(got.body.toString('utf8'))).toEqual({ hr: 72 });
    expect(hub.connectedClients()).toContain('bed-telemetry');
  });

  it('serves getTwin and applies reported patches with IoT Hub merge rules', async () => {
    const client = await openDevice('bed-twin');
    const twin = await client.getTwin();
    expect(twin.properties.desired).toMatchObject({ intervalSec: 5, limits: { hrHigh: 120 }, $version: 1 });

    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update({ firmware: '1.2.3', feeds: { a: 'ok', b: 'silent' } }, (err?: Error) => (err ? reject(err) : resolve())),
    );
    expect(hub.twin('bed-twin').reported).toEqual({ firmware: '1.2.3', feeds: { a: 'ok', b: 'silent' } });
    expect(hub.twin('bed-twin').reportedVersion).toBe(2);

    // null deletes, nested objects merge
    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update({ feeds: { b: null, c: 'ok' } }, (err?: Error) => (err ? reject(err) : resolve())),
    );
    expect(hub.twin('bed-twin').reported).toEqual({ firmware: '1.2.3', feeds: { a: 'ok', c: 'ok' } });
    expect(hub.twin('bed-twin').reportedVersion).toBe(3);

    // a fresh GET returns what was reported, with $version
    const again = await client.getTwin();
    expect(again.properties.reported).toMatchObject({ firmware: '1.2.3', feeds: { a: 'ok', c: 'ok' }, $version: 3 });
  });

  it('pushes desired-property updates to the SDK listener', async () => {
    const client = await openDevice('bed-twin');
    const twin = await client.getTwin();
    const seen: Record<string, unknown>[] = [];
    // Copy: the first event hands out the SDK's live cached object, which later patches mutate.
    twin.on('properties.desired', (delta: Record<string, unknown>) => seen.push(structuredClone(delta)));
    await hub.waitUntil(() => hub.subscriptions('bed-twin').includes('$iothub/twin/PATCH/properties/desired/#'), 5000, 'desired subscription');

    const version = hub.updateDesired('bed-twin', undefined, { intervalSec: 10, limits: { hrLow: 40 } });
    await hub.waitUntil(() => seen.some((d) => d['intervalSec'] === 10), 5000, 'desired patch at the SDK');
    const patch = seen.find((d) => d['intervalSec'] === 10);
    expect(patch).toEqual({ intervalSec: 10, limits: { hrLow: 40 }, $version: version });
    // the SDK merged it into its cached copy; the stand-in merged it too
    expect(twin.properties.desired).toMatchObject({ intervalSec: 10, limits: { hrHigh: 120, hrLow: 40 } });
    expect(hub.twin('bed-twin').desired).toEqual({ intervalSec: 10, limits: { hrHigh: 120, hrLow: 40 } });
  });

  it('round-trips a direct method through client.onDeviceMethod', async () => {
    const client = await openDevice('bed-methods');
    client.onDeviceMethod('silenceAlarm', (request, response) => {
      void response.send(200, { silenced: true, echo: request.payload });
    });
    await hub.waitUntil(() => hub.subscriptions('bed-methods').includes('$iothub/methods/POST/#'), 5000, 'method subscription');

    const result = await hub.invokeMethod('bed-methods', undefined, 'silenceAlarm', { seconds: 120 });
    expect(result).toEqual({ status: 200, payload: { silenced: true, echo: { seconds: 120 } } });

    // unknown method: the SDK has no handler and does not answer → 504 from the stand-in
    await expect(hub.invokeMethod('bed-methods', undefined, 'noSuchMethod', null, 300)).rejects.toMatchObject({ status: 504 });
    // identity not connected → 404
    await expect(hub.invokeMethod('bed-faults', undefined, 'x', null)).rejects.toBeInstanceOf(HubMethodError);
  });

  it('records module output events with the output name', async () => {
    const client = ModuleClient.fromConnectionString(hub.connectionString('gw-device', 'edge-agent'), Mqtt);
    openClients.push(client);
    await client.setOptions({ ca: hub.caPem });
    await client.open();
    const msg = new Message('{"spo2":97}');
    msg.messageId = 'mod-1';
    msg.properties.add('kind', 'numeric');
    await client.sendOutputEvent('telemetry', msg);

    const got = await hub.waitForMessage((m) => m.messageId === 'mod-1');
    expect(got).toMatchObject({ deviceId: 'gw-device', moduleId: 'edge-agent', output: 'telemetry', puback: 'sent' });
    expect({ ...got.properties }).toEqual({ kind: 'numeric' });
    expect(got.systemProperties['$.on']).toBe('telemetry');
    expect(hub.connectedClients()).toContain('gw-device/edge-agent');
  });

  it('rejects a wrong key with CONNACK not-authorized and open() fails', async () => {
    const before = hub.stats.authFailures;
    const cs = hub.connectionString('bed-faults').replace(keys.faults, randomKey());
    const client = Client.fromConnectionString(cs, Mqtt);
    openClients.push(client);
    await client.setOptions({ ca: hub.caPem });
    await expect(client.open()).rejects.toThrow(/Not authorized/);
    expect(hub.stats.authFailures).toBe(before + 1);
    expect(hub.connectedClients()).not.toContain('bed-faults');
  });

  it('refuseConnections: not-authorized and tcp-close fail the first open(); off recovers', async () => {
    // On the FIRST connection the SDK wraps every error as "Failure on first connection (Not authorized)",
    // which it translates to UnauthorizedError and does not retry.
    for (const mode of ['not-authorized', 'tcp-close'] as const) {
      hub.refuseConnections(mode);
      const before = { ...hub.stats };
      const client = Client.fromConnectionString(hub.connectionString('bed-faults'), Mqtt);
      openClients.push(client);
      await client.setOptions({ ca: hub.caPem });
      await expect(client.open(), mode).rejects.toMatchObject({ name: 'UnauthorizedError' });
      expect(hub.stats.connects, mode).toBe(before.connects);
      if (mode === 'tcp-close') expect(hub.stats.refused).toBeGreaterThan(before.refused);
      else expect(hub.stats.connectAttempts).toBe(before.connectAttempts + 1);
      expect(hub.stats.authFailures, 'refusals are not auth failures').toBe(before.authFailures);
    }
    hub.refuseConnections('off');
    const client = await openDevice('bed-faults');
    await client.sendEvent(new Message('after refusals'));
    await hub.waitForMessage((m) => m.deviceId === 'bed-faults' && m.body.toString() === 'after refusals');
  });

  it('refuseConnections(server-unavailable): the SDK keeps retrying open() until the hub accepts', async () => {
    hub.refuseConnections('server-unavailable');
    const before = hub.stats.connectAttempts;
    const client = Client.fromConnectionString(hub.connectionString('bed-faults'), Mqtt);
    openClients.push(client);
    await client.setOptions({ ca: hub.caPem });
    const opening = client.open();
    const flag = settledFlag(opening);
    // "Server unavailable" maps to the retryable ServiceUnavailableError: several CONNECTs arrive.
    await hub.waitUntil(() => hub.stats.connectAttempts >= before + 3, 10_000, 'three CONNECT attempts');
    expect(flag.settled).toBe(false);
    hub.refuseConnections('off');
    await expect(opening).resolves.toBeDefined();
    expect(hub.connectedClients()).toContain('bed-faults');
  }, 20_000);

  it('dropConnections: the SDK reconnects by itself (methods registered) and the session keeps twin subscriptions', async () => {
    const client = await openDevice('bed-faults');
    client.onDeviceMethod('ping', (_req, res) => void res.send(200, 'pong'));
    const twin = await client.getTwin();
    const seen: Record<string, unknown>[] = [];
    twin.on('properties.desired', (d: Record<string, unknown>) => seen.push(d));
    await hub.waitUntil(
      () => hub.subscriptions('bed-faults').length === 3,
      5000,
      'three subscriptions (methods, twin res, twin desired)',
    );
    const connectsBefore = hub.stats.connects;

    hub.dropConnections();
    expect(hub.connectedClients()).not.toContain('bed-faults');
    await hub.waitUntil(() => hub.connectedClients().includes('bed-faults') && hub.stats.connects > connectsBefore, 10_000, 'SDK reconnect');

    await expect(hub.invokeMethod('bed-faults', undefined, 'ping', null)).resolves.toEqual({ status: 200, payload: 'pong' });
    hub.updateDesired('bed-faults', undefined, { afterDrop: true });
    await hub.waitUntil(() => seen.some((d) => d['afterDrop'] === true), 5000, 'desired patch after reconnect');
    const log = hub.connectionLog.filter((e) => e.clientId === 'bed-faults');
    expect(log.some((e) => e.event === 'closed' && e.reason === 'dropped')).toBe(true);
  });

  it('delayed PUBACK: sendEvent resolves only after the ack is sent', async () => {
    const client = await openDevice('bed-acks');
    hub.setPubackPolicy({ delayMs: 300 });
    const msg = new Message('slow');
    msg.messageId = 'slow-1';
    await client.sendEvent(msg);
    const got = hub.messages.find((m) => m.messageId === 'slow-1');
    expect(got?.puback).toBe('sent');
  });

  it('dropped PUBACK: sendEvent stays pending; after acks resume and the link drops, the SDK re-sends (duplicate)', async () => {
    const client = await openDevice('bed-acks');
    hub.setPubackPolicy({ drop: true });
    const msg = new Message('held');
    msg.messageId = 'held-1';
    const sending = client.sendEvent(msg);
    const flag = settledFlag(sending);

    const first = await hub.waitForMessage((m) => m.messageId === 'held-1');
    expect(first.puback).toBe('dropped');
    await tick(300);
    expect(flag.settled).toBe(false);

    hub.setPubackPolicy({});
    hub.dropConnections();
    await expect(sending).resolves.toBeDefined();

    const copies = hub.messages.filter((m) => m.messageId === 'held-1');
    expect(copies.length).toBeGreaterThanOrEqual(2);
    expect(copies.at(-1)?.puback).toBe('sent');
    expect(copies.at(-1)?.connectionId).not.toBe(first.connectionId);
    expect(copies.every((m) => m.dup === false)).toBe(true); // a new PUBLISH, not an MQTT redelivery
  }, 20_000);
});

describe('hub stand-in without persistent sessions', () => {
  it('shows that the SDK does not re-subscribe twin topics after a reconnect', async () => {
    const key = randomKey();
    const local = await startHubStandin({ identities: [{ deviceId: 'bed-x', key }], persistentSessions: false });
    const client = Client.fromConnectionString(local.connectionString('bed-x'), Mqtt);
    try {
      await client.setOptions({ ca: local.caPem });
      await client.open();
      client.onDeviceMethod('ping', (_req, res) => void res.send(200, 'pong'));
      const twin = await client.getTwin();
      twin.on('properties.desired', () => undefined);
      await local.waitUntil(() => local.subscriptions('bed-x').length === 3, 5000, 'three subscriptions');

      const connects = local.stats.connects;
      local.dropConnections();
      await local.waitUntil(() => local.stats.connects > connects && local.subscriptions('bed-x').includes('$iothub/methods/POST/#'), 10_000, 'reconnect + methods');
      await tick(300); // give the SDK time to send any other SUBSCRIBE it would send
      // Methods are re-subscribed by the SDK; both twin topics are not (it relies on the hub session).
      expect(local.subscriptions('bed-x')).toEqual(['$iothub/methods/POST/#']);
    } finally {
      await client.close().catch(() => undefined);
      await local.stop();
    }
  });
});
