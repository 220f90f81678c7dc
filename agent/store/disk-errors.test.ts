// A failing disk is not a full disk: SQLite's SQLITE_IOERR_* counts as "disk full" only while the store's disk has
// little free space (a full disk shows as SQLITE_IOERR_SHMSIZE when the -shm file cannot grow). Otherwise it is a disk
// error: thrown with its code and the store's path, and none of the full-disk fallbacks (reserve, small passes,
// exclusive store at open) run for it. At open, a failing disk gives the store in memory that takes no data, saying so,
// so that the agent still runs (display, bedside alarms).
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { Outbox, ReplayRefusedError, StoreInUseError, type OutboxRecord, type Stream } from './outbox.js';
import { tempDbs } from './test-support.js';

const tempDb = tempDbs('outbox-diskerr-');
afterEach(() => {
  vi.restoreAllMocks();
});

const env = (id: string, stream: Stream, entries: string[]) => `{"id":"${id}","s":"${stream}","r":[${entries.join(',')}]}`;
const rec = (i: number): OutboxRecord => ({ stream: 'telemetry', cls: 1, deviceId: 'dev-1', body: JSON.stringify({ i }) });
const ioError = (code: string) => new Database.SqliteError('disk I/O error', code);
const ROOM = 1e12;
const LITTLE = 64 * 1024;

/** The next `times` limits checks fail in their first write (as failAfterCount in outbox.test.ts) with `code`. */
function failChecks(box: Outbox, code: string, times = 1): void {
  const p = box as unknown as { keepReserve: (f: number) => void };
  const orig = p.keepReserve.bind(box);
  let n = 0;
  p.keepReserve = (f: number) => {
    if (n++ < times) throw ioError(code);
    orig(f);
  };
}

/** A store whose disk has `free()` bytes free (statfs, as the store reads it), with its reserve file made. */
function storeWithReserve(free: () => number): { path: string; box: Outbox } {
  const path = tempDb();
  const box = new Outbox(path, { freeDiskBytes: free, retainAckedMs: 3600_000 });
  box.enforceLimits(4 * 2 ** 30, 1e12);
  expect(existsSync(`${path}.reserve`)).toBe(true);
  return { path, box };
}

describe('SQLITE_IOERR on a disk with room is a disk error, not a full disk', () => {
  it('a limits check failing with SQLITE_IOERR_WRITE throws it, naming the store: the reserve stays, nothing says the disk is full', () => {
    const { path, box } = storeWithReserve(() => ROOM);
    failChecks(box, 'SQLITE_IOERR_WRITE');
    expect(() => box.enforceLimits(4 * 2 ** 30, 1e12)).toThrow(
      expect.objectContaining({ code: 'SQLITE_IOERR_WRITE', message: expect.stringMatching(/^disk I\/O error \(SQLITE_IOERR_WRITE\) on .*agent\.db.*not full/) }),
    );
    expect((box.enforceLimits(4 * 2 ** 30, 1e12).reserveReleased)).toBe(false);
    expect(existsSync(`${path}.reserve`)).toBe(true);
    box.close();
  });

  it('the same error with the free space unreadable (a disk gone) is a disk error too', () => {
    let statfsFails = false;
    const { path, box } = storeWithReserve(() => {
      if (statfsFails) throw Object.assign(new Error('EIO: i/o error, statfs'), { code: 'EIO' });
      return ROOM;
    });
    statfsFails = true;
    failChecks(box, 'SQLITE_IOERR_FSYNC');
    expect(() => box.enforceLimits(4 * 2 ** 30, 1e12)).toThrow(expect.objectContaining({ code: 'SQLITE_IOERR_FSYNC' }));
    expect(existsSync(`${path}.reserve`)).toBe(true);
    box.close();
  });

  it('an acknowledgement failing with SQLITE_IOERR_WRITE throws it and keeps the reserve', () => {
    const { path, box } = storeWithReserve(() => ROOM);
    box.append([rec(1)]);
    const m = box.pack('telemetry', 65536, env)!;
    const p = box as unknown as { stmt: (sql: string) => Database.Statement };
    const stmt = p.stmt.bind(box);
    let fail = true;
    p.stmt = (sql: string) => {
      if (fail && sql.startsWith('UPDATE messages SET acked_at')) {
        fail = false;
        return { run: () => { throw ioError('SQLITE_IOERR_WRITE'); } } as unknown as Database.Statement;
      }
      return stmt(sql);
    };
    expect(() => box.acknowledge(m.id)).toThrow(expect.objectContaining({ code: 'SQLITE_IOERR_WRITE' }));
    expect(existsSync(`${path}.reserve`)).toBe(true);
    box.acknowledge(m.id);
    expect(box.unackedMessages()).toEqual({ alarms: 0, telemetry: 0 });
    box.close();
  });

  it('a replay failing with SQLITE_IOERR_WRITE is a disk error, not refused for room', () => {
    const { box } = storeWithReserve(() => ROOM);
    box.append([rec(1)], 5000);
    box.acknowledge(box.pack('telemetry', 65536, env, 5000)!.id);
    const db = (box as unknown as { db: Database.Database });
    const prepare = db.db.prepare.bind(db.db);
    vi.spyOn(db.db, 'prepare').mockImplementation(((sql: string) => {
      if (sql.includes('INSERT INTO messages (id')) throw ioError('SQLITE_IOERR_WRITE');
      return prepare(sql);
    }) as typeof db.db.prepare);
    let thrown: unknown;
    try {
      box.replay(0, 10_000);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).not.toBeInstanceOf(ReplayRefusedError);
    expect(thrown).toMatchObject({ code: 'SQLITE_IOERR_WRITE' });
    box.close();
  });

  it('an append failing with SQLITE_IOERR_WRITE keeps its code and names the store', () => {
    const path = tempDb();
    const box = new Outbox(path, { freeDiskBytes: () => ROOM });
    (box as unknown as { appendTx: () => never }).appendTx = () => {
      throw ioError('SQLITE_IOERR_WRITE');
    };
    expect(() => box.append([rec(1)])).toThrow(expect.objectContaining({ code: 'SQLITE_IOERR_WRITE', message: expect.stringContaining(path) }));
    box.close();
  });

  it('opening a store that fails with SQLITE_IOERR_READ runs on a store in memory that takes no data, saying the disk is failing: no reserve released, no exclusive attempt, the lock kept', () => {
    const path = tempDb();
    new Outbox(path).close();
    writeFileSync(`${path}.reserve`, Buffer.alloc(1024));
    const pragma = Database.prototype.pragma;
    const sources: string[] = [];
    vi.spyOn(Database.prototype, 'pragma').mockImplementation(function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
      if (this.name === path) sources.push(source); // the store's file, not its lock
      if (this.name === path && source === 'journal_mode = WAL') throw ioError('SQLITE_IOERR_READ');
      return pragma.call(this, source, options);
    });
    const started = performance.now();
    const opened = Outbox.open(path, { freeDiskBytes: () => ROOM });
    // Tried 3 times (a transient error gets another chance: review rv116 M2), well under a second in all.
    expect(performance.now() - started).toBeLessThan(1000);
    expect(sources.filter((s) => s === 'journal_mode = WAL')).toHaveLength(3);
    expect(opened.openRetries.map((r) => r.code)).toEqual(['SQLITE_IOERR_READ', 'SQLITE_IOERR_READ']);
    expect(opened).toMatchObject({
      reserveReleased: false,
      noRoom: null,
      diskError: { code: 'SQLITE_IOERR_READ', freeDiskBytes: ROOM, message: expect.stringMatching(/^disk I\/O error \(SQLITE_IOERR_READ\) on .*agent\.db.*not full/) },
    });
    expect(opened.outbox.path).toBe(':memory:');
    expect(existsSync(`${path}.reserve`)).toBe(true);
    expect(sources).not.toContain('locking_mode = EXCLUSIVE');
    // Refused with its own code and words (ingest counts and alarms the code; senders are told to resend).
    expect(() => opened.outbox.append([rec(1)])).toThrow(
      expect.objectContaining({ code: 'SQLITE_IOERR_READ', message: expect.stringMatching(/^the store's disk is failing \(SQLITE_IOERR_READ\).*takes no data.*check the disk and restart/) }),
    );
    expect(() => opened.outbox.append([rec(1)])).not.toThrow(/full/);
    // The file's lock is kept: a second agent is refused.
    expect(() => Outbox.open(path, { freeDiskBytes: () => ROOM })).toThrow(StoreInUseError);
    vi.restoreAllMocks();
    opened.outbox.close();
    // The lock was released: the store opens once the disk reads again.
    const again = Outbox.open(path, { freeDiskBytes: () => ROOM });
    expect(again).toMatchObject({ reserveReleased: false, noRoom: null, diskError: null });
    expect(again.outbox.path).toBe(path);
    again.outbox.close();
  });

  it('a transient SQLITE_IOERR_READ at open (room on the disk) is tried again: the store opens on its file and stores data, the reserve kept, the retry reported (review rv116 M2)', () => {
    const path = tempDb();
    new Outbox(path).close();
    writeFileSync(`${path}.reserve`, Buffer.alloc(1024));
    const pragma = Database.prototype.pragma;
    let failures = 1; // one EIO, then the disk reads again
    vi.spyOn(Database.prototype, 'pragma').mockImplementation(function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
      if (this.name === path && source === 'journal_mode = WAL' && failures-- > 0) throw ioError('SQLITE_IOERR_READ');
      return pragma.call(this, source, options);
    });
    const opened = Outbox.open(path, { freeDiskBytes: () => ROOM });
    expect(opened).toMatchObject({ reserveReleased: false, noRoom: null, diskError: null, openRetries: [{ code: 'SQLITE_IOERR_READ', freeDiskBytes: ROOM }] });
    expect(opened.outbox.path).toBe(path);
    expect(existsSync(`${path}.reserve`)).toBe(true);
    opened.outbox.append([rec(1)]);
    opened.outbox.close();
    vi.restoreAllMocks();
    const again = Outbox.open(path, { freeDiskBytes: () => ROOM });
    expect(again.openRetries).toEqual([]);
    expect(again.outbox.pending('telemetry').records).toBe(1); // the record was kept in the file
    again.outbox.close();
  });

  it('a failing disk met after the reserve was released for a full one runs on the store in memory too, saying the disk is failing', () => {
    const path = tempDb();
    new Outbox(path).close();
    writeFileSync(`${path}.reserve`, Buffer.alloc(1024));
    const pragma = Database.prototype.pragma;
    let calls = 0;
    vi.spyOn(Database.prototype, 'pragma').mockImplementation(function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
      if (this.name !== ':memory:' && source === 'journal_mode = WAL') {
        throw calls++ === 0 ? new Database.SqliteError('database or disk is full', 'SQLITE_FULL') : ioError('SQLITE_IOERR_READ');
      }
      return pragma.call(this, source, options);
    });
    const opened = Outbox.open(path, { freeDiskBytes: () => ROOM });
    expect(opened).toMatchObject({ reserveReleased: true, noRoom: null, diskError: { code: 'SQLITE_IOERR_READ' } });
    expect(calls).toBe(2); // no exclusive attempt after the failing disk
    expect(() => opened.outbox.append([rec(1)])).toThrow(expect.objectContaining({ code: 'SQLITE_IOERR_READ' }));
    opened.outbox.close();
  });

  it.each([
    ['a store the agent may not write (permissions)', 'SQLITE_READONLY'],
    ['a store folder the agent may not write', 'SQLITE_READONLY_DIRECTORY'],
    ['a path that cannot be opened (a folder by that name)', 'SQLITE_CANTOPEN'],
  ])('%s (%s) is no disk error: the start fails as before, nothing in memory', (_what, code) => {
    const path = tempDb();
    new Outbox(path).close();
    const pragma = Database.prototype.pragma;
    vi.spyOn(Database.prototype, 'pragma').mockImplementation(function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
      if (this.name !== ':memory:' && source === 'journal_mode = WAL') throw new Database.SqliteError('attempt to write a readonly database', code);
      return pragma.call(this, source, options);
    });
    expect(() => Outbox.open(path, { freeDiskBytes: () => ROOM })).toThrow(expect.objectContaining({ code }));
    vi.restoreAllMocks();
    Outbox.open(path, { freeDiskBytes: () => ROOM }).outbox.close(); // the lock was released
  });
});

describe('SQLITE_IOERR on a disk with little room is a full disk', () => {
  it('a limits check failing with SQLITE_IOERR_SHMSIZE gives up the reserve and is done again in small passes', () => {
    let free = ROOM;
    const { path, box } = storeWithReserve(() => free);
    free = LITTLE;
    failChecks(box, 'SQLITE_IOERR_SHMSIZE');
    expect(box.enforceLimits(4 * 2 ** 30, 1e12)).toMatchObject({ reserveReleased: true, reserve: false });
    expect(existsSync(`${path}.reserve`)).toBe(false);
    box.close();
  });

  it('an append failing with SQLITE_IOERR_SHMSIZE is refused as a full disk (SQLITE_FULL: ingest and its alarm say so)', () => {
    const path = tempDb();
    const box = new Outbox(path, { freeDiskBytes: () => LITTLE });
    (box as unknown as { appendTx: () => never }).appendTx = () => {
      throw ioError('SQLITE_IOERR_SHMSIZE');
    };
    expect(() => box.append([rec(1)])).toThrow(expect.objectContaining({ code: 'SQLITE_FULL', message: expect.stringMatching(/SQLITE_IOERR_SHMSIZE/) }));
    box.close();
  });

  it('opening a store that fails with SQLITE_IOERR_SHMSIZE falls back as on a full disk', () => {
    const path = tempDb();
    new Outbox(path).close();
    writeFileSync(`${path}.reserve`, Buffer.alloc(1024));
    const pragma = Database.prototype.pragma;
    vi.spyOn(Database.prototype, 'pragma').mockImplementation(function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
      if (this.name !== ':memory:' && source === 'journal_mode = WAL') throw ioError('SQLITE_IOERR_SHMSIZE');
      return pragma.call(this, source, options);
    });
    const opened = Outbox.open(path, { freeDiskBytes: () => LITTLE });
    expect(opened).toMatchObject({ reserveReleased: true, noRoom: 'memory' });
    expect(existsSync(`${path}.reserve`)).toBe(false);
    opened.outbox.close();
  });

  it('for real: an existing store opened on a full tmpfs (the -shm cannot be made: SQLITE_IOERR_SHMSIZE) opens on its reserve', async () => {
    const { fillDisk, freeBytes, mountTmpfs, unmountTmpfs } = await import('../../test/support/tmpfs.js');
    const mnt = mountTmpfs(dirname(tempDb()), '32m');
    try {
      const path = join(mnt, 'agent.db');
      const box = new Outbox(path);
      box.append(Array.from({ length: 200 }, (_, i) => rec(i)));
      box.enforceLimits(4 * 2 ** 30, 1e12);
      expect(existsSync(`${path}.reserve`)).toBe(true);
      box.close(); // a clean stop: no -wal, no -shm
      fillDisk(mnt);
      expect(freeBytes(mnt)).toBeLessThan(32 * 1024);
      const opened = Outbox.open(path);
      expect(opened).toMatchObject({ reserveReleased: true, noRoom: null });
      opened.outbox.close();
    } finally {
      unmountTmpfs(mnt);
    }
  }, 60_000);
});
