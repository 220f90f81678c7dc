// A damaged store file is moved aside (Outbox.open) and what can still be read of its unsent data is copied into the
// fresh store: unsent rows with their seqs, unacknowledged messages with their ids (review rv182 H2). The files here
// are damaged as a disk does it: a page overwritten, the file cut short, or not a database at all.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Outbox, type OutboxRecord, type Stream } from './outbox.js';
import { damagedStore, stopMidSalvage, tempDbs } from './test-support.js';
import type { SalvageEvent } from './salvage.js';

const tempDb = tempDbs('salvage-');

const NOW = Date.parse('2026-12-06T07:00:00Z');
const env = (id: string, stream: Stream, entries: string[]) => `{"id":"${id}","s":"${stream}","r":[${entries.join(',')}]}`;
const rec = (i: number, stream: Stream = 'telemetry'): OutboxRecord => ({ stream, cls: stream === 'alarms' ? 0 : 1, deviceId: 'mon-1', body: JSON.stringify({ i, pad: 'x'.repeat(40) }) });

interface Row {
  seq: number;
  stream: string;
  cls: number;
  device_id: string;
  created_at: number;
  bytes: number;
  body: string;
  count: number;
}

/** Every unsent row of a store file, read by a plain connection, in seq order. */
function rows(path: string): Row[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], Row>('SELECT seq, stream, cls, device_id, created_at, bytes, body, count FROM outbox ORDER BY seq').all();
  } finally {
    db.close();
  }
}

/**
 * A store of ~3000 telemetry rows (one record each), 20 alarm rows, three packed messages (the second acknowledged), as
 * the agent leaves it at a stop. Returns the unsent rows and the unacknowledged messages.
 */
function seed(path: string): { rows: Row[]; unacked: { id: string; body: string; count: number }[] } {
  const box = new Outbox(path, { rowMaxBytes: 0 });
  box.append(Array.from({ length: 200 }, (_, i) => rec(i)));
  const messages = [0, 1, 2].map(() => box.pack('telemetry', 4000, env, NOW)!);
  box.acknowledge(messages[1]!.id, NOW);
  for (let b = 0; b < 10; b++) box.append(Array.from({ length: 300 }, (_, i) => rec(1000 + b * 300 + i)));
  box.append(Array.from({ length: 20 }, (_, i) => rec(i, 'alarms')));
  box.close();
  return { rows: rows(path), unacked: [messages[0]!, messages[2]!].map((m) => ({ id: m.id, body: m.body, count: m.count })) };
}

/** Overwrites page `nth` (0-based, in page order) of the given kind of `name`'s b-tree with garbage; returns its cell count. */
function damagePage(path: string, name: string, kind: 'leaf' | 'internal', nth = 0): number {
  const db = new Database(path, { readonly: true });
  const pages = db.prepare<[string, string], { pageno: number; ncell: number }>('SELECT pageno, ncell FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno').all(name, kind);
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const page = pages[nth]!;
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(pageSize, 0xab), 0, pageSize, (page.pageno - 1) * pageSize);
  closeSync(fd);
  return page.ncell;
}

const records = (rs: readonly Row[]) => rs.reduce((n, r) => n + r.count, 0);

describe('salvage of a damaged store file (review rv182 H2)', () => {
  it('one damaged index page: every unsent row (same seqs, same order) and every unacknowledged message (same ids) is in the fresh store', () => {
    const path = tempDb();
    const before = seed(path);
    damagePage(path, 'outbox_1_stream_seq', 'leaf', 2);
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered).toMatchObject({
        movedTo: `${path}.corrupt-2026-12-06T07-00-00-000Z`,
        salvage: { records: records(before.rows) + before.unacked[0]!.count + before.unacked[1]!.count, messages: 2, failedRows: 0, unknown: false, error: null, skipped: [] },
      });
      const box = opened.outbox;
      expect(box.pending('telemetry').records).toBe(records(before.rows.filter((r) => r.stream === 'telemetry')));
      expect(box.pending('alarms').records).toBe(20);
      expect(rows(path)).toEqual(before.rows);
      // The messages keep their ids and bodies (consumers de-duplicate a resend by the id); the acknowledged one is not sent again.
      const first = box.nextMessage()!;
      expect({ id: first.id, body: first.body }).toEqual({ id: before.unacked[0]!.id, body: before.unacked[0]!.body });
      expect(box.nextMessage([first.id])).toMatchObject({ id: before.unacked[1]!.id, body: before.unacked[1]!.body });
      expect(box.nextMessage([first.id, before.unacked[1]!.id])).toBeNull();
      // Packing goes on where it stopped: the oldest unsent record first, in seq order, past the salvaged seqs.
      const next = box.pack('telemetry', 4000, env, NOW)!;
      expect(next.firstSeq).toBe(before.rows.find((r) => r.stream === 'telemetry')!.seq);
      box.append([rec(99_999)]);
      box.close();
      const after = rows(path);
      expect(after.at(-1)).toMatchObject({ body: rec(99_999).body });
      expect(after.at(-1)!.seq).toBeGreaterThan(before.rows.at(-1)!.seq);
    } finally {
      opened.outbox.close();
    }
    expect(rows(`${path}.corrupt-2026-12-06T07-00-00-000Z`)).toHaveLength(before.rows.length); // the moved file is left as it was
  });

  it('one damaged table page: the rows on it are counted as unreadable (from the index), the others are salvaged', () => {
    const path = tempDb();
    const before = seed(path);
    const lost = damagePage(path, 'outbox_1', 'leaf', 5);
    const opened = Outbox.open(path, {}, NOW);
    try {
      const salvaged = rows(path);
      expect(opened.recovered?.salvage).toMatchObject({ failedRows: lost, unknown: false, error: null, messages: 2 });
      expect(salvaged).toHaveLength(before.rows.length - lost);
      expect(opened.recovered!.salvage!.records).toBe(records(salvaged) + before.unacked[0]!.count + before.unacked[1]!.count);
      // What is there is as it was; what is missing is one run of seqs (the page's rows).
      const bySeq = new Map(before.rows.map((r) => [r.seq, r]));
      for (const r of salvaged) expect(r).toEqual(bySeq.get(r.seq));
      const kept = new Set(salvaged.map((r) => r.seq));
      const missing = before.rows.filter((r) => !kept.has(r.seq)).map((r) => r.seq);
      expect(missing).toHaveLength(lost);
      expect(missing.at(-1)! - missing[0]!).toBe(lost - 1);
      // ...and that run is the range listed for a salvage by hand.
      expect(opened.recovered!.salvage!.skipped).toEqual([{ table: 'outbox_1', from: missing[0], before: missing.at(-1)! + 1 }]);
    } finally {
      opened.outbox.close();
    }
  });

  it("a damaged interior page of a table: its whole table is unreadable, counted from its index; the other tables' rows are salvaged", () => {
    const path = tempDb();
    const before = seed(path);
    damagePage(path, 'outbox_1', 'internal');
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ failedRows: before.rows.filter((r) => r.cls === 1).length, unknown: false, messages: 2 });
      expect(opened.outbox.pending('telemetry').records).toBe(0);
      expect(opened.outbox.pending('alarms').records).toBe(20);
    } finally {
      opened.outbox.close();
    }
  });

  it('a row whose values are not what the store writes (damage SQLite does not see) is counted, not copied', () => {
    const path = tempDb();
    const before = seed(path);
    const db = new Database(path);
    db.prepare("INSERT INTO outbox_1 (stream, cls, device_id, created_at, bytes, body, count) VALUES ('telemetry', 9, 'mon-1', 1, 2, '{}', 1)").run();
    db.prepare("INSERT INTO outbox_1 (stream, cls, device_id, created_at, bytes, body, count) VALUES ('nonsense', 1, 'mon-1', 1, 2, '{}', 1)").run();
    db.close();
    damagePage(path, 'outbox_1_stream_seq', 'leaf', 0);
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ failedRows: 2, unknown: false });
      expect(rows(path)).toEqual(before.rows);
    } finally {
      opened.outbox.close();
    }
  });

  it('a file that is not a database at all: nothing salvaged, and the count of what could not be read is unknown', () => {
    const path = tempDb();
    seed(path);
    writeFileSync(path, 'this is not sqlite '.repeat(500));
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ records: 0, messages: 0, failedRows: 0, unknown: true });
      expect(opened.outbox.pending('telemetry').records).toBe(0);
    } finally {
      opened.outbox.close();
    }
  });

  it('a file cut short: the rows before the cut are salvaged, unchanged; what was past it is said unknown or counted', () => {
    const path = tempDb();
    const before = seed(path);
    truncateSync(path, Math.floor(readFileSync(path).length * 0.6));
    const opened = Outbox.open(path, {}, NOW);
    try {
      const salvage = opened.recovered!.salvage!;
      const salvaged = rows(path);
      expect(salvaged.length).toBeGreaterThan(0);
      expect(salvaged.length).toBeLessThan(before.rows.length);
      const bySeq = new Map(before.rows.map((r) => [r.seq, r]));
      for (const r of salvaged) expect(r).toEqual(bySeq.get(r.seq));
      expect(salvage.unknown || salvage.failedRows > 0).toBe(true);
      // The fresh store works.
      opened.outbox.append([rec(1)]);
    } finally {
      opened.outbox.close();
    }
  });

  it('a disk that fills during the copy: what was committed is in the fresh store and counted; the next start, with room, copies the rest (review rv186 H1, M2)', async () => {
    const { freeBytes, mountTmpfs, unmountTmpfs } = await import('../../test/support/tmpfs.js');
    const mnt = mountTmpfs(dirname(tempDb()), '128m'); // room for the whole copy at the next start
    let opened: ReturnType<typeof Outbox.open> | null = null;
    try {
      const path = join(mnt, 'agent.db');
      const box = new Outbox(path, { rowMaxBytes: 0 });
      const big = (i: number): OutboxRecord => ({ stream: 'telemetry', cls: 1, deviceId: 'mon-1', body: JSON.stringify({ i, pad: 'x'.repeat(2000) }) });
      for (let b = 0; b < 10; b++) box.append(Array.from({ length: 1000 }, (_, i) => big(b * 1000 + i)));
      box.close();
      damagePage(path, 'outbox_1_stream_seq', 'leaf', 2);
      // Room for a few MiB of the ~20 MiB backlog, no reserve file.
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(freeBytes(mnt) - 6 * 2 ** 20));
      opened = Outbox.open(path, {}, NOW);
      const salvage = opened.recovered!.salvage!;
      expect(salvage.error).toMatch(/SQLITE_FULL|full/);
      expect(salvage.records).toBeGreaterThan(0);
      expect(salvage.records).toBeLessThan(10_000);
      expect(opened.outbox.pending('telemetry').records).toBe(salvage.records);
      // The rest is left for the next start, not for a salvage by hand: no range listed (no table page is damaged).
      expect(salvage).toMatchObject({ unfinished: true, skipped: [] });
      // The agent goes on once the disk is freed; its new rows take seqs past every seq of the old file (review rv186 M2).
      rmSync(join(mnt, 'filler'));
      opened.outbox.append(Array.from({ length: 200 }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'mon-1', body: JSON.stringify({ NEW: i }) })));
      opened.outbox.close();
      opened = null;
      const db = new Database(path, { readonly: true });
      const fresh = db.prepare<[], { a: number }>("SELECT min(seq) AS a FROM outbox_1 WHERE body LIKE '%NEW%'").get()!.a;
      db.close();
      expect(fresh).toBeGreaterThan(10_000); // the old file's seqs: 1 to 10,000
      expect(fresh).toBe(salvage.nextSeq);
      // The next start copies the rest, from where the stop left it: every record there once.
      opened = Outbox.open(path, {}, NOW);
      expect(opened.recovered?.salvage).toMatchObject({ resumed: true, already: salvage.records, records: 10_000 - salvage.records, error: null, unfinished: false });
      const box2 = opened.outbox;
      expect(box2.pending('telemetry').records).toBe(10_200);
      // Packing sends them all, the old file's first, in their order.
      const firsts: number[] = [];
      let packed = 0;
      for (let m; (m = box2.pack('telemetry', 64_000, env, NOW)); ) {
        packed += m.count;
        firsts.push(m.firstSeq);
      }
      expect(packed).toBe(10_200);
      expect(box2.pending('telemetry').records).toBe(0);
      expect(firsts[0]).toBe(1);
      expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    } finally {
      opened?.outbox.close();
      unmountTmpfs(mnt);
    }
  }, 60_000);

  it("every unsent row already packed, a damaged page of messages_unacked: new rows take seqs past the old file's, so the salvaged messages are sent first (review rv186 M2)", () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    box.append(Array.from({ length: 3000 }, (_, i) => rec(i)));
    const old: string[] = [];
    for (let m; (m = box.pack('telemetry', 16_000, env, NOW)); ) old.push(m.id);
    box.close();
    expect(old.length).toBeGreaterThan(5);
    const db = new Database(path, { readonly: true });
    const leaf = db.prepare<[], { pageno: number }>("SELECT pageno FROM dbstat WHERE name = 'messages_unacked' AND pagetype = 'leaf' ORDER BY pageno").get();
    const root = db.prepare<[], { rootpage: number }>("SELECT rootpage FROM sqlite_master WHERE name = 'messages_unacked'").get()!;
    db.close();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, ((leaf?.pageno ?? root.rootpage) - 1) * 4096);
    closeSync(fd);
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ messages: old.length, records: 3000 });
      const o = opened.outbox;
      o.append([rec(99_999)]);
      const fresh = o.pack('telemetry', 16_000, env, NOW)!;
      const order: string[] = [];
      for (let m; (m = o.nextMessage(order)); ) order.push(m.id);
      expect(order).toEqual([...old, fresh.id]);
      expect(fresh.firstSeq).toBe(3001);
      expect(opened.recovered!.salvage!.nextSeq).toBe(3001);
    } finally {
      opened.outbox.close();
    }
  });

  it('idempotency keys are salvaged: a batch resent after the damage is not stored twice (review rv186 L4)', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    expect(box.appendBatches([{ records: [rec(1)], idempotencyKey: 'hl7:MSG00042' }])).toEqual(['stored']);
    box.append(Array.from({ length: 3000 }, (_, i) => rec(10 + i)));
    box.close();
    damagePage(path, 'outbox_1_stream_seq', 'leaf', 2);
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.outbox.appendBatches([{ records: [rec(1)], idempotencyKey: 'hl7:MSG00042' }])).toEqual(['duplicate']);
      expect(opened.outbox.pending('telemetry').records).toBe(3001);
      expect(opened.recovered?.salvage).toMatchObject({ records: 3001, keys: 1 });
    } finally {
      opened.outbox.close();
    }
  });

  it('says when it starts, before anything is copied (the file and its size), and how far it got as it goes (review rv186 M1)', () => {
    const path = tempDb();
    seed(path);
    damagePage(path, 'outbox_1_stream_seq', 'leaf', 2);
    const bytes = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
    const movedTo = `${path}.corrupt-2026-12-06T07-00-00-000Z`;
    // Each event, with the rows the fresh store held when it came.
    const held = () => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare<[], { n: number }>('SELECT count(*) AS n FROM outbox').get()!.n;
      } finally {
        db.close();
      }
    };
    const events: (SalvageEvent & { rowsThen: number })[] = [];
    const opened = Outbox.open(path, { onSalvage: (e) => events.push({ ...e, rowsThen: held() }), salvageProgressMs: 0 }, NOW);
    try {
      const salvage = opened.recovered!.salvage!;
      expect(events[0]).toEqual({ kind: 'start', movedTo, bytes, resumed: false, rowsThen: 0 });
      const progress = events.slice(1);
      expect(progress.length).toBeGreaterThan(2);
      for (const e of progress) expect(e).toMatchObject({ kind: 'progress', movedTo });
      const copied = progress.map((e) => (e.kind === 'progress' ? e.records : -1));
      expect(copied).toEqual([...copied].sort((a, b) => a - b));
      expect(copied.at(-1)!).toBeGreaterThan(0);
      expect(copied.at(-1)!).toBeLessThanOrEqual(salvage.records);
    } finally {
      opened.outbox.close();
    }
  });
});

// Review rv186 H1: a stop during the salvage (kill -9, or the SIGTERM of `docker stop` before the agent handles it) left
// a half-filled fresh store that passed its check, and the rest of the backlog in the moved file, with nothing to say so.
describe('a salvage cut short by a stop is resumed at the next start (review rv186 H1)', () => {
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`${signal} during the salvage: the next open goes on from the moved file; nothing lost, nothing twice`, async () => {
      const path = tempDb();
      const made = damagedStore(path, 200_000);
      const before = rows(path);
      const { copiedRows } = await stopMidSalvage(path, signal);
      expect(copiedRows).toBeGreaterThan(0);
      expect(copiedRows).toBeLessThan(before.length);
      const moved = readdirSync(dirname(path)).filter((f) => f.includes('.corrupt-') && !/-(wal|shm)$/.test(f));
      expect(moved).toHaveLength(1);
      const opened = Outbox.open(path, {}, NOW);
      try {
        const salvage = opened.recovered?.salvage;
        expect(opened.recovered?.movedTo).toBe(join(dirname(path), moved[0]!));
        expect(salvage).toMatchObject({ resumed: true, messages: 2, failedRows: 0, unknown: false, error: null, skipped: [] });
        // Each record counted once: copied at this start, or found copied by the start that was stopped.
        expect(salvage!.already).toBeGreaterThanOrEqual(copiedRows);
        expect(salvage!.records + salvage!.already).toBe(made.records);
        expect(rows(path)).toEqual(before);
        const first = opened.outbox.nextMessage()!;
        expect([first.id, opened.outbox.nextMessage([first.id])!.id]).toEqual(made.unacked);
        opened.outbox.noteCorruptFiles([opened.recovered!.movedTo]); // reported (the agent does so once its alarm is noted)
      } finally {
        opened.outbox.close();
      }
      // Finished: the next start has nothing to resume.
      const again = Outbox.open(path, {}, NOW);
      try {
        expect(again.recovered).toBeNull();
        expect(again.outbox.pending('telemetry').records).toBe(records(before));
      } finally {
        again.outbox.close();
      }
    }, 60_000);
  }

  it('stopped twice, a damaged table page on the way: the rows lost on it are counted once, listed once; the rest all copied once', async () => {
    const path = tempDb();
    const made = damagedStore(path, 200_000, 'table');
    await stopMidSalvage(path, 'SIGKILL');
    await stopMidSalvage(path, 'SIGKILL'); // the resumed salvage, stopped in turn
    const opened = Outbox.open(path, {}, NOW);
    try {
      const salvage = opened.recovered!.salvage!;
      expect(salvage).toMatchObject({ resumed: true, messages: 2, failedRows: made.lostRows, unknown: false, error: null, skippedOmitted: 0 });
      expect(salvage.skipped).toHaveLength(1);
      const [range] = salvage.skipped;
      expect(range!.before! - range!.from).toBe(made.lostRows);
      expect(salvage.records + salvage.already).toBe(made.records - made.lostRows);
      // Every row but those of the damaged page, once, as it was: the 200,000 rows took seqs 301 on, bodies {"i":1000…}.
      const expected = Array.from({ length: 200_000 }, (_, i) => 301 + i).filter((seq) => seq < range!.from || seq >= range!.before!);
      const salvaged = rows(path);
      expect(salvaged.map((r) => r.seq)).toEqual(expected);
      expect(salvaged.every((r) => r.body === JSON.stringify({ i: 1000 + r.seq - 301 }))).toBe(true);
    } finally {
      opened.outbox.close();
    }
  }, 60_000);
});

// Review rv189: the windows and cases the resumable salvage (rv186 H1) left open.
describe('salvage: stops and changes around the note (review rv189)', () => {
  const movedFiles = (path: string) => readdirSync(dirname(path)).filter((f) => f.includes('.corrupt-') && !/-(wal|shm)$/.test(f));

  it('M1: killed after the move aside, before the note is written: the next open salvages the moved file', async () => {
    const path = tempDb();
    const made = damagedStore(path, 20_000);
    const before = rows(path);
    await stopMidSalvage(path, 'SIGKILL', 'start');
    expect(movedFiles(path)).toHaveLength(1);
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.movedTo).toBe(join(dirname(path), movedFiles(path)[0]!));
      expect(opened.recovered?.salvage).toMatchObject({ records: made.records, failedRows: 0, unknown: false, error: null });
      expect(rows(path)).toEqual(before);
    } finally {
      opened.outbox.close();
    }
    expect(existsSync(`${path}.salvage-pending`)).toBe(false);
  }, 60_000);

  it('L3: killed after the last commit, before anything reported it: the next open reports the result, until the file is noted as reported', async () => {
    const path = tempDb();
    const made = damagedStore(path, 20_000, 'table');
    await stopMidSalvage(path, 'SIGKILL', 'opened');
    let opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.movedTo).toBe(join(dirname(path), movedFiles(path)[0]!));
      expect(opened.recovered?.salvage).toMatchObject({ records: made.records - made.lostRows, failedRows: made.lostRows, unknown: false });
      expect(opened.recovered!.salvage!.skipped).toHaveLength(1);
      expect(opened.outbox.pending('telemetry').records).toBe(records(rows(path)));
      opened.outbox.noteCorruptFiles([opened.recovered!.movedTo]);
    } finally {
      opened.outbox.close();
    }
    opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered).toBeNull();
    } finally {
      opened.outbox.close();
    }
  }, 60_000);

  it('M3: the moved file missing at the resume: the note is kept, the result says the file is missing; put back, the salvage goes on', async () => {
    const path = tempDb();
    const made = damagedStore(path, 200_000);
    const before = rows(path);
    await stopMidSalvage(path, 'SIGKILL');
    const [moved] = movedFiles(path);
    const aside = join(dirname(path), 'inspect-me.db');
    for (const s of ['', '-wal', '-shm']) if (existsSync(join(dirname(path), moved! + s))) renameSync(join(dirname(path), moved! + s), aside + s);
    let opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ resumed: true, missing: true, records: 0, unfinished: true });
      expect(opened.recovered!.salvage!.error).toMatch(/missing/);
    } finally {
      opened.outbox.close();
    }
    for (const s of ['', '-wal', '-shm']) if (existsSync(aside + s)) renameSync(aside + s, join(dirname(path), moved! + s));
    opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ resumed: true, missing: false, failedRows: 0, unknown: false, error: null });
      expect(opened.recovered!.salvage!.records + opened.recovered!.salvage!.already).toBe(made.records);
      expect(rows(path)).toEqual(before);
    } finally {
      opened.outbox.close();
    }
  }, 60_000);

  it('M4: rows lost on a damaged page: no idempotency key is copied, so a resend of a lost batch is stored', () => {
    const path = tempDb();
    const box = new Outbox(path, { rowMaxBytes: 0 });
    for (let i = 0; i < 3000; i++) box.appendBatches([{ records: [rec(i)], idempotencyKey: `hl7:MSG${i}` }]);
    box.close();
    const lost = damagePage(path, 'outbox_1', 'leaf', 5);
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ failedRows: lost, keys: 0, keysWithheld: true });
      const present = new Set(rows(path).map((r) => (JSON.parse(r.body) as { i: number }).i));
      const gone = Array.from({ length: 3000 }, (_, i) => i).filter((i) => !present.has(i));
      expect(gone).toHaveLength(lost);
      // The sender resends the lost batches (no ACK came before the damage): stored, the loss repaired.
      expect(opened.outbox.appendBatches(gone.map((i) => ({ records: [rec(i)], idempotencyKey: `hl7:MSG${i}` })))).toEqual(gone.map(() => 'stored'));
    } finally {
      opened.outbox.close();
    }
  });

  it('M2: the fresh store damaged during a resume: what it holds is salvaged, and so is the rest of the first file, from its note', async () => {
    const path = tempDb();
    damagedStore(path, 200_000);
    const before = rows(path);
    await stopMidSalvage(path, 'SIGKILL');
    // The fresh store, checkpointed, gets a damaged page of outbox_1 (its rows are lost), and its note (in meta) is whole.
    const db = new Database(path);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const lost = damagePage(path, 'outbox_1', 'leaf', 3);
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ failedRows: lost });
      expect(opened.recovered?.then?.salvage).toMatchObject({ resumed: true, error: null });
      expect(movedFiles(path)).toHaveLength(2);
      expect(rows(path)).toHaveLength(before.length - lost);
    } finally {
      opened.outbox.close();
    }
  }, 60_000);

  it('L1: a note that cannot be read is said, not ignored: the rest of the file named is not copied', async () => {
    const path = tempDb();
    damagedStore(path, 200_000);
    await stopMidSalvage(path, 'SIGKILL');
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = '{\"file\":' WHERE key = 'salvage-in-progress'").run();
    db.close();
    const opened = Outbox.open(path, {}, NOW);
    try {
      expect(opened.recovered?.salvage).toMatchObject({ unknown: true, unfinished: false });
      expect(opened.recovered!.salvage!.error).toMatch(/note .*cannot be read/);
    } finally {
      opened.outbox.close();
    }
  }, 60_000);
});
