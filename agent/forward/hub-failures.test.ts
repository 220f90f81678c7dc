// How the forwarder tells the hub's failures apart, with the real Azure device SDK over MQTT/TLS against the IoT Hub
// stand-in on loopback (review rv113): a hub that stops acknowledging is an outage, not a refused message (M2); a
// throttled hub that acknowledges slower than the window needs is not a failure at all (M3); a certificate the agent
// does not trust is a TLS failure, not "unreachable" (L1).
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Outbox } from '../store/outbox.js';
import { Metrics } from '../metrics.js';
import { Agent } from '../agent.js';
import { registry } from '../../drivers/registry.js';
import { Forwarder, hubFailureOf, type ForwarderOptions } from './forwarder.js';
import { AzureIotTransport } from './azure.js';
import { STANDIN_CA_FILE, testConfig } from '../../test/support/agent-config.js';
import { startHubStandin, type HubStandin } from '../../test/hub-standin/index.js';
import { captureLog } from '../../test/support/log.js';
import { tempDir } from '../../test/support/agent-process.js';

const KEY = Buffer.from('test-device-key-0123456789abcdef').toString('base64');
const ROGUE_CA = join(import.meta.dirname, '../../test/fault/certs/rogue-ca.pem');
const OPTS: ForwarderOptions = {
  gatewayId: 'gw',
  maxMessageBytes: 4096,
  batchDelayMs: 20,
  sendTimeoutMs: 600,
  retry: { initialDelayMs: 100, maxDelayMs: 300 },
};

let hub: HubStandin | null = null;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await hub?.stop();
  hub = null;
});

const alarm = (i: number) => ({ stream: 'alarms' as const, cls: 0 as const, deviceId: 'mon-1', body: JSON.stringify({ type: 'alarm', i }) });
const telemetry = (i: number) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'mon-1', body: JSON.stringify({ type: 'numeric', i, pad: 'x'.repeat(900) }) });

async function setup(opts: Partial<ForwarderOptions> = {}, caFile = STANDIN_CA_FILE) {
  const standin = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
  hub = standin;
  const box = new Outbox(join(tempDir(), 'agent.db'), { rowMaxBytes: 0 });
  const cap = captureLog();
  const metrics = new Metrics();
  const forwarder = new Forwarder(box, AzureIotTransport.fromConnectionString(standin.connectionString('gw-dev'), caFile), { ...OPTS, ...opts }, cap.log, metrics);
  cleanups.push(() => box.close());
  cleanups.push(() => forwarder.stop());
  return { box, cap, metrics, forwarder, hub: standin };
}

const retries = (metrics: Metrics, reason: string) => metrics.get('forward_retries_total', { reason });

describe('a hub that stops acknowledging after it delivered (review rv113 M2)', () => {
  it('is an outage from the first unanswered send (unreachable, downSince), never "refused"; the message it met is no proven suspect and goes as soon as the hub acknowledges again', async () => {
    const { box, metrics, forwarder, hub } = await setup();
    box.append([alarm(0), alarm(1)]);
    forwarder.start();
    await hub.waitUntil(() => box.nothingToSend(), 10_000, 'two alarms delivered');
    expect(forwarder.reachable()).toBe(true);

    hub.setPubackPolicy({ drop: true });
    box.append([alarm(2)]);
    forwarder.notify();
    // Fails on three connections in a row (a suspect), then more data behind it meets the outage too.
    await hub.waitUntil(() => retries(metrics, 'unreachable') + retries(metrics, 'refused') >= 3, 15_000, 'three failed sends');
    box.append([alarm(3), alarm(4)]);
    forwarder.notify();
    await hub.waitUntil(() => retries(metrics, 'unreachable') + retries(metrics, 'refused') >= 5, 15_000, 'five failed sends');
    // Nothing says the hub refuses a message: it answers none.
    expect(retries(metrics, 'refused')).toBe(0);
    expect(forwarder.getStatus()).toMatchObject({ lastFailure: 'unreachable', downSince: expect.any(Number) });
    expect(forwarder.reachable()).toBe(false);

    // The hub acknowledges again: everything goes within seconds; the message that met the outage first is not held
    // back for SUSPECT_RETRY.firstPauseMs (a minute), as a message the hub refused while it took others would be.
    hub.setPubackPolicy({});
    await hub.waitUntil(() => box.nothingToSend(), 15_000, 'all delivered after the outage');
    expect(forwarder.reachable()).toBe(true);
    expect(forwarder.refusedRepeatedly(Date.now() + 24 * 3600_000)).toEqual([]);
  }, 60_000);

  it('the whole agent: /healthz degraded and forward_hub_reachable 0 from the first unanswered send on', async () => {
    const standin = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    hub = standin;
    const config = testConfig(
      tempDir(),
      {
        drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: false, numericPeriodMs: 200 } }],
        hub: { batchDelayMs: 100, sendTimeoutMs: 1000, retry: { initialDelayMs: 100, maxDelayMs: 300 } },
      },
      standin.connectionString('gw-dev'),
    );
    const agent = new Agent({ config, registry, log: captureLog().log });
    cleanups.push(() => agent.stop());
    await agent.start();
    await standin.waitUntil(() => agent.forwarder!.getStatus().sentMessages >= 3, 15_000, 'three messages delivered');
    expect(agent.forwarder!.getStatus().lastError).toBeNull();

    standin.setPubackPolicy({ drop: true });
    const seen: string[] = [];
    const end = Date.now() + 4000;
    while (Date.now() < end) {
      if (agent.forwarder!.getStatus().lastError !== null) {
        const h = agent.health();
        seen.push(`${h.status}/${h.metrics['forward_hub_reachable']}/${h.forwarder.state === 'off' ? '' : h.forwarder.lastFailure}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.filter((s) => s !== 'degraded/0/unreachable')).toEqual([]);
    expect(agent.metrics.get('forward_retries_total', { reason: 'refused' })).toBe(0);

    standin.setPubackPolicy({});
    await standin.waitUntil(() => agent.health().status === 'ok', 10_000, 'healthy again');
    expect(agent.health().metrics['forward_hub_reachable']).toBe(1);
  }, 60_000);
});

describe('a throttled hub and a window larger than it acknowledges within sendTimeoutMs (review rv113 M3)', () => {
  it('drains on one connection, no send timing out, nothing sent twice: a send is timed from when it is the oldest unacknowledged', async () => {
    // 10 acknowledgements a second and a 400 ms timeout: 4 within a timeout from the send, a window of 8.
    const { box, metrics, forwarder, hub } = await setup({ maxInFlight: 8, sendTimeoutMs: 400 });
    box.append(Array.from({ length: 96 }, (_, i) => telemetry(i))); // 4 records a message: 24 messages
    hub.setPubackPolicy({ maxPerSecond: 10 });
    forwarder.start();
    await hub.waitUntil(() => box.nothingToSend(), 20_000, 'backlog drained');
    expect(metrics.get('forward_failures_total', { stream: 'telemetry' })).toBe(0);
    expect(hub.stats.connects).toBe(1);
    const ids = hub.messages.map((m) => m.messageId);
    expect(ids.length).toBe(24);
    expect(new Set(ids).size).toBe(ids.length);
    expect(forwarder.getStatus().lastFailure).toBeNull();
  }, 40_000);
});

describe('a hub certificate the agent does not trust (review rv113 L1)', () => {
  it("is a failure of its own, 'tls', counted and logged naming hub.caFile, not 'unreachable'", async () => {
    const { box, cap, metrics, forwarder, hub } = await setup({}, ROGUE_CA);
    box.append([alarm(0)]);
    forwarder.start();
    await hub.waitUntil(() => retries(metrics, 'tls') >= 2 || retries(metrics, 'unreachable') >= 2, 15_000, 'two failed connects');
    expect(retries(metrics, 'unreachable')).toBe(0);
    expect(retries(metrics, 'auth')).toBe(0);
    expect(forwarder.getStatus()).toMatchObject({ lastFailure: 'tls', downSince: expect.any(Number) });
    const line = cap.lines.find((l) => l.reason === 'tls');
    expect(line).toMatchObject({ level: 40, attempt: 1, hub: expect.stringContaining('standin-hub') });
    expect(String(line!.msg)).toMatch(/hub\.caFile/);
    expect(hub.stats.tlsErrors).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('hubFailureOf: certificate errors by message or code are tls; refused credentials auth; the rest unreachable', () => {
    const tls = [
      new Error('mqtt.js returned Failure on first connection (Not authorized): unable to verify the first certificate error'),
      new Error('self-signed certificate in certificate chain'),
      new Error('self signed certificate'),
      new Error('certificate has expired'),
      new Error("Hostname/IP does not match certificate's altnames: Host: hub. is not in the cert's altnames: DNS:other"),
      new Error('unable to get local issuer certificate'),
      Object.assign(new Error('x'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
      Object.assign(new Error('x'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
      Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }),
      Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
      // The SDK wraps the socket's error; its code is on the wrapped one.
      Object.assign(new Error('Failure on first connection'), { transportError: Object.assign(new Error('y'), { code: 'CERT_HAS_EXPIRED' }) }),
    ];
    for (const e of tls) expect(hubFailureOf(e), e.message).toBe('tls');
    expect(hubFailureOf(new Error('Connection refused: Not authorized'))).toBe('auth');
    for (const m of ['mqtt.js returned Failure on first connection (Not authorized): connect ECONNREFUSED 127.0.0.1:8883', 'getaddrinfo ENOTFOUND hub', 'read ECONNRESET', 'connect: no answer within 2000 ms']) {
      expect(hubFailureOf(new Error(m)), m).toBe('unreachable');
    }
  });
});
