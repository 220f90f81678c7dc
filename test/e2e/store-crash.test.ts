// The store across process deaths, with real agent processes and real SQLite files: an agent killed (kill -9) in
// the middle of an eviction leaves the loss written down, and the next start reports it; a second agent on the
// same store is refused at open, and the lock goes with the process that held it, kill -9 included.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox } from '../../agent/store/outbox.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { startAgentProcess, tempDir, writeConfig, type AgentProcess } from '../support/agent-process.js';

let procs: AgentProcess[] = [];
afterEach(() => {
  for (const p of procs) p.child.kill('SIGKILL');
  procs = [];
});

function start(config: string): AgentProcess {
  const p = startAgentProcess(['--config', config]);
  procs.push(p);
  return p;
}

const moduleUrl = (path: string) => pathToFileURL(join(PACKAGE_ROOT, path)).href;

/** Telemetry records in the store, and what its meta table says about losses. */
function storeState(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    return {
      telemetry: db.prepare<[], { n: number }>("SELECT coalesce(sum(count), 0) AS n FROM outbox WHERE stream = 'telemetry'").get()!.n,
      lossNote: db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'loss:store-evicted'").get()?.value ?? null,
      unreported: db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'evicted-unreported'").get()?.value ?? null,
      evictedAlarmRecords: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM outbox WHERE stream = 'alarms' AND body LIKE '%store-evicted%'").get()!.n,
    };
  } finally {
    db.close();
  }
}

describe('store across process deaths', () => {
  it('kill -9 in the middle of an eviction: the next start logs, counts and alarms every record evicted', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'agent.db');
    // ~5 MB of unsent numerics against a 1 MiB capacity: the start's check evicts them in passes.
    const box = new Outbox(storePath);
    for (let b = 0; b < 10; b++) {
      box.append(Array.from({ length: 2000 }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'd', body: JSON.stringify({ n: b * 2000 + i, pad: 'x'.repeat(200) }) })));
    }
    box.close();
    const prefilled = storeState(storePath).telemetry;
    const config = writeConfig(dir, {
      gateway: { id: 'evict-kill-gw' },
      log: { level: 'info', pretty: 'never' },
      store: { path: storePath, synchronous: 'full', maxBytes: 1_048_576 },
      hub: { mode: 'off' },
      drivers: [],
    });

    // The agent, killed right after the first eviction pass committed: enforceLimits() measures the store before it
    // evicts, after trimming, then after each pass, so the third measure follows the first pass.
    const script = join(dir, 'evict-and-die.mts'); // .mts: an ES module outside the package
    writeFileSync(
      script,
      `import { Agent } from '${moduleUrl('agent/agent.ts')}';
import { registry } from '${moduleUrl('drivers/registry.ts')}';
import { loadConfigFile } from '${moduleUrl('agent/config/load.ts')}';
import { createLogger } from '${moduleUrl('agent/log.ts')}';
const config = loadConfigFile(process.argv[2], registry);
const agent = new Agent({ config, registry, log: createLogger(config.log) });
const measure = agent.outbox.usedBytes.bind(agent.outbox);
let calls = 0;
agent.outbox.usedBytes = () => {
  if (++calls === 3) process.kill(process.pid, 'SIGKILL');
  return measure();
};
await agent.start();
`,
    );
    const child = spawn(process.execPath, ['--import', moduleUrl('node_modules/tsx/dist/esm/index.mjs'), script, config], { cwd: PACKAGE_ROOT, stdio: 'ignore' });
    const died = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    expect(died).toBe('SIGKILL');
    const afterKill = storeState(storePath);
    expect(afterKill.telemetry).toBeLessThan(prefilled); // the kill came after records were evicted...
    expect(afterKill.lossNote).toBeNull(); // ...and before any report of them

    // A normal start: it reports what the killed run evicted along with what it evicts itself.
    const again = start(config);
    await again.waitForLog('agent running');
    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
    const reports = again.lines.filter((l) => l.msg === 'store limits reached: unsent data evicted, oldest and lowest priority first');
    const reported = reports.reduce((n, l) => n + (l.evicted as { numerics: number }).numerics, 0);
    const end = storeState(storePath);
    expect(reported).toBe(prefilled - end.telemetry);
    expect(reports[0]).toMatchObject({ reason: 'capacity', evictedBeforeRestartSince: expect.any(String) });
    // The latched alarm was raised and journalled, and its note is in the store (a further restart raises it again);
    // the tally it was reported from is gone.
    expect(end.evictedAlarmRecords).toBeGreaterThan(0);
    expect((JSON.parse(end.lossNote!) as { text: string }).text).toMatch(
      new RegExp(`^Store full: ${reported} unsent records discarded \\(waveforms first\\) \\(since 20\\d\\d-.*, across a restart\\)$`),
    );
    expect(end.unreported).toBeNull();
  });

  it('a second agent on the same store is refused at open, naming the store; the lock goes with the first (kill -9)', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'agent.db');
    const config = writeConfig(dir, {
      gateway: { id: 'lock-gw' },
      log: { level: 'info', pretty: 'never' },
      store: { path: storePath },
      hub: { mode: 'off' },
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 2, waveforms: false, numericPeriodMs: 200 } }],
    });
    const first = start(config);
    await first.waitForLog('agent running');

    const second = start(config);
    const outcome = await Promise.race([second.exited.then((e) => ({ exited: e })), second.waitForLog('agent running').then(() => 'running' as const)]);
    expect(outcome).toEqual({ exited: { code: 1, signal: null } });
    const fatal = second.lines.find((l) => l.msg === 'cannot start');
    expect((fatal?.err as { message?: string } | undefined)?.message).toBe(
      `store ${storePath} is in use by another agent (it holds ${storePath}.lock): stop that agent first, or give this one its own store.path`,
    );
    // Refused before anything else started.
    expect(second.lines.some((l) => l.msg === 'driver started' || l.msg === 'store opened')).toBe(false);
    expect(first.child.exitCode).toBeNull();

    first.child.kill('SIGKILL');
    await first.exited;
    const third = start(config);
    await third.waitForLog('agent running');
    // The kill -9 is said at the next start, naming the run that did not stop (review rv42 §10).
    expect(third.lines.find((l) => String(l.msg).startsWith('the previous run did not stop cleanly'))).toMatchObject({ level: 40, previous: { pid: first.child.pid } });
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
    // After a clean stop, nothing is said.
    const fourth = start(config);
    await fourth.waitForLog('agent running');
    expect(fourth.lines.some((l) => String(l.msg).startsWith('the previous run did not stop cleanly'))).toBe(false);
    fourth.child.kill('SIGTERM');
    expect((await fourth.exited).code).toBe(0);
  });
});
