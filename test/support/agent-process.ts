// Runs the agent's real CLI (agent/main.ts) as a child process, for tests that kill it, read its exit code
// or its log output. Sources run through tsx's loader, so no build step is needed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../../agent/paths.js';

const TSX = pathToFileURL(join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
const MAIN = join(PACKAGE_ROOT, 'agent', 'main.ts');

export interface AgentProcess {
  child: ChildProcess;
  /** Log lines parsed from stdout (JSON), in order. */
  lines: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a log line matching `msg` appears. */
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Agents started by this test file and not yet exited. */
const running = new Set<ChildProcess>();
// A test that fails before it stops its agent must not leave it running (three held ports and stores for hours on a
// developer's machine): under vitest, whatever is left is killed after the file's tests (the worker is not always
// ended in a way that runs 'exit' handlers); a script (scripts/fault-kill9.ts) stops its own.
if (process.env.VITEST) {
  const { afterAll } = await import('vitest');
  afterAll(() => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export function tempDir(prefix = 'agent-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeConfig(dir: string, config: unknown, name = 'config.json'): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** `uid`: run as that user (and group), as the IoT Edge image does (needs root). */
export function startAgentProcess(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; uid?: number } = {}): AgentProcess {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: opts.cwd ?? PACKAGE_ROOT,
    env: { ...process.env, ...opts.env },
    ...(opts.uid !== undefined && { uid: opts.uid, gid: opts.uid }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text, unparsed: true };
      }
      lines.push(line);
      for (const w of waiters.slice()) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const matches = (msg: string | RegExp) => (l: Record<string, unknown>) =>
    typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg));
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    waitForLog(msg, timeoutMs = 20_000) {
      const found = lines.find(matches(msg));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no log line ${String(msg)} within ${timeoutMs} ms; stderr: ${err.slice(-2000)}; last lines: ${JSON.stringify(lines.slice(-5))}`)),
          timeoutMs,
        );
        waiters.push({
          match: matches(msg),
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}
