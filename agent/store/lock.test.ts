import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, StoreInUseError } from './outbox.js';
import { realStorePath } from './lock.js';

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
