// A message the hub refuses every time no longer holds back its stream: after SUSPECT_AFTER failed connections in a row
// it is a suspect, the others go first, and it is retried on its own growing schedule, never set aside on a close or a
// timeout (review rv92 H1); only the SDK's deterministic errors set a message aside (store table `refused`). A flaky or
// throttling hub therefore sets no good message aside and delivers every one eventually.
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox } from '../store/outbox.js';
import { Metrics } from '../metrics.js';
import { Forwarder, SUSPECT_AFTER } from './forwarder.js';
import type { HubTransport, OutgoingMessage } from './azure.js';
import { captureLog } from '../../test/support/log.js';

/**
 * Refuses the messages `poison` picks: as a close of the connection, or as the SDK's error. A close is signalled to the
 * disconnect listener before the send rejects, as the real SDK does (review rv92 M1).
 */
class RefusingTransport implements HubTransport {
  readonly description = 'refusing';
  readonly identity = 'dev';
  sent: OutgoingMessage[] = [];
  refused: string[] = [];
  /** When each send of a poison message was made (ms). */
  refusedAt: number[] = [];
  connects = 0;
  /** Connections (counted from 1) on which every send fails, the connection closing with it: a flaky network. */
  dropUntilConnect = 0;
  /** Whether this send is dropped (the connection closing): random drops, a rate throttle. */
  drop: (m: OutgoingMessage) => boolean = () => false;
  private listener: ((err: Error | undefined) => void) | null = null;
  constructor(
    private readonly poison: (m: OutgoingMessage) => boolean,
    private readonly mode: 'close' | 'too-large' = 'close',
  ) {}
  async connect() {
    this.connects += 1;
  }
  private close(): never {
    this.listener?.(new Error('Connection to the server has been closed.'));
    throw Object.assign(new Error('Connection closed'), { name: 'NotConnectedError' });
  }
  async send(m: OutgoingMessage) {
    await new Promise((r) => setImmediate(r));
    if (this.connects <= this.dropUntilConnect) this.close();
    if (this.poison(m)) {
      this.refused.push(m.id);
      this.refusedAt.push(Date.now());
      if (this.mode === 'too-large') {
        throw Object.assign(new Error('Message size is greater than 256KiB'), { name: 'MessageTooLargeError' });
      }
      this.close();
    }
    if (this.drop(m)) this.close();
    this.sent.push(m);
  }
  async disconnect() {}
  onDisconnect(l: (err: Error | undefined) => void) {
    this.listener = l;
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

// A suspect is retried after 60 ms, doubling up to 240 ms, and raises the gateway alarm after 300 ms (1 min, 30 min
// and 30 min in the agent).
const suspect = { firstPauseMs: 60, maxPauseMs: 240, alarmAfterMs: 300 };
const opts = { gatewayId: 'gw', maxMessageBytes: 4096, batchDelayMs: 10, sendTimeoutMs: 1000, retry: { initialDelayMs: 10, maxDelayMs: 40 }, suspect };
const rec = (body: object, stream: 'alarms' | 'telemetry' = 'telemetry') => ({ stream, cls: (stream === 'alarms' ? 0 : 1) as 0 | 1, deviceId: 'd', body: JSON.stringify(body) });
const isPoison = (m: OutgoingMessage) => m.body.includes('"poison"');

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

function setUp(stream: 'alarms' | 'telemetry' | null, mode: 'close' | 'too-large' = 'close', extra: object = {}) {
  const box = new Outbox(':memory:');
  if (stream) box.append([rec({ poison: true }, stream)]);
  const t = new RefusingTransport(isPoison, mode);
  const cap = captureLog();
  const metrics = new Metrics();
  const f = new Forwarder(box, t, { ...opts, ...extra }, cap.log, metrics);
  cleanup = async () => {
    await f.stop();
    box.close();
  };
  return { box, t, cap, metrics, f };
}

describe('a message the hub closes the connection on every time', () => {
  for (const stream of ['telemetry', 'alarms'] as const) {
    it(`does not hold back the ${stream} behind it, is never set aside, is retried on its own growing schedule and raises the gateway alarm after a while`, async () => {
      const { box, t, cap, metrics, f } = setUp(stream);
      f.start();
      await until(() => t.refused.length >= SUSPECT_AFTER);
      for (let i = 0; i < 5; i++) {
        box.append([rec({ i }, 'telemetry'), rec({ alarm: i }, 'alarms')]);
        f.notify();
      }
      const want = Array.from({ length: 5 }, (_, i) => [`"i":${i}`, `"alarm":${i}`]).flat();
      await until(() => want.every((w) => t.sent.some((m) => m.body.includes(w))));
      const poisonId = t.refused[0]!;
      expect(f.refusedRepeatedly()).toEqual([]);
      await until(() => f.refusedRepeatedly().length === 1);
      expect(f.refusedRepeatedly()).toEqual([poisonId]);
      await until(() => t.refused.length >= SUSPECT_AFTER + 4);
      // Failed only while nothing was delivered, it is tried once more after a delivery; refused then while the hub
      // takes others, it is retried when due, with a growing pause: not right after a delivery, not back to back.
      const gaps = t.refusedAt.slice(SUSPECT_AFTER).map((at, k, a) => (k ? at - a[k - 1]! : 0)).slice(1);
      expect(gaps[0]).toBeGreaterThanOrEqual(suspect.firstPauseMs - 5);
      expect(gaps[1]).toBeGreaterThanOrEqual(2 * suspect.firstPauseMs - 5);
      // Never set aside: still in the queue, nothing counted as refused.
      expect(box.refusedMessages()).toEqual({ messages: 0, records: 0 });
      expect(metrics.get('forward_messages_refused_total', { stream })).toBe(0);
      expect(box.nothingToSend()).toBe(false);
      // Logged as a suspect once, with its id.
      expect(cap.lines.filter((l) => l.level === 40 && l.messageId === poisonId && /others go first/.test(String(l.msg)))).toHaveLength(1);
      expect(cap.lines.filter((l) => l.level === 40 && l.messageId === poisonId && /retried/.test(String(l.msg))).length).toBeGreaterThan(0);
      // Its retries fail where the hub takes others: counted as refused, not as drops. (Its first failures, before
      // anything was delivered, look like early drops; they are taken back once it fails again while the hub takes
      // others: kicked.test.ts has the reachability.)
      expect(metrics.get('forward_retries_total', { reason: 'refused' })).toBeGreaterThan(0);
      // The hub takes it at last: it is delivered and the alarm condition ends.
      t.refusedAt.length = 0;
      (t as unknown as { poison: () => boolean }).poison = () => false;
      await until(() => box.nothingToSend(), 5000);
      expect(t.sent.some((m) => m.id === poisonId)).toBe(true);
      expect(f.refusedRepeatedly()).toEqual([]);
    });
  }

  it('closed on after a delivery, the SDK signalling the close first: an early drop the first time (two gateways with one identity look alike), refused from the second, its drop taken back (review rv92 M1, rv96 M1)', async () => {
    const { box, t, metrics, f } = setUp(null, 'close', { retry: { initialDelayMs: 200, maxDelayMs: 400 } });
    box.append([rec({ i: 0 }, 'alarms')]);
    f.start();
    await until(() => t.sent.length === 1);
    box.append([rec({ poison: true }, 'alarms')]);
    f.notify();
    await until(() => t.refused.length >= 1 && f.getStatus().lastFailure !== null);
    expect(f.getStatus()).toMatchObject({ lastFailure: 'unreachable', downSince: expect.any(Number) });
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(1);
    // Closed on again: the message, not the connection. The hub counts as reachable again, nothing else delivered.
    await until(() => t.refused.length >= 2 && f.reachable());
    expect(f.getStatus().downSince).toBeNull();
    expect(metrics.get('forward_retries_total', { reason: 'refused' })).toBeGreaterThanOrEqual(1);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(1);
  });

  it("the SDK's deterministic refusal (MessageTooLargeError) sets it aside at once, on the same connection", async () => {
    const { box, t, metrics, f, cap } = setUp('alarms', 'too-large');
    box.append([rec({ i: 1 }, 'telemetry')]);
    f.start();
    await until(() => box.nothingToSend() && t.sent.length > 0);
    expect(t.refused).toHaveLength(1);
    expect(t.connects).toBe(1);
    expect(box.refusedList()).toEqual([expect.objectContaining({ stream: 'alarms', attempts: 1, lastError: expect.stringContaining('MessageTooLargeError') })]);
    expect(metrics.get('forward_messages_refused_total', { stream: 'alarms' })).toBe(1);
    expect(f.getStatus().lastFailure).toBeNull();
    const logged = cap.lines.filter((l) => l.level === 50 && l.messageId === t.refused[0]);
    expect(logged).toHaveLength(1);
  });
});

describe('a flaky or throttling hub sets no good message aside and delivers every one (review rv92 H1)', () => {
  function expectAllDelivered(t: RefusingTransport, box: Outbox, metrics: Metrics, n: number) {
    expect(box.refusedMessages()).toEqual({ messages: 0, records: 0 });
    expect(metrics.get('forward_messages_refused_total', { stream: 'alarms' })).toBe(0);
    expect(metrics.get('forward_messages_refused_total', { stream: 'telemetry' })).toBe(0);
    const got = new Set(t.sent.flatMap((m) => (JSON.parse(m.body).records as { i: number; s: string }[]).map((r) => `${r.s}${r.i}`)));
    for (let i = 0; i < n; i++) for (const s of ['a', 't']) expect(got.has(`${s}${i}`)).toBe(true);
  }

  it('every connection drops at the first send, several times, then fine', async () => {
    const { box, t, metrics, f } = setUp(null);
    t.dropUntilConnect = 8;
    box.append([rec({ i: 0, s: 'a' }, 'alarms'), rec({ i: 0, s: 't' })]);
    f.start();
    await until(() => t.connects >= 3);
    box.append([rec({ i: 1, s: 'a' }, 'alarms'), rec({ i: 1, s: 't' })]);
    f.notify();
    await until(() => box.nothingToSend() && t.connects > 8);
    expectAllDelivered(t, box, metrics, 2);
  });

  for (const seed of [1, 2, 3]) {
    it(`random drops (50 %, seed ${seed}): nothing set aside, all delivered`, async () => {
      const { box, t, metrics, f } = setUp(null, 'close', { maxMessageBytes: 200, batchDelayMs: 0, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
      const rand = rng(seed);
      t.drop = () => rand() < 0.5;
      for (let i = 0; i < 100; i++) box.append([rec({ i, s: 'a' }, 'alarms'), rec({ i, s: 't' })]);
      f.start();
      await until(() => box.nothingToSend(), 30_000);
      expectAllDelivered(t, box, metrics, 100);
    }, 40_000);
  }

  it('a rate throttle (the hub takes one publish per 50 ms and closes the connection on any other): nothing set aside, all delivered', async () => {
    const { box, t, metrics, f } = setUp(null, 'close', { maxMessageBytes: 200, batchDelayMs: 0, retry: { initialDelayMs: 5, maxDelayMs: 20 } });
    let next = 0;
    t.drop = () => {
      const now = Date.now();
      if (now < next) return true;
      next = now + 50;
      return false;
    };
    for (let i = 0; i < 20; i++) box.append([rec({ i, s: 'a' }, 'alarms'), rec({ i, s: 't' })]);
    f.start();
    await until(() => box.nothingToSend(), 30_000);
    expectAllDelivered(t, box, metrics, 20);
  }, 40_000);
});
