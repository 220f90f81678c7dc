// Shared set-up for the store tests: each store file in a temporary directory of its own, removed after each test.
// Not a *.test.ts file, so vitest does not collect it; tsconfig.build.json leaves test-support.ts out of dist.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach } from 'vitest';
import Database from 'better-sqlite3';
import { PACKAGE_ROOT } from '../paths.js';
import { Outbox } from './outbox.js';

/**
 * Call at a test file's top level: returns tempDb(), a path agent.db in a new directory under tmpdir named `prefix`…,
 * and registers an afterEach that removes every directory it made. Call it before the file's own afterEach: after-hooks
 * run last-registered first (vitest's default sequence.hooks 'stack'), so the file's steps (closing, restoring mocks)
 * run before the directories go.
 */
export function tempDbs(prefix: string): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return join(dir, 'agent.db');
  };
}

/**
 * A store of `rows` unsent numerics (a row each) and three packed messages, the second acknowledged, with one leaf page
 * of outbox_1's index (or of the table itself, whose rows are then lost) overwritten, as a disk does it: Outbox.open
 * finds it damaged and salvages it. Returns the ids of the two unacknowledged messages, the unsent records (rows and
 * those messages') and the rows on the damaged table page. 200,000 rows: about 20 MB, built in about a second.
 */
export function damagedStore(path: string, rows: number, damage: 'index' | 'table' = 'index'): { unacked: string[]; records: number; lostRows: number } {
  const env = (id: string, s: string, e: string[]) => `{"id":"${id}","s":"${s}","r":[${e.join(',')}]}`;
  const box = new Outbox(path, { rowMaxBytes: 0, synchronous: 'normal' });
  box.append(Array.from({ length: 300 }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'mon-1', body: JSON.stringify({ i, pad: 'x'.repeat(60) }) })));
  const messages = [0, 1, 2].map(() => box.pack('telemetry', 8000, env)!);
  box.acknowledge(messages[1]!.id);
  for (let b = 0; b < rows; b += 5000) {
    box.append(Array.from({ length: Math.min(5000, rows - b) }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'mon-1', body: JSON.stringify({ i: 1000 + b + i }) })));
  }
  box.close();
  const db = new Database(path, { readonly: true });
  const name = damage === 'index' ? 'outbox_1_stream_seq' : 'outbox_1';
  const pages = db.prepare<[string], { pageno: number; ncell: number }>("SELECT pageno, ncell FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno").all(name);
  db.close();
  const page = pages[Math.floor(pages.length / 2)]!;
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, (page.pageno - 1) * 4096);
  closeSync(fd);
  return { unacked: [messages[0]!.id, messages[2]!.id], records: rows + messages[0]!.count + messages[2]!.count, lostRows: damage === 'table' ? page.ncell : 0 };
}

const TSX = pathToFileURL(join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
const OUTBOX_TS = pathToFileURL(join(PACKAGE_ROOT, 'agent', 'store', 'outbox.ts')).href;

/**
 * Opens the damaged store at `path` in a child process (Outbox.open moves it aside and salvages it into a fresh one, or
 * resumes a salvage cut short) and stops that process with `signal` while the salvage runs. `at`: 'rows' (default) once
 * the fresh store holds 1000 more copied rows than before; 'start': the child kills itself (SIGKILL) at the salvage's
 * start event, after the move aside and before its note is written (review rv189 M1); 'opened': it kills itself once
 * Outbox.open has returned, before anything reports the result (review rv189 L3). Resolves once the child is gone, with
 * the rows the fresh store then holds; throws if the salvage ended before the stop.
 */
export async function stopMidSalvage(path: string, signal: NodeJS.Signals, at: 'rows' | 'start' | 'opened' = 'rows'): Promise<{ copiedRows: number }> {
  const kill = 'process.kill(process.pid, "SIGKILL")';
  const script =
    at === 'start'
      ? `import { Outbox } from ${JSON.stringify(OUTBOX_TS)}; Outbox.open(${JSON.stringify(path)}, { onSalvage: (e) => { if (e.kind === 'start') ${kill}; } }).outbox.close(); console.log('salvage ended');`
      : at === 'opened'
        ? `import { Outbox } from ${JSON.stringify(OUTBOX_TS)}; Outbox.open(${JSON.stringify(path)}); ${kill}; console.log('salvage ended');`
        : `import { Outbox } from ${JSON.stringify(OUTBOX_TS)}; Outbox.open(${JSON.stringify(path)}).outbox.close(); console.log('salvage ended');`;
  const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  const moved = () => readdirSync(dirname(path)).some((f) => f.startsWith(`${basename(path)}.corrupt-`) && !/-(wal|shm)$/.test(f));
  // The rows the fresh store holds (its file is at `path` once the damaged one has been moved aside), or 0.
  const copied = (): number => {
    if (!moved() || !existsSync(path)) return 0;
    let db: Database.Database | null = null;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
      return db.prepare<[], { n: number | null }>('SELECT max(seq) AS n FROM outbox_1').get()?.n ?? 0;
    } catch {
      return 0; // not made yet
    } finally {
      db?.close();
    }
  };
  const before = copied();
  try {
    if (at === 'rows') {
      for (;;) {
        if (gone) throw new Error(`the salvage ended before the stop: ${out}`);
        if (copied() >= before + 1000) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill(signal);
    }
    await exited;
  } finally {
    if (!gone) child.kill('SIGKILL');
  }
  if (out.includes('salvage ended')) throw new Error(`the salvage ended before the stop: ${out}`);
  if (!existsSync(path)) return { copiedRows: 0 };
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return { copiedRows: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM outbox_1').get()!.n };
  } finally {
    db.close();
  }
}
