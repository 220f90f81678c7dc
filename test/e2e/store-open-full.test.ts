// Opening the store on a disk another program has filled, for real (a small tmpfs, needs root as the other disk-full
// tests): the agent must start (display, bedside alarms) and say what it could not do, whether the store was damaged
// too (review rv100 H1) or its reserve was spent before a clean stop (review rv100 H2).
import { closeSync, existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { Outbox, type OutboxRecord, type Stream } from '../../agent/store/outbox.js';
import { GATEWAY_BED } from '../../agent/alarms/types.js';
import { registry } from '../../drivers/registry.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { fillDisk, freeBytes, mountTmpfs, unmountTmpfs, until } from '../support/tmpfs.js';

let mountPoint: string | null = null;
let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop().catch(() => undefined);
  agent = null;
  if (mountPoint) unmountTmpfs(mountPoint);
  mountPoint = null;
});

const batch = (from: number): OutboxRecord[] =>
  Array.from({ length: 200 }, (_, i) => ({ stream: 'telemetry', cls: 1, deviceId: 'backlog', body: JSON.stringify({ type: 'numeric', n: from + i, pad: 'x'.repeat(300) }) }));
const env = (id: string, stream: Stream, entries: string[]) => `{"messageId":"${id}","stream":"${stream}","records":[${entries.join(',')}]}`;

/** A store with a backlog on a 64 MiB tmpfs; `reserve`: a limits check made its reserve file. */
function storeWithBacklog(batches: number, reserve: boolean): { dir: string; storePath: string; box: Outbox } {
  const dir = tempDir();
  mountPoint = mountTmpfs(dir, '64m');
  const storePath = join(mountPoint, 'agent.db');
  const box = new Outbox(storePath);
  for (let i = 0; i < batches; i++) box.append(batch(i * 200));
  if (reserve) {
    box.enforceLimits(4 * 2 ** 30, 1e12);
    expect(existsSync(`${storePath}.reserve`)).toBe(true);
  }
  return { dir, storePath, box };
}

function damageHeader(path: string): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from('this is not an sqlite file at all'), 0, 33, 0);
  closeSync(fd);
}

async function startAgent(dir: string, storePath: string) {
  const cap = captureLog('info');
  const config = testConfig(dir, {
    store: { path: storePath },
    display: { enabled: true, port: 0 },
    drivers: [{ name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false, numericPeriodMs: 100 } }],
  });
  agent = new Agent({ config, registry, log: cap.log, transport: null });
  await agent.start();
  const gatewayAlarm = (key: string) => agent!.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === `gateway:${key}` && a.state !== 'resolved');
  return { cap, gatewayAlarm };
}

describe('opening the store on a full disk', () => {
  it('a damaged store on a disk full at start: moved aside, logged and alarmed as a loss, the agent runs on the reserve (review rv100 H1)', async () => {
    const { dir, storePath, box } = storeWithBacklog(20, true);
    box.close();
    damageHeader(storePath);
    fillDisk(mountPoint!);

    const { cap, gatewayAlarm } = await startAgent(dir, storePath);
    const damaged = cap.find('store file was damaged: moved aside for inspection, started a fresh store');
    expect(damaged).toMatchObject({ movedTo: expect.stringMatching(/agent\.db\.corrupt-/), reason: expect.stringMatching(/not a database/) });
    expect(existsSync(damaged!.movedTo as string)).toBe(true);
    expect(gatewayAlarm('store-recovered')).toMatchObject({ priority: 'medium', condition: { text: `Store was damaged and replaced; old file kept at ${damaged!.movedTo}` } });
    await until('the disk-full alarm', () => gatewayAlarm('disk-full-at-start') !== undefined);
    expect((await fetch(`${agent!.display!.address().url}/healthz`)).status).toBe(200);
  }, 60_000);

  it('the reserve spent at run time, a clean stop, the disk still full: the agent starts (display answers) on the store in exclusive mode, alarmed; space back ends the alarm (review rv100 H2)', async () => {
    const { dir, storePath, box } = storeWithBacklog(100, true);
    // Another program fills the disk while the store runs: packing and acknowledging give up the reserve.
    const others = [fillDisk(mountPoint!, 'other-1')];
    for (let k = 0; k < 50; k++) {
      const m = box.pack('telemetry', 65536, env);
      if (m) box.acknowledge(m.id);
    }
    expect(box.enforceLimits(4 * 2 ** 30, 1e12)).toMatchObject({ reserveReleased: true, reserve: false });
    box.close(); // a clean stop (an update, `iotedge system restart`): -wal and -shm deleted
    others.push(fillDisk(mountPoint!, 'other-2')); // and the other program takes that room
    expect(freeBytes(mountPoint!)).toBeLessThan(32 * 1024);

    const { cap, gatewayAlarm } = await startAgent(dir, storePath);
    expect((await fetch(`${agent!.display!.address().url}/healthz`)).status).toBe(200);
    expect(cap.find(/^the disk is full and the store has no reserve left: opened in exclusive locking mode/)).toMatchObject({ store: storePath });
    await until('the disk-full alarm', () => gatewayAlarm('disk-full-at-start') !== undefined);
    expect(gatewayAlarm('disk-full-at-start')).toMatchObject({
      priority: 'medium',
      condition: { text: expect.stringMatching(/^Gateway disk full at start, no reserve left: the store takes no data until disk space is freed/) },
    });
    // Readings are refused by the store, as on any full disk, and alarmed.
    await until('store refusing', () => gatewayAlarm('store-refusing') !== undefined);
    expect(gatewayAlarm('store-in-memory')).toBeUndefined();

    // Space back: data is taken again, the reserve is made again, and the alarm ends.
    for (const f of others) rmSync(f);
    await until('the reserve made again', () => existsSync(`${storePath}.reserve`), 20_000);
    await until('the disk-full alarm ended', () => gatewayAlarm('disk-full-at-start') === undefined, 20_000);
    const committed = agent!.metrics.get('store_committed_total');
    await until('data taken again', () => agent!.metrics.get('store_committed_total') > committed, 20_000);
  }, 90_000);

  it('a damaged store, no reserve and a full disk: the agent starts on a store in memory with a high latched alarm, and reports the damage (review rv100 H1, H2)', async () => {
    const { dir, storePath, box } = storeWithBacklog(20, false);
    box.close();
    damageHeader(storePath);
    fillDisk(mountPoint!);

    const { cap, gatewayAlarm } = await startAgent(dir, storePath);
    expect((await fetch(`${agent!.display!.address().url}/healthz`)).status).toBe(200);
    expect(cap.find(/^the disk is full and the store cannot be opened: running on an empty store in memory/)).toMatchObject({ store: storePath });
    expect(gatewayAlarm('store-in-memory')).toMatchObject({
      priority: 'high',
      condition: { text: expect.stringMatching(/^Gateway store cannot be opened \(disk full\): running on a store in memory, nothing is kept across a restart/) },
    });
    expect(cap.find('store file was damaged: moved aside for inspection, started a fresh store')).toBeDefined();
    expect(gatewayAlarm('store-recovered')).toBeDefined();
    // Readings are taken (in memory) and the bedside works.
    const committed = agent!.metrics.get('store_committed_total');
    await until('data taken', () => agent!.metrics.get('store_committed_total') > committed, 20_000);
  }, 60_000);
});
