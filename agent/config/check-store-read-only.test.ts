// A store folder on a filesystem mounted read-only (Linux's answer to a disk error) is a failing disk at start, which
// the agent runs through on the store in memory (Outbox.open), not a configuration error that exits 2 into a restart
// loop with no display; --check still reports it (review rv133 H2). Needs root: mounts a tmpfs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../test/support/agent-config.js';
import { tempDir } from '../../test/support/agent-process.js';
import { mountTmpfs } from '../../test/support/tmpfs.js';
import { storeProblems } from './check.js';

const isRoot = process.getuid?.() === 0;
const dirs: string[] = [];
const mounts: string[] = [];
afterEach(() => {
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m]);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('storeProblems on a read-only filesystem (needs root: mounts a tmpfs)', () => {
  it('an existing store folder and file: none at start; --check names the folder (EROFS)', () => {
    const dir = tempDir('ro-check-');
    dirs.push(dir);
    const mnt = mountTmpfs(dir, '4m');
    mounts.push(mnt);
    writeFileSync(join(mnt, 'agent.db'), '');
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    const config = testConfig(dir, { store: { path: join(mnt, 'agent.db') } });
    expect(storeProblems(config, true)).toEqual([]);
    expect(storeProblems(config, false)).toEqual([{ path: 'store.path', message: expect.stringMatching(/^cannot write the store folder .*mnt as uid 0 \(EROFS\)/) }]);
  });

  it('a store folder to be made on it: none at start', () => {
    const dir = tempDir('ro-check-');
    dirs.push(dir);
    const mnt = mountTmpfs(dir, '4m');
    mounts.push(mnt);
    mkdirSync(join(mnt, 'data'));
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    expect(storeProblems(testConfig(dir, { store: { path: join(mnt, 'new', 'agent.db') } }), true)).toEqual([]);
  });
});

// A read-only mount of a writable filesystem (a `:ro` bind, a container's read-only root) is a set-up mistake, refused
// at start and by --check, naming the mount (review rv136 M1); --check also names a folder still to be made on a
// read-only filesystem (its nearest existing parent: EROFS is certain wherever seen; rv136 L1).
describe.skipIf(!isRoot)('storeProblems on a read-only mount (needs root: mounts a tmpfs and a bind)', () => {
  function readOnlyBind(): string {
    const dir = tempDir('ro-check-');
    dirs.push(dir);
    const mnt = mountTmpfs(dir, '4m');
    mounts.push(mnt);
    mkdirSync(join(mnt, 'data'));
    writeFileSync(join(mnt, 'data', 'agent.db'), '');
    const bind = join(dir, 'bind');
    mkdirSync(bind);
    execFileSync('mount', ['--bind', join(mnt, 'data'), bind]);
    mounts.unshift(bind);
    execFileSync('mount', ['-o', 'remount,bind,ro', bind]);
    return bind;
  }

  it.each([['an existing store', 'agent.db'], ['a store folder to be made', 'sub/agent.db']])('%s: refused at start and by --check, naming the mount', (_what, file) => {
    const bind = readOnlyBind();
    const config = testConfig(bind, { store: { path: join(bind, file) } });
    for (const atStart of [true, false]) {
      expect(storeProblems(config, atStart)).toEqual([{ path: 'store.path', message: expect.stringContaining(`is on a read-only mount (${bind}): mount the store volume read-write`) }]);
    }
  });

  it('--check names a store folder to be made on a read-only filesystem (its nearest existing parent, EROFS)', () => {
    const dir = tempDir('ro-check-');
    dirs.push(dir);
    const mnt = mountTmpfs(dir, '4m');
    mounts.push(mnt);
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    const config = testConfig(dir, { store: { path: join(mnt, 'new', 'agent.db') } });
    expect(storeProblems(config, false)).toEqual([{ path: 'store.path', message: expect.stringMatching(/^cannot create the store folder .*new: .*mnt is not writable as uid 0 \(EROFS\)/) }]);
    expect(storeProblems(config, true)).toEqual([]);
  });
});
