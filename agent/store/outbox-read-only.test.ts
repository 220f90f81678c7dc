// A store whose filesystem went read-only (ext4's errors=remount-ro answer to a failing disk; here a tmpfs remounted
// read-only) is a failing disk at start, not a configuration error: Outbox.open gives the store in memory that takes
// no data, saying the disk is read-only (review rv133 H2). SQLite's own words for it: SQLITE_CANTOPEN after a clean
// stop (no -wal or -shm can be made), SQLITE_READONLY* after an unclean one. The same codes on a writable filesystem
// (a wrong owner, a file made read-only) are a real permission problem and still refuse the start.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Outbox, type OutboxRecord } from './outbox.js';
import { tempDir } from '../../test/support/agent-process.js';
import { mountTmpfs } from '../../test/support/tmpfs.js';

const isRoot = process.getuid?.() === 0;
const dirs: string[] = [];
const mounts: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m]);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const record = (body: string): OutboxRecord => ({ stream: 'telemetry', cls: 1, deviceId: 'd', body });
const readOnly = (mnt: string) => execFileSync('mount', ['-o', 'remount,ro', mnt]);

/** A tmpfs holding a store of one record, closed (a clean stop) or its files copied while open (-wal and -shm left). */
function storeOnTmpfs(clean: boolean): { mnt: string; path: string } {
  const dir = tempDir('ro-store-');
  dirs.push(dir);
  const mnt = mountTmpfs(dir, '32m');
  mounts.push(mnt);
  const path = join(mnt, 'agent.db');
  if (clean) {
    const box = Outbox.open(path).outbox;
    box.append([record('{"a":1}')]);
    box.close();
  } else {
    // The files of a store still open (as a crash leaves them), copied: a file open for writing would keep the tmpfs
    // from being remounted read-only.
    const other = join(dir, 'live.db');
    const box = Outbox.open(other).outbox;
    box.append([record('{"a":1}')]);
    for (const suffix of ['', '-wal', '-shm', '.lock']) if (existsSync(other + suffix)) copyFileSync(other + suffix, path + suffix);
    box.close();
    expect(existsSync(`${path}-wal`)).toBe(true);
  }
  return { mnt, path };
}

describe.skipIf(!isRoot)('a store on a filesystem remounted read-only, at start (needs root: mounts a tmpfs)', () => {
  it.each([
    ['after a clean stop', true],
    ['after an unclean stop (-wal and -shm left)', false],
  ])('%s: opens as the store in memory that takes no data, saying the disk is read-only', (_what, clean) => {
    const { mnt, path } = storeOnTmpfs(clean);
    readOnly(mnt);
    const opened = Outbox.open(path);
    try {
      expect(opened.outbox.path).toBe(':memory:');
      expect(opened).toMatchObject({
        noRoom: null,
        reserveReleased: false,
        diskError: { code: expect.stringMatching(/^SQLITE_(CANTOPEN|READONLY)/), readOnly: true, freeDiskBytes: expect.any(Number), message: expect.stringMatching(/read-only filesystem/) },
      });
      // Not tried again: a read-only filesystem does not heal in 200 ms.
      expect(opened.openRetries).toEqual([]);
      let refused: unknown = null;
      try {
        opened.outbox.append([record('{"a":2}')]);
      } catch (err) {
        refused = err;
      }
      expect(refused).toMatchObject({ code: opened.diskError!.code, message: expect.stringMatching(/^the store's disk is read-only .*takes no data.*restart the agent/) });
    } finally {
      opened.outbox.close();
    }
  });

  it('a store folder not there yet on a read-only filesystem: the store in memory too (the folder cannot be made)', () => {
    const dir = tempDir('ro-store-');
    dirs.push(dir);
    const mnt = mountTmpfs(dir, '8m');
    mounts.push(mnt);
    mkdirSync(join(mnt, 'data'));
    readOnly(mnt);
    for (const path of [join(mnt, 'data', 'agent.db'), join(mnt, 'new', 'agent.db')]) {
      const opened = Outbox.open(path);
      try {
        expect(opened.outbox.path).toBe(':memory:');
        expect(opened.diskError).toMatchObject({ readOnly: true });
      } finally {
        opened.outbox.close();
      }
    }
  });
});

describe('a store SQLite cannot write on a writable filesystem (a wrong owner, a file made read-only)', () => {
  /** The store file at `storePath` fails its open with `code`. */
  function storeOpenFails(storePath: string, code: string): void {
    const pragma = Database.prototype.pragma;
    vi.spyOn(Database.prototype, 'pragma').mockImplementation(function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
      if (this.name === storePath && source === 'journal_mode = WAL') throw new Database.SqliteError('attempt to write a readonly database', code);
      return pragma.call(this, source, options);
    });
  }

  it.each(['SQLITE_READONLY', 'SQLITE_READONLY_DIRECTORY', 'SQLITE_CANTOPEN'])('%s still refuses the start, naming the store', (code) => {
    const dir = tempDir('perm-store-');
    dirs.push(dir);
    const path = join(dir, 'agent.db');
    storeOpenFails(path, code);
    expect(() => Outbox.open(path)).toThrow(expect.objectContaining({ code }));
  });
});
