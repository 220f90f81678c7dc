// A store whose filesystem went read-only (ext4's errors=remount-ro answer to a failing disk; here a tmpfs remounted
// read-only) is a failing disk at start, not a configuration error: Outbox.open gives the store in memory that takes
// no data, saying the disk is read-only (review rv133 H2). SQLite's own words for it: SQLITE_CANTOPEN after a clean
// stop (no -wal or -shm can be made), SQLITE_READONLY* after an unclean one. The same codes on a writable filesystem
// (a wrong owner, a file made read-only) are a real permission problem and still refuse the start.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Outbox, type OutboxRecord } from './outbox.js';
import { mountHolding, parseMountinfo } from './volume.js';
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

// A read-only mount of a writable filesystem (a `:ro` bind, a container's read-only root) is a set-up mistake, not a
// failing disk: the start is refused, naming the mount (review rv136 M1). Told apart by /proc/self/mountinfo: the
// mount's own options (field 6) against its filesystem's (the last field after ' - ').
describe('parseMountinfo and mountHolding', () => {
  const text = [
    '27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro',
    '45 27 0:40 / /srv/data ro,relatime - tmpfs tmpfs ro,size=1024k',
    '46 27 0:40 /d /srv/bind ro,relatime master:2 - tmpfs tmpfs rw,size=1024k',
    '47 27 8:2 / /srv/with\\040space rw - ext4 /dev/sda2 rw',
    'garbage line',
    '',
  ].join('\n');

  it('reads the mount point (unescaped), its own options and the filesystem\'s, past optional fields', () => {
    expect(parseMountinfo(text)).toEqual([
      { point: '/', dev: '8:1', source: '/dev/sda1', mountOptions: ['rw', 'relatime'], superOptions: ['rw', 'errors=remount-ro'] },
      { point: '/srv/data', dev: '0:40', source: 'tmpfs', mountOptions: ['ro', 'relatime'], superOptions: ['ro', 'size=1024k'] },
      { point: '/srv/bind', dev: '0:40', source: 'tmpfs', mountOptions: ['ro', 'relatime'], superOptions: ['rw', 'size=1024k'] },
      { point: '/srv/with space', dev: '8:2', source: '/dev/sda2', mountOptions: ['rw'], superOptions: ['rw'] },
    ]);
  });

  it('the longest mount point holding the folder; of two on one point, the later; not a sibling with a common prefix', () => {
    const mounts = parseMountinfo(`${text}\n48 46 0:41 / /srv/bind rw - tmpfs tmpfs rw`);
    expect(mountHolding('/srv/data/store', mounts)?.point).toBe('/srv/data');
    expect(mountHolding('/srv/bind', mounts)?.mountOptions).toEqual(['rw']);
    expect(mountHolding('/srv/database', mounts)?.point).toBe('/');
    expect(mountHolding('/srv/data', [])).toBeNull();
  });
});

describe.skipIf(!isRoot)('a store on a read-only bind of a writable filesystem (needs root: mounts a tmpfs and a bind)', () => {
  /** A tmpfs (writable) with a store in <mnt>/data, bound read-only at <dir>/bind, as a `:ro` volume is. */
  function readOnlyBind(): { fs: string; bind: string } {
    const dir = tempDir('ro-bind-');
    dirs.push(dir);
    const fs = mountTmpfs(dir, '8m');
    mounts.push(fs);
    mkdirSync(join(fs, 'data'));
    const box = Outbox.open(join(fs, 'data', 'agent.db')).outbox;
    box.append([record('{"a":1}')]);
    box.close();
    const bind = join(dir, 'bind');
    mkdirSync(bind);
    execFileSync('mount', ['--bind', join(fs, 'data'), bind]);
    // Unmounted before the tmpfs below it (afterEach unmounts in order).
    mounts.unshift(bind);
    execFileSync('mount', ['-o', 'remount,bind,ro', bind]);
    return { fs, bind };
  }

  it('the mount is read-only, the filesystem not (mountinfo)', () => {
    const { bind } = readOnlyBind();
    const mount = mountHolding(bind, parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')));
    expect(mount).toMatchObject({ point: bind, mountOptions: expect.arrayContaining(['ro']), superOptions: expect.arrayContaining(['rw']) });
  });

  it.each([['an existing store', 'agent.db'], ['a store folder to be made', 'new/agent.db']])('%s: the start is refused, naming the mount (no store in memory)', (_what, file) => {
    const { bind } = readOnlyBind();
    expect(() => Outbox.open(join(bind, file)).outbox.close()).toThrow(`store.path is on a read-only mount (${bind}): mount the store volume read-write`);
  });

  it('a tmpfs remounted read-only is read-only in its filesystem too (super options ro): the failing-disk path', () => {
    const { mnt, path } = storeOnTmpfs(true);
    readOnly(mnt);
    expect(mountHolding(mnt, parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')))?.superOptions).toContain('ro');
    const opened = Outbox.open(path);
    opened.outbox.close();
    expect(opened.diskError).toMatchObject({ readOnly: true });
  });
});
