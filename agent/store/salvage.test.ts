// A damaged store file is moved aside (Outbox.open) and what can still be read of its unsent data is copied into the
// fresh store: unsent rows with their seqs, unacknowledged messages with their ids (review rv182 H2). The files here
// are damaged as a disk does it: a page overwritten, the file cut short, or not a database at all.
import { closeSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Outbox, type OutboxRecord, type Stream } from './outbox.js';
import { tempDbs } from './test-support.js';

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

  it('a disk that fills during the copy: what was committed is in the fresh store and counted, the rest is said to be in the old file', async () => {
    const { freeBytes, mountTmpfs, unmountTmpfs } = await import('../../test/support/tmpfs.js');
    const mnt = mountTmpfs(dirname(tempDb()), '64m');
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
      // The rows not copied, for a salvage by hand: everything from the first one the stop left out, and the table not begun.
      expect(salvage.skipped).toEqual([
        { table: 'outbox_1', from: salvage.records + 1, before: null },
        { table: 'outbox_2', from: 1, before: null },
      ]);
    } finally {
      opened?.outbox.close();
      unmountTmpfs(mnt);
    }
  }, 60_000);
});
