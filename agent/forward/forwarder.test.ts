// Unit tests of the forwarder's loop against a scripted transport. The proof against the real SDK and a
// real MQTT/TLS peer is in test/e2e/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { Outbox } from '../store/outbox.js';
import { Metrics } from '../metrics.js';
import { Forwarder } from './forwarder.js';
import type { HubTransport, OutgoingMessage } from './azure.js';
import { captureLog } from '../../test/support/log.js';
import { PACKAGE_ROOT } from '../paths.js';

class ScriptedTransport implements HubTransport {
  readonly description = 'scripted';
  readonly identity = 'dev';
  sent: OutgoingMessage[] = [];
  connects = 0;
  up = true;
  private listener: ((err: Error | undefined) => void) | null = null;
  async connect() {
    this.connects += 1;
    if (!this.up) throw new Error('ECONNREFUSED');
  }
  async send(m: OutgoingMessage) {
    if (!this.up) throw new Error('socket closed');
    this.sent.push(m);
  }
  async disconnect() {}
  onDisconnect(l: (err: Error | undefined) => void) {
    this.listener = l;
  }
  drop() {
    this.up = false;
    this.listener?.(new Error('dropped'));
  }
  /** The hub closes the connection; the next connect is accepted again (a duplicate identity, an idle close). */
  kick() {
    this.listener?.(new Error('connection to the hub lost'));
  }
  listenerOf() {
    return this.listener;
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const opts = { gatewayId: 'gw', maxMessageBytes: 4096, batchDelayMs: 20, sendTimeoutMs: 1000, retry: { initialDelayMs: 10, maxDelayMs: 40 } };
const rec = (i: number, stream: 'alarms' | 'telemetry' = 'telemetry') => ({
  stream,
  cls: (stream === 'alarms' ? 0 : 1) as 0 | 1,
  deviceId: 'd',
  body: JSON.stringify({ i }),
});
const records = (m: OutgoingMessage) => (JSON.parse(m.body) as { records: { i: number }[] }).records.map((r) => r.i);

describe('Forwarder', () => {
  it('sends alarms before telemetry and deletes only acknowledged messages', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const { log } = captureLog();
    box.append([rec(1), rec(2)]);
    box.append([rec(3, 'alarms')]);
    const f = new Forwarder(box, t, opts, log, new Metrics());
    f.start();
    await until(() => t.sent.length === 2);
    expect(t.sent[0]!.stream).toBe('alarms');
    expect(t.sent[0]!.properties).toEqual({ kind: 'alarm', schemaVersion: '1', gatewayId: 'gw', 'iothub-creation-time-utc': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    expect(records(t.sent[1]!)).toEqual([1, 2]);
    await until(() => box.nextMessage() === null);
    await f.stop();
    box.close();
  });

  it('compression gzip: telemetry goes gzipped (the gzip of its JSON, schemaVersion 1-gzip), alarms plain; the bytes sent are counted', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const metrics = new Metrics();
    box.append([rec(1), rec(2)]);
    box.append([rec(3, 'alarms')]);
    const f = new Forwarder(box, t, { ...opts, compression: 'gzip' }, captureLog().log, metrics);
    f.start();
    await until(() => box.nextMessage() === null && t.sent.length === 2);
    const [alarm, telemetry] = t.sent;
    expect(alarm!.stream).toBe('alarms');
    expect(alarm!.gzipped).toBeUndefined();
    expect(telemetry!.stream).toBe('telemetry');
    expect(gunzipSync(telemetry!.gzipped!).toString('utf8')).toBe(telemetry!.body);
    expect(telemetry!.properties.schemaVersion).toBe('1-gzip');
    expect(alarm!.properties.schemaVersion).toBe('1');
    expect(records(telemetry!)).toEqual([1, 2]);
    expect(metrics.get('forward_body_bytes_total', { stream: 'telemetry' })).toBe(telemetry!.gzipped!.length);
    expect(metrics.get('forward_body_bytes_total', { stream: 'alarms' })).toBe(Buffer.byteLength(alarm!.body));
    await f.stop();
    box.close();
  });

  it('compression none (the default) sends every body as its JSON text', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const metrics = new Metrics();
    box.append([rec(1)]);
    const f = new Forwarder(box, t, opts, captureLog().log, metrics);
    f.start();
    await until(() => box.nextMessage() === null && t.sent.length === 1);
    expect(t.sent[0]!.gzipped).toBeUndefined();
    expect(metrics.get('forward_body_bytes_total', { stream: 'telemetry' })).toBe(Buffer.byteLength(t.sent[0]!.body));
    await f.stop();
    box.close();
  });

  it('keeps retrying with backoff while the hub is down, then resends the same message id', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const cap = captureLog();
    const metrics = new Metrics();
    const f = new Forwarder(box, t, opts, cap.log, metrics);
    t.up = false;
    box.append([rec(1)]);
    f.start();
    await until(() => t.connects >= 3);
    expect(f.getStatus().state).toMatch(/backoff|connecting/);
    expect(f.getStatus().downSince).not.toBeNull();
    expect(cap.find('hub unreachable; keeping data in the store and retrying')).toBeDefined();
    // A flood of new data while down must not turn backoff into a hot loop.
    const before = t.connects;
    for (let i = 0; i < 50; i++) {
      box.append([rec(100 + i)]);
      f.notify();
    }
    await new Promise((r) => setTimeout(r, 30));
    expect(t.connects - before).toBeLessThanOrEqual(3);
    t.up = true;
    await until(() => t.sent.length >= 1 && box.nextMessage() === null && box.pending('telemetry').records === 0);
    const all = t.sent.flatMap(records);
    expect(all).toEqual([1, ...Array.from({ length: 50 }, (_, i) => 100 + i)]);
    expect(metrics.get('forward_retries_total', { reason: 'unreachable' })).toBeGreaterThanOrEqual(3);
    await f.stop();
    box.close();
  });

  it('a hub that takes the connection but never acknowledges is unreachable, connected or not; delivery ends that', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const { log } = captureLog();
    let answer = false;
    const realSend = t.send.bind(t);
    t.send = (m) => (answer ? realSend(m) : new Promise<void>(() => undefined)); // no PUBACK, ever
    const f = new Forwarder(box, t, { ...opts, sendTimeoutMs: 50 }, log, new Metrics());
    expect(f.reachable()).toBe(false); // nothing tried yet: unknown, not reachable (review rv92 L1)
    box.append([rec(1, 'alarms')]);
    f.start();
    await until(() => f.getStatus().lastError !== null);
    const seen = new Set<string>();
    const end = Date.now() + 400;
    while (Date.now() < end) {
      seen.add(`${f.getStatus().state}:${f.reachable()}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(seen.has('connected:false')).toBe(true); // connected again and again, yet nothing delivered
    expect([...seen].some((s) => s.endsWith(':true'))).toBe(false);
    answer = true;
    await until(() => f.reachable());
    expect(t.sent.length).toBeGreaterThanOrEqual(1);
    await f.stop();
    box.close();
  });

  it('reachable is unknown (false) from the start until a connection is made with nothing to send (review rv92 L1)', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const f = new Forwarder(box, t, opts, captureLog().log, new Metrics());
    expect(f.reachable()).toBe(false);
    expect(f.getStatus().downSince).toBeNull();
    f.start();
    await until(() => f.getStatus().state === 'connected');
    expect(f.reachable()).toBe(true);
    await f.stop();
    box.close();
  });

  it('after an outage with nothing to send, a connection is reachable again', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const { log } = captureLog();
    const f = new Forwarder(box, t, opts, log, new Metrics());
    t.up = false;
    f.start();
    await until(() => t.connects >= 2);
    expect(f.reachable()).toBe(false);
    t.up = true;
    await until(() => f.getStatus().state === 'connected');
    expect(f.reachable()).toBe(true);
    await f.stop();
    box.close();
  });

  it('resends an unacknowledged message with the same id after the connection drops mid-send', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const { log } = captureLog();
    const ids: string[] = [];
    const realSend = t.send.bind(t);
    let first = true;
    t.send = async (m) => {
      ids.push(m.id);
      if (first) {
        first = false;
        t.drop();
        throw new Error('connection lost before PUBACK');
      }
      t.up = true;
      return realSend(m);
    };
    t.connect = async () => {
      t.connects += 1;
      t.up = true;
    };
    box.append([rec(1), rec(2)]);
    const f = new Forwarder(box, t, opts, log, new Metrics());
    f.start();
    await until(() => t.sent.length === 1);
    expect(ids.length).toBe(2);
    expect(ids[0]).toBe(ids[1]);
    expect(records(t.sent[0]!)).toEqual([1, 2]);
    await f.stop();
    box.close();
  });

  it('a new alarm goes ahead of a replay\'s alarm copies still waiting (after at most the one in flight), new telemetry too once due', async () => {
    const box = new Outbox(':memory:', { retainAckedMs: 3600_000 });
    const t = new ScriptedTransport();
    const { log } = captureLog();
    const f = new Forwarder(box, t, opts, log, new Metrics());
    f.start();
    const from = Date.now() - 1000;
    for (let i = 0; i < 20; i++) {
      box.append([rec(i, 'alarms')]);
      f.notify();
      await until(() => t.sent.length === i + 1);
    }
    // The hub acknowledges slowly now: the replay's copies drain one at a time.
    const realSend = t.send.bind(t);
    t.send = async (m) => {
      await new Promise((r) => setTimeout(r, 20));
      return realSend(m);
    };
    t.sent = [];
    expect(box.replay(from, Date.now()).messages).toBe(20);
    f.notify();
    await until(() => t.sent.length >= 2);
    box.append([rec(999, 'alarms'), rec(998)]);
    const at = t.sent.length;
    f.notify();
    await until(() => t.sent.some((m) => records(m)[0] === 999));
    const position = t.sent.findIndex((m) => records(m)[0] === 999);
    expect(position - at).toBeLessThanOrEqual(1); // opts has no maxInFlight: one send in flight at a time
    await until(() => t.sent.length === 22); // the copies still all go
    expect(t.sent.filter((m) => m.properties.replayOf !== undefined)).toHaveLength(20);
    // The telemetry waits its batch delay (20 ms), not the 20 copies (20 ms each).
    expect(t.sent.findIndex((m) => m.stream === 'telemetry')).toBeLessThan(t.sent.length - 1);
    await f.stop();
    box.close();
  });

  it('a resend whose attempt count the store cannot write is sent anyway, and the hub is not reported down for it', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const { log, lines } = captureLog();
    const realSend = t.send.bind(t);
    let first = true;
    t.send = async (m) => {
      if (first) {
        // A failed send, not a drop of the fresh connection (that would keep downSince until a connection holds).
        first = false;
        throw new Error('no PUBACK');
      }
      return realSend(m);
    };
    t.connect = async () => {
      t.connects += 1;
      t.up = true;
    };
    box.recordAttempt = () => {
      throw Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' });
    };
    box.append([rec(1)]);
    const metrics = new Metrics();
    const f = new Forwarder(box, t, opts, log, metrics);
    f.start();
    await until(() => t.sent.length === 1);
    expect(records(t.sent[0]!)).toEqual([1]);
    expect(t.connects).toBe(2); // the first connection, then one after the drop: no reconnect loop
    expect(metrics.get('forward_store_errors_total')).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => /store error while counting a resend; sending it anyway/.test(String(l.msg)))).toBe(true);
    await until(() => f.getStatus().downSince === null);
    await f.stop();
    box.close();
  });

  it('holds telemetry up to batchDelayMs to fill a message, but sends alarms at once', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const { log } = captureLog();
    const f = new Forwarder(box, t, { ...opts, batchDelayMs: 60_000 }, log, new Metrics());
    f.start();
    await until(() => f.getStatus().state === 'connected');
    box.append([rec(1)]);
    f.notify();
    box.append([rec(2, 'alarms')]);
    f.notify();
    await until(() => t.sent.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(t.sent.map((m) => m.stream)).toEqual(['alarms']);
    expect(box.pending('telemetry').records).toBe(1);
    await f.stop();
    box.close();
  });

  it('sends telemetry written before the wall clock was set back after its batch delay, not after the step', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const { log } = captureLog();
    const f = new Forwarder(box, t, { ...opts, batchDelayMs: 100 }, log, new Metrics());
    f.start();
    await until(() => f.getStatus().state === 'connected');
    box.append([rec(1)]);
    // The clock is set back an hour (timers keep running): the record now looks an hour younger than it is.
    const realNow = Date.now.bind(Date);
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3600_000);
    try {
      f.notify();
      await until(() => t.sent.length === 1);
      expect(records(t.sent[0]!)).toEqual([1]);
    } finally {
      clock.mockRestore();
    }
    await f.stop();
    box.close();
  });

  it('starts the retry delays over once a message is delivered, not merely once connected', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const cap = captureLog();
    const f = new Forwarder(box, t, opts, cap.log, new Metrics());
    const attempts = () => cap.lines.filter((l) => l.msg === 'hub unreachable; keeping data in the store and retrying').map((l) => l.attempt as number);
    f.start();
    box.append([rec(1, 'alarms')]);
    await until(() => t.sent.length === 1);
    t.drop();
    box.append([rec(2, 'alarms')]);
    await until(() => attempts().length >= 3);
    expect(attempts().slice(0, 3)).toEqual([1, 2, 3]);
    t.up = true;
    await until(() => t.sent.length === 2);
    const before = attempts().length;
    t.drop();
    box.append([rec(3, 'alarms')]);
    await until(() => attempts().length > before);
    expect(attempts()[before]).toBe(1);
    await f.stop();
    box.close();
  });

  it('a connection the hub closes right after it was made, nothing delivered, is a failure: backoff, counted as dropped, downSince, the log limited and naming a duplicate identity (review rv68 M1)', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const cap = captureLog();
    const metrics = new Metrics();
    // Accepted, then closed 5 ms later while idle: what a second gateway with the same identity does to this one.
    t.connect = async () => {
      t.connects += 1;
      setTimeout(() => t.kick(), 5);
    };
    const f = new Forwarder(box, t, { ...opts, retry: { initialDelayMs: 200, maxDelayMs: 400 } }, cap.log, metrics);
    f.start();
    let downSeen = false;
    const end = Date.now() + 700;
    while (Date.now() < end) {
      if (f.getStatus().state === 'backoff' && f.getStatus().downSince !== null) downSeen = true;
      await new Promise((r) => setTimeout(r, 5));
    }
    await f.stop();
    // Delays of 100-200 ms, then 200-400 ms (the cap): at most 4 connections in 700 ms (it was one every few ms).
    expect(t.connects).toBeGreaterThanOrEqual(2);
    expect(t.connects).toBeLessThanOrEqual(4);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBeGreaterThanOrEqual(1);
    expect(downSeen).toBe(true);
    const drops = cap.lines.filter((l) => /closed the connection right after it was made/.test(String(l.msg)));
    expect(drops.length).toBeGreaterThanOrEqual(1);
    expect(drops[0]).toMatchObject({ level: 40, attempt: 1 });
    expect(String(drops[0]!.msg)).toMatch(/same device identity/);
    // The first at warn, then every tenth: not one warning per drop.
    expect(drops.slice(1).every((l) => l.level === 20)).toBe(true);
    expect(cap.lines.filter((l) => l.msg === 'hub connection lost; data stays in the store')).toEqual([]);
    box.close();
  });

  it('data flowing while the hub kicks each connection after one delivery: the delay grows, connects stay few, downSince stays set (review rv73 M1)', async () => {
    vi.useFakeTimers();
    try {
      const box = new Outbox(':memory:');
      const t = new ScriptedTransport();
      const cap = captureLog();
      const metrics = new Metrics();
      // A second gateway with the same identity connects a few ms after each delivery, and the hub closes this one.
      const realSend = t.send.bind(t);
      t.send = async (m) => {
        await realSend(m);
        setTimeout(() => t.kick(), 5);
      };
      const f = new Forwarder(box, t, { ...opts, batchDelayMs: 200, retry: { initialDelayMs: 1000, maxDelayMs: 60_000 } }, cap.log, metrics);
      let n = 0;
      const feeder = setInterval(() => {
        box.append([rec(n++)]);
        f.notify();
      }, 100);
      f.start();
      let downAlways = true;
      let firstDrop = false;
      for (let ms = 0; ms < 10_000; ms += 50) {
        await vi.advanceTimersByTimeAsync(50);
        if (metrics.get('forward_retries_total', { reason: 'dropped' }) > 0) firstDrop = true;
        if (firstDrop && f.getStatus().downSince === null) downAlways = false;
      }
      const mid = t.connects;
      for (let ms = 0; ms < 10_000; ms += 50) {
        await vi.advanceTimersByTimeAsync(50);
        if (firstDrop && f.getStatus().downSince === null) downAlways = false;
      }
      clearInterval(feeder);
      const stopped = f.stop();
      await vi.advanceTimersByTimeAsync(100);
      await stopped;
      // Delays of 0.5-1, 1-2, 2-4, 4-8, 8-16 s: about 5 connects in the first 10 s, at most 2 in the next.
      expect(mid).toBeLessThanOrEqual(7);
      expect(t.connects - mid).toBeLessThanOrEqual(2);
      const drops = cap.lines.filter((l) => l.reason === 'dropped').map((l) => l.attempt as number);
      expect(drops.slice(0, 4)).toEqual([1, 2, 3, 4]);
      expect(cap.lines.filter((l) => l.msg === 'hub connection lost; data stays in the store')).toEqual([]);
      expect(metrics.get('forward_retries_total', { reason: 'unreachable' })).toBe(0);
      expect(downAlways).toBe(true);
      box.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a send in flight when a short-lived connection drops is counted as dropped, not unreachable (review rv73 L1)', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const cap = captureLog();
    const metrics = new Metrics();
    let kicked = false;
    t.send = async () => {
      if (!kicked) {
        kicked = true;
        await new Promise((r) => setTimeout(r, 5)); // in flight
        t.kick(); // the drop is seen first, then the send fails
        throw new Error('socket closed');
      }
      await new Promise(() => undefined);
    };
    box.append([rec(1, 'alarms')]);
    const f = new Forwarder(box, t, { ...opts, retry: { initialDelayMs: 10_000, maxDelayMs: 20_000 } }, cap.log, metrics);
    f.start();
    await until(() => f.getStatus().state === 'backoff');
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(1);
    expect(metrics.get('forward_retries_total', { reason: 'unreachable' })).toBe(0);
    await f.stop();
    box.close();
  });

  it('a connection that held a minute starts the delays over when it drops, so the next quick drop is attempt 1 (review rv73 M2)', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const cap = captureLog();
    const f = new Forwarder(box, t, { ...opts, retry: { initialDelayMs: 4, maxDelayMs: 100_000 } }, cap.log, new Metrics());
    t.up = false;
    f.start();
    await until(() => t.connects >= 6); // an outage: 6 refused connects
    t.up = true;
    await until(() => f.getStatus().state === 'connected');
    const realNow = Date.now.bind(Date);
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000); // an hour idle
    try {
      const c = t.connects;
      t.kick(); // held an hour: reconnected at once
      await until(() => t.connects === c + 1 && f.getStatus().state === 'connected');
      t.kick(); // the new connection drops at once: the first failure of a new episode
      await until(() => cap.lines.some((l) => l.reason === 'dropped'));
    } finally {
      clock.mockRestore();
    }
    const drop = cap.lines.find((l) => l.reason === 'dropped')!;
    expect(drop).toMatchObject({ attempt: 1, level: 40 });
    expect(drop.retryInMs as number).toBeLessThanOrEqual(4);
    await f.stop();
    box.close();
  });

  it('a recycle by the control plane is not a hub drop: reconnected at once, no identity hint, no downSince (review rv73 M3)', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const cap = captureLog();
    const metrics = new Metrics();
    const f = new Forwarder(box, t, { ...opts, retry: { initialDelayMs: 10_000, maxDelayMs: 20_000 } }, cap.log, metrics);
    f.start();
    await until(() => f.getStatus().state === 'connected');
    t.listenerOf()?.(Object.assign(new Error('twin read failed: twin read: no answer within 15000 ms'), { recycled: true }));
    await until(() => t.connects === 2 && f.getStatus().state === 'connected', 1000);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(0);
    expect(f.getStatus().downSince).toBeNull();
    expect(cap.lines.filter((l) => /same device identity/.test(String(l.msg)))).toEqual([]);
    await f.stop();
    box.close();
  });

  it('a close at the twin read (atTwin) is not an early drop nor the message\'s fault: no second-gateway hint, no suspect, a delay, the twin named; health carries the control status (review rv148 F2)', async () => {
    /** Sends wait for the hub's answer, which never comes before it closes the connection at the twin read. */
    class TwinClosing extends ScriptedTransport {
      hang = true;
      off = false;
      private readonly waiting: (() => void)[] = [];
      override async send(m: OutgoingMessage) {
        if (!this.hang) return super.send(m);
        this.sent.push(m);
        await new Promise<void>((_, reject) => this.waiting.push(() => reject(new Error('connection closed'))));
      }
      closeAtTwin() {
        // As the SDK does it: the close is signalled first, then the sends in flight fail.
        this.listenerOf()?.(Object.assign(new Error('the hub closed the connection during the twin read'), { atTwin: true }));
        for (const r of this.waiting.splice(0)) r();
      }
      controlStatus() {
        return this.off ? { state: 'off' as const, since: new Date().toISOString(), detail: 'switched off' } : null;
      }
    }
    const box = new Outbox(':memory:');
    const t = new TwinClosing();
    const cap = captureLog();
    const metrics = new Metrics();
    const f = new Forwarder(box, t, { ...opts, retry: { initialDelayMs: 40, maxDelayMs: 80 } }, cap.log, metrics);
    f.start();
    box.append([rec(1, 'alarms')]);
    f.notify();
    for (let i = 1; i <= 3; i++) {
      await until(() => t.sent.length === i);
      t.closeAtTwin();
      // Not made again at once: the ordinary delay.
      await until(() => f.getStatus().state === 'backoff', 1000);
    }
    t.off = true;
    t.hang = false;
    await until(() => t.sent.length === 4 && box.nextMessage() === null);
    expect(new Set(t.sent.map((m) => m.id)).size).toBe(1);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(0);
    expect(cap.lines.filter((l) => /second gateway|failed on every connection/.test(String(l.msg)))).toEqual([]);
    expect(cap.lines.filter((l) => l.level === 40 && /while the control plane read the twin/.test(String(l.msg))).length).toBeGreaterThanOrEqual(1);
    expect(f.getStatus()).toMatchObject({ state: 'connected', downSince: null, control: { state: 'off' } });
    await f.stop();
    box.close();
  });

  it('closes at the twin read and early drops grow one retry delay, each still said for what it was (fx223)', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const cap = captureLog();
    const metrics = new Metrics();
    const f = new Forwarder(box, t, { ...opts, retry: { initialDelayMs: 10, maxDelayMs: 1000 } }, cap.log, metrics);
    f.start();
    const twinClose = () => t.listenerOf()?.(Object.assign(new Error('the hub closed the connection during the twin read'), { atTwin: true }));
    for (let i = 1; i <= 4; i++) {
      await until(() => t.connects === i && f.getStatus().state === 'connected');
      // Both are the hub dropping a connection just made: a drop, then a close at the twin read, and so on.
      if (i % 2 === 1) t.kick();
      else twinClose();
      await until(() => cap.lines.filter((l) => typeof l.retryInMs === 'number').length === i, 1000);
    }
    const retries = cap.lines.filter((l) => typeof l.retryInMs === 'number');
    expect(retries.map((l) => l.attempt)).toEqual([1, 2, 3, 4]);
    // Which it was, still told apart: the log and the metric's reason.
    expect(retries.map((l) => /while the control plane read the twin/.test(String(l.msg)))).toEqual([false, true, false, true]);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(2);
    expect(metrics.get('forward_retries_total', { reason: 'unreachable' })).toBe(2);
    await f.stop();
    box.close();
  });

  it('a connection that held a minute, and then drops, is reconnected at once, not counted as a failure; one that delivered and dropped sooner is', async () => {
    const box = new Outbox(':memory:');
    const t = new ScriptedTransport();
    const cap = captureLog();
    const metrics = new Metrics();
    // A backoff would be seen: the first delay is 0.5-1 s, the second 1-2 s.
    const f = new Forwarder(box, t, { ...opts, retry: { initialDelayMs: 1000, maxDelayMs: 2000 } }, cap.log, metrics);
    f.start();
    box.append([rec(1, 'alarms')]);
    f.notify();
    await until(() => t.sent.length === 1);
    t.kick(); // delivered, but short-lived: a failed attempt
    await until(() => f.getStatus().state === 'backoff', 1000);
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(1);
    await until(() => t.connects === 2 && f.getStatus().state === 'connected', 3000);
    // Idle for over a minute (both clocks moved on; a connection's life is measured on the monotonic one, review
    // rv133 L2), then dropped: a blip, made again at once.
    const realNow = Date.now.bind(Date);
    const realMono = performance.now.bind(performance);
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 61_000);
    const mono = vi.spyOn(performance, 'now').mockImplementation(() => realMono() + 61_000);
    try {
      t.kick();
      await until(() => t.connects === 3, 300);
    } finally {
      clock.mockRestore();
      mono.mockRestore();
    }
    expect(metrics.get('forward_retries_total', { reason: 'dropped' })).toBe(1);
    expect(cap.lines.filter((l) => l.msg === 'hub connection lost; data stays in the store')).toHaveLength(1);
    await f.stop();
    box.close();
  });
});

describe('Forwarder: sends held by the transport until its twin read settles (fx228)', () => {
  /** Holds the sends of its first connection (as AzureIotTransport does after a close that could be the twin read's or a send's). */
  class HoldingTransport extends ScriptedTransport {
    private release: () => void = () => undefined;
    private hold: Promise<void> | null = new Promise<void>((r) => (this.release = r));
    sendsHeld() {
      return this.hold;
    }
    override async send(m: OutgoingMessage) {
      if (this.hold) await this.hold; // the transport's own guarantee: nothing goes out while held
      return super.send(m);
    }
    endHold() {
      this.hold = null;
      this.release();
    }
  }

  it('a hold longer than sendTimeoutMs is not timed as a send: no timeout, no failure, no retry; an alarm that came meanwhile goes first', async () => {
    const box = new Outbox(':memory:');
    const t = new HoldingTransport();
    const cap = captureLog();
    const metrics = new Metrics();
    box.append([rec(1), rec(2)]);
    const f = new Forwarder(box, t, { ...opts, sendTimeoutMs: 100 }, cap.log, metrics);
    f.start();
    await until(() => t.connects === 1 && f.getStatus().state === 'connected');
    await new Promise((r) => setTimeout(r, 150));
    box.append([rec(3, 'alarms')]);
    f.notify();
    // Held for three send timeouts.
    await new Promise((r) => setTimeout(r, 150));
    expect(t.sent).toEqual([]);
    t.endHold();
    await until(() => t.sent.length === 2);
    expect(t.sent.map((m) => m.stream)).toEqual(['alarms', 'telemetry']);
    expect(t.connects).toBe(1);
    expect(metrics.get('forward_failures_total', { stream: 'telemetry' }) ?? 0).toBe(0);
    expect(metrics.get('forward_failures_total', { stream: 'alarms' }) ?? 0).toBe(0);
    expect(cap.lines.filter((l) => typeof l.retryInMs === 'number' || (l.level as number) >= 40)).toEqual([]);
    expect(f.getStatus()).toMatchObject({ lastError: null, downSince: null });
    await f.stop();
    box.close();
  });
});

describe('the application properties on the wire', () => {
  it('are all named, with their values, in message-v1.schema.json\'s description (review rv183 L4)', async () => {
    const box = new Outbox(':memory:', { retainAckedMs: 3600_000 });
    const t = new ScriptedTransport();
    const f = new Forwarder(box, t, { ...opts, compression: 'gzip' }, captureLog().log, new Metrics());
    f.start();
    const from = Date.now() - 1000;
    box.append([rec(1), rec(2)]);
    box.append([rec(3, 'alarms')]);
    f.notify();
    await until(() => t.sent.length === 2);
    expect(box.replay(from, Date.now()).messages).toBe(2);
    f.notify();
    await until(() => t.sent.length === 4);
    await f.stop();
    box.close();
    const keys = new Set(t.sent.flatMap((m) => Object.keys(m.properties)));
    expect([...keys].sort()).toEqual(['gatewayId', 'iothub-creation-time-utc', 'kind', 'replayOf', 'schemaVersion']);
    const schema = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'agent', 'forward', 'schema', 'message-v1.schema.json'), 'utf8')) as { description: string };
    for (const k of keys) expect(schema.description, k).toContain(k);
    for (const v of new Set(t.sent.map((m) => m.properties.schemaVersion))) expect(schema.description, v).toContain(`"${v}"`);
  });
});
