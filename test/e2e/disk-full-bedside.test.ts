// A full disk at the bedside: the store refuses readings (the driver is told), but they are still shown and alarmed
// here, and a gateway alarm says the data is not being kept. Before, the refused readings never reached the alarm
// engine: a desaturation to 76 % raised nothing while the disk was full, and every monitor showed 'No data'.
// Needs root to mount tmpfs (as on CI and the dev machines), like disk-full.test.ts.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { GATEWAY_BED } from '../../agent/alarms/types.js';
import { registry } from '../../drivers/registry.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { fillDisk, mountTmpfs, unmountTmpfs, until } from '../support/tmpfs.js';

let mountPoint: string | null = null;
let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop().catch(() => undefined);
  agent = null;
  if (mountPoint) unmountTmpfs(mountPoint);
  mountPoint = null;
});

describe('disk full at the bedside', () => {
  it('readings the store refuses are still alarmed; a latched gateway alarm says they are not kept', async () => {
    const dir = tempDir();
    mountPoint = mountTmpfs(dir, '8m');
    const cap = captureLog();
    const config = testConfig(dir, {
      store: { path: join(mountPoint, 'agent.db'), synchronous: 'full', commitIntervalMs: 5 },
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 2, waveforms: false, numericPeriodMs: 100, scenario: [{ atS: 5, bed: 1, set: { spo2: 75 } }] } }],
    });
    agent = new Agent({ config, registry, log: cap.log });
    await agent.start();
    await until('first commits', () => agent!.metrics.get('store_committed_total') > 20);

    const filler = fillDisk(mountPoint);
    await until('ingest refused', () => agent!.metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'ward-sim' }) > 0);
    const refusedAt = Date.now();
    const storeAlarm = () => agent!.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:store-refusing');
    await until('store-refusing raised', () => storeAlarm() !== undefined);
    expect(storeAlarm()).toMatchObject({ priority: 'medium', category: 'technical', state: 'active' });
    expect(storeAlarm()!.condition.text).toBe('Gateway cannot store data (disk full): readings are shown and alarmed here but not kept or forwarded');

    // SpO2 75 % from 5 s after the start, while nothing can be stored: the high desaturation alarm is raised all the same.
    const desat = () => agent!.alarms.engine.list({ bed: 'ICU-01' }).find((a) => a.source === 'limit' && /^SpO2 DESAT/.test(a.condition.text));
    await until('SpO2 DESAT raised', () => desat() !== undefined, 30_000);
    const committedBefore = agent.metrics.get('store_committed_total');
    expect(desat()!.raisedAt).toBeGreaterThan(refusedAt - 1000);
    expect(agent.metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'ward-sim' })).toBeGreaterThan(0);
    // No 'No data' for monitors that are sending.
    expect(agent.alarms.engine.list().filter((a) => /^No data/.test(a.condition.text))).toEqual([]);

    // Space returns: the condition ends, the alarm stays latched until someone acknowledges it.
    rmSync(filler);
    await until('commits again', () => agent!.metrics.get('store_committed_total') > committedBefore + 20);
    await until('store-refusing ended', () => storeAlarm()?.conditionPresent === false);
    expect(storeAlarm()!.state).toBe('latched');
    expect(cap.find('store takes events again')).toMatchObject({ reason: 'SQLITE_FULL' });
  }, 60_000);
});
