// One agent per store: a lock held for the life of the Outbox, so that a second agent on the same store (an old
// container still running during an update) is refused at open instead of both writing and sending.
//
// The lock is a small SQLite database beside the store (`<store>.lock`) held in exclusive locking mode. SQLite's
// file locks are released by the operating system when the process dies (kill -9 included), they work across
// containers that share a bind mount (one kernel), and, unlike exclusive mode on the store itself, they leave
// the store readable by tools while the agent runs. It sits beside the store's real file (symlinks resolved), so that
// two agents given two paths to one file (a symlink to it, or to its folder) take the same lock.
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';

export class StoreInUseError extends Error {
  constructor(readonly path: string, lockPath = `${path}.lock`) {
    super(`store ${path} is in use by another agent (it holds ${lockPath}): stop that agent first, or give this one its own store.path`);
    this.name = 'StoreInUseError';
  }
}

export class StoreLock {
  private constructor(private readonly db: Database.Database) {}

  /** Takes the lock of the store at `path`, or throws StoreInUseError at once (no waiting) if another holds it. */
  static acquire(path: string): StoreLock {
    let lockPath: string;
    try {
      lockPath = `${realStorePath(path)}.lock`;
    } catch (err) {
      throw new Error(`cannot take the store's lock: cannot resolve ${path}: ${(err as Error).message}`, { cause: err });
    }
    let db: Database.Database | null = null;
    try {
      db = new Database(lockPath, { timeout: 0 });
      db.pragma('locking_mode = EXCLUSIVE');
      // In exclusive locking mode the lock a write transaction takes is kept after it ends, until the connection
      // closes. BEGIN EXCLUSIVE takes it without changing anything (the file is written only when first created).
      db.exec('BEGIN EXCLUSIVE; COMMIT');
      return new StoreLock(db);
    } catch (err) {
      db?.close();
      const code = (err as { code?: string }).code ?? '';
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) throw new StoreInUseError(path, lockPath);
      throw new Error(`cannot take the store's lock ${lockPath}: ${(err as Error).message}`, { cause: err });
    }
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}

/** Most symlinks followed to a store that does not exist yet (Linux's own limit is 40). */
const MAX_LINKS = 40;

/**
 * The store file's path with every symlink resolved: the file itself when it exists; else, for a store not yet
 * created, its folder's real path plus its name, following a symlink that names it (SQLite creates the file at the
 * link's target). The folder exists: the caller creates it first.
 */
export function realStorePath(path: string): string {
  let p = resolve(path);
  for (let links = 0; ; links++) {
    try {
      return realpathSync(p);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
    let link: string | null = null;
    try {
      if (lstatSync(p).isSymbolicLink()) link = readlinkSync(p);
    } catch {
      // p itself does not exist: its folder's real path, below
    }
    if (link === null || links >= MAX_LINKS) break;
    p = resolve(dirname(p), link);
  }
  return join(realpathSync(dirname(p)), basename(p));
}
