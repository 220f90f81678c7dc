// A message the hub refuses every time is set aside (store table `refused`), counted, logged and the queue behind it
// goes on; a flaky network never sets a good message aside (review rv87 M1).
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox } from '../store/outbox.js';
import { Metrics } from '../metrics.js';
import { Forwarder } from './forwarder.js';
import type { HubTransport, OutgoingMessage } from './azure.js';
import { captureLog } from '../../test/support/log.js';

/** Refuses the messages `poison` picks: as a plain failure with the hub closing the connection, or as the SDK's error. */
class RefusingTransport implements HubTransport {
  readonly description = 'refusing';
  readonly identity = 'dev';
  sent: OutgoingMessage[] = [];
  refused: string[] = [];
  connects = 0;
  /** Connections (counted from 1) on which every send fails, the connection closing with it: a flaky network. */
  dropUntilConnect = 0;
  private listener: ((err: Error | undefined) => void) | null = null;
  constructor(
    private readonly poison: (m: OutgoingMessage) => boolean,
    private readonly mode: 'close' | 'too-large' = 'close',
  ) {}
  async connect() {
    this.connects += 1;
  }
  async send(m: OutgoingMessage) {
    if (this.connects <= this.dropUntilConnect) {
      setImmediate(() => this.listener?.(new Error('connection to the hub lost')));
      throw new Error('Connection closed');
    }
    if (this.poison(m)) {
      this.refused.push(m.id);
      if (this.mode === 'too-large') {
        throw Object.assign(new Error('Message size is greater than 256KiB'), { name: 'MessageTooLargeError' });
      }
      setImmediate(() => this.listener?.(new Error('connection to the hub lost')));
      throw new Error('Connection closed');
    }
    this.sent.push(m);
  }
  async disconnect() {}
  onDisconnect(l: (err: Error | undefined) => void) {
    this.listener = l;
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const opts = { gatewayId: 'gw', maxMessageBytes: 4096, batchDelayMs: 10, sendTimeoutMs: 1000, retry: { initialDelayMs: 10, maxDelayMs: 40 } };
const rec = (body: object, stream: 'alarms' | 'telemetry' = 'telemetry') => ({ stream, cls: (stream === 'alarms' ? 0 : 1) as 0 | 1, deviceId: 'd', body: JSON.stringify(body) });
const isPoison = (m: OutgoingMessage) => m.body.includes('"poison"');

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

function setUp(stream: 'alarms' | 'telemetry', mode: 'close' | 'too-large' = 'close') {
  const box = new Outbox(':memory:');
  box.append([rec({ poison: true }, stream)]);
  const t = new RefusingTransport(isPoison, mode);
  const cap = captureLog();
  const metrics = new Metrics();
  const f = new Forwarder(box, t, opts, cap.log, metrics);
  cleanup = async () => {
    await f.stop();
    box.close();
  };
  return { box, t, cap, metrics, f };
}

describe('a message the hub refuses every time', () => {
  for (const stream of ['telemetry', 'alarms'] as const) {
    it(`is set aside, counted and logged, and the ${stream} behind it goes on`, async () => {
      const { box, t, cap, metrics, f } = setUp(stream);
      f.start();
      await until(() => t.refused.length >= 1);
      for (let i = 0; i < 5; i++) {
        box.append([rec({ i }, 'telemetry'), rec({ alarm: i }, 'alarms')]);
        f.notify();
      }
      await until(() => box.nothingToSend() && t.sent.length > 0);
      expect(t.sent.filter((m) => m.stream === 'alarms').length).toBeGreaterThan(0);
      expect(t.sent.filter((m) => m.stream === 'telemetry').length).toBeGreaterThan(0);
      const poisonId = t.refused[0]!;
      expect(box.refusedMessages()).toEqual({ messages: 1, records: 1 });
      expect(box.refusedList()).toEqual([expect.objectContaining({ id: poisonId, stream, count: 1, attempts: t.refused.length, lastError: expect.stringContaining('Connection closed') })]);
      expect(metrics.get('forward_messages_refused_total', { stream })).toBe(1);
      const logged = cap.lines.filter((l) => l.level === 50 && l.messageId === poisonId);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ stream, records: 1, attempts: t.refused.length, err: expect.stringContaining('Connection closed') });
      // Refused while others went through: the hub is reachable, and its failure is not called 'unreachable'.
      expect(f.reachable()).toBe(true);
      expect(metrics.get('forward_retries_total', { reason: 'refused' })).toBeGreaterThan(0);
      // Only tried a few times, not for ever.
      expect(t.refused.length).toBeLessThanOrEqual(5);
    });
  }

  it("the SDK's deterministic refusal (MessageTooLargeError) sets it aside at once, on the same connection", async () => {
    const { box, t, metrics, f } = setUp('alarms', 'too-large');
    box.append([rec({ i: 1 }, 'telemetry')]);
    f.start();
    await until(() => box.nothingToSend() && t.sent.length > 0);
    expect(t.refused).toHaveLength(1);
    expect(t.connects).toBe(1);
    expect(box.refusedList()).toEqual([expect.objectContaining({ stream: 'alarms', attempts: 1, lastError: expect.stringContaining('MessageTooLargeError') })]);
    expect(metrics.get('forward_messages_refused_total', { stream: 'alarms' })).toBe(1);
    expect(f.getStatus().lastFailure).toBeNull();
  });
});

describe('a flaky network', () => {
  it('(every connection drops at the first send, several times, then fine) sets no message aside', async () => {
    const box = new Outbox(':memory:');
    const t = new RefusingTransport(() => false);
    t.dropUntilConnect = 8;
    const metrics = new Metrics();
    const f = new Forwarder(box, t, opts, captureLog().log, metrics);
    cleanup = async () => {
      await f.stop();
      box.close();
    };
    box.append([rec({ alarm: 0 }, 'alarms'), rec({ i: 0 })]);
    f.start();
    await until(() => t.connects >= 3);
    box.append([rec({ alarm: 1 }, 'alarms'), rec({ i: 1 })]);
    f.notify();
    await until(() => box.nothingToSend() && t.connects > 8);
    expect(box.refusedMessages()).toEqual({ messages: 0, records: 0 });
    expect(metrics.get('forward_messages_refused_total', { stream: 'alarms' })).toBe(0);
    expect(metrics.get('forward_messages_refused_total', { stream: 'telemetry' })).toBe(0);
    const bodies = t.sent.map((m) => m.body).join();
    for (const s of ['"alarm":0', '"alarm":1', '"i":0', '"i":1']) expect(bodies).toContain(s);
  });
});
