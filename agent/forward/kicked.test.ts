// Connections the hub closes while a send is in flight, the SDK signalling the close before the send rejects (as the
// real one does), on a fake clock with the agent's default timings (review rv96). A close that hits a different
// message on each connection is the connection's trouble (two gateways with one identity): early drops, a growing
// delay, an outage and the second-gateway hint (review rv73 M1, rv96 M1). A close that hits the same message again
// while the hub takes others is that message's fault: its drops are taken back and the hub counts as reachable
// (review rv96 M2, L2).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Outbox } from '../store/outbox.js';
import { Metrics } from '../metrics.js';
import { Forwarder } from './forwarder.js';
import type { HubTransport, OutgoingMessage } from './azure.js';
import { captureLog } from '../../test/support/log.js';

const RETRY = { initialDelayMs: 1000, maxDelayMs: 60_000 };

/** Closes the connection during a send (the close signalled first, then the send rejects) when `closes` says so. */
class ClosingTransport implements HubTransport {
  readonly description = 'closing';
  readonly identity = 'dev';
  connects: number[] = [];
  delivered: OutgoingMessage[] = [];
  onConnection = 0;
  poisonTries: number[] = [];
  private listener: ((err: Error | undefined) => void) | null = null;
  constructor(private readonly closes: (m: OutgoingMessage, t: ClosingTransport) => boolean) {}
  async connect() {
    this.connects.push(Date.now());
    this.onConnection = 0;
  }
  async send(m: OutgoingMessage) {
    await new Promise((r) => setTimeout(r, 2)); // a round trip
    this.onConnection += 1;
    if (this.closes(m, this)) {
      if (m.body.includes('"poison"')) this.poisonTries.push(Date.now());
      this.listener?.(new Error('Connection to the server has been closed.'));
      throw Object.assign(new Error('Connection closed'), { name: 'NotConnectedError' });
    }
    this.delivered.push(m);
  }
  async disconnect() {}
  onDisconnect(l: (err: Error | undefined) => void) {
    this.listener = l;
  }
}

const isPoison = (m: OutgoingMessage) => m.body.includes('"poison"');

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
  vi.useRealTimers();
});

function setUp(closes: (m: OutgoingMessage, t: ClosingTransport) => boolean, extra: object = {}) {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'Date', 'performance'] });
  const box = new Outbox(':memory:');
  const t = new ClosingTransport(closes);
  const metrics = new Metrics();
  const cap = captureLog();
  const f = new Forwarder(box, t, { gatewayId: 'gw', maxMessageBytes: 65536, batchDelayMs: 1000, sendTimeoutMs: 30_000, retry: RETRY, ...extra }, cap.log, metrics);
  cleanup = async () => {
    const stopping = f.stop();
    await vi.advanceTimersByTimeAsync(5000);
    await stopping;
    box.close();
  };
  return { box, t, metrics, cap, f };
}

describe('the hub closes the connection during a send', () => {
  it('a different message each time (two gateways with one identity): early drops, a growing delay, an outage and the second-gateway hint (review rv96 M1)', async () => {
    // Each connection delivers 3 messages (the first a resend of the one closed on), then the other gateway kicks it.
    const { box, t, metrics, cap, f } = setUp((_m, tr) => tr.onConnection > 3, { maxMessageBytes: 400, batchDelayMs: 0 });
    for (let i = 0; i < 3000; i++) box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, pad: 'x'.repeat(300) }) }]);
    f.start();
    await vi.advanceTimersByTimeAsync(600_000);
    // Before the fix: 791 connects, about one a second, all "refused", the hub reachable, no hint.
    expect(t.connects.length).toBeLessThan(40);
    const gaps = t.connects.slice(-3).map((c, i, a) => (i ? c - a[i - 1]! : 0)).slice(1);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(RETRY.maxDelayMs / 2);
    expect(metrics.get('forward_retries_total', { reason: 'refused' })).toBe(0);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(t.connects.length);
    expect(f.getStatus().downSince).not.toBeNull();
    expect(f.reachable()).toBe(false);
    expect(cap.lines.filter((l) => /second gateway may be using the same device identity/.test(String(l.msg))).length).toBe(t.connects.length);
  });

  it('a poison message first in the store, then one other message and nothing more: reachable once the hub takes the other, for hours, no hub alarm (review rv96 M2)', async () => {
    const { box, t, f } = setUp(isPoison);
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ poison: true }) }]);
    box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i: 1 }) }]);
    f.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.delivered).toHaveLength(1);
    const down: number[] = [];
    for (let s = 30; s <= 2 * 3600; s += 5) {
      if (!f.reachable() || f.getStatus().downSince !== null) down.push(s);
      await vi.advanceTimersByTimeAsync(5000);
    }
    // Before the fix: unreachable for the whole 2 h (the hub alarm rises at 300 s).
    expect(down).toEqual([]);
    // Its retries go on, on their own schedule, and it is the gateway alarm's (refused repeatedly), not the hub's.
    expect(t.poisonTries.length).toBeGreaterThan(6);
    expect(f.refusedRepeatedly()).toHaveLength(1);
  });

  for (const initialDelayMs of [1000, 10_000]) {
    it(`a poison message first in the store at start, telemetry flowing (retry.initialDelayMs ${initialDelayMs}): reachable once the hub takes the others (review rv96 M2, L2)`, async () => {
      const { box, t, f } = setUp(isPoison, { retry: { ...RETRY, initialDelayMs } });
      box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ poison: true, pad: 'x'.repeat(70_000) }) }]);
      f.start();
      let firstDelivery: number | null = null;
      let lastUnreachable = 0;
      for (let s = 1; s <= 600; s++) {
        box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i: s }) }]);
        f.notify();
        await vi.advanceTimersByTimeAsync(1000);
        if (t.delivered.length > 0 && firstDelivery === null) firstDelivery = s;
        if (!f.reachable()) lastUnreachable = s;
      }
      // Before the fix: unreachable until about 2 min after deliveries began (126 s and 185 s).
      expect(firstDelivery).not.toBeNull();
      expect(lastUnreachable).toBeLessThanOrEqual(firstDelivery! + 5);
      expect(t.poisonTries.length).toBeGreaterThan(4);
    });
  }

  it('a message closed on after a delivery, then again: an early drop first, then refused, its drops taken back and the hub reachable with nothing else delivered (review rv92 M1, rv96 M1)', async () => {
    const { box, t, metrics, f } = setUp(isPoison, { batchDelayMs: 0 });
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ i: 0 }) }]);
    f.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(t.delivered).toHaveLength(1);
    // A first close on a message after a delivery cannot be told from a second gateway: an early drop.
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ poison: true }) }]);
    f.notify();
    await vi.advanceTimersByTimeAsync(100);
    expect(t.poisonTries).toHaveLength(1);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(1);
    expect(f.getStatus().downSince).not.toBeNull();
    // Closed on again: its fault, not the connection's. The hub is reachable again within a few connections, with
    // nothing else delivered.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.poisonTries.length).toBeGreaterThanOrEqual(3);
    expect(metrics.get('forward_retries_total', { reason: 'refused' })).toBeGreaterThanOrEqual(1);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(1);
    expect(f.getStatus().downSince).toBeNull();
    expect(f.reachable()).toBe(true);
  });
});

describe('a kick hitting another message while a proven suspect is in the window (review rv97 M1)', () => {
  class HoldingTransport implements HubTransport {
    readonly description = 't';
    readonly identity = 'dev';
    mode: 'poison' | 'hold' = 'poison';
    held: { m: OutgoingMessage; resolve: () => void; reject: (e: Error) => void }[] = [];
    delivered: string[] = [];
    listener: ((e: Error | undefined) => void) | null = null;
    async connect() {}
    async send(m: OutgoingMessage) {
      await new Promise((r) => setTimeout(r, 1));
      if (this.mode === 'poison' && m.body.includes('poisonQ')) {
        this.listener?.(new Error('closed'));
        throw Object.assign(new Error('Connection closed'), { name: 'NotConnectedError' });
      }
      if (this.mode === 'hold') return new Promise<void>((resolve, reject) => this.held.push({ m, resolve, reject }));
      this.delivered.push(m.body);
    }
    async disconnect() {}
    onDisconnect(l: (e: Error | undefined) => void) {
      this.listener = l;
    }
  }
  const waitFor = async (c: () => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!c()) {
      if (Date.now() > end) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 2));
    }
  };

  it('stays an early drop (dropped, an outage), not the suspect\'s refusal', async () => {
    const box = new Outbox(':memory:');
    const t = new HoldingTransport();
    const metrics = new Metrics();
    const f = new Forwarder(box, t, { gatewayId: 'gw', maxMessageBytes: 65536, batchDelayMs: 0, sendTimeoutMs: 30_000, retry: { initialDelayMs: 10, maxDelayMs: 20 }, maxInFlight: 2, suspect: { firstPauseMs: 150, maxPauseMs: 150, alarmAfterMs: 60_000 } }, captureLog().log, metrics);
    try {
      box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i: 0 }) }]);
      f.start();
      await waitFor(() => t.delivered.length === 1);
      box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ poisonQ: true }) }]);
      f.notify();
      // Private state read on purpose: the suspect's schedule is what makes it "proven" (failed while others went).
      const strikes = (f as unknown as { strikes: Map<string, { suspectSince: number | null; pauseMs: number }> }).strikes;
      await waitFor(() => [...strikes.values()].some((s) => s.suspectSince !== null && s.pauseMs > 0));
      // The poison is a proven suspect now. The hub takes everything but holds the answers; a new alarm comes and the
      // suspect falls due: both in the window.
      t.mode = 'hold';
      await new Promise((r) => setTimeout(r, 200));
      box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ alarmA: true }) }]);
      f.notify();
      await waitFor(() => t.held.length === 2);
      const refusedBefore = metrics.get('forward_retries_total', { reason: 'refused' });
      const droppedBefore = metrics.get('forward_retries_total', { reason: 'dropped' });
      // A kick (a second gateway): the close first, then both sends fail, the alarm first.
      t.listener?.(new Error('kicked: another client connected with this identity'));
      t.held.find((h) => h.m.body.includes('alarmA'))!.reject(Object.assign(new Error('Connection closed'), { name: 'NotConnectedError' }));
      await new Promise((r) => setTimeout(r, 1));
      t.held.find((h) => h.m.body.includes('poisonQ'))!.reject(Object.assign(new Error('Connection closed'), { name: 'NotConnectedError' }));
      await waitFor(() => metrics.get('forward_retries_total', { reason: 'dropped' }) > droppedBefore || metrics.get('forward_retries_total', { reason: 'refused' }) > refusedBefore);
      expect(metrics.get('forward_retries_total', { reason: 'refused' })).toBe(refusedBefore);
      expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(droppedBefore + 1);
      expect(f.getStatus().lastFailure).not.toBe('refused');
    } finally {
      t.mode = 'poison';
      const stopping = f.stop();
      for (const h of t.held) h.resolve();
      await stopping;
      box.close();
    }
  });
});
