// Files SQLite keeps beside the store (the lock, the write-ahead log and its index) that the agent's user cannot write:
// a run as root leaves them root's, and the engineer then gives the folder and agent.db to the service user, as the
// start asks. The lock was then held by no one (two agents ran on one store), a -wal or -shm stopped the start with a
// bare "unable to open database file" (review rv182 H1, M1). The start and --check now refuse them, exit 2 as for the
// store's folder and file, naming each file, its owner and the chown. As root the agent runs as another user (nobody),
// for whom the files are root's; not as root, the files are this user's own made read-only (no chown then: a chmod).
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgentProcess, tempDir, writeConfig } from '../../test/support/agent-process.js';
import { StoreLock } from '../store/lock.js';
import { Outbox } from '../store/outbox.js';

const isRoot = process.getuid?.() === 0;
/** The agent's user: nobody when the tests run as root, else this user. */
const AGENT_UID = isRoot ? 65534 : process.getuid!();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A store as a run as another user killed with kill -9 leaves it (its -wal and -shm, and the lock file, which is
 * never deleted), the folder and agent.db then handed to the agent's user; `notWritable`: those of its companions
 * the agent's user cannot write.
 */
function leftByAnotherRun(notWritable: string[]): { dir: string; store: string } {
  const dir = tempDir('companions-');
  dirs.push(dir);
  chmodSync(dir, 0o755);
  const made = join(dir, 'made');
  mkdirSync(made);
  const madeStore = join(made, 'agent.db');
  const box = new Outbox(madeStore);
  box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ n: 1 }) }]);
  const data = join(dir, 'data');
  mkdirSync(data);
  const store = join(data, 'agent.db');
  // Copied while open: the file, its -wal and -shm as a kill -9 leaves them.
  for (const suffix of ['', '-wal', '-shm']) copyFileSync(madeStore + suffix, store + suffix);
  box.close();
  StoreLock.acquire(store).release();
  for (const suffix of ['', '-wal', '-shm', '.lock']) {
    const f = store + suffix;
    chmodSync(f, suffix === '.lock' ? 0o644 : 0o640);
    if (!notWritable.includes(suffix)) {
      if (isRoot) chownSync(f, AGENT_UID, AGENT_UID);
    } else if (!isRoot) chmodSync(f, 0o444);
  }
  if (isRoot) chownSync(data, AGENT_UID, AGENT_UID);
  return { dir, store };
}

/** What the start and --check say of one companion the agent's user cannot write. */
function expected(f: string): string {
  const st = statSync(f);
  const who = `uid ${AGENT_UID} (EACCES; owned by uid ${st.uid}, mode 0${(st.mode & 0o777).toString(8)})`;
  const fix = isRoot ? `chown it to the user the agent runs as (chown ${AGENT_UID} ${f})` : `make it writable by its owner, the user the agent runs as (chmod u+rw ${f})`;
  if (f.endsWith('.lock')) return `cannot write the store's lock ${f} as ${who}, so it would keep no other agent out: ${fix}, or delete it while no agent runs`;
  if (f.endsWith('-wal')) return `cannot write the store's write-ahead log ${f} as ${who}, so SQLite cannot open the store: ${fix}; do not delete it, it may hold data not yet in agent.db`;
  return `cannot write the store's shared-memory index ${f} as ${who}, so SQLite cannot open the store: ${fix}`;
}

/** The agent's CLI as the agent's user; one that runs anyway (the lock it took holds nothing) is stopped after 15 s. */
async function run(args: string[], dir: string): Promise<{ code: number | null; stderr: string }> {
  const p = startAgentProcess(args, { env: { HOME: dir }, ...(isRoot && { uid: AGENT_UID }) });
  const timer = setTimeout(() => p.child.kill('SIGTERM'), 15_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stderr: p.stderr() };
}

describe('the store\'s lock, -wal and -shm that the agent\'s user cannot write (review rv182 H1, M1)', () => {
  it.each([
    ['a run killed with kill -9: the lock, -wal and -shm', ['.lock', '-wal', '-shm']],
    ['a run stopped cleanly: the lock file only (the -wal and -shm are deleted at the stop)', ['.lock']],
    ['the -wal and -shm only', ['-wal', '-shm']],
  ])('left by %s: the start and --check exit 2, naming each file, its owner and the fix', async (_what, notWritable) => {
    const { dir, store } = leftByAnotherRun(notWritable);
    const config = writeConfig(dir, { gateway: { id: 'gw' }, store: { path: store }, hub: { mode: 'off' }, display: { enabled: false }, drivers: [{ name: 'sim', type: 'simulator' }] });
    const lines = notWritable.map((suffix) => `  - store.path: ${expected(store + suffix)}\n`).sort((a, b) => order(a) - order(b));
    const said = [];
    for (const args of [['--check', '--config', config], ['--config', config]]) said.push({ args, ...(await run(args, dir)) });
    expect(said).toEqual(said.map(({ args }) => ({ args, code: 2, stderr: `invalid configuration in ${config}:\n${lines.join('')}` })));
    // Nothing was opened, made or moved.
    expect(readdirSync(join(dir, 'data')).sort()).toEqual(['agent.db', 'agent.db-shm', 'agent.db-wal', 'agent.db.lock']);
  }, 60_000);
});

/** The order the problems are listed in: the lock, the -wal, the -shm. */
function order(line: string): number {
  return line.includes("store's lock") ? 0 : line.includes('write-ahead log') ? 1 : 2;
}
