// The uplink's connection ends, with the real Azure device SDK against the IoT Hub stand-in (review rv113): a client
// the agent gives up on is closed hard and never comes back (M1), a stop does not wait for a PUBACK that will not
// come and leaves the store closed (L2), and a ready-made SAS token goes through the string's GatewayHostName (M4).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { startHubStandin, makeSasToken, resourceFor, type HubStandin } from '../hub-standin/index.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { STANDIN_CA_FILE, testConfig } from '../support/agent-config.js';
import { Outbox } from '../../agent/store/outbox.js';
import { Metrics } from '../../agent/metrics.js';
import { Forwarder } from '../../agent/forward/forwarder.js';
import { AzureIotTransport } from '../../agent/forward/azure.js';

const KEY = Buffer.from('test-device-key-0123456789abcdef').toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

let hub: HubStandin | null = null;
let agents: Agent[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const a of agents) await a.stop().catch(() => undefined);
  agents = [];
  await hub?.stop();
  hub = null;
});

const simulator = { name: 'ward-sim', type: 'simulator', options: { beds: 2, waveforms: false, numericPeriodMs: 200 } };

describe('the uplink closes what it gives up on, hard (review rv113)', () => {
  it('M1: a token renewal while a PUBACK is outstanding leaves no abandoned SDK client to reconnect with the same id 30 s later', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const transport = AzureIotTransport.fromConnectionString(hub.connectionString('gw-dev'), STANDIN_CA_FILE);
    const box = new Outbox(':memory:');
    const metrics = new Metrics();
    const opts = { gatewayId: 'gw', maxMessageBytes: 4096, batchDelayMs: 0, sendTimeoutMs: 2000, retry: { initialDelayMs: 100, maxDelayMs: 200 } };
    const forwarder = new Forwarder(box, transport, opts, captureLog().log, metrics);
    let n = 0;
    const feed = setInterval(() => {
      box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ n: n++ }) }]);
      forwarder.notify();
    }, 100);
    cleanups.push(async () => {
      clearInterval(feed);
      await forwarder.stop();
      box.close();
    });
    forwarder.start();
    await hub.waitFor((ms) => ms.filter((m) => m.puback === 'sent').length >= 3, 10_000);

    // A PUBACK that never comes (lost, or a link black-holed at that moment)...
    hub.setPubackPolicy({ drop: true });
    await hub.waitFor((ms) => ms.some((m) => m.puback === 'dropped'), 10_000);
    // ...while the SDK renews its token (as it does by itself a third of the token's life before it ends): the SDK
    // reconnects with the new token once the PUBACKs outstanding are in, or after 30 s whatever comes.
    const sdk = (transport as unknown as { client: { _transport: { _authenticationProvider: { setTokenRenewalValues(valid: number, margin: number): void } } } | null }).client;
    sdk!._transport._authenticationProvider.setTokenRenewalValues(3600, 900);
    const renewedAt = Date.now();
    hub.setPubackPolicy({});
    // The forwarder gives the send up after 2 s, closes that client and connects a new one.
    await hub.waitUntil(() => hub!.connectionLog.filter((e) => e.event === 'connected').length >= 2, 10_000, 'the forwarder connects again');

    // The renewal's 30 s are over: the client given up on did not come back (it connected again as the same device,
    // and the hub closed the live connection as 'replaced').
    await sleep(renewedAt + 33_000 - Date.now());
    const events = hub.connectionLog.map((e) => `${e.connectionId}:${e.event}:${e.reason ?? ''}`);
    expect(hub.connectionLog.filter((e) => e.reason === 'replaced'), events.join(' ')).toEqual([]);
    expect(hub.connectionLog.filter((e) => e.event === 'connected'), events.join(' ')).toHaveLength(2);
    expect(hub.stats.connectAttempts).toBe(2);
    expect(hub.connectedClients()).toEqual(['gw-dev']);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(0);
    // The first connection was closed by the agent when it gave the send up, not left for the next one to replace.
    expect(hub.connectionLog.find((e) => e.event === 'closed')!.at.getTime()).toBeLessThan(renewedAt + 5000);
    // Delivery went on, on the second connection.
    const live = hub.connectionLog.filter((e) => e.event === 'connected').at(-1)!.connectionId;
    expect(hub.messages.filter((m) => m.connectionId === live && m.puback === 'sent').length).toBeGreaterThan(100);
    expect(forwarder.getStatus().state).toBe('connected');
  }, 60_000);

  it('M1, the other side: a renewal of the client in use still waits for the PUBACKs in flight and reconnects as soon as they are in', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const transport = AzureIotTransport.fromConnectionString(hub.connectionString('gw-dev'), STANDIN_CA_FILE);
    const box = new Outbox(':memory:');
    const metrics = new Metrics();
    const opts = { gatewayId: 'gw', maxMessageBytes: 4096, batchDelayMs: 0, sendTimeoutMs: 5000, retry: { initialDelayMs: 100, maxDelayMs: 200 } };
    const forwarder = new Forwarder(box, transport, opts, captureLog().log, metrics);
    let n = 0;
    const feed = setInterval(() => {
      box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ n: n++ }) }]);
      forwarder.notify();
    }, 100);
    cleanups.push(async () => {
      clearInterval(feed);
      await forwarder.stop();
      box.close();
    });
    forwarder.start();
    await hub.waitFor((ms) => ms.filter((m) => m.puback === 'sent').length >= 3, 10_000);
    hub.setPubackPolicy({ delayMs: 1500 });
    await hub.waitFor((ms) => ms.some((m) => m.puback === 'pending'), 10_000);
    const sdk = (transport as unknown as { client: { _transport: { _authenticationProvider: { setTokenRenewalValues(valid: number, margin: number): void } } } | null }).client;
    sdk!._transport._authenticationProvider.setTokenRenewalValues(3600, 900);
    const renewedAt = Date.now();
    await hub.waitUntil(() => hub!.connectionLog.filter((e) => e.event === 'connected').length >= 2, 5000, 'the renewal reconnects');
    expect(Date.now() - renewedAt).toBeLessThan(3000);
    // The PUBACK in flight came first (nothing lost, nothing resent), then a goodbye, then the new connection.
    expect(hub.connectionLog.find((e) => e.event === 'closed')?.reason).toBe('client-disconnect');
    expect(hub.messages.filter((m) => m.puback === 'lost')).toEqual([]);
    await sleep(2000);
    expect(metrics.get('forward_failures_total', { stream: 'alarms' })).toBe(0);
    expect(forwarder.getStatus().state).toBe('connected');
  }, 30_000);

  it('L2: a stop while a send waits for a PUBACK ends at once, closes the store (no WAL left), and the message goes again at the next start', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const dir = tempDir();
    // The default send timeout: a stop that waited for the PUBACK would wait 30 s (the process's deadline is 8 s).
    const config = testConfig(dir, { drivers: [simulator], hub: { sendTimeoutMs: 30_000 } }, hub.connectionString('gw-dev'));
    const agent = new Agent({ config, registry, log: captureLog().log });
    agents.push(agent);
    await agent.start();
    await hub.waitFor((ms) => ms.filter((m) => m.puback === 'sent').length >= 2, 15_000);
    hub.setPubackPolicy({ drop: true });
    const unanswered = await hub.waitForMessage((m) => m.puback === 'dropped', 15_000);

    const t0 = Date.now();
    const stopped = await Promise.race([agent.stop().then(() => true), sleep(10_000).then(() => false)]);
    const tookMs = Date.now() - t0;
    expect(stopped).toBe(true);
    expect(tookMs).toBeLessThan(3000);
    // The store was closed: its WAL checkpointed into agent.db and removed.
    const wal = join(dir, 'agent.db-wal');
    expect(existsSync(wal) ? statSync(wal).size : 0).toBe(0);
    // The agent closed the connection itself (it did not wait for the next one to replace it).
    await hub.waitUntil(() => hub!.connectedClients().length === 0, 2000, 'the connection closed');
    expect(hub.connectionLog.filter((e) => e.reason === 'replaced')).toEqual([]);

    // Nothing accepted is lost: the unanswered message is still unacknowledged in the store...
    const box = new Outbox(join(dir, 'agent.db'));
    try {
      expect(box.nextMessage()?.id).toBe(unanswered.messageId);
    } finally {
      box.close();
    }
    // ...and goes again, with the same id and body, at the next start.
    hub.setPubackPolicy({});
    const again = new Agent({ config, registry, log: captureLog().log });
    agents.push(again);
    await again.start();
    const resent = await hub.waitForMessage((m) => m.messageId === unanswered.messageId && m.seq > unanswered.seq, 15_000);
    expect(resent.body.equals(unanswered.body)).toBe(true);
    expect(await again.drain(15_000)).toBe(true);
  }, 60_000);

  it('M4: a ready-made SharedAccessSignature connects through the GatewayHostName of its connection string', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }], enforceTokenExpiry: true });
    const keyed = hub.connectionString('gw-dev');
    const gateway = /GatewayHostName=([^;]+)/.exec(keyed)![1]!;
    const token = makeSasToken(resourceFor(hub.hostName, 'gw-dev'), KEY, Math.floor(Date.now() / 1000) + 3600);
    // hub.hostName does not resolve: only the gateway (the stand-in on loopback) can be reached.
    const cs = `HostName=${hub.hostName};DeviceId=gw-dev;SharedAccessSignature=${token};GatewayHostName=${gateway}`;
    const config = testConfig(tempDir(), { drivers: [simulator] }, cs);
    const agent = new Agent({ config, registry, log: captureLog().log });
    agents.push(agent);
    await agent.start();
    await hub.waitFor((ms) => ms.some((m) => m.puback === 'sent'), 15_000);
    expect(hub.stats.authFailures).toBe(0);
    expect(hub.messages[0]!.deviceId).toBe('gw-dev');
    expect(agent.metrics.get('forward_retries_total', { reason: 'unreachable' })).toBe(0);
  }, 30_000);
});
