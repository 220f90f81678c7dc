// One agent per store: a lock held for the life of the Outbox, so that a second agent on the same store (an old
// container still running during an update) is refused at open instead of both writing and sending.
//
// The lock is a small SQLite database beside the store (`<store>.lock`) held in exclusive locking mode. SQLite's
// file locks are released by the operating system when the process dies (kill -9 included), they work across
// containers that share a bind mount (one kernel), and, unlike exclusive mode on the store itself, they leave
// the store readable by tools while the agent runs. It sits beside the store's real file (symlinks resolved), so that
// two agents given two paths to one file (a symlink to it, or to its folder) take the same lock.
//
// The lock file must be writable by the agent's user: SQLite opens one it cannot write read-only, without a word, and
// BEGIN EXCLUSIVE then succeeds holding no lock that keeps anyone out (a run as root leaves the file root's; review
// rv182 H1). Such a file is refused, naming its owner and the fix.
import { closeSync, existsSync, lstatSync, openSync, readlinkSync, realpathSync, statSync } from 'node:fs';
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
    refuseUnwritable(lockPath);
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

/**
 * Opens an existing lock file as SQLite does (read and write): where that is refused, SQLite would open it read-only
 * and its lock would keep no one out. A directory, or a symlink into a folder that does not exist, there is refused too, naming it and the
 * fix (SQLite said only "unable to open database file"; review rv186 L3); a symlink to a file not made yet in a folder
 * that exists is left to SQLite, which makes it. Any other failure (ENOENT: SQLite makes it;
 * EROFS: the store is on a read-only filesystem, which Outbox.open handles) is left to SQLite, as before.
 */
function refuseUnwritable(lockPath: string): void {
  try {
    closeSync(openSync(lockPath, 'r+'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const refuse = (why: string) => new Error(`cannot take the store's lock ${lockPath}: ${why}`, { cause: err });
    if (code === 'EISDIR' && isLink(lockPath)) {
      throw refuse(`it is a symlink to ${readlinkSync(lockPath)}, a directory, not a lock file (EISDIR): remove the link while no agent runs (rm ${lockPath}); the agent makes the lock file`);
    }
    if (code === 'EISDIR') {
      throw refuse(`it is a directory, not a lock file (EISDIR): remove it while no agent runs (rmdir ${lockPath}); the agent makes the lock file`);
    }
    // A link to a lock file not made yet in a folder that exists (a tmpfs emptied at boot): SQLite makes it (review
    // rv189 L5). Only a link whose target's folder is missing is refused: SQLite would fail there with no word on why.
    if (code === 'ENOENT' && isLink(lockPath) && !existsSync(dirname(resolve(dirname(lockPath), readlinkSync(lockPath))))) {
      throw refuse(`it is a symlink to ${readlinkSync(lockPath)}, whose folder does not exist (ENOENT): remove the link while no agent runs (rm ${lockPath}), or make that folder; the agent makes the lock file`);
    }
    if (code !== 'EACCES' && code !== 'EPERM') return;
    throw refuse(`it is not writable by ${deniedTo(lockPath, code)}, so it would keep no other agent out: ${ownerFix(lockPath)}, or delete it while no agent runs`);
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** "uid N (EACCES; owned by uid M, mode 0644)": who cannot write a store file, and the file's owner and mode. */
export function deniedTo(path: string, code: string): string {
  const uid = process.getuid?.();
  let owner = '';
  try {
    const st = statSync(path);
    owner = `; owned by uid ${st.uid}, mode 0${(st.mode & 0o777).toString(8)}`;
  } catch {
    // gone meanwhile: its owner is not said
  }
  return `${uid === undefined ? 'this user' : `uid ${uid}`} (${code}${owner})`;
}

/** The fix for a store file this process cannot write: chown to the agent's user, or chmod when it already owns it. */
export function ownerFix(path: string): string {
  const uid = process.getuid?.();
  let owner: number | undefined;
  try {
    owner = statSync(path).uid;
  } catch {
    // gone meanwhile: the chown is said
  }
  if (uid !== undefined && owner === uid) return `make it writable by its owner, the user the agent runs as (chmod u+rw ${path})`;
  return `chown it to the user the agent runs as (chown ${uid ?? '<agent user>'} ${path})`;
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
