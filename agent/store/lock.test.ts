import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../paths.js';
import { Outbox, StoreInUseError } from './outbox.js';
import { realStorePath, StoreLock } from './lock.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lock-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, 'b'));
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('Outbox lock: one agent per store file, whatever path reaches it', () => {
  it('refuses a second agent that reaches the open store through a symlink to its file, and takes one lock file', () => {
    const dir = tempDir();
    const real = join(dir, 'a', 'agent.db');
    const a = Outbox.open(real).outbox;
    const link = join(dir, 'b', 'agent.db');
    symlinkSync(real, link);
    expect(() => Outbox.open(link)).toThrow(StoreInUseError);
    // The message names the path this agent was given, and the lock file that is held.
    expect(() => new Outbox(link)).toThrow(`store ${link} is in use by another agent (it holds ${realStorePath(real)}.lock)`);
    expect(existsSync(`${link}.lock`)).toBe(false);
    a.close();
    // Released at close: the next agent opens it through the link, and holds it against the real path.
    const b = Outbox.open(link).outbox;
    expect(() => Outbox.open(real)).toThrow(StoreInUseError);
    b.close();
  });

  it('refuses a second agent through a symlinked folder, and through a link made before the store file existed', () => {
    const dir = tempDir();
    // The folder: a link to `a`, as a second mount point of one volume could be.
    symlinkSync(join(dir, 'a'), join(dir, 'c'));
    const a = Outbox.open(join(dir, 'c', 'agent.db')).outbox;
    expect(() => Outbox.open(join(dir, 'a', 'agent.db'))).toThrow(StoreInUseError);
    a.close();
    // A link to a store not created yet: SQLite creates the file at the link's target, so the lock goes there too.
    const link = join(dir, 'b', 'new.db');
    symlinkSync(join(dir, 'a', 'new.db'), link);
    const first = Outbox.open(link).outbox;
    expect(existsSync(join(dir, 'a', 'new.db'))).toBe(true);
    expect(() => Outbox.open(join(dir, 'a', 'new.db'))).toThrow(StoreInUseError);
    first.close();
  });

  it('resolves a store that does not exist yet to its real folder plus its name', () => {
    const dir = tempDir();
    symlinkSync(join(dir, 'a'), join(dir, 'c'));
    expect(realStorePath(join(dir, 'c', 'x.db'))).toBe(join(realStorePath(join(dir, 'a')), 'x.db'));
    // Links to links, the last one dangling.
    symlinkSync(join(dir, 'a', 'y.db'), join(dir, 'b', 'y1.db'));
    symlinkSync(join(dir, 'b', 'y1.db'), join(dir, 'b', 'y2.db'));
    expect(realStorePath(join(dir, 'b', 'y2.db'))).toBe(join(realStorePath(join(dir, 'a')), 'y.db'));
  });
});

/** The service user of the tests run as root (nobody): root ignores file modes, so another user shows them. */
const OTHER_UID = 65534;
const isRoot = process.getuid?.() === 0;
const TSX = pathToFileURL(join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
const LOCK_TS = pathToFileURL(join(PACKAGE_ROOT, 'agent', 'store', 'lock.ts')).href;

/**
 * An agent's lock taken in a child process (as `uid` when given: needs root): it says 'held' or the error, and holds
 * the lock until `release()`.
 */
function lockInChild(path: string, uid?: number): { result: Promise<string>; release: () => Promise<void> } {
  const script = `import { StoreLock } from ${JSON.stringify(LOCK_TS)};
try { const l = StoreLock.acquire(${JSON.stringify(path)}); console.log('held'); process.stdin.on('end', () => l.release()).resume(); }
catch (e) { console.log(e.message); }`;
  const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HOME: tmpdir() },
    ...(uid !== undefined && { uid, gid: uid }),
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const result = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => out.includes('\n') && resolve(out.trim()));
    void exited.then(() => (out.includes('\n') ? resolve(out.trim()) : reject(new Error(`lock child said nothing; stderr: ${err}`))));
  });
  return {
    result,
    release: () => {
      child.stdin.end();
      return exited;
    },
  };
}

// Review rv182 H1: a lock file the agent's user cannot write (left owned by root by a run as root) is opened read-only
// by SQLite, and BEGIN EXCLUSIVE then "succeeds" holding nothing: every agent took the lock, two ran on one store.
describe('Outbox lock: a lock file this user cannot write', () => {
  it('is refused loudly, naming the lock file, its owner and chown, instead of a lock that holds nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    dirs.push(dir);
    const store = join(dir, 'agent.db');
    const lockPath = `${realStorePath(store)}.lock`;
    // The lock file as a run as another user leaves it (never deleted), then the folder given to the agent's user.
    StoreLock.acquire(store).release();
    let uid: number | undefined;
    if (isRoot) {
      uid = OTHER_UID;
      chmodSync(dir, 0o755);
      chownSync(dir, OTHER_UID, OTHER_UID);
      chmodSync(lockPath, 0o644);
    } else {
      // Not root: this user's own file made read-only shows the same (the owner is then this user).
      chmodSync(lockPath, 0o444);
    }
    const owner = statSync(lockPath).uid;
    const agentUid = uid ?? process.getuid!();
    const fix = isRoot ? `chown it to the user the agent runs as (chown ${agentUid} ${lockPath})` : `make it writable by its owner, the user the agent runs as (chmod u+rw ${lockPath})`;
    const first = lockInChild(store, uid);
    const second = lockInChild(store, uid);
    try {
      for (const said of await Promise.all([first.result, second.result])) {
        expect(said).toBe(
          `cannot take the store's lock ${lockPath}: it is not writable by uid ${agentUid} (EACCES; owned by uid ${owner}, mode 0${(statSync(lockPath).mode & 0o777).toString(8)}), ` +
            `so it would keep no other agent out: ${fix}, or delete it while no agent runs`,
        );
      }
    } finally {
      await Promise.all([first.release(), second.release()]);
    }
    // Once the file is the agent's user's, its lock holds again: the second agent is refused.
    if (isRoot) chownSync(lockPath, OTHER_UID, OTHER_UID);
    else chmodSync(lockPath, 0o644);
    const holder = lockInChild(store, uid);
    try {
      expect(await holder.result).toBe('held');
      const other = lockInChild(store, uid);
      expect(await other.result).toMatch(/^store .* is in use by another agent/);
      await other.release();
    } finally {
      await holder.release();
    }
  }, 30_000);
});

// Review rv186 L3: a lock path that is a directory, or a symlink to nothing, failed with SQLite's bare "unable to open
// database file", naming neither the cause nor the fix.
describe('Outbox lock: a lock path that is not a file', () => {
  it('a directory is refused, naming it and the fix', () => {
    const dir = tempDir();
    const store = join(dir, 'a', 'agent.db');
    const lockPath = `${realStorePath(store)}.lock`;
    mkdirSync(lockPath);
    expect(() => StoreLock.acquire(store)).toThrow(
      `cannot take the store's lock ${lockPath}: it is a directory, not a lock file (EISDIR): remove it while no agent runs (rmdir ${lockPath}); the agent makes the lock file`,
    );
    expect(() => Outbox.open(store)).toThrow(/it is a directory, not a lock file/);
  });

  it('a dangling symlink is refused, naming where it points and the fix', () => {
    const dir = tempDir();
    const store = join(dir, 'a', 'agent.db');
    const lockPath = `${realStorePath(store)}.lock`;
    const target = join(dir, 'nowhere', 'x.lock');
    symlinkSync(target, lockPath);
    expect(() => StoreLock.acquire(store)).toThrow(
      `cannot take the store's lock ${lockPath}: it is a symlink to ${target}, whose folder does not exist (ENOENT): remove the link while no agent runs (rm ${lockPath}), or make that folder; the agent makes the lock file`,
    );
  });

  it('a symlink to a lock file not made yet, in a folder that exists (a tmpfs emptied at boot), works: the lock file is made there (review rv189 L5)', () => {
    const dir = tempDir();
    const store = join(dir, 'a', 'agent.db');
    const lockPath = `${realStorePath(store)}.lock`;
    const target = join(dir, 'b', 'agent.db.lock');
    symlinkSync(target, lockPath);
    const opened = Outbox.open(store);
    try {
      expect(existsSync(target)).toBe(true);
      expect(() => StoreLock.acquire(store)).toThrow(StoreInUseError);
    } finally {
      opened.outbox.close();
    }
  });
});
