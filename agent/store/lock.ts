// One agent per store: a lock held for the life of the Outbox, so that a second agent on the same store (an old
// container still running during an update) is refused at open instead of both writing and sending.
//
// The lock is a small SQLite database beside the store (`<store>.lock`) held in exclusive locking mode. SQLite's
// file locks are released by the operating system when the process dies (kill -9 included), they work across
// containers that share a bind mount (one kernel), and, unlike exclusive mode on the store itself, they leave
// the store readable by tools while the agent runs.
import Database from 'better-sqlite3';

export class StoreInUseError extends Error {
  constructor(readonly path: string) {
    super(`store ${path} is in use by another agent (it holds ${path}.lock): stop that agent first, or give this one its own store.path`);
    this.name = 'StoreInUseError';
  }
}

export class StoreLock {
  private constructor(private readonly db: Database.Database) {}

  /** Takes the lock of the store at `path`, or throws StoreInUseError at once (no waiting) if another holds it. */
  static acquire(path: string): StoreLock {
    const lockPath = `${path}.lock`;
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
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) throw new StoreInUseError(path);
      throw new Error(`cannot take the store's lock ${lockPath}: ${(err as Error).message}`, { cause: err });
    }
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}
