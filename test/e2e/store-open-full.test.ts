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
import { MllpClient, freePort } from '../support/mllp-client.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';
import type { DriverEntry } from '../../agent/config/load.js';

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

async function startAgent(dir: string, storePath: string, more: Partial<DriverEntry>[] = []) {
  const cap = captureLog('info');
  const config = testConfig(dir, {
    store: { path: storePath },
    display: { enabled: true, port: 0 },
    drivers: [{ name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false, numericPeriodMs: 100 } }, ...more],
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
    // Its header damaged: nothing of it can be read, into the store the reserve made room for (review rv182 H2).
    expect(gatewayAlarm('store-recovered')).toMatchObject({
      priority: 'medium',
      condition: { text: `Store was damaged and replaced; old file kept at ${damaged!.movedTo}; 0 unsent records salvaged into the new store, an unknown number could not be read` },
    });
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

  it('a damaged store, no reserve and a full disk: the agent starts on a store in memory that takes nothing (HL7 senders keep their data), and the damage is reported at the first start with room (review rv100 H1, H2; rv105 H1, H2)', async () => {
    const { dir, storePath, box } = storeWithBacklog(20, false);
    box.close();
    damageHeader(storePath);
    const filler = fillDisk(mountPoint!);
    const port = await freePort();
    const hl7 = [{ name: 'mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } }];

    const { cap, gatewayAlarm } = await startAgent(dir, storePath, hl7);
    expect((await fetch(`${agent!.display!.address().url}/healthz`)).status).toBe(200);
    expect(cap.find(/^the disk is full and the store cannot be opened: running on an empty store in memory/)).toMatchObject({ store: storePath });
    expect(gatewayAlarm('store-in-memory')).toMatchObject({
      priority: 'high',
      condition: { text: expect.stringMatching(/^Gateway store cannot be opened \(disk full\): running on a store in memory that takes no data/) },
    });
    const damaged = cap.find('store file was damaged: moved aside for inspection, started a fresh store');
    expect(damaged).toMatchObject({ movedTo: expect.stringMatching(/agent\.db\.corrupt-/) });
    const recoveredText = `Store was damaged and replaced; old file kept at ${damaged!.movedTo}`;
    // No store on disk to salvage into (review rv182 H2); the later start that reports the file says only where it is.
    expect(gatewayAlarm('store-recovered')).toMatchObject({
      condition: { text: `${recoveredText}; nothing of it was salvaged (no store on disk to copy into): its unsent data is only in that file (README: Damaged store)` },
    });
    // Nothing is taken: an HL7 sender is told to resend (it keeps its data), not that it was stored (review rv105 H1).
    const client = await MllpClient.connect(port);
    const bed = initialBeds(1, rng(7))[0]!;
    const acks: string[] = [];
    for (let i = 0; i < 3; i++) acks.push((await client.send(pcd01Message(bed, `MEM-${i}`, Date.now(), { waveform: false }))).code);
    client.close();
    expect(acks.filter((c) => c !== 'CE' && c !== 'AR')).toEqual([]);
    // Readings are refused as on a full disk, alarmed, and still reach the bedside's alarms (no 'No data').
    await until('store refusing', () => gatewayAlarm('store-refusing') !== undefined);
    expect(agent!.metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'sim' })).toBeGreaterThan(0);
    expect(agent!.alarms.engine.list().filter((a) => /^No data/.test(a.condition.text))).toEqual([]);
    expect(agent!.outbox.nothingToSend()).toBe(true);
    await agent!.stop();
    agent = null;

    // Space freed, the restart the alarm asks for: the damaged file is reported again, though its note went with the
    // store in memory (review rv105 H2).
    rmSync(filler);
    const second = await startAgent(dir, storePath);
    expect(second.gatewayAlarm('store-in-memory')).toBeUndefined();
    expect(second.gatewayAlarm('store-recovered')).toMatchObject({ priority: 'medium', condition: { text: recoveredText } });
    expect(second.cap.find(/^damaged store files moved aside earlier have no note that they were reported/)).toMatchObject({ files: [damaged!.movedTo] });
    await agent!.stop();
    agent = null;

    // Not acknowledged: the next start raises it once more, from its note; acknowledged: never again.
    const third = await startAgent(dir, storePath);
    const again = agent!.alarms.engine.list({ bed: GATEWAY_BED }).filter((a) => a.key === 'gateway:store-recovered');
    expect(again).toHaveLength(1);
    expect(third.cap.find(/^damaged store files moved aside earlier have no note that they were reported/)).toBeUndefined();
    expect(agent!.alarms.acknowledge(again[0]!.id, { user: 'nurse', role: 'clinician', from: 'test' }).ok).toBe(true);
    await agent!.stop();
    agent = null;
    const fourth = await startAgent(dir, storePath);
    expect(fourth.gatewayAlarm('store-recovered')).toBeUndefined();
    expect(existsSync(damaged!.movedTo as string)).toBe(true);
  }, 90_000);
});

describe('a store damaged again', () => {
  it('only the newly damaged file is alarmed: one reported and acknowledged before is not alarmed again as unreported (review rv106 M3)', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'agent.db');
    const box = new Outbox(storePath);
    box.append(batch(0));
    box.close();
    damageHeader(storePath);
    const first = await startAgent(dir, storePath);
    const firstMoved = first.cap.find('store file was damaged: moved aside for inspection, started a fresh store')!.movedTo as string;
    const alarm = first.gatewayAlarm('store-recovered')!;
    expect(alarm.condition.text).toBe(`Store was damaged and replaced; old file kept at ${firstMoved}; 0 unsent records salvaged into the new store, an unknown number could not be read`);
    expect(agent!.alarms.acknowledge(alarm.id, { user: 'nurse', role: 'clinician', from: 'test' }).ok).toBe(true);
    await agent!.stop();
    agent = null;

    // The fresh store is damaged in turn: the mark that the first file was reported must not go with it.
    damageHeader(storePath);
    const second = await startAgent(dir, storePath);
    const secondMoved = second.cap.find('store file was damaged: moved aside for inspection, started a fresh store')!.movedTo as string;
    expect(secondMoved).not.toBe(firstMoved);
    expect(existsSync(firstMoved)).toBe(true);
    expect(second.gatewayAlarm('store-recovered')).toMatchObject({ condition: { text: `Store was damaged and replaced; old file kept at ${secondMoved}; 0 unsent records salvaged into the new store, an unknown number could not be read` } });
    expect(second.cap.find(/^damaged store files moved aside earlier/)).toBeUndefined();
    await agent!.stop();
    agent = null;
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
