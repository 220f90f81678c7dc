// SseHub's slow-client limit, on a stand-in response whose unsent bytes the test sets (a unit test of one piece;
// server.test.ts drops a really slow client over a real socket).
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Metrics } from '../metrics.js';
import type { Identity } from './auth.js';
import { SseHub } from './sse.js';

/** Counts what is written as unsent until the test "flushes" it. */
class SlowResponse extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  writeHead(): this {
    return this;
  }
  write(text: string): boolean {
    this.writableLength += Buffer.byteLength(text);
    return true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

describe('SseHub', () => {
  /** On one injected clock (wall and monotonic alike: no step here). */
  const setup = () => {
    const clock = { t: 1_000_000 };
    const metrics = new Metrics();
    const hub = new SseHub({ maxClients: 4, maxClientsPerAddress: 4, maxBufferedBytes: 1000, heartbeatS: 30, retryMs: 1000, maxLagMs: 15_000 }, metrics, pino({ level: 'silent' }), undefined, () => clock.t);
    const res = new SlowResponse();
    const client = hub.add(res as unknown as ServerResponse, { bed: null, identity: null, address: '10.0.0.1', session: null, reports: true });
    if (typeof client === 'string') throw new Error(`refused: ${client}`);
    return { metrics, hub, res, client, clock };
  };
  const dropped = (m: Metrics) => m.get('display_sse_dropped_total', { reason: 'slow-client' });

  it('keeps a client whose first burst (a large ward snapshot) is still unsent, and drops it when more backs up beyond', () => {
    const { metrics, hub, res, client } = setup();
    hub.send(client, 'ward', { beds: 'x'.repeat(5000) }); // larger than the limit on its own
    hub.started(client);
    hub.send(client, 'alarm', { id: 1 });
    expect(res.destroyed).toBe(false);
    res.writableLength += 1000; // another 1000 bytes not read: past the snapshot + the limit
    hub.send(client, 'alarm', { id: 2 });
    expect(res.destroyed).toBe(true);
    expect(dropped(metrics)).toBe(1);
  });

  it('closes a stream whose page says it is more than maxLagMs behind; one from a reader that does not report (a script) is left to the byte limit', () => {
    const { metrics, hub, res, client, clock } = setup();
    const quiet = new SlowResponse();
    const other = hub.add(quiet as unknown as ServerResponse, { bed: null, identity: null, address: '10.0.0.2', session: null });
    if (typeof other === 'string') throw new Error(`refused: ${other}`);
    const t0 = clock.t;
    expect(hub.seen(client.token, t0)).toBe(true);
    expect(hub.seen('not-a-stream', t0)).toBe(false);
    clock.t = t0 + 15_000;
    hub.closeLagging(); // exactly at the limit: kept
    expect(res.destroyed).toBe(false);
    expect(hub.seen(client.token, t0 - 5000)).toBe(true); // an older report does not move it back
    clock.t = t0 + 15_001;
    hub.closeLagging();
    expect(res.destroyed).toBe(true);
    expect(quiet.destroyed).toBe(false);
    expect(metrics.get('display_sse_dropped_total', { reason: 'lagging' })).toBe(1);
    expect(hub.size).toBe(1);
  });

  it('closes a stream that has not reported within maxLagMs of opening, as lagging (review rv121 M1: six tabs, no report ever gets out)', () => {
    const { metrics, hub, res, clock } = setup();
    const opened = clock.t;
    const reporting = new SlowResponse();
    const other = hub.add(reporting as unknown as ServerResponse, { bed: null, identity: null, address: '10.0.0.2', session: null, reports: true });
    if (typeof other === 'string') throw new Error(`refused: ${other}`);
    const script = new SlowResponse(); // did not say it reports: never closed for not reporting
    if (typeof hub.add(script as unknown as ServerResponse, { bed: null, identity: null, address: '10.0.0.3', session: null }) === 'string') throw new Error('refused');
    clock.t = opened + 14_000;
    hub.closeLagging(); // within maxLagMs of opening: kept
    expect(res.destroyed).toBe(false);
    expect(reporting.destroyed).toBe(false);
    // The other page reports, 10 s on; the first never does.
    expect(hub.seen(other.token, opened + 10_000)).toBe(true);
    clock.t = opened + 15_001;
    hub.closeLagging();
    expect(res.destroyed).toBe(true);
    expect(reporting.destroyed).toBe(false);
    expect(script.destroyed).toBe(false);
    expect(metrics.get('display_sse_dropped_total', { reason: 'lagging' })).toBe(1);
    expect(hub.size).toBe(2);
  });

  it('a first burst of several events (snapshot, then a bed\'s wave chunks) larger than the limit is not counted against it', () => {
    const { hub, res, client } = setup();
    hub.send(client, 'ward', { beds: 'x'.repeat(5000) });
    hub.send(client, 'wave', { samples: 'y'.repeat(300) });
    hub.send(client, 'wave', { samples: 'y'.repeat(300) });
    expect(res.destroyed).toBe(false);
    hub.started(client);
    hub.send(client, 'alarm', { id: 1 });
    expect(res.destroyed).toBe(false);
  });

  describe('slots (review rv132 M2)', () => {
    const hubOf = (maxClients: number, maxClientsPerAddress: number) => {
      const metrics = new Metrics();
      return { metrics, hub: new SseHub({ maxClients, maxClientsPerAddress, maxBufferedBytes: 1000, heartbeatS: 30, retryMs: 1000, maxLagMs: 15_000 }, metrics, pino({ level: 'silent' })) };
    };
    const open = (hub: SseHub, address: string, more: { reports?: boolean; screen?: string | null; identity?: Identity | null } = {}) => {
      const res = new SlowResponse();
      const r = hub.add(res as unknown as ServerResponse, { bed: null, identity: more.identity ?? null, address, session: null, reports: more.reports ?? true, screen: more.screen ?? null });
      return { res, refused: typeof r === 'string' ? r : null };
    };

    it('counts IPv6 clients by their full address (a ward\'s /64 is many hosts), IPv4-mapped ones by their IPv4 address (review rv135 H2)', () => {
      const { hub } = hubOf(10, 2);
      expect(open(hub, '2001:db8:0:1::1').refused).toBeNull();
      expect(open(hub, '2001:db8:0:1:0:0:0:1').refused).toBeNull();
      expect(open(hub, '2001:db8:0:1::1').refused).toBe('per-address');
      expect(open(hub, '2001:db8:0:1::2').refused).toBeNull();
      expect(open(hub, '10.0.0.1').refused).toBeNull();
      expect(open(hub, '::ffff:10.0.0.1').refused).toBeNull();
      expect(open(hub, '10.0.0.1').refused).toBe('per-address');
    });

    it('nine ward PCs and the expected screen on one IPv6 subnet are all served under a per-address cap of 8 (review rv135 H2)', () => {
      const { hub } = hubOf(32, 8);
      for (let i = 1; i <= 9; i++) expect(open(hub, `2001:db8:ab:10::${(0x100 + i).toString(16)}`).refused).toBeNull();
      expect(open(hub, '2001:db8:ab:10::2a', { screen: 'ward3-station' }).refused).toBeNull();
      for (let i = 1; i <= 3; i++) expect(open(hub, `fe80::${i}%eth0`).refused).toBeNull();
      expect(hub.size).toBe(13);
    });

    it('a full table: an expected screen or a logged-in user closes the oldest stream that is neither, one that does not report first', () => {
      const { hub, metrics } = hubOf(4, 4);
      const page = open(hub, '10.0.0.1');
      const script = open(hub, '10.0.0.2', { reports: false });
      const screen = open(hub, '10.0.0.3', { screen: 'ward-a' });
      const nurse = open(hub, '10.0.0.4', { identity: { user: 'nurse', role: 'clinician', kind: 'session' } });
      expect(open(hub, '10.0.0.5').refused).toBe('max-clients');
      // An API token is not a logged-in user: it takes no one's place.
      expect(open(hub, '10.0.0.5', { identity: { user: 'scraper', role: 'viewer', kind: 'token' } }).refused).toBe('max-clients');
      expect(open(hub, '10.0.0.6', { screen: 'ward-b' }).refused).toBeNull();
      expect([page, script, screen, nurse].map((c) => c.res.destroyed)).toEqual([false, true, false, false]);
      expect(open(hub, '10.0.0.7', { identity: { user: 'vera', role: 'viewer', kind: 'session' } }).refused).toBeNull();
      expect(page.res.destroyed).toBe(true);
      // Only screens and logged-in users left: nobody is closed for another.
      expect(open(hub, '10.0.0.8', { screen: 'ward-c' }).refused).toBe('max-clients');
      expect([screen, nurse].map((c) => c.res.destroyed)).toEqual([false, false]);
      expect(metrics.get('display_sse_dropped_total', { reason: 'evicted' })).toBe(2);
      expect(hub.size).toBe(4);
    });

    it('anyone may use a screen\'s name: only its first two streams keep a place; more of them are closed for others like any stream', () => {
      const { hub } = hubOf(3, 10);
      const first = open(hub, '10.0.0.1', { screen: 'ward-a' });
      const second = open(hub, '10.0.0.2', { screen: 'ward-a' });
      const third = open(hub, '10.0.0.3', { screen: 'ward-a' });
      expect([first, second, third].map((c) => c.refused)).toEqual([null, null, null]);
      expect(open(hub, '10.0.0.4', { screen: 'ward-b' }).refused).toBeNull();
      expect([first, second, third].map((c) => c.res.destroyed)).toEqual([false, false, true]);
      expect(open(hub, '10.0.0.5', { screen: 'ward-a' }).refused).toBe('max-clients');
    });

    it('streams that do not report hold at most a quarter of the slots (at least one); screens and logged-in users are not counted', () => {
      const { hub } = hubOf(8, 8);
      expect(open(hub, '10.0.0.1', { reports: false }).refused).toBeNull();
      expect(open(hub, '10.0.0.2', { reports: false }).refused).toBeNull();
      expect(open(hub, '10.0.0.3', { reports: false }).refused).toBe('not-reporting');
      expect(open(hub, '10.0.0.3', { reports: false, screen: 'ward-a' }).refused).toBeNull();
      expect(open(hub, '10.0.0.3', { reports: false, identity: { user: 'nurse', role: 'clinician', kind: 'session' } }).refused).toBeNull();
      expect(open(hub, '10.0.0.3').refused).toBeNull();
      expect(hubOf(2, 2).hub.add(new SlowResponse() as unknown as ServerResponse, { bed: null, identity: null, address: 'x', session: null })).not.toBe('not-reporting');
    });
  });

  it('without a first burst the limit is the configured one', () => {
    const { metrics, hub, res, client } = setup();
    hub.started(client);
    hub.send(client, 'wave', { samples: 'y'.repeat(1200) });
    expect(res.destroyed).toBe(false);
    hub.send(client, 'wave', { samples: 'y' });
    expect(res.destroyed).toBe(true);
    expect(dropped(metrics)).toBe(1);
  });
});

describe('SseHub lag rule across a step of the gateway\'s wall clock (review rv151 F1)', () => {
  const HOUR = 3_600_000;
  afterEach(() => vi.useRealTimers());

  /** Keeps what is written, to read the heartbeats' serverTime as the page does. */
  class PageResponse extends SlowResponse {
    readonly beats: number[] = [];
    override write(text: string): boolean {
      const m = /^event: heartbeat\ndata: (.*)\n/.exec(text);
      if (m) this.beats.push((JSON.parse(m[1]!) as { serverTime: number }).serverTime);
      return super.write(text);
    }
  }

  /**
   * The hub on its default clocks, faked: setSystemTime steps Date.now (the wall clock) and leaves performance.now
   * (monotonic) alone; advancing the timers moves both. Heartbeat 5 s, maxLagMs 20 s.
   */
  const start = () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date', 'performance'], now: 1_700_000_000_000 });
    const metrics = new Metrics();
    const hub = new SseHub({ maxClients: 4, maxClientsPerAddress: 4, maxBufferedBytes: 1e6, heartbeatS: 5, retryMs: 1000, maxLagMs: 20_000 }, metrics, pino({ level: 'silent' }));
    const res = new PageResponse();
    const client = hub.add(res as unknown as ServerResponse, { bed: null, identity: null, address: '10.0.0.1', session: null, reports: true });
    if (typeof client === 'string') throw new Error(`refused: ${client}`);
    hub.start();
    return { metrics, hub, res, client };
  };

  it('a page that stopped reporting (hung) is closed maxLagMs after its last report, though the clock stepped back 1 h', () => {
    const { metrics, hub, res, client } = start();
    try {
      vi.advanceTimersByTime(5000);
      expect(hub.seen(client.token, res.beats.at(-1)!)).toBe(true); // its last report: then it hangs
      vi.advanceTimersByTime(1000);
      vi.setSystemTime(Date.now() - HOUR);
      vi.advanceTimersByTime(19_000); // 20 s after the report: kept
      expect(res.destroyed).toBe(false);
      vi.advanceTimersByTime(5000); // the next heartbeat, 25 s after it
      expect(res.destroyed).toBe(true);
      expect(metrics.get('display_sse_dropped_total', { reason: 'lagging' })).toBe(1);
    } finally {
      hub.close();
    }
  });

  it('a page that keeps up is not closed when the clock steps forward 1 h between a heartbeat and its report', () => {
    const { hub, res, client } = start();
    try {
      for (let i = 0; i < 4; i++) {
        vi.advanceTimersByTime(5000);
        if (i === 1) vi.setSystemTime(Date.now() + HOUR);
        vi.advanceTimersByTime(200); // the page reports what it received
        expect(hub.seen(client.token, res.beats.at(-1)!)).toBe(true);
      }
      expect(res.destroyed).toBe(false);
      // And a page that falls behind after the step is still judged: from here it reports, at each heartbeat, the
      // one of 20 s before (nothing newer than the last it reported), and is closed once that is more than 20 s old.
      let beats = 0;
      while (!res.destroyed && beats < 10) {
        vi.advanceTimersByTime(5000);
        beats++;
        if (!res.destroyed) expect(hub.seen(client.token, res.beats.at(-5)!)).toBe(true);
      }
      expect(beats).toBe(5); // closed at the 5th heartbeat: 25 s after the last beat it had received
      expect(res.destroyed).toBe(true);
    } finally {
      hub.close();
    }
  });

  it('a page that never reports is closed maxLagMs after it opened, though the clock stepped back 1 h', () => {
    const { hub, res } = start();
    try {
      vi.setSystemTime(Date.now() - HOUR);
      vi.advanceTimersByTime(20_000);
      expect(res.destroyed).toBe(false);
      vi.advanceTimersByTime(5000);
      expect(res.destroyed).toBe(true);
    } finally {
      hub.close();
    }
  });
});
