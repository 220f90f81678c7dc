// A full disk, for real: the store lives on a small tmpfs that the test fills up. Ingest must refuse loudly
// (the driver is told, a counter and a log line say so), nothing already accepted may be harmed, and the agent
// must recover by itself when space returns. Needs root to mount tmpfs (as on CI and the dev machines).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { GATEWAY_BED } from '../../agent/alarms/types.js';
import { registry } from '../../drivers/registry.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';

let mountPoint: string | null = null;
let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop().catch(() => undefined);
  agent = null;
  if (mountPoint) execFileSync('umount', [mountPoint]);
  mountPoint = null;
});

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('disk full', () => {
  it('refuses ingest with a clear error while the disk is full, keeps what it had, and recovers when space returns', async () => {
    const dir = tempDir();
    mountPoint = join(dir, 'mnt');
    mkdirSync(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint]);
    } catch (err) {
      mountPoint = null;
      throw new Error(`this test mounts a small tmpfs and needs root: ${(err as Error).message}`);
    }
    const storePath = join(mountPoint, 'agent.db');
    const cap = captureLog();
    const config = testConfig(dir, {
      store: { path: storePath, synchronous: 'full', commitIntervalMs: 5 },
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 8, waveforms: false, numericPeriodMs: 100 } }],
    });
    agent = new Agent({ config, registry, log: cap.log });
    await agent.start();
    await until('first commits', () => agent!.metrics.get('store_committed_total') > 100);

    // Fill the disk, leaving almost nothing.
    const filler = join(mountPoint, 'filler');
    const free = statfsSync(mountPoint).bavail * statfsSync(mountPoint).bsize;
    try {
      writeFileSync(filler, Buffer.alloc(Math.max(0, free - 4096)));
    } catch {
      // ENOSPC while writing the filler is fine: the disk is full either way.
    }
    await until('ingest refused', () => agent!.metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL' }) > 0);
    const refusedLog = cap.find('store refused events; the sender is told they were not accepted');
    expect(refusedLog).toMatchObject({ code: 'SQLITE_FULL' });
    expect(refusedLog!.devices).toEqual(expect.arrayContaining([expect.stringMatching(/^sim-monitor-/)]));
    await until('driver told', () => agent!.metrics.get('driver_emit_rejected', { driver: 'ward-sim' }) > 0);
    // The gateway's own alarm changes (store nearly full) cannot be journalled either: held in memory, and a technical
    // alarm says so (the checks run every 10 s).
    const journalAlarm = () => agent!.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:alarm-journal');
    await until('alarm-journal raised', () => journalAlarm() !== undefined, 30_000);
    expect(journalAlarm()!.condition.text).toMatch(/Alarm changes cannot be stored: \d+ held in memory/);
    expect(cap.find('cannot store alarm changes; holding them in memory and retrying')).toBeDefined();
    const acceptedWhileFull = agent.metrics.get('store_committed_total');

    // Space returns: the agent recovers by itself.
    rmSync(filler);
    await until('commits again', () => agent!.metrics.get('store_committed_total') > acceptedWhileFull + 50);
    await until('held alarm changes stored', () => agent!.alarms.journalState().held === 0);
    await until('alarm-journal cleared', () => journalAlarm()?.conditionPresent !== true, 30_000);
    const stopped = agent;
    agent = null;
    await stopped.stop();
    const committed = stopped.metrics.get('store_committed_total');

    // Nothing that was accepted was harmed: the store is intact and holds every committed record.
    const db = new Database(storePath, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    // Every committed driver event is one record in the outbox (hub off: nothing was packed or sent); alarm-change
    // records are the alarm engine's journal, not driver events (they never share a row with telemetry).
    const rows = db.prepare(`SELECT sum(count) AS n FROM outbox WHERE body NOT LIKE '{"type":"alarm-change"%'`).get() as { n: number };
    db.close();
    expect(rows.n).toBe(committed);
  });
});
