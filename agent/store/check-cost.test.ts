// The 10 s store check (enforceLimits) must cost what it removes, not what the store holds (review rv133 H1, M1): it
// runs on the agent's only thread, and a day of backlog or of sent messages kept for replay froze alarms for seconds.
// These tests read the statements the check runs (their query plans), and the figures it keeps instead of summing.
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Outbox, type OutboxRecord, type RecordClass, type Stream } from './outbox.js';
import { envelope } from '../forward/wire.js';
import { tempDbs } from './test-support.js';

const tempDb = tempDbs('check-cost-');

/** Statements run while `recording` is set, with their arguments (every statement prepared while installed). */
const ran: { sql: string; args: unknown[] }[] = [];
let recording = false;
const realPrepare = Database.prototype.prepare;
function installSpy(): void {
  Database.prototype.prepare = function (this: Database.Database, sql: string) {
    const st = realPrepare.call(this, sql) as Database.Statement;
    for (const m of ['run', 'get', 'all', 'iterate'] as const) {
      const f = (st[m] as (...a: unknown[]) => unknown).bind(st);
      (st as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
        if (recording) ran.push({ sql, args: a });
        return f(...a);
      };
    }
    return st;
  } as typeof realPrepare;
}

afterEach(() => {
  Database.prototype.prepare = realPrepare;
  recording = false;
  ran.length = 0;
});

const dbOf = (box: Outbox) => (box as unknown as { db: Database.Database }).db;
const wrap = envelope('gw');
const DAY = 24 * 3600_000;
const rec = (stream: Stream, cls: RecordClass, i: number, size = 300): OutboxRecord => ({
  stream,
  cls,
  deviceId: `d${i % 3}`,
  body: JSON.stringify({ i, s: 'x'.repeat(size) }),
});

/**
 * Query-plan lines of `sql` that read a whole outbox or messages table: a SCAN, a rowid range from the table's start
 * (the age eviction's DELETE visited every pending row that way), every row of a stream (by its index, with no seq
 * bound), or the acknowledged messages by acked_at with no upper bound (every message kept for replay).
 */
function wholeTableReads(db: Database.Database, sql: string, args: unknown[]): string[] {
  const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[];
  return plan
    .map((p) => p.detail)
    .filter((d) => /\b(outbox_\d|outbox|messages)\b/.test(d) && !/sqlite_autoindex_messages_1 \(id=\?\)/.test(d))
        // (A stream's first row by its index, ORDER BY seq LIMIT 1, reads one entry.)
    .filter((d) => /^SCAN /.test(d) || /rowid<\?/.test(d) || (/\(stream=\?\)$/.test(d) && !/ORDER BY seq LIMIT 1$/.test(sql.trim())) || /\(acked_at>\?\)/.test(d));
}

describe('the store check with nothing to evict', () => {
  it('reads no outbox or messages table whole: a backlog, sent messages kept for replay and replay copies (rv133 H1, M1)', () => {
    installSpy();
    const path = tempDb();
    const box = new Outbox(path, { retainAckedMs: DAY, synchronous: 'normal' });
    const t0 = Date.now() - 3 * 3600_000;
    // Sent messages kept for replay (some replayed: copies sent, one not yet), then a backlog of every class.
    for (let i = 0; i < 300; i++) {
      box.append([rec('telemetry', 1, i), rec('alarms', 0, i)], t0 + i * 1000);
      for (const s of ['alarms', 'telemetry'] as const) box.acknowledge(box.pack(s, 65536, wrap, t0 + i * 1000)!.id, t0 + i * 1000 + 100);
    }
    box.replay(t0, t0 + 50_000);
    for (let m = box.nextMessage(); m && m.replayOf; m = box.nextMessage()) box.acknowledge(m.id, t0 + 400_000);
    for (let i = 0; i < 400; i++) box.append([rec('telemetry', 1, i), rec('telemetry', 2, i), rec('alarms', 0, i)], t0 + 500_000 + i * 1000);
    box.pack('telemetry', 8192, wrap, t0 + 900_000);
    // The first check after open reads what it keeps from then on (ackedBytes); the ones after it are measured.
    const first = box.enforceLimits(1e12, 7 * DAY);
    expect(first.retainedBytes).toBeGreaterThan(0);
    recording = true;
    const r = box.enforceLimits(1e12, 7 * DAY);
    recording = false;
    expect(r).toMatchObject({ evictedFor: null, trimmedAcked: 0 });
    const touching = ran.filter((s) => /\b(outbox_\d|outbox|messages)\b/.test(s.sql));
    // The spy saw the check's statements on both kinds of table.
    expect(touching.some((s) => /outbox_1/.test(s.sql))).toBe(true);
    expect(touching.some((s) => /messages/.test(s.sql))).toBe(true);
    const db = dbOf(box);
    const whole = touching.map((s) => ({ sql: s.sql.replace(/\s+/g, ' '), reads: wholeTableReads(db, s.sql, s.args) })).filter((s) => s.reads.length > 0);
    expect(whole).toEqual([]);
    box.close();
  });

  it('still ages out rows stored out of order: a clock stepped back, or this run before a forward step (rv133 H1)', () => {
    const box = new Outbox(tempDb());
    const base = Date.now() - 30 * DAY;
    // Stored in seq order at 10 d, then 1 d (a clock stepped back 9 days), then 20 d.
    box.append([rec('telemetry', 1, 1)], base + 10 * DAY);
    box.append([rec('telemetry', 1, 2)], base + 1 * DAY);
    box.append([rec('telemetry', 1, 3)], base + 20 * DAY);
    // Past 7 days at base + 9 d: only the second row.
    expect(box.enforceLimits(1e12, 7 * DAY, base + 9 * DAY).evicted).toEqual({ 0: 0, 1: 1, 2: 0 });
    expect(box.pending('telemetry').records).toBe(2);
    expect(box.enforceLimits(1e12, 7 * DAY, base + 18 * DAY).evicted).toEqual({ 0: 0, 1: 1, 2: 0 });
    expect(box.enforceLimits(1e12, 7 * DAY, base + 26 * DAY).evicted).toEqual({ 0: 0, 1: 0, 2: 0 });
    expect(box.enforceLimits(1e12, 7 * DAY, base + 28 * DAY).evicted).toEqual({ 0: 0, 1: 1, 2: 0 });
    expect(box.pending('telemetry')).toEqual({ records: 0, bytes: 0, oldestAt: null });
    box.close();
  });
});

describe('the store check that evicts', () => {
  it('reads no table whole once it has deleted: the figures follow the rows deleted (rv133 H1)', () => {
    installSpy();
    const box = new Outbox(tempDb(), { synchronous: 'normal' });
    const t0 = Date.now() - 3600_000;
    for (let i = 0; i < 300; i++) box.append([rec('telemetry', 1, i, 1500), rec('telemetry', 2, i, 1500), rec('alarms', 0, i)], t0 + i * 1000);
    box.acknowledge(box.pack('telemetry', 8192, wrap, t0 + 400_000)!.id, t0 + 400_000);
    box.enforceLimits(1e12, 7 * DAY);
    const before = { telemetry: box.pending('telemetry'), alarms: box.pending('alarms') };
    recording = true;
    const r = box.enforceLimits(Math.floor(box.usedBytes() * 0.7), 7 * DAY);
    recording = false;
    expect(r.evictedFor).toBe('capacity');
    expect(r.evicted[2]).toBeGreaterThan(0);
    // From the first eviction on: only the bytes-to-delete walk (sum() OVER, stopping at the bytes wanted) and the
    // DELETEs (which visit the rows they delete) read rows; nothing sums a table or a stream again.
    const db = dbOf(box);
    const from = ran.findIndex((s) => /^DELETE FROM outbox_/.test(s.sql));
    expect(from).toBeGreaterThan(-1);
    const whole = ran
      .slice(from)
      .filter((s) => /\b(outbox_\d|outbox|messages)\b/.test(s.sql) && !/^DELETE /.test(s.sql) && !/OVER \(ORDER BY rowid\)/.test(s.sql))
      .map((s) => ({ sql: s.sql.replace(/\s+/g, ' '), reads: wholeTableReads(db, s.sql, s.args) }))
      .filter((s) => s.reads.length > 0);
    expect(whole).toEqual([]);
    // And the figures are those of the rows left.
    const left = db.prepare("SELECT coalesce(sum(count), 0) AS records, coalesce(sum(bytes), 0) AS bytes FROM outbox WHERE stream = 'telemetry'").get();
    expect(box.pending('telemetry')).toMatchObject(left as object);
    expect(box.pending('telemetry').records).toBe(before.telemetry.records - r.evicted[1] - r.evicted[2]);
    expect(box.pending('alarms')).toEqual(before.alarms);
    box.close();
  });
});

describe('the age eviction after a restart', () => {
  it('ages out an earlier run\'s rows stored out of order, and no others (rv133 H1)', () => {
    const path = tempDb();
    const base = Date.now() - 60 * DAY;
    const earlier = new Outbox(path);
    // In seq order: 10 d, 1 d (a clock stepped back 9 days), 20 d; and in the waveform table in order: 1 d, 2 d, 3 d.
    for (const d of [10, 1, 20]) earlier.append([rec('telemetry', 1, d)], base + d * DAY);
    for (const d of [1, 2, 3]) earlier.append([rec('telemetry', 2, d)], base + d * DAY);
    earlier.close();
    const box = new Outbox(path);
    // Past 7 days at 8.5 d: the 1 d row of each table only.
    expect(box.enforceLimits(1e12, 7 * DAY, base + 8.5 * DAY).evicted).toEqual({ 0: 0, 1: 1, 2: 1 });
    expect(box.enforceLimits(1e12, 7 * DAY, base + 9.5 * DAY).evicted).toEqual({ 0: 0, 1: 0, 2: 1 });
    expect(box.enforceLimits(1e12, 7 * DAY, base + 16 * DAY).evicted).toEqual({ 0: 0, 1: 0, 2: 1 });
    expect(box.enforceLimits(1e12, 7 * DAY, base + 17.5 * DAY).evicted).toEqual({ 0: 0, 1: 1, 2: 0 });
    expect(box.pending('telemetry').records).toBe(1);
    expect(box.enforceLimits(1e12, 7 * DAY, base + 27.5 * DAY).evicted).toEqual({ 0: 0, 1: 1, 2: 0 });
    expect(box.pending('telemetry')).toEqual({ records: 0, bytes: 0, oldestAt: null });
    box.close();
  });
});

/** Seeded PRNG (mulberry32): a failure is repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the figures the store keeps instead of summing at each check', () => {
  it('takes replay copies that outlive their originals off the bytes kept for replay (rv133 M1)', () => {
    const box = new Outbox(tempDb(), { retainAckedMs: 3600_000 });
    const t0 = Date.now() - 3 * 3600_000;
    for (let i = 0; i < 3; i++) {
      box.append([rec('telemetry', 1, i, 2000)], t0);
      box.acknowledge(box.pack('telemetry', 65536, wrap, t0)!.id, t0);
    }
    expect(box.replay(t0 - 1, t0 + 1).messages).toBe(3);
    for (let m = box.nextMessage(); m; m = box.nextMessage()) box.acknowledge(m.id, t0 + 50 * 60_000);
    const kept = () => (box as unknown as { ackedBytes: number | null }).ackedBytes;
    const fresh = () => (dbOf(box).prepare('SELECT coalesce(sum(bytes), 0) AS b FROM messages WHERE acked_at IS NOT NULL').get() as { b: number }).b;
    expect(box.enforceLimits(1e12, 7 * DAY, t0 + 55 * 60_000).trimmedAcked).toBe(0);
    expect(kept()).toBe(fresh());
    expect(kept()).toBeGreaterThan(12_000);
    // The originals leave the retention first; their copies (acknowledged later) go with them.
    const r = box.enforceLimits(1e12, 7 * DAY, t0 + 70 * 60_000);
    expect(r.trimmedAcked).toBe(6);
    expect(fresh()).toBe(0);
    expect(kept()).toBe(0);
    expect(r.retainedBytes).toBe(0);
    box.close();
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`equal a fresh sum after appends, packs, acknowledgements, replays, set-asides and checks that evict and trim (seed ${seed})`, () => {
      const rnd = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const path = tempDb();
      let box = new Outbox(path, { retainAckedMs: 600_000, synchronous: 'normal' });
      let db = dbOf(box);
      // A clock behind the wall clock (the store then ages every row by it), mostly forward, sometimes stepped back.
      const start = Date.now();
      let now = start - 400 * DAY;
      const agree = (step: string) => {
        for (const s of ['alarms', 'telemetry'] as const) {
          const fresh = db.prepare('SELECT coalesce(sum(count), 0) AS records, coalesce(sum(bytes), 0) AS bytes FROM outbox WHERE stream = ?').get(s) as { records: number; bytes: number };
          const p = box.pending(s);
          expect({ step, s, records: p.records, bytes: p.bytes }).toEqual({ step, s, ...fresh });
          // oldestAt: the stream's first unpacked row, by seq (the open reads the earliest time instead: they differ
          // only after a clock stepped back).
          const first = (db.prepare('SELECT created_at AS t FROM outbox WHERE stream = ? ORDER BY seq LIMIT 1').get(s) as { t: number } | undefined)?.t ?? null;
          const earliest = (db.prepare('SELECT min(created_at) AS t FROM outbox WHERE stream = ?').get(s) as { t: number | null }).t;
          expect({ step, s, oldestAt: [first, earliest].includes(p.oldestAt) ? 'first or earliest' : p.oldestAt }).toEqual({ step, s, oldestAt: 'first or earliest' });
        }
        const kept = (box as unknown as { ackedBytes: number | null }).ackedBytes;
        if (kept !== null) expect({ step, kept }).toEqual({ step, kept: (db.prepare('SELECT coalesce(sum(bytes), 0) AS b FROM messages WHERE acked_at IS NOT NULL').get() as { b: number }).b });
      };
      let capacity = 0;
      for (let k = 0; k < 250; k++) {
        const op = rnd();
        now = Math.min(start - DAY, now + (rnd() < 0.05 ? -Math.floor(rnd() * 2 * DAY) : Math.floor(rnd() * 24 * 3600_000)));
        let step: string;
        if (op < 0.03) {
          // A restart: the figures are read again (ackedBytes at the next check), the order of rows only bounded.
          box.close();
          box = new Outbox(path, { retainAckedMs: 600_000, synchronous: 'normal' });
          db = dbOf(box);
          step = 'restart';
        } else if (op < 0.4) {
          const n = 1 + Math.floor(rnd() * 8);
          box.append(Array.from({ length: n }, (_, i) => rec(pick(['alarms', 'telemetry'] as const), pick([0, 1, 2] as const), k * 10 + i, 50 + Math.floor(rnd() * 1500))), now);
          step = `append ${n}`;
        } else if (op < 0.52) {
          const m = box.pack(pick(['alarms', 'telemetry'] as const), 4096 + Math.floor(rnd() * 8192), wrap, now);
          if (m && rnd() < 0.8) box.acknowledge(m.id, now);
          step = 'pack';
        } else if (op < 0.59) {
          const m = box.nextMessage();
          if (m) box.acknowledge(m.id, now);
          step = 'acknowledge';
        } else if (op < 0.64) {
          try {
            box.replay(now - 2 * DAY, now);
          } catch {
            // an earlier replay unsent: refused, nothing copied
          }
          step = 'replay';
        } else if (op < 0.67) {
          const m = box.nextMessage();
          if (m) box.setAside(m.id, 'refused', now);
          step = 'set aside';
        } else {
          // Checks: by age (7 d), and sometimes with a capacity below what the store holds.
          const used = box.usedBytes();
          const maxBytes = rnd() < 0.15 ? Math.floor(used * (0.4 + rnd() * 0.5)) : 1e12;
          const r = box.enforceLimits(maxBytes, 7 * DAY, now);
          if (r.evictedFor === 'capacity' || r.trimmedAckedForCapacity > 0) capacity++;
          step = `check ${maxBytes}`;
          // Nothing past its age is left (the clock is behind the wall clock: every row is aged by it).
          const stale = db.prepare('SELECT count(*) AS n FROM outbox WHERE cls > 0 AND created_at < ?').get(now - 7 * DAY) as { n: number };
          expect({ step, stale: stale.n }).toEqual({ step, stale: 0 });
        }
        agree(`${k} ${step}`);
      }
      // The sequence did evict, for age and for room.
      const tally = box.unreportedEvictions();
      expect(tally!.age[1] + tally!.age[2]).toBeGreaterThan(0);
      expect(capacity).toBeGreaterThan(0);
      box.close();
    });
  }
});
