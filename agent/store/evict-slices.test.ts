// A store over its limits is evicted in bounded slices (fx205; reviews rv133, rv136): one enforceLimits() call, on the
// agent's only thread, evicted a day's backlog in seconds while HL7 ACKs, alarms and the display waited. Each call now
// evicts at most sliceRows rows and says `more`; the calls together evict what one unbounded call would, in its order.
import { copyFileSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Outbox, type OutboxRecord, type RecordClass } from './outbox.js';
import { tempDbs } from './test-support.js';

const tempDb = tempDbs('evict-slices-');

const dbOf = (box: Outbox) => (box as unknown as { db: Database.Database }).db;
// A device per record: every record its own row, so that records evicted are rows evicted.
const rec = (cls: RecordClass, i: number, size: number): OutboxRecord => ({
  stream: cls === 0 ? 'alarms' : 'telemetry',
  cls,
  deviceId: `d${cls}-${i}`,
  body: JSON.stringify({ i, s: 'x'.repeat(size) }),
});
const T0 = 1_700_000_000_000;

/** A closed store of waveforms, numerics and alarms arriving interleaved, one a second; its path. */
function buildStore(waveforms: number, numerics: number, alarms: number, at = (s: number) => T0 + s * 1000): string {
  const path = tempDb();
  const box = new Outbox(path, { synchronous: 'normal', retainAckedMs: 0 });
  const n = Math.max(waveforms, numerics, alarms);
  for (let s = 0; s < n; s++) {
    const recs: OutboxRecord[] = [];
    if (s < waveforms) recs.push(rec(2, s, 1500));
    if (s < numerics) recs.push(rec(1, s, 800));
    if (s < alarms) recs.push(rec(0, s, 200));
    box.append(recs, at(s));
  }
  box.close();
  return path;
}

/** The same store in another folder (another file, byte for byte). */
function copyStore(path: string): string {
  const to = tempDb();
  copyFileSync(path, to);
  return to;
}

/** seq of the rows left, by class. */
function left(box: Outbox): Record<RecordClass, number[]> {
  const rows = dbOf(box).prepare<[], { seq: number; cls: RecordClass }>('SELECT seq, cls FROM outbox ORDER BY seq').all();
  return { 0: rows.filter((r) => r.cls === 0).map((r) => r.seq), 1: rows.filter((r) => r.cls === 1).map((r) => r.seq), 2: rows.filter((r) => r.cls === 2).map((r) => r.seq) };
}
const rowCount = (box: Outbox) => dbOf(box).prepare<[], { n: number }>('SELECT count(*) AS n FROM outbox').get()!.n;
const sum = (a: Record<RecordClass, number>, b: Record<RecordClass, number>): Record<RecordClass, number> => ({ 0: a[0] + b[0], 1: a[1] + b[1], 2: a[2] + b[2] });

describe('eviction in slices', () => {
  it('brings a store well over its capacity under it in several calls of at most sliceRows rows each, evicting what one unbounded call evicts, in its order', () => {
    const path = buildStore(300, 1000, 100);
    const samePath = copyStore(path);

    // One unbounded call: the reference.
    const whole = new Outbox(path, { synchronous: 'normal', retainAckedMs: 0 });
    whole.sliceRows = Infinity;
    const usedBefore = whole.usedBytes();
    const maxBytes = Math.floor(usedBefore * 0.5);
    const before = left(whole);
    const one = whole.enforceLimits(maxBytes, 1e12, T0 + 2000_000);
    expect(one.more).toBe(false);
    expect(one.evictedFor).toBe('capacity');
    // Every waveform and some numerics, no alarm: the slices below cross from one class to the next.
    expect(one.evicted[2]).toBe(300);
    expect(one.evicted[1]).toBeGreaterThan(100);
    expect(one.evicted[0]).toBe(0);

    const sliced = new Outbox(samePath, { synchronous: 'normal', retainAckedMs: 0 });
    sliced.sliceRows = 50;
    expect(sliced.usedBytes()).toBe(usedBefore);
    expect(left(sliced)).toEqual(before);
    let total: Record<RecordClass, number> = { 0: 0, 1: 0, 2: 0 };
    const mores: boolean[] = [];
    for (let i = 0; i < 100; i++) {
      const rows = rowCount(sliced);
      const r = sliced.enforceLimits(maxBytes, 1e12, T0 + 2000_000);
      const removed = rows - rowCount(sliced);
      // Bounded: no call evicts more than its slice, and what it says it evicted is what went.
      expect(removed).toBeLessThanOrEqual(50);
      expect(r.evicted[0] + r.evicted[1] + r.evicted[2]).toBe(removed);
      total = sum(total, r.evicted);
      // The tally of unreported evictions adds each slice's (one report at the end covers them all).
      expect(r.unreported?.capacity).toEqual(total);
      // In order after every slice: the oldest of a class first, and numerics only once every waveform went.
      const now = left(sliced);
      for (const c of [0, 1, 2] as const) expect(now[c]).toEqual(before[c].slice(before[c].length - now[c].length));
      if (total[1] > 0) expect(now[2]).toEqual([]);
      mores.push(r.more);
      if (!r.more) break;
    }
    expect(mores.length).toBeGreaterThan(5);
    expect(mores.slice(0, -1).every((m) => m)).toBe(true);
    expect(mores.at(-1)).toBe(false);
    // Together, what the one call evicted: the same rows, the same tally, the same usage.
    expect(total).toEqual(one.evicted);
    expect(left(sliced)).toEqual(left(whole));
    expect(sliced.unreportedEvictions()).toMatchObject({ capacity: one.unreported!.capacity, age: one.unreported!.age, disk: false });
    expect(sliced.usedBytes()).toBe(whole.usedBytes());
    expect(sliced.usedBytes()).toBeLessThanOrEqual(maxBytes);
    // Done: the next check evicts nothing and has nothing pending.
    expect(sliced.enforceLimits(maxBytes, 1e12, T0 + 2000_000)).toMatchObject({ evicted: { 0: 0, 1: 0, 2: 0 }, more: false });
    whole.close();
    sliced.close();
  });

  it('evicts by age in slices too: the same records as one call, oldest first', () => {
    // 500 numerics and 500 waveforms of an hour ago, then 100 of each of now: the old ones are past a 30 min age.
    const at = (s: number) => (s < 500 ? T0 + s * 1000 : T0 + 3600_000 + s * 1000);
    const path = buildStore(600, 600, 50, at);
    const samePath = copyStore(path);
    const now = T0 + 3600_000 + 600_000;
    const whole = new Outbox(path, { synchronous: 'normal', retainAckedMs: 0 });
    whole.sliceRows = Infinity;
    const one = whole.enforceLimits(1e12, 1800_000, now);
    expect(one).toMatchObject({ evictedFor: 'age', evicted: { 0: 0, 1: 500, 2: 500 }, more: false });

    const sliced = new Outbox(samePath, { synchronous: 'normal', retainAckedMs: 0 });
    sliced.sliceRows = 70;
    let total: Record<RecordClass, number> = { 0: 0, 1: 0, 2: 0 };
    let calls = 0;
    for (let more = true; more && calls < 100; calls++) {
      const rows = rowCount(sliced);
      const r = sliced.enforceLimits(1e12, 1800_000, now);
      expect(rows - rowCount(sliced)).toBeLessThanOrEqual(70);
      total = sum(total, r.evicted);
      more = r.more;
    }
    expect(calls).toBeGreaterThanOrEqual(1000 / 70);
    expect(total).toEqual(one.evicted);
    expect(left(sliced)).toEqual(left(whole));
    expect(sliced.unreportedEvictions()).toMatchObject({ age: { 0: 0, 1: 500, 2: 500 } });
    whole.close();
    sliced.close();
  });

  it('commits each slice with its tally: killed between slices, the store is whole; and appends are taken between slices', () => {
    const path = buildStore(300, 1000, 100);
    const box = new Outbox(path, { synchronous: 'normal', retainAckedMs: 0 });
    box.sliceRows = 50;
    const records = box.pending('telemetry').records + box.pending('alarms').records;
    const maxBytes = Math.floor(box.usedBytes() * 0.5);
    expect(box.enforceLimits(maxBytes, 1e12, T0 + 2000_000).more).toBe(true);
    // A record accepted while the eviction goes on: stored, and not evicted (the newest).
    box.append([rec(1, 99_999, 800)], T0 + 2000_000);
    expect(box.pending('telemetry').records).toBe(records - 100 - 50 + 1);
    expect(box.enforceLimits(maxBytes, 1e12, T0 + 2000_000).more).toBe(true);
    // kill -9 now: the files as they are (the WAL holds what was committed).
    const crashed = tempDb();
    copyFileSync(path, crashed);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${crashed}-wal`);
    const again = new Outbox(crashed, { synchronous: 'normal', retainAckedMs: 0 });
    const tally = again.unreportedEvictions()!;
    expect(tally.capacity).toEqual({ 0: 0, 1: 0, 2: 100 });
    // Every record is either still in the store or in the tally of evictions to report.
    expect(again.pending('telemetry').records + again.pending('alarms').records + tally.capacity[0] + tally.capacity[1] + tally.capacity[2]).toBe(records + 1);
    expect(left(again)).toEqual(left(box));
    again.close();
    // The running store finishes its eviction; the record taken between slices is still there.
    let r = box.enforceLimits(maxBytes, 1e12, T0 + 2000_000);
    for (let i = 0; r.more && i < 100; i++) r = box.enforceLimits(maxBytes, 1e12, T0 + 2000_000);
    expect(r.more).toBe(false);
    expect(box.usedBytes()).toBeLessThanOrEqual(maxBytes);
    expect(dbOf(box).prepare<[string], { n: number }>('SELECT count(*) AS n FROM outbox WHERE device_id = ?').get('d1-99999')!.n).toBe(1);
    box.close();
  });
});

// Review rv138 H1: records that arrive or are acknowledged between slices. A run that went on at its saved class step
// evicted alarm records for room that newer waveforms took, and unsent records while sent replay copies were kept.
describe('eviction in slices with records arriving between them', () => {
  const classCounts = (box: Outbox): Record<RecordClass, number> => {
    const o: Record<RecordClass, number> = { 0: 0, 1: 0, 2: 0 };
    for (const r of dbOf(box).prepare<[], { cls: RecordClass; n: number }>('SELECT cls, count(*) AS n FROM outbox GROUP BY cls').all()) o[r.cls] = r.n;
    return o;
  };
  /** A store of 300 waveforms, 200 numerics and 1500 alarm records over 55 % maxBytes, evicted in slices of 20 rows. */
  function inversion(appendMidRun: boolean, path: string) {
    const box = new Outbox(path, { synchronous: 'normal', retainAckedMs: 0 });
    box.sliceRows = 20;
    const maxBytes = Math.floor(box.usedBytes() * 0.55);
    let total: Record<RecordClass, number> = { 0: 0, 1: 0, 2: 0 };
    let appended = false;
    let alarmsWithWaveforms = 0;
    let r = box.enforceLimits(maxBytes, 1e12, T0 + 2000_000);
    for (let i = 0; i < 1000; i++) {
      total = sum(total, r.evicted);
      // A slice that evicted alarm records left no waveform: the walk is in priority order within it.
      if (r.evicted[0] > 0 && classCounts(box)[2] > 0) alarmsWithWaveforms += r.evicted[0];
      // Once the run is into the alarms, 150 new waveforms arrive between two slices (ingest goes on).
      if (appendMidRun && !appended && total[0] > 0 && r.more) {
        appended = true;
        box.append(Array.from({ length: 150 }, (_, k) => rec(2, 10_000 + k, 1500)), T0 + 2000_000);
      }
      if (!r.more) break;
      r = box.enforceLimits(maxBytes, 1e12, T0 + 2000_000);
    }
    expect(r.more).toBe(false);
    expect(appended).toBe(appendMidRun);
    const after = { total, left: classCounts(box), used: box.usedBytes(), maxBytes, alarmsWithWaveforms };
    box.close();
    return after;
  }

  it('evicts waveforms appended between slices before any further alarm record, and no more alarm records than without them', () => {
    const path = buildStore(300, 200, 0);
    // 1500 alarm records of 600 bytes after the telemetry: the run reaches them.
    {
      const box = new Outbox(path, { synchronous: 'normal', retainAckedMs: 0 });
      for (let s = 0; s < 1500; s++) box.append([rec(0, s, 600)], T0 + (300 + s) * 1000);
      box.close();
    }
    const samePath = copyStore(path);
    const reference = inversion(false, path);
    expect(reference.total[0]).toBeGreaterThan(0);
    expect(reference.left[2]).toBe(0);
    const withAppends = inversion(true, samePath);
    // No alarm record went while a waveform was in the store; the waveforms that came went first.
    expect(withAppends.alarmsWithWaveforms).toBe(0);
    expect(withAppends.left[2]).toBe(0);
    expect(withAppends.total[2]).toBe(450);
    expect(withAppends.total[0]).toBeLessThanOrEqual(reference.total[0]);
    expect(withAppends.used).toBeLessThanOrEqual(withAppends.maxBytes);
  });

  it('trims messages acknowledged between slices (kept for replay) before any further unsent record', () => {
    const path = tempDb();
    const now = Date.now();
    const box = new Outbox(path, { synchronous: 'normal', retainAckedMs: 24 * 3600_000 });
    for (let s = 0; s < 1200; s++) box.append([rec(2, s, 1500), rec(1, s, 800)], now - 3600_000 + s * 1000);
    box.sliceRows = 20;
    const maxBytes = Math.floor(box.usedBytes() * 0.6);
    const acked = () => dbOf(box).prepare<[], { n: number }>('SELECT count(*) AS n FROM messages WHERE acked_at IS NOT NULL').get()!.n;
    for (let i = 0; i < 3; i++) expect(box.enforceLimits(maxBytes, 1e12, now).more).toBe(true);
    // Between slices: the hub is back, 40 messages sent and acknowledged (kept for replay), and ingest goes on.
    for (let k = 0; k < 40; k++) {
      const m = box.pack('telemetry', 16_000, (id, _s, e) => JSON.stringify({ id, e }));
      if (m) box.acknowledge(m.id);
    }
    box.append(Array.from({ length: 200 }, (_, k) => rec(2, 50_000 + k, 1500)), now);
    expect(acked()).toBe(40);
    // The next slice trims sent messages first: the policy keeps unsent data over replay copies.
    const next = box.enforceLimits(maxBytes, 1e12, now);
    expect(next.trimmedAckedForCapacity).toBeGreaterThan(0);
    expect(acked()).toBeLessThan(40);
    let r = next;
    for (let i = 0; r.more && i < 1000; i++) r = box.enforceLimits(maxBytes, 1e12, now);
    expect(r.more).toBe(false);
    expect(box.usedBytes()).toBeLessThanOrEqual(maxBytes);
    box.close();
  });
});

describe('eviction in slices after usage fell between them', () => {
  // Review rv140 M1: a pass cut at its slice was taken up whole at the next call even when that call's age eviction had
  // already freed the room, so unsent waveforms the store no longer needed to lose were evicted.
  function build(): string {
    const path = tempDb();
    const box = new Outbox(path, { synchronous: 'normal', retainAckedMs: 0 });
    // 150 old numerics (t = 0..149 s), then 600 waveforms and 150 more numerics from t = 1000 s.
    for (let s = 0; s < 150; s++) box.append([rec(1, s, 800)], T0 + s * 1000);
    for (let s = 0; s < 600; s++) box.append(s < 150 ? [rec(2, s, 1500), rec(1, 1000 + s, 800)] : [rec(2, s, 1500)], T0 + (1000 + s) * 1000);
    box.close();
    return path;
  }
  const rows = (b: Outbox) => dbOf(b).prepare<[], { n: number }>('SELECT count(*) AS n FROM outbox').get()!.n;

  it('a pass cut at its slice is not taken up past the room still wanted: an age eviction in the next call counts', () => {
    const a = build();
    const b = tempDb();
    const opts = { synchronous: 'normal', retainAckedMs: 0 } as const;
    const sliced = new Outbox(a, opts);
    const maxBytes = Math.floor(sliced.usedBytes() * 0.6);
    sliced.sliceRows = 200;
    const now = T0 + 2_000_000;
    const first = sliced.enforceLimits(maxBytes, 1e12, now);
    expect(first.more).toBe(true); // cut in the waveforms' pass
    // The same state, checked afresh in one call (a copy forgets the run, which is kept in memory only).
    dbOf(sliced).pragma('wal_checkpoint(TRUNCATE)');
    copyFileSync(a, b);
    const fresh = new Outbox(b, opts);
    fresh.sliceRows = Infinity;
    // Now the 150 old numerics are past the age limit: the next check ages them out first.
    const maxAgeMs = 1_500_000;
    const one = fresh.enforceLimits(maxBytes, maxAgeMs, now);
    expect(one.more).toBe(false);
    for (let calls = 0, more = true; more; calls++) {
      expect(calls).toBeLessThan(50);
      more = sliced.enforceLimits(maxBytes, maxAgeMs, now).more;
    }
    // No more lost than the one check loses: the same rows kept, at the same usage.
    expect(rows(sliced)).toBe(rows(fresh));
    expect(sliced.usedBytes()).toBe(fresh.usedBytes());
    sliced.close();
    fresh.close();
  });
});
