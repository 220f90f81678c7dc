// A failing disk at start (the store's open meets an SQLite I/O error while the disk has plenty of room: bad blocks, a
// disk going away) is not a full disk, but the bedside must not go dark for it either: the agent starts on the store
// in memory that takes no data, as on a full disk with no reserve, and says the disk is failing (not "disk full") in
// its log, its gateway alarm and its refusals. The I/O error is simulated on the store's WAL switch at open.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { Agent } from '../../agent/agent.js';
import { GATEWAY_BED } from '../../agent/alarms/types.js';
import { registry } from '../../drivers/registry.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { until } from '../support/tmpfs.js';
import { MllpClient, freePort } from '../support/mllp-client.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';

let agent: Agent | null = null;
const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await agent?.stop().catch(() => undefined);
  agent = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The store file at `storePath` fails its open with `code` (as SQLite reports a read error of a failing disk). */
function storeOpenFails(storePath: string, code: string): void {
  const pragma = Database.prototype.pragma;
  vi.spyOn(Database.prototype, 'pragma').mockImplementation(function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
    if (this.name === storePath && source === 'journal_mode = WAL') throw new Database.SqliteError('disk I/O error', code);
    return pragma.call(this, source, options);
  });
}

describe('a failing disk at start', () => {
  it('an agent whose store open fails with SQLITE_IOERR_READ, with plenty of room, starts (display, bedside alarms), refuses data saying the disk is failing, and raises the gateway alarm', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const storePath = join(dir, 'agent.db');
    storeOpenFails(storePath, 'SQLITE_IOERR_READ');
    const port = await freePort();
    const cap = captureLog('info');
    const config = testConfig(dir, {
      store: { path: storePath },
      display: { enabled: true, port: 0 },
      drivers: [
        { name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false, numericPeriodMs: 100, scenario: [{ atS: 1, bed: 1, set: { spo2: 75 } }] } },
        { name: 'mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } },
      ],
    });
    agent = new Agent({ config, registry, log: cap.log, transport: null });
    await agent.start();
    expect(agent.outbox.path).toBe(':memory:');
    expect((await fetch(`${agent.display!.address().url}/healthz`)).status).toBe(200);

    // Logged at error with its context, and counted.
    expect(cap.find(/^the store's disk is failing/)).toMatchObject({
      level: 50,
      store: storePath,
      code: 'SQLITE_IOERR_READ',
      freeDiskBytes: expect.any(Number),
    });
    expect(cap.find(/^the store's disk is failing/)!.freeDiskBytes as number).toBeGreaterThan(2 ** 21);
    expect(cap.find(/^the disk is full/)).toBeUndefined();
    expect(agent.metrics.get('store_open_in_memory_total', { reason: 'disk-error' })).toBe(1);
    expect(agent.metrics.get('store_open_in_memory_total', { reason: 'disk-full' })).toBe(0);

    // The gateway alarm names the failing disk, not a full one.
    const gatewayAlarm = (key: string) => agent!.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === `gateway:${key}` && a.state !== 'resolved');
    expect(gatewayAlarm('store-in-memory')).toMatchObject({
      priority: 'high',
      condition: { text: expect.stringMatching(/^Gateway store cannot be opened \(disk failing, SQLITE_IOERR_READ\): running on a store in memory that takes no data.*Check the disk and restart the agent$/) },
    });
    expect(gatewayAlarm('store-in-memory')!.condition.text).not.toMatch(/full|free disk space/i);

    // Nothing is taken: HL7 senders are told to resend; the refusal says why, with the disk's code.
    const client = await MllpClient.connect(port);
    const bed = initialBeds(1, rng(7))[0]!;
    const acks: string[] = [];
    for (let i = 0; i < 3; i++) acks.push((await client.send(pcd01Message(bed, `DISK-${i}`, Date.now(), { waveform: false }))).code);
    client.close();
    expect(acks.filter((c) => c !== 'CE' && c !== 'AR')).toEqual([]);
    await until('store refusing', () => gatewayAlarm('store-refusing') !== undefined);
    expect(gatewayAlarm('store-refusing')!.condition.text).toBe(
      'Gateway cannot store data (disk I/O error, SQLITE_IOERR_READ): readings are shown and alarmed here but not kept or forwarded',
    );
    expect(agent.metrics.get('ingest_refused_total', { reason: 'SQLITE_IOERR_READ', source: 'sim' })).toBeGreaterThan(0);
    expect(agent.metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'sim' })).toBe(0);
    const refusal = cap.find('store refused events; the sender is told they were not accepted');
    expect(refusal).toMatchObject({ code: 'SQLITE_IOERR_READ', err: { message: expect.stringMatching(/^the store's disk is failing \(SQLITE_IOERR_READ\).*takes no data.*check the disk and restart/) } });

    // The bedside alarms run: the desaturation is raised, and no monitor shows 'No data'.
    const desat = () => agent!.alarms.engine.list({ bed: 'ICU-01' }).find((a) => a.source === 'limit' && /^SpO2 DESAT/.test(a.condition.text));
    await until('SpO2 DESAT raised', () => desat() !== undefined, 30_000);
    expect(agent.alarms.engine.list().filter((a) => /^No data/.test(a.condition.text))).toEqual([]);
    expect(agent.outbox.nothingToSend()).toBe(true);
  }, 60_000);
});
