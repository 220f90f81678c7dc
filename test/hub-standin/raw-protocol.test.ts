import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type * as mqttPacket from 'mqtt-packet';
import { randomKey, startHubStandin, type HubStandin } from './index.js';
import { hubConnectPacket, RawMqttClient } from './raw-client.js';

/** Byte-level behaviour of the stand-in, driven by a bare MQTT client over TLS on loopback. */

const key = randomKey();
const otherKey = randomKey();
let hub: HubStandin;
const clients: RawMqttClient[] = [];

async function raw(): Promise<RawMqttClient> {
  const c = await RawMqttClient.open(hub.port, hub.caPem);
  clients.push(c);
  return c;
}

async function connected(opts: { clean?: boolean; keepalive?: number; deviceId?: string } = {}): Promise<{ c: RawMqttClient; connack: mqttPacket.IConnackPacket }> {
  const c = await raw();
  const deviceId = opts.deviceId ?? 'dev-a';
  c.send(hubConnectPacket({ hostName: hub.hostName, deviceId, key: deviceId === 'dev-a' ? key : otherKey, ...opts }));
  const connack = (await c.next('connack')) as mqttPacket.IConnackPacket;
  expect(connack.returnCode).toBe(0);
  return { c, connack };
}

beforeAll(async () => {
  hub = await startHubStandin({
    identities: [
      { deviceId: 'dev-a', key },
      { deviceId: 'dev-b', key: otherKey },
    ],
    maxPacketBytes: 4096,
  });
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  hub.setStalled(false);
});

afterAll(async () => {
  await hub.stop();
});

describe('CONNECT handling', () => {
  it('answers CONNACK 5 to an expired SAS token and counts an auth failure', async () => {
    const before = hub.stats.authFailures;
    const c = await raw();
    c.send(hubConnectPacket({ hostName: hub.hostName, deviceId: 'dev-a', key, expirySeconds: Math.floor(Date.now() / 1000) - 10 }));
    expect(await c.next('connack')).toMatchObject({ returnCode: 5 });
    await c.closed;
    expect(hub.stats.authFailures).toBe(before + 1);
  });

  it('answers CONNACK 5 to a token for another device signed with that device key', async () => {
    const c = await raw();
    const p = hubConnectPacket({ hostName: hub.hostName, deviceId: 'dev-b', key: otherKey });
    c.send({ ...p, clientId: 'dev-a', username: `${hub.hostName}/dev-a/?api-version=2021-04-12` });
    expect(await c.next('connack')).toMatchObject({ returnCode: 5 });
  });

  it('answers CONNACK 4 to a password that is not a SAS token, and to a wrong username', async () => {
    const c = await raw();
    c.send({ ...hubConnectPacket({ hostName: hub.hostName, deviceId: 'dev-a', key }), password: Buffer.from('hunter2') });
    expect(await c.next('connack')).toMatchObject({ returnCode: 4 });
    const d = await raw();
    d.send({ ...hubConnectPacket({ hostName: hub.hostName, deviceId: 'dev-a', key }), username: 'someone-else' });
    expect(await d.next('connack')).toMatchObject({ returnCode: 4 });
  });

  it('answers CONNACK 1 to MQTT 3.1 (MQIsdp)', async () => {
    const c = await raw();
    c.send({ ...hubConnectPacket({ hostName: hub.hostName, deviceId: 'dev-a', key }), protocolId: 'MQIsdp', protocolVersion: 3 });
    expect(await c.next('connack')).toMatchObject({ returnCode: 1 });
  });

  it('closes on garbage bytes and counts a malformed packet', async () => {
    const before = hub.stats.malformedPackets;
    const c = await raw();
    c.sendBytes(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])); // remaining length > 4 bytes
    await c.closed;
    expect(hub.stats.malformedPackets).toBe(before + 1);
  });

  it('closes when the first packet is not CONNECT', async () => {
    const before = hub.stats.protocolViolations;
    const c = await raw();
    c.send({ cmd: 'pingreq' });
    await c.closed;
    expect(hub.stats.protocolViolations).toBe(before + 1);
  });

  it('closes on a packet larger than maxPacketBytes', async () => {
    const { c } = await connected();
    const before = hub.stats.malformedPackets;
    c.send({ cmd: 'publish', topic: 'devices/dev-a/messages/events/', payload: Buffer.alloc(8000), qos: 1, messageId: 1, dup: false, retain: false });
    await c.closed;
    expect(hub.stats.malformedPackets).toBe(before + 1);
  });

  it('a second connection with the same client id replaces the first', async () => {
    const first = await connected();
    await connected();
    await first.c.closed;
    expect(hub.connectionLog.some((e) => e.reason === 'replaced')).toBe(true);
  });

  it('enforces keep-alive (1.5 × keepalive without packets closes the connection)', async () => {
    const before = hub.stats.keepaliveTimeouts;
    const { c } = await connected({ keepalive: 1 });
    c.send({ cmd: 'pingreq' });
    expect((await c.next('pingresp')).cmd).toBe('pingresp');
    await c.closed;
    expect(hub.stats.keepaliveTimeouts).toBe(before + 1);
  });
});

describe('sessions and subscriptions', () => {
  it('grants QoS ≤ 1, refuses invalid and foreign filters', async () => {
    const { c } = await connected({ clean: true });
    c.send({
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [
        { topic: '$iothub/twin/res/#', qos: 0 },
        { topic: 'devices/dev-a/messages/devicebound/#', qos: 2 },
        { topic: 'devices/dev-b/messages/devicebound/#', qos: 1 },
        { topic: '$iothub/methods/#/POST', qos: 0 },
      ],
    });
    expect(await c.next('suback')).toMatchObject({ messageId: 7, granted: [0, 1, 0x80, 0x80] });
  });

  it('keeps subscriptions for clean=false (sessionPresent) and drops them for clean=true', async () => {
    const first = await connected({ clean: false });
    first.c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/methods/POST/#', qos: 0 }] });
    await first.c.next('suback');
    first.c.send({ cmd: 'disconnect' });
    await first.c.closed;

    const second = await connected({ clean: false });
    expect(second.connack.sessionPresent).toBe(true);
    expect(hub.subscriptions('dev-a')).toEqual(['$iothub/methods/POST/#']);
    second.c.close();
    await second.c.closed;

    const third = await connected({ clean: true });
    expect(third.connack.sessionPresent).toBe(false);
    expect(hub.subscriptions('dev-a')).toEqual([]);
  });

  it('delivers twin responses only to subscribed clients and answers 400 to a bad reported patch', async () => {
    const { c } = await connected({ clean: true });
    c.send({ cmd: 'publish', topic: '$iothub/twin/GET/?$rid=1', payload: Buffer.alloc(0), qos: 0, dup: false, retain: false });
    c.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '$iothub/twin/res/#', qos: 0 }] });
    await c.next('suback');
    expect(c.pending().filter((p) => p.cmd === 'publish')).toHaveLength(0);

    c.send({ cmd: 'publish', topic: '$iothub/twin/PATCH/properties/reported/?$rid=r2', payload: Buffer.from('{not json'), qos: 0, dup: false, retain: false });
    const bad = (await c.next('publish')) as mqttPacket.IPublishPacket;
    expect(bad.topic).toBe('$iothub/twin/res/400/?$rid=r2');
    expect(JSON.parse(bad.payload.toString())).toMatchObject({ errorCode: 400004 });

    c.send({ cmd: 'publish', topic: '$iothub/twin/PATCH/properties/reported/?$rid=r3', payload: Buffer.from('{"$version":3}'), qos: 0, dup: false, retain: false });
    expect(((await c.next('publish')) as mqttPacket.IPublishPacket).topic).toBe('$iothub/twin/res/400/?$rid=r3');

    c.send({ cmd: 'publish', topic: '$iothub/twin/PATCH/properties/reported/?$rid=r4', payload: Buffer.from('{"x":1}'), qos: 0, dup: false, retain: false });
    expect(((await c.next('publish')) as mqttPacket.IPublishPacket).topic).toMatch(/^\$iothub\/twin\/res\/204\/\?\$rid=r4&\$version=\d+$/);
  });

  it('routes a direct method to the raw client and resolves with its answer', async () => {
    const { c } = await connected({ clean: true });
    c.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: '$iothub/methods/POST/#', qos: 0 }] });
    await c.next('suback');
    const call = hub.invokeMethod('dev-a', undefined, 'reboot', { delay: 1 });
    const req = (await c.next('publish')) as mqttPacket.IPublishPacket;
    const m = /^\$iothub\/methods\/POST\/reboot\/\?\$rid=([0-9a-f]+)$/.exec(req.topic);
    expect(m).not.toBeNull();
    expect(JSON.parse(req.payload.toString())).toEqual({ delay: 1 });
    c.send({ cmd: 'publish', topic: `$iothub/methods/res/202/?$rid=${m?.[1] ?? ''}`, payload: Buffer.from('not json'), qos: 0, dup: false, retain: false });
    await expect(call).resolves.toEqual({ status: 202, payload: 'not json' });
  });
});

describe('publishes', () => {
  it('records QoS 0 telemetry without PUBACK and flags retained messages', async () => {
    const { c } = await connected({ clean: true });
    c.send({ cmd: 'publish', topic: 'devices/dev-a/messages/events/a=1&%24.mid=q0', payload: Buffer.from('x'), qos: 0, dup: false, retain: true });
    const m = await hub.waitForMessage((x) => x.messageId === 'q0');
    expect(m).toMatchObject({ qos: 0, puback: 'none', retain: true });
    expect({ ...m.properties }).toEqual({ a: '1', 'mqtt-retain': 'true' });
  });

  it('closes on QoS 2, on another identity\'s topic, on an unsupported topic, and on a bad property bag', async () => {
    const cases: mqttPacket.IPublishPacket[] = [
      { cmd: 'publish', topic: 'devices/dev-a/messages/events/', payload: Buffer.from('x'), qos: 2, messageId: 1, dup: false, retain: false },
      { cmd: 'publish', topic: 'devices/dev-b/messages/events/', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false },
      { cmd: 'publish', topic: 'somewhere/else', payload: Buffer.from('x'), qos: 0, dup: false, retain: false },
      { cmd: 'publish', topic: 'devices/dev-a/messages/events/a=%E0%A4%A', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false },
    ];
    for (const packet of cases) {
      const before = hub.stats.protocolViolations;
      const { c } = await connected({ clean: true });
      c.send(packet);
      await c.closed;
      expect(hub.stats.protocolViolations, packet.topic).toBe(before + 1);
    }
  });

  it('throttle (maxPerSecond): the acknowledgements a closed connection lost give their slots back; the next connection is not held behind them (review rv113 L3)', async () => {
    hub.setPubackPolicy({ maxPerSecond: 5 });
    try {
      const { c: first } = await connected({ clean: true });
      for (let i = 1; i <= 10; i++) {
        first.send({ cmd: 'publish', topic: `devices/dev-a/messages/events/%24.mid=l3-a${i}`, payload: Buffer.from('x'), qos: 1, messageId: i, dup: false, retain: false });
      }
      await hub.waitUntil(() => hub.messages.filter((m) => m.messageId?.startsWith('l3-a')).length === 10, 3000, 'ten publishes recorded');
      // The first goes at once; nine wait their turn (200 ms apart) and are lost with the connection.
      first.close();
      await hub.waitUntil(() => hub.messages.filter((m) => m.messageId?.startsWith('l3-a') && m.puback === 'lost').length === 9, 3000, 'nine acks lost');
      const { c: second } = await connected({ clean: true });
      const sentAt = Date.now();
      second.send({ cmd: 'publish', topic: 'devices/dev-a/messages/events/%24.mid=l3-b', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false });
      await second.next('puback', 3000);
      // One slot (200 ms) at most, not the nine dead ones' 1.8 s.
      expect(Date.now() - sentAt).toBeLessThan(700);
    } finally {
      hub.setPubackPolicy({});
    }
  });

  it('stalled: packets are ignored (no PINGRESP) until un-stalled', async () => {
    const { c } = await connected({ clean: true });
    hub.setStalled(true);
    const before = hub.stats.stalledPackets;
    c.send({ cmd: 'pingreq' });
    await hub.waitUntil(() => hub.stats.stalledPackets > before, 3000, 'stalled packet counted');
    expect(c.pending()).toHaveLength(0);
    hub.setStalled(false);
    c.send({ cmd: 'pingreq' });
    expect((await c.next('pingresp')).cmd).toBe('pingresp');
  });
});
