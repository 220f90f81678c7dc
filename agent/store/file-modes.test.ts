// The store holds patient ids: other local users must not read it (review rv119 L3). The agent makes its folder 0750
// and sets the store's files to 0640 when others could read them; a chmod that fails never stops the open.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, restrictStoreFiles } from './outbox.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'modes-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const mode = (path: string) => statSync(path).mode & 0o777;

describe('store folder and file modes (review rv119 L3)', () => {
  it('a folder the agent makes is 0750, and its new store files are not readable by others', () => {
    const umask = process.umask();
    for (const open of [(p: string) => Outbox.open(p).outbox, (p: string) => new Outbox(p)]) {
      const dir = join(tempDir(), 'data', 'ward');
      const box = open(join(dir, 'agent.db'));
      try {
        expect(mode(dir)).toBe(0o750 & ~umask);
        expect(mode(join(dir, '..'))).toBe(0o750 & ~umask);
        for (const suffix of ['', '-wal', '-shm']) {
          expect(existsSync(join(dir, `agent.db${suffix}`))).toBe(true);
          expect(mode(join(dir, `agent.db${suffix}`)) & 0o007).toBe(0);
        }
        expect(box.fileModeFailures).toEqual([]);
      } finally {
        box.close();
      }
    }
  });

  it('a folder that exists is left as it is (the start warns of it instead)', () => {
    const dir = join(tempDir(), 'data');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    Outbox.open(join(dir, 'agent.db')).outbox.close();
    expect(mode(dir)).toBe(0o755);
  });

  it('store files readable by others (a kill -9 left its -wal and -shm) are set to 0640 at open; files others cannot read are left', () => {
    // A store as an agent killed with kill -9 leaves it: the file with its -wal and -shm, made under an open umask.
    const made = join(tempDir(), 'made.db');
    const raw = new Database(made);
    raw.pragma('journal_mode = WAL');
    raw.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    for (const suffix of ['', '-wal', '-shm']) copyFileSync(made + suffix, path + suffix);
    raw.close();
    for (const suffix of ['', '-wal', '-shm']) chmodSync(path + suffix, 0o644);
    const box = Outbox.open(path).outbox;
    try {
      for (const suffix of ['', '-wal', '-shm']) expect(mode(path + suffix)).toBe(0o640);
    } finally {
      box.close();
    }
    // Not readable by others: not touched (an owner's 0600 stays 0600).
    chmodSync(path, 0o600);
    Outbox.open(path).outbox.close();
    expect(mode(path)).toBe(0o600);
  });

  it('a chmod that fails is returned for the caller to log, not thrown; absent -wal/-shm are no failure', () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    Outbox.open(path).outbox.close(); // a clean close leaves no -wal or -shm
    chmodSync(path, 0o644);
    const eperm = () => {
      throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
    };
    expect(restrictStoreFiles(path, eperm)).toEqual([{ file: path, code: 'EPERM' }]);
    expect(mode(path)).toBe(0o644);
    expect(restrictStoreFiles(path)).toEqual([]);
    expect(mode(path)).toBe(0o640);
    // Others' access is taken away, none is added: a file made read-only stays read-only.
    chmodSync(path, 0o444);
    expect(restrictStoreFiles(path)).toEqual([]);
    expect(mode(path)).toBe(0o440);
  });
});
