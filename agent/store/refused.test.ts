// Messages the hub refuses are moved aside (table `refused`), kept across a restart, out of the queue, and can be put
// back (review rv87 M1): by hand with SQL, or requeueRefused() (the CLI's `--refused requeue`, agent/main.ts).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Outbox, RefusedReader } from './outbox.js';
import { tempDir } from '../../test/support/agent-process.js';

const wrap = (id: string, _s: string, entries: string[]) => JSON.stringify({ messageId: id }).slice(0, -1) + `,"records":[${entries.join(',')}]}`;

describe('Outbox.setAside', () => {
  it('moves an unacknowledged message to `refused`, kept across a restart, and the next message comes up', () => {
    const path = join(tempDir(), 'agent.db');
    let box = new Outbox(path);
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: '{"a":1}' }]);
    const m = box.pack('alarms', 4096, wrap)!;
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: '{"a":2}' }]);
    const next = box.pack('alarms', 4096, wrap)!;
    box.recordAttempt(m.id);
    box.recordAttempt(m.id);
    expect(box.setAside(m.id, 'Connection closed', 1000)).toEqual({ stream: 'alarms', count: 1, attempts: 3 });
    expect(box.setAside(m.id, 'again', 1000)).toBeNull();
    expect(box.nextMessage()?.id).toBe(next.id);
    expect(box.unackedMessages()).toEqual({ alarms: 1, telemetry: 0 });
    box.close();
    box = new Outbox(path);
    expect(box.refusedMessages()).toEqual({ messages: 1, records: 1 });
    expect(box.refusedList()).toEqual([{ id: m.id, stream: 'alarms', count: 1, attempts: 3, createdAt: m.createdAt, refusedAt: 1000, lastError: 'Connection closed', bytes: Buffer.byteLength(m.body) }]);
    expect(box.enforceLimits(1e12, 1e13).refused).toEqual({ messages: 1, records: 1 }); // set aside at 1000: within a max age of 1e13 ms
    box.close();
    // The query README gave before the CLI's `--refused` (still sound, agent stopped): back in the queue with the same id and body.
    const db = new Database(path);
    db.exec(`BEGIN;
INSERT INTO messages (id, stream, first_seq, last_seq, count, created_at, bytes, replay_of, body)
  SELECT id, stream, first_seq, last_seq, count, created_at, bytes, replay_of, body FROM refused;
DELETE FROM refused;
COMMIT;`);
    db.close();
    box = new Outbox(path);
    expect(box.refusedMessages()).toEqual({ messages: 0, records: 0 });
    expect(box.nextMessage()).toMatchObject({ id: m.id, body: m.body, attempts: 0 });
    box.close();
  });

  it('oldestPendingAt: the oldest unsent record or unacknowledged message (not a replay copy)', () => {
    const box = new Outbox(':memory:', { retainAckedMs: 3600_000 });
    expect(box.oldestPendingAt()).toBeNull();
    box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"i":1}' }], 5000);
    expect(box.oldestPendingAt()).toBe(5000);
    const m = box.pack('telemetry', 4096, wrap, 7000)!;
    expect(box.pending('telemetry').records).toBe(0);
    expect(box.oldestPendingAt()).toBe(7000); // packed when it was: records do not keep their own time in a message
    box.acknowledge(m.id);
    expect(box.oldestPendingAt()).toBeNull();
    box.replay(0, Date.now() + 1000);
    expect(box.unackedMessages().telemetry).toBe(1);
    expect(box.oldestPendingAt()).toBeNull();
    box.close();
  });
});

describe('Outbox: the messages set aside, sent again or given up (the CLI `--refused`, agent/main.ts)', () => {
  /** A store at `path` with three messages set aside (alarms a1, telemetry t1 and t2) and one message still queued. */
  function withRefused(path: string) {
    const box = new Outbox(path);
    const ids: string[] = [];
    for (const [stream, body] of [['alarms', '{"a":1}'], ['telemetry', '{"t":1}'], ['telemetry', '{"t":2}']] as const) {
      box.append([{ stream, cls: stream === 'alarms' ? 0 : 1, deviceId: 'd', body }, { stream, cls: stream === 'alarms' ? 0 : 1, deviceId: 'd', body }]);
      const m = box.pack(stream, 4096, wrap)!;
      box.setAside(m.id, `refused ${m.id}`, 1000 + ids.length);
      ids.push(m.id);
    }
    box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"ok":1}' }]);
    const queued = box.pack('telemetry', 4096, wrap)!;
    return { box, ids, queued };
  }

  it('requeueRefused(id) puts that one back with its id and body, attempts from 0; the others stay set aside', () => {
    const path = join(tempDir(), 'agent.db');
    const { box, ids, queued } = withRefused(path);
    const bodyOf = new Map(ids.map((id) => [id, box.refusedBody(id)]));
    expect(bodyOf.get(ids[0]!)).toContain(ids[0]!);
    expect(box.requeueRefused(ids[0])).toEqual({ messages: 1, records: 2 });
    expect(box.refusedList().map((r) => r.id)).toEqual([ids[1], ids[2]]);
    expect(box.nextMessage()).toMatchObject({ id: ids[0], body: bodyOf.get(ids[0]!), attempts: 0, stream: 'alarms' });
    expect(box.requeueRefused('no-such-id')).toEqual({ messages: 0, records: 0 });
    box.close();
    // All the others, kept across a restart: back in the queue in their order, before the message packed after them.
    const again = new Outbox(path);
    expect(again.requeueRefused()).toEqual({ messages: 2, records: 4 });
    expect(again.refusedMessages()).toEqual({ messages: 0, records: 0 });
    const order: string[] = [];
    for (let m = again.nextMessage(); m; m = again.nextMessage(order)) order.push(m.id);
    expect(order).toEqual([ids[0], ids[1], ids[2], queued.id]);
    expect(again.nextMessage([ids[0]!])).toMatchObject({ id: ids[1], body: bodyOf.get(ids[1]!) });
    again.close();
  });

  it('requeueRefused moves all of them in one transaction: one that cannot go back leaves every one set aside', () => {
    const path = join(tempDir(), 'agent.db');
    const { box, ids } = withRefused(path);
    // A message of that id already queued (not what the agent does; a hand-made copy): the INSERT fails.
    const db = new Database(path);
    db.prepare("INSERT INTO messages (id, stream, first_seq, last_seq, count, created_at, bytes, body) VALUES (?, 'telemetry', 0, 0, 1, 0, 2, '{}')").run(ids[2]);
    db.close();
    expect(() => box.requeueRefused()).toThrow(/UNIQUE/);
    expect(box.refusedList().map((r) => r.id)).toEqual(ids);
    box.close();
  });

  it('dropRefused(id) and dropRefused() give them up, saying how many; refusedBody of one not kept is null', () => {
    const path = join(tempDir(), 'agent.db');
    const { box, ids, queued } = withRefused(path);
    expect(box.dropRefused(ids[1])).toEqual({ messages: 1, records: 2 });
    expect(box.refusedBody(ids[1]!)).toBeNull();
    expect(box.dropRefused('no-such-id')).toEqual({ messages: 0, records: 0 });
    expect(box.dropRefused()).toEqual({ messages: 2, records: 4 });
    expect(box.refusedMessages()).toEqual({ messages: 0, records: 0 });
    expect(box.nextMessage()?.id).toBe(queued.id); // the queue is untouched
    box.close();
  });

  it('on a store that never set one aside (no table `refused`): nothing to list, send or drop, and no table is made', () => {
    const path = join(tempDir(), 'agent.db');
    const box = new Outbox(path);
    expect(box.requeueRefused()).toEqual({ messages: 0, records: 0 });
    expect(box.dropRefused()).toEqual({ messages: 0, records: 0 });
    expect(box.refusedBody('x')).toBeNull();
    box.close();
    const view = RefusedReader.open(path)!;
    expect(view.list()).toEqual([]);
    expect(view.body('x')).toBeNull();
    view.close();
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'refused'").get()).toBeUndefined();
    db.close();
  });

  it('RefusedReader lists them and gives a body read-only, without the lock: while the agent holds the store too', () => {
    const path = join(tempDir(), 'agent.db');
    const { box, ids } = withRefused(path);
    const view = RefusedReader.open(path)!;
    expect(view.list()).toEqual(box.refusedList());
    expect(view.body(ids[0]!)).toBe(box.refusedBody(ids[0]!));
    expect(view.body('no-such-id')).toBeNull();
    view.close();
    box.close();
    // Stopped cleanly (no -wal or -shm beside it) it reads the same, and writes nothing.
    const again = RefusedReader.open(path)!;
    expect(again.list().map((r) => r.id)).toEqual(ids);
    again.close();
    expect(RefusedReader.open(join(tempDir(), 'missing.db'))).toBeNull();
  });
});

describe('the `refused` table is kept within the store limits (review rv92 H2)', () => {
  const DAY = 24 * 3600_000;
  function setAsideAt(box: Outbox, at: number, n: number, stream: 'alarms' | 'telemetry' = 'telemetry', pad = 20_000): string[] {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      box.append([{ stream, cls: stream === 'alarms' ? 0 : 1, deviceId: 'd', body: JSON.stringify({ i, pad: 'x'.repeat(pad) }) }], at);
      const m = box.pack(stream, 65536, wrap, at)!;
      box.setAside(m.id, 'MessageTooLargeError: too large', at + i);
      ids.push(m.id);
    }
    return ids;
  }

  it('over capacity, messages set aside go oldest first, before any unsent record, and are reported as a loss until settled', () => {
    const path = join(tempDir(), 'agent.db');
    let box = new Outbox(path, { freeDiskBytes: () => 1e12 });
    const old = Date.now() - DAY;
    const ids = setAsideAt(box, old, 40);
    for (let i = 0; i < 20; i++) box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ alarm: i, pad: 'y'.repeat(2000) }) }]);
    for (let i = 0; i < 40; i++) box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ n: i, pad: 'z'.repeat(2000) }) }]);
    const r = box.enforceLimits(600_000, 7 * DAY);
    expect(r.evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
    expect(box.pending('alarms').records).toBe(20);
    expect(box.pending('telemetry').records).toBe(40);
    expect(r.fraction).toBeLessThan(1);
    const kept = box.refusedList().map((m) => m.id);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(40);
    expect(kept).toEqual(ids.slice(40 - kept.length)); // the newest kept
    expect(r.refusedTrimmed).toEqual({ messages: 40 - kept.length, records: 40 - kept.length, alarmRecords: 0 });
    expect(r.refused).toEqual({ messages: kept.length, records: kept.length });
    box.close();
    // Not settled: reported again after a restart.
    box = new Outbox(path, { freeDiskBytes: () => 1e12 });
    expect(box.enforceLimits(600_000, 7 * DAY).refusedTrimmed).toEqual({ messages: 40 - kept.length, records: 40 - kept.length, alarmRecords: 0 });
    box.settleRefusedTrimmed({ key: 'store-refused-trimmed', loss: { text: 'x', priority: 'medium', at: 1 } });
    expect(box.enforceLimits(600_000, 7 * DAY).refusedTrimmed).toEqual({ messages: 0, records: 0, alarmRecords: 0 });
    expect(box.unacknowledgedLosses().has('store-refused-trimmed')).toBe(true);
    box.close();
  });

  it('store.maxAgeHours applies: a message set aside longer ago than that goes (alarms too), and is reported', () => {
    const box = new Outbox(':memory:');
    setAsideAt(box, Date.now() - 10 * DAY, 2, 'alarms', 10);
    const recent = setAsideAt(box, Date.now() - DAY, 1, 'telemetry', 10);
    const r = box.enforceLimits(1e12, 7 * DAY);
    expect(box.refusedList().map((m) => m.id)).toEqual(recent);
    expect(r.refusedTrimmed).toEqual({ messages: 2, records: 2, alarmRecords: 2 });
    box.close();
  });

  it('a forward step of the wall clock does not age out messages set aside in this run (review rv100 M1)', () => {
    const box = new Outbox(':memory:');
    const t0 = Date.now();
    const before = setAsideAt(box, t0, 1, 'alarms', 10);
    // NTP steps the clock 8 days ahead, moments later: set aside seconds ago, whatever the wall clock says now.
    const stepped = t0 + 8 * DAY;
    let r = box.enforceLimits(1e12, 7 * DAY, stepped);
    expect(r.refusedTrimmed).toEqual({ messages: 0, records: 0, alarmRecords: 0 });
    expect(box.refusedList().map((m) => m.id)).toEqual(before);
    // Set aside after the step, on the new clock: aged from there, like any other; so 8 more days on the new clock take
    // it (the monotonic clock has hardly moved), while the one set aside before the step is still within its age.
    const after = setAsideAt(box, stepped, 1, 'telemetry', 10);
    expect(box.enforceLimits(1e12, 7 * DAY, stepped).refused).toEqual({ messages: 2, records: 2 });
    r = box.enforceLimits(1e12, 7 * DAY, stepped + 8 * DAY);
    expect(r.refusedTrimmed).toEqual({ messages: 1, records: 1, alarmRecords: 0 });
    expect(box.refusedList().map((m) => m.id)).toEqual(before);
    expect(after).toHaveLength(1);
    box.close();
  });
});
