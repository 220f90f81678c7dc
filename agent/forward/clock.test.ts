// The gateway's clock and the forwarder (review rv133). A clock behind by more than the SAS token life makes the hub
// refuse every token, and a clock outside the hub certificate's validity makes TLS refuse it: both must name the clock
// and its time, not only the key or hub.caFile (M3). A message keeps the gatewayId it was packed with (L1). Retry
// schedules and connection lives are intervals: a wall clock stepped back or forward must not stretch or cut them (L2).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { Outbox } from '../store/outbox.js';
import { Metrics } from '../metrics.js';
import { Forwarder, SUSPECT_AFTER, type ForwarderOptions } from './forwarder.js';
import { AzureIotTransport, type HubTransport, type OutgoingMessage } from './azure.js';
import { STANDIN_CA_FILE } from '../../test/support/agent-config.js';
import { startHubStandin, type HubStandin } from '../../test/hub-standin/index.js';
import { captureLog } from '../../test/support/log.js';
import { tempDir } from '../../test/support/agent-process.js';
import { envelope, gatewayIdOf, messageProperties } from './wire.js';

const KEY = Buffer.from('test-device-key-0123456789abcdef').toString('base64');
const OPTS: ForwarderOptions = { gatewayId: 'gw', maxMessageBytes: 4096, batchDelayMs: 10, sendTimeoutMs: 1000, retry: { initialDelayMs: 50, maxDelayMs: 200 } };
const rec = (body: object, stream: 'alarms' | 'telemetry' = 'telemetry') => ({ stream, cls: (stream === 'alarms' ? 0 : 1) as 0 | 1, deviceId: 'd', body: JSON.stringify(body) });

let hub: HubStandin | null = null;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
  await hub?.stop();
  hub = null;
});

/** Polls on the monotonic clock: these tests step the wall clock. */
async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`${what}: not met in time`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The ISO time a log line or text gives, as ms. */
function isoIn(text: string): number {
  const m = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/.exec(text);
  expect(m, `an ISO time in: ${text}`).not.toBeNull();
  return Date.parse(m![0]);
}

function forwarder(transport: HubTransport, opts: Partial<ForwarderOptions> = {}, box = new Outbox(':memory:')) {
  const cap = captureLog();
  const metrics = new Metrics();
  const f = new Forwarder(box, transport, { ...OPTS, ...opts }, cap.log, metrics);
  cleanups.push(() => box.close());
  cleanups.push(() => f.stop());
  return { box, cap, metrics, f };
}

describe("a wrong gateway clock is named, with the gateway's time (review rv133 M3)", () => {
  it('a clock 2 h behind the hub (token life 1 h): the refused credentials name the clock and the time it reads', async () => {
    // The stand-in checks SAS expiry against its own clock, as IoT Hub does: 2 h ahead of the gateway.
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }], now: () => Date.now() + 2 * 3600_000 });
    const transport = AzureIotTransport.fromConnectionString(hub.connectionString('gw-dev'), STANDIN_CA_FILE, 3600);
    const { box, cap, f } = forwarder(transport);
    box.append([rec({ i: 1 }, 'alarms')]);
    f.start();
    await until(() => cap.lines.some((l) => l.reason === 'auth'), 15_000, 'an auth failure logged');
    expect(f.getStatus().lastFailure).toBe('auth');
    const msg = String(cap.lines.find((l) => l.reason === 'auth')!.msg);
    expect(msg).toMatch(/gateway's clock is wrong \(SAS tokens expire hub\.sasTokenTtlS after it; it reads /);
    expect(msg).toMatch(/check the connection string/); // a wrong key stays the first suspect
    // The gateway's own time (not the hub's, 2 h ahead): what the engineer compares with a watch.
    expect(Math.abs(isoIn(msg) - Date.now())).toBeLessThan(60_000);
    expect(hub.messages).toHaveLength(0);
  }, 30_000);

  // Node's codes and OpenSSL's words for a certificate outside its validity by the local clock (checked with a TLS
  // server on loopback: CERT_NOT_YET_VALID "certificate is not yet valid", CERT_HAS_EXPIRED "certificate has expired").
  // The SDK words its first failed connection "(Not authorized)" and keeps the socket's error as transportError.
  for (const [code, words] of [
    ['CERT_NOT_YET_VALID', 'certificate is not yet valid'],
    ['CERT_HAS_EXPIRED', 'certificate has expired'],
  ] as const) {
    it(`a hub certificate ${words} (${code}) is a tls failure that names the gateway's clock and its time, not hub.caFile`, async () => {
      const transport: HubTransport = {
        description: 'standin-hub',
        identity: 'dev',
        connect: async () => {
          throw Object.assign(new Error(`mqtt.js returned Failure on first connection (Not authorized): ${words}`), {
            name: 'UnauthorizedError',
            transportError: Object.assign(new Error(words), { code }),
          });
        },
        send: async () => undefined,
        disconnect: async () => undefined,
        onDisconnect: () => undefined,
      };
      const { box, cap, f } = forwarder(transport);
      box.append([rec({ i: 1 }, 'alarms')]);
      f.start();
      await until(() => cap.lines.some((l) => l.reason === 'tls'), 5_000, 'a tls failure logged');
      expect(f.getStatus().lastFailure).toBe('tls');
      const msg = String(cap.lines.find((l) => l.reason === 'tls')!.msg);
      expect(msg).toMatch(/gateway's clock/);
      expect(msg).not.toMatch(/hub\.caFile/);
      expect(Math.abs(isoIn(msg) - Date.now())).toBeLessThan(60_000);
    });
  }

  it('an untrusted certificate for another reason still names hub.caFile, not the clock', async () => {
    const transport: HubTransport = {
      description: 'standin-hub',
      identity: 'dev',
      connect: async () => {
        throw Object.assign(new Error('x'), { transportError: Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }) });
      },
      send: async () => undefined,
      disconnect: async () => undefined,
      onDisconnect: () => undefined,
    };
    const { box, cap, f } = forwarder(transport);
    box.append([rec({ i: 1 }, 'alarms')]);
    f.start();
    await until(() => cap.lines.some((l) => l.reason === 'tls'), 5_000, 'a tls failure logged');
    const msg = String(cap.lines.find((l) => l.reason === 'tls')!.msg);
    expect(msg).toMatch(/hub\.caFile/);
    expect(msg).not.toMatch(/clock/);
  });
});

/** Takes every message, or fails every send while `failing` (the connection closing with it). */
class Transport implements HubTransport {
  readonly description = 't';
  readonly identity = 'dev';
  sent: OutgoingMessage[] = [];
  failing = false;
  async connect() {}
  async send(m: OutgoingMessage) {
    if (this.failing) throw new Error('socket closed');
    this.sent.push(m);
  }
  async disconnect() {}
  onDisconnect() {}
}

describe('a message keeps the gatewayId it was packed with (review rv133 L1)', () => {
  it("messageProperties takes the body's gatewayId (escaped ones too); the given id only for a body without one", () => {
    const body = envelope('ward "3"\\gw')('m1', 'alarms', ['{"i":1}']);
    expect(messageProperties('alarms', 'new', body).gatewayId).toBe('ward "3"\\gw');
    expect(gatewayIdOf(body)).toBe('ward "3"\\gw');
    expect(messageProperties('telemetry', 'new', '{"i":1}').gatewayId).toBe('new');
    expect(messageProperties('telemetry', 'new').gatewayId).toBe('new');
  });

  for (const encoding of ['records', 'compact'] as const) {
    it(`packed under ward3-gw (${encoding}), sent after the id became ward3-gw.bedside-agent: property and body agree`, async () => {
      const path = join(tempDir(), 'agent.db');
      const box1 = new Outbox(path);
      box1.append([rec({ i: 1 })]);
      const failing = new Transport();
      failing.failing = true;
      const { f: f1 } = forwarder(failing, { gatewayId: 'ward3-gw', encoding }, box1);
      f1.start();
      await until(() => box1.unackedMessages().telemetry === 1, 5_000, 'a message packed');
      await f1.stop();
      box1.close();
      const box2 = new Outbox(path);
      const t = new Transport();
      const { f: f2 } = forwarder(t, { gatewayId: 'ward3-gw.bedside-agent', encoding }, box2);
      f2.start();
      await until(() => t.sent.length === 1, 5_000, 'the message sent');
      const m = t.sent[0]!;
      expect((JSON.parse(m.body) as { gatewayId: string }).gatewayId).toBe('ward3-gw');
      expect(m.properties.gatewayId).toBe('ward3-gw');
      // A message packed now carries the new id, in both.
      box2.append([rec({ i: 2 })]);
      f2.notify();
      await until(() => t.sent.length === 2, 5_000, 'a second message sent');
      expect(t.sent[1]!.properties.gatewayId).toBe('ward3-gw.bedside-agent');
      expect((JSON.parse(t.sent[1]!.body) as { gatewayId: string }).gatewayId).toBe('ward3-gw.bedside-agent');
    });
  }
});

/** Closes the connection on the poison message's send, as the SDK does (the close signalled before the send fails). */
class RefusingTransport implements HubTransport {
  readonly description = 'refusing';
  readonly identity = 'dev';
  sent: OutgoingMessage[] = [];
  refusedAt: number[] = [];
  connects = 0;
  /** Drops each connection this long after it is made (ms), if set. */
  dropAfterMs: number | null = null;
  /** Called right before such a drop (the test steps the wall clock there). */
  beforeDrop: () => void = () => undefined;
  private listener: ((err: Error | undefined) => void) | null = null;
  async connect() {
    this.connects += 1;
    if (this.dropAfterMs !== null) {
      setTimeout(() => {
        this.beforeDrop();
        this.listener?.(new Error('Connection to the server has been closed.'));
      }, this.dropAfterMs);
    }
  }
  async send(m: OutgoingMessage) {
    await new Promise((r) => setImmediate(r));
    if (m.body.includes('"poison"')) {
      this.refusedAt.push(performance.now());
      this.listener?.(new Error('Connection to the server has been closed.'));
      throw Object.assign(new Error('Connection closed'), { name: 'NotConnectedError' });
    }
    this.sent.push(m);
  }
  async disconnect() {}
  onDisconnect(l: (err: Error | undefined) => void) {
    this.listener = l;
  }
}

describe('retry schedules and connection lives follow a monotonic clock, not the wall clock (review rv133 L2)', () => {
  it('a proven suspect is retried after firstPauseMs though the wall clock is set back 1 h meanwhile', async () => {
    // Only Date is faked (it moves with real time); timers and performance.now() are real.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const suspect = { firstPauseMs: 300, maxPauseMs: 300, alarmAfterMs: 60_000 };
    const t = new RefusingTransport();
    const { box, cap, f } = forwarder(t, { suspect, retry: { initialDelayMs: 10, maxDelayMs: 40 } });
    box.append([rec({ poison: true }, 'alarms')]);
    f.start();
    await until(() => t.refusedAt.length >= SUSPECT_AFTER, 10_000, 'a suspect');
    box.append([rec({ i: 1 }, 'alarms')]);
    f.notify();
    // Delivered, then the suspect fails again while the hub takes others: proven, retried after firstPauseMs.
    const proven = () => cap.lines.some((l) => l.retryInMs === suspect.firstPauseMs && /refuses repeatedly failed again/.test(String(l.msg)));
    await until(proven, 10_000, 'a proven suspect');
    const provenAt = t.refusedAt.at(-1)!;
    const n = t.refusedAt.length;
    vi.setSystemTime(Date.now() - 3600_000); // NTP corrects a clock that ran ahead
    await until(() => t.refusedAt.length > n, 5_000, 'its retry');
    expect(t.refusedAt[n]! - provenAt).toBeGreaterThanOrEqual(suspect.firstPauseMs - 5);
  }, 30_000);

  it('a connection dropped 50 ms after it was made counts as an early drop though the wall clock jumped 2 min forward meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const t = new RefusingTransport();
    t.dropAfterMs = 50;
    let stepped = false;
    t.beforeDrop = () => {
      if (stepped) return;
      stepped = true;
      vi.setSystemTime(Date.now() + 120_000); // a clock set right after boot, while connected
    };
    const { cap, metrics, f } = forwarder(t);
    f.start();
    await until(() => stepped && metrics.get('forward_retries_total', { reason: 'dropped' }) >= 1, 5_000, 'the drop counted as early');
    expect(cap.lines.some((l) => /hub connection lost/.test(String(l.msg)))).toBe(false);
  });
});
