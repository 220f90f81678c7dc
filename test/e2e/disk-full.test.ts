// A full disk, for real: the store lives on a small tmpfs that the test fills up. Ingest must refuse loudly
// (the driver is told, a counter and a log line say so), nothing already accepted may be harmed, and the agent
// must recover by itself when space returns. And a backlog that fills the disk itself must not deadlock the store:
// the disk counts as a capacity. Needs root to mount tmpfs (as on CI and the dev machines).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { Outbox } from '../../agent/store/outbox.js';
import { GATEWAY_BED } from '../../agent/alarms/types.js';
import { registry } from '../../drivers/registry.js';
import { startHubStandin, type HubStandin } from '../hub-standin/index.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { fillDisk, freeBytes, mountTmpfs, unmountTmpfs, until } from '../support/tmpfs.js';

let mountPoint: string | null = null;
let agent: Agent | null = null;
let hub: HubStandin | null = null;

/** An agent on the store at `storePath` with a simulated ward of `beds` beds (numerics every 100 ms), its hub down. */
async function wardWithHubDown(dir: string, storePath: string, beds: number, key: string): Promise<{ cap: ReturnType<typeof captureLog> }> {
  hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: Buffer.from(key).toString('base64') }] });
  hub.refuseConnections('tcp-close');
  const cap = captureLog('info');
  const config = testConfig(
    dir,
    {
      store: { path: storePath, commitIntervalMs: 20 },
      hub: { maxInFlight: 8 },
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds, waveforms: false, numericPeriodMs: 100, episodesPerHour: 0 } }],
    },
    hub.connectionString('gw-dev'),
  );
  agent = new Agent({ config, registry, log: cap.log });
  await agent.start();
  return { cap };
}
afterEach(async () => {
  await agent?.stop().catch(() => undefined);
  agent = null;
  await hub?.stop();
  hub = null;
  if (mountPoint) unmountTmpfs(mountPoint);
  mountPoint = null;
});

describe('disk full', () => {
  it('refuses ingest with a clear error while the disk is full, keeps what it had, and recovers when space returns', async () => {
    const dir = tempDir();
    mountPoint = mountTmpfs(dir, '8m');
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
    const filler = fillDisk(mountPoint);
    await until('ingest refused', () => agent!.metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'ward-sim' }) > 0);
    const refusedLog = cap.find('store refused events; the sender is told they were not accepted');
    expect(refusedLog).toMatchObject({ code: 'SQLITE_FULL' });
    expect(refusedLog!.devices).toEqual(expect.arrayContaining([expect.stringMatching(/^sim-monitor-/)]));
    await until('driver told', () => agent!.metrics.get('driver_emit_failures_total', { driver: 'ward-sim' }) > 0);
    // The gateway's own alarm changes (store nearly full) cannot be journalled either: held in memory, and a technical
    // alarm says so (the checks run every 10 s).
    const journalAlarm = () => agent!.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:alarm-journal');
    await until('alarm-journal raised', () => journalAlarm() !== undefined, 30_000);
    expect(journalAlarm()!.condition.text).toMatch(/Alarm changes cannot be stored: \d+ held in memory/);
    expect(cap.find(/^cannot store alarm changes; holding them in memory and retrying/)).toBeDefined();
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

  it('a backlog that filled the disk while the hub was down: the oldest telemetry is evicted for the disk, new data is accepted, and it all drains once the hub is back', async () => {
    const dir = tempDir();
    mountPoint = mountTmpfs(dir, '64m');
    const storePath = join(mountPoint, 'agent.db');
    // An outage's backlog has left a few MB of the disk, less than the store keeps free to pack, acknowledge and
    // checkpoint (an agent that did not count the disk let its backlog fill it to the last byte, and then could pack
    // nothing, ever: every reading refused, the backlog never sent).
    const box = new Outbox(storePath, { synchronous: 'normal' });
    let prefilled = 0;
    while (freeBytes(mountPoint) > 1024 * 1024) {
      box.append(Array.from({ length: 1000 }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'backlog', body: JSON.stringify({ type: 'numeric', deviceId: 'backlog', n: prefilled + i, pad: 'x'.repeat(300) }) })));
      prefilled += 1000;
    }
    box.close();
    const freeAtStart = freeBytes(mountPoint);

    const { cap } = await wardWithHubDown(dir, storePath, 48, 'disk-backlog-key-0123456789abcd!');
    if (!agent || !hub) throw new Error('the agent did not start');

    // The hub stays down while the ward writes more than the disk had free: still accepted, none refused. (A numeric
    // record of the simulator is over 150 bytes of JSON.)
    await until('more accepted than the disk had free', () => agent!.metrics.get('store_committed_total') * 150 > freeAtStart + 2 * 1024 * 1024, 60_000);
    expect(agent.metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'ward-sim' })).toBe(0);
    // Counted, logged and alarmed as any eviction, saying that the disk was the limit.
    expect(agent.metrics.get('store_evicted_total', { class: 'numeric' })).toBeGreaterThan(0);
    expect(agent.metrics.get('store_evicted_total', { class: 'alarm' })).toBe(0);
    expect(cap.find('store limits reached: unsent data evicted, oldest and lowest priority first')).toMatchObject({ reason: 'capacity', limitedBy: 'disk' });
    const evictedAlarm = agent.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:store-evicted');
    expect(evictedAlarm?.condition.text).toMatch(/^Store full \(the disk is the limit\): \d+ unsent records discarded/);

    // The hub is back: everything left drains.
    hub.refuseConnections('off');
    expect(await agent.drain(90_000)).toBe(true);
    const committed = agent.metrics.get('store_committed_total');
    const evicted = agent.metrics.get('store_evicted_total', { class: 'numeric' }) + agent.metrics.get('store_evicted_total', { class: 'waveform' });
    const stopped = agent;
    agent = null;
    await stopped.stop();
    // Every record accepted is at the hub or was evicted (and counted): nothing else is missing.
    const atHub = new Map<string, number>();
    for (const m of hub.messages) {
      if (m.properties.kind === 'telemetry') atHub.set(m.messageId!, (JSON.parse(m.body.toString('utf8')) as { records: unknown[] }).records.length);
    }
    const delivered = [...atHub.values()].reduce((a, n) => a + n, 0);
    expect(delivered).toBeGreaterThan(0);
    expect(delivered + evicted).toBe(prefilled + committed);
  }, 180_000);

  it('another program fills the disk at once while the hub is down: the store deletes its reserve, evicts for the disk in small passes, takes data again, drains once the hub is back, and makes its reserve again', async () => {
    const dir = tempDir();
    mountPoint = mountTmpfs(dir, '64m');
    const storePath = join(mountPoint, 'agent.db');
    const reserve = `${storePath}.reserve`;
    // A backlog of an outage (the hub down), well within what the disk takes.
    const box = new Outbox(storePath, { synchronous: 'normal' });
    let prefilled = 0;
    while (box.usedBytes() < 28 * 1024 * 1024) {
      box.append(Array.from({ length: 1000 }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'backlog', body: JSON.stringify({ type: 'numeric', deviceId: 'backlog', n: prefilled + i, pad: 'x'.repeat(300) }) })));
      prefilled += 1000;
    }
    box.close();

    const { cap } = await wardWithHubDown(dir, storePath, 16, 'disk-filled-key-0123456789abcdef!');
    if (!agent || !hub) throw new Error('the agent did not start');
    expect(existsSync(reserve)).toBe(true);
    await until('first commits', () => agent!.metrics.get('store_committed_total') > 100);

    // Another program (an image pull, a core dump) takes all the disk at once, far more than the headroom between two
    // checks: every write of the store fails for room, eviction included (it needs WAL room too).
    const filler = fillDisk(mountPoint, 'other-program');
    // The next limits check deletes the reserve, checkpoints and evicts for the disk in small passes: counted, logged
    // and alarmed as any eviction for the disk, never "cannot enforce store limits".
    await until('evicted for the disk', () => agent!.metrics.get('store_evicted_total', { class: 'numeric' }) > 0, 30_000);
    expect(cap.find('cannot enforce store limits')).toBeUndefined();
    expect(existsSync(reserve)).toBe(false);
    expect(agent.metrics.get('store_evicted_total', { class: 'alarm' })).toBe(0);
    expect(cap.find('store limits reached: unsent data evicted, oldest and lowest priority first')).toMatchObject({ reason: 'capacity', limitedBy: 'disk' });
    expect(agent.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:store-evicted')?.condition.text).toMatch(/^Store full \(the disk is the limit\)/);
    // The reserve given up is counted, logged and alarmed until the disk has room for a new one.
    expect(agent.metrics.get('store_reserve_released_total')).toBe(1);
    expect(cap.find('disk full: the store deleted its reserve file to go on packing, acknowledging and evicting; free disk space')).toBeDefined();
    const onReserve = () => agent!.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:disk-full-at-start' && a.state !== 'resolved');
    expect(onReserve()?.condition.text).toMatch(/^Gateway disk full: the store runs on its small reserve/);
    // Readings are taken again in the room the eviction made inside the store's file.
    const committedAfterEviction = agent.metrics.get('store_committed_total');
    await until('data taken again', () => agent!.metrics.get('store_committed_total') > committedAfterEviction + 1000, 30_000);

    // The hub is back: the backlog drains although the disk is still full (packing and acknowledging have room).
    hub.refuseConnections('off');
    expect(await agent.drain(90_000)).toBe(true);
    expect(cap.find('cannot enforce store limits')).toBeUndefined();

    // The other program's file goes: the reserve is made again.
    rmSync(filler);
    await until('the reserve made again', () => existsSync(reserve), 30_000);
    await until('its alarm ended', () => onReserve() === undefined, 30_000);
    const committed = agent.metrics.get('store_committed_total');
    const evicted = agent.metrics.get('store_evicted_total', { class: 'numeric' }) + agent.metrics.get('store_evicted_total', { class: 'waveform' });
    const stopped = agent;
    agent = null;
    await stopped.stop();
    // Every record accepted is at the hub or was evicted (and counted): nothing else is missing.
    let delivered = 0;
    for (const m of hub.messages) {
      if (m.properties.kind === 'telemetry') delivered += (JSON.parse(m.body.toString('utf8')) as { records: unknown[] }).records.length;
    }
    const atHubOnce = new Set(hub.messages.filter((m) => m.properties.kind === 'telemetry').map((m) => m.messageId)).size;
    expect(atHubOnce).toBe(hub.messages.filter((m) => m.properties.kind === 'telemetry').length);
    expect(delivered + evicted).toBe(prefilled + committed);
  }, 180_000);

  it('a disk already full at start: the store opens on its reserve, the agent runs (display, alarms) and says so; the reserve comes back with space', async () => {
    const dir = tempDir();
    mountPoint = mountTmpfs(dir, '96m');
    const config = testConfig(mountPoint, {
      store: { path: join(mountPoint, 'agent.db'), synchronous: 'full' },
      display: { enabled: true, port: 0 },
      drivers: [{ name: 'sim', type: 'simulator', options: { beds: 2, waveforms: false, numericPeriodMs: 200 } }],
    });
    agent = new Agent({ config, registry, log: captureLog('info').log, transport: null });
    await agent.start();
    expect(existsSync(join(mountPoint, 'agent.db.reserve'))).toBe(true);
    await agent.stop();
    // Another program fills the disk while the agent is down (a log storm, a core dump).
    const filler = fillDisk(mountPoint);
    expect(freeBytes(mountPoint)).toBeLessThan(64 * 1024);

    const captured = captureLog('info');
    agent = new Agent({ config, registry, log: captured.log, transport: null });
    await agent.start();
    expect(captured.lines.find((l) => String(l.msg).startsWith('the disk is full: the store\'s reserve file was deleted'))).toBeDefined();
    expect(agent.metrics.get('store_reserve_released_total')).toBe(1);
    const alarm = () => agent!.alarms.engine.list().find((a) => a.key === 'gateway:disk-full-at-start');
    await until('the disk-full alarm', () => alarm()?.conditionPresent === true, 15_000);
    expect(alarm()).toMatchObject({ bed: GATEWAY_BED, priority: 'medium' });
    expect((await fetch(`${agent.display!.address().url}/healthz`)).status).toBe(200);

    rmSync(filler);
    await until('the reserve made again', () => existsSync(join(mountPoint!, 'agent.db.reserve')), 20_000);
    await until('the alarm ended', () => alarm()?.conditionPresent !== true, 20_000);
  }, 60_000);
});
