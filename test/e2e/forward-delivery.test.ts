// What the forwarder puts on the wire when the store or the hub misbehaves: the outbox and the forwarder against the
// real Azure device SDK over MQTT/TLS and the IoT Hub stand-in on loopback. Counts copies and order, never times.
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Outbox } from '../../agent/store/outbox.js';
import { Forwarder, type ForwarderOptions } from '../../agent/forward/forwarder.js';
import { AzureIotTransport } from '../../agent/forward/azure.js';
import { envelope } from '../../agent/forward/wire.js';
import { Metrics } from '../../agent/metrics.js';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { MDC } from '../../agent/model/mdc.js';
import { STANDIN_CA_FILE, testConfig } from '../support/agent-config.js';
import { startHubStandin, type HubStandin } from '../hub-standin/index.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';

const KEY = Buffer.from('test-device-key-0123456789abcdef').toString('base64');
const OPTS: ForwarderOptions = {
  gatewayId: 'gw',
  maxMessageBytes: 65536,
  batchDelayMs: 50,
  sendTimeoutMs: 10_000,
  retry: { initialDelayMs: 100, maxDelayMs: 400 },
};

let hub: HubStandin | null = null;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await hub?.stop();
  hub = null;
});

const numeric = (i: number) => ({
  stream: 'telemetry' as const,
  cls: 1 as const,
  deviceId: 'mon-1',
  body: JSON.stringify({ type: 'numeric', deviceId: 'mon-1', source: 's', code: 147842, refid: 'MDC_ECG_HEART_RATE', value: i, unit: '/min', deviceTime: null, receivedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(), quality: 'valid' }),
});

async function setup(opts: Partial<ForwarderOptions> = {}) {
  hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
  const box = new Outbox(join(tempDir(), 'agent.db'));
  const cap = captureLog();
  const metrics = new Metrics();
  const forwarder = new Forwarder(box, AzureIotTransport.fromConnectionString(hub.connectionString('gw-dev'), STANDIN_CA_FILE), { ...OPTS, ...opts }, cap.log, metrics);
  cleanups.push(() => box.close());
  cleanups.push(() => forwarder.stop());
  return { box, cap, metrics, forwarder, hub };
}

/** SQLite refuses every write from now on, as on a disk remounted read-only or failing with I/O errors. */
function storeReadOnly(box: Outbox, on: boolean): void {
  (box as unknown as { db: { pragma(s: string): unknown } }).db.pragma(`query_only = ${on ? 1 : 0}`);
}

describe('forwarder and store faults (stand-in, real SDK over TLS)', () => {
  it('an acknowledgement the store cannot write: the message goes once, the write is retried with backoff, not resent', async () => {
    const { box, cap, metrics, forwarder, hub } = await setup();
    box.append([numeric(1)]);
    const m = box.pack('telemetry', OPTS.maxMessageBytes, envelope('gw'))!;
    storeReadOnly(box, true);
    forwarder.start();
    const copies = () => hub.messages.filter((x) => x.messageId === m.id).length;
    // Three failed writes (the first, then two retries after backoff), or the resend loop the store fault used to cause.
    await hub.waitUntil(() => metrics.get('forward_ack_write_failures_total') >= 3 || copies() >= 5, 20_000, 'ack write retried or resent');
    expect(copies()).toBe(1);
    expect(metrics.get('forward_messages_total', { stream: 'telemetry' })).toBe(1);
    expect(forwarder.getStatus()).toMatchObject({ state: 'backoff', lastError: expect.stringMatching(/^store: cannot record an acknowledgement/) });
    expect(forwarder.reachable()).toBe(true); // the hub is fine; the hub alarm is not for this
    // Logged at error the first time (and every tenth), not once per retry.
    const errors = cap.lines.filter((l) => l.msg === 'cannot record the acknowledgement in the store; sending nothing until it can (a restart before then resends with the same ids)');
    expect(errors.length).toBe(metrics.get('forward_ack_write_failures_total'));
    expect(errors.filter((l) => l.level === 50).map((l) => l.attempt)).toEqual(errors.map((l) => l.attempt).filter((a) => a === 1 || (a as number) % 10 === 0));
    expect(errors[0]).toMatchObject({ messageIds: [m.id], unrecorded: 1 });

    // The disk is writable again: the acknowledgement is written, nothing is sent again, and forwarding goes on.
    storeReadOnly(box, false);
    await hub.waitUntil(() => box.nothingToSend(), 20_000, 'acknowledgement recorded');
    box.append([numeric(2)]);
    forwarder.notify();
    await hub.waitUntil(() => box.nothingToSend() && hub.messages.length >= 2, 20_000, 'next message delivered');
    expect(copies()).toBe(1);
    expect(hub.messages.length).toBe(2);
    expect(cap.find('acknowledgements recorded in the store; forwarding again')).toBeDefined();
    expect(forwarder.getStatus().state).toBe('connected');
  });

  it('an alarm raised while a replay drains goes ahead of the waiting copies', async () => {
    const { box, forwarder, hub } = await setup();
    // 30 messages delivered earlier, then replayed: 30 copies waiting to be sent, over a slow uplink.
    for (let i = 0; i < 30; i++) {
      box.append([numeric(i)]);
      box.acknowledge(box.pack('telemetry', OPTS.maxMessageBytes, envelope('gw'))!.id);
    }
    expect(box.replay(0, Date.now())).toMatchObject({ messages: 30 });
    hub.setPubackPolicy({ delayMs: 50 });
    forwarder.start();
    const isCopy = (m: { properties: Record<string, string> }) => m.properties.replayOf !== undefined;
    await hub.waitUntil(() => hub.messages.filter(isCopy).length >= 2, 20_000, 'replay draining');
    const alarm = { type: 'alarm', deviceId: 'mon-1', source: 's', alarmId: 'a-1', code: null, refid: null, text: 'SpO2 LOW', priority: 'high', category: 'physiological', phase: 'start', deviceTime: null, receivedAt: new Date().toISOString() };
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'mon-1', body: JSON.stringify(alarm) }]);
    forwarder.notify();
    const atCommit = hub.messages.length;
    const sent = await hub.waitForMessage((m) => m.properties.kind === 'alarm', 20_000);
    const at = hub.messages.indexOf(sent);
    // At most the copy that was already on its way when the alarm was committed (one in flight).
    expect(hub.messages.slice(atCommit, at).filter(isCopy).length).toBeLessThanOrEqual(1);
    await hub.waitUntil(() => box.nothingToSend(), 20_000, 'replay drained');
    // The replay was still draining when the alarm went: copies came after it.
    expect(hub.messages.slice(at + 1).filter(isCopy).length).toBeGreaterThan(0);
    expect(new Set(hub.messages.filter(isCopy).map((m) => m.messageId)).size).toBe(30);
  });

  it('a backlog drained after an outage carries its pack time in iothub-creation-time-utc, after the outage: the records tell their age (docs/cloud-consumers.md)', async () => {
    const { box, forwarder, hub } = await setup({ maxMessageBytes: 4096 });
    hub.refuseConnections('server-unavailable');
    forwarder.start();
    for (let i = 0; i < 100; i++) box.append([numeric(i)]);
    forwarder.notify();
    await hub.waitUntil(() => hub.stats.refused >= 2, 20_000, 'connections refused');
    const upAt = Date.now();
    hub.refuseConnections('off');
    await hub.waitUntil(() => box.nothingToSend(), 20_000, 'backlog drained');
    expect(hub.messages.length).toBeGreaterThan(1);
    for (const m of hub.messages) {
      // Packed once connected again, though every record in it was received before the outage ended.
      expect(Date.parse(m.properties['iothub-creation-time-utc']!)).toBeGreaterThanOrEqual(upAt);
      const records = (JSON.parse(m.body.toString('utf8')) as { records: { receivedAt: string }[] }).records;
      expect(records.every((r) => Date.parse(r.receivedAt) < upAt)).toBe(true);
    }
  });

  it('the whole agent: a store that cannot record what the hub received raises a gateway alarm, ended when it can again', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const cap = captureLog();
    const agent = new Agent({ config: testConfig(tempDir(), { hub: { sendTimeoutMs: 20_000 } }, hub.connectionString('gw-dev')), registry, log: cap.log });
    cleanups.push(() => agent.stop());
    await agent.start();
    await hub.waitUntil(() => agent.forwarder!.getStatus().state === 'connected', 20_000, 'connected');
    const h = hub;
    h.setPubackPolicy({ delayMs: 3000 });
    await agent.ingest.accept('sim', [{ kind: 'numeric', deviceId: 'mon-1', bed: 'b1', source: 'sim', mdc: MDC.ECG_HEART_RATE, value: 80, unit: { ucum: '/min' }, deviceTime: null, receivedAt: Date.now(), quality: { state: 'valid' } }]);
    await h.waitUntil(() => h.messages.some((m) => m.body.toString('utf8').includes('MDC_ECG_HEART_RATE')), 20_000, 'reading at the hub');
    storeReadOnly(agent.outbox, true); // before the delayed PUBACK comes back
    const alarm = () => agent.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-ack-write');
    await h.waitUntil(() => alarm() !== undefined, 20_000, 'gateway alarm');
    expect(alarm()).toMatchObject({ category: 'technical', priority: 'medium', state: 'active' });
    expect(alarm()!.condition.text).toMatch(/^Store cannot record what the hub received/);
    h.setPubackPolicy({});
    storeReadOnly(agent.outbox, false);
    await h.waitUntil(() => alarm() === undefined || alarm()!.state === 'resolved', 20_000, 'alarm ended');
    expect(agent.forwarder!.ackWriteFailing()).toBe(false);
  }, 60_000);

  it('the whole agent: a store that cannot prepare messages stops forwarding with a gateway alarm and health degraded, not silently (review rv42 §2)', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const h = hub;
    h.refuseConnections('tcp-close');
    const cap = captureLog();
    const agent = new Agent({ config: testConfig(tempDir(), {}, h.connectionString('gw-dev')), registry, log: cap.log });
    cleanups.push(() => agent.stop());
    await agent.start();
    await agent.ingest.accept('sim', [{ kind: 'numeric', deviceId: 'mon-1', bed: 'b1', source: 'sim', mdc: MDC.ECG_HEART_RATE, value: 80, unit: { ucum: '/min' }, deviceTime: null, receivedAt: Date.now(), quality: { state: 'valid' } }]);
    await h.waitUntil(() => !agent.forwarder!.reachable(), 20_000, 'outage seen');
    storeReadOnly(agent.outbox, true); // packing a message writes: it fails as on a failing or read-only disk
    h.refuseConnections('off');
    const alarm = () => agent.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-pack');
    await h.waitUntil(() => alarm() !== undefined, 20_000, 'gateway alarm');
    expect(alarm()).toMatchObject({ category: 'technical', priority: 'medium', state: 'active' });
    expect(alarm()!.condition.text).toMatch(/^Store cannot prepare messages for the hub \(store: cannot prepare a message: .*\): forwarding has stopped$/);
    expect(agent.forwarder!.getStatus()).toMatchObject({ state: 'backoff', lastError: expect.stringMatching(/^store: cannot prepare a message/) });
    // Connected: the hub is not what holds the backlog, so no hub alarm follows the outage before (review rv43 §5).
    expect(agent.forwarder!.reachable()).toBe(true);
    expect(agent.health().status).toBe('degraded');
    expect(h.messages).toHaveLength(0);
    const errors = cap.lines.filter((l) => l.msg === 'store error while preparing a message; nothing is sent until it works (retrying)');
    expect(errors.filter((l) => l.level === 50).map((l) => l.attempt)).toEqual(errors.map((l) => l.attempt).filter((a) => a === 1 || (a as number) % 10 === 0));

    storeReadOnly(agent.outbox, false);
    await h.waitUntil(() => h.messages.some((m) => m.body.toString('utf8').includes('MDC_ECG_HEART_RATE')), 20_000, 'reading at the hub');
    await h.waitUntil(() => alarm() === undefined || alarm()!.state === 'resolved', 20_000, 'alarm ended');
    expect(cap.find('the store prepares messages again; forwarding')).toBeDefined();
  }, 60_000);
});
