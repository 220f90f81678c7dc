// The store's health, seen from the whole agent: a damaged store file is moved aside with a technical alarm, a
// store that must be on an encrypted volume but is not stops the agent before anything runs, and unsent data
// past the age limit is a loss (alarm) when there is a hub to send it to, and plain retention when there is none.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import Database from 'better-sqlite3';
import { Outbox } from '../../agent/store/outbox.js';
import type { AlarmStateChange } from '../../agent/alarms/types.js';
import { encodeSamples } from '../../agent/store/samples.js';
import { registry } from '../../drivers/registry.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';

let agent: Agent | null = null;
/** A hub that is configured but never reached (the agents here are not started): the records are meant for it. */
const UNREACHED_HUB = { mode: 'device', connectionString: `HostName=unreached.azure-devices.net;DeviceId=gw;SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}` };
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

describe('store health at start', () => {
  it('a damaged store: moved aside, fresh store, error logged, technical alarm raised', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const box = new Outbox(path);
    box.append(Array.from({ length: 300 }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'd', body: JSON.stringify({ i }) })));
    box.close();
    const bytes = readFileSync(path);
    for (let i = 8192; i < bytes.length - 64; i += 1) bytes[i] = (i * 131) & 0xff;
    writeFileSync(path, bytes);

    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: cap.log });
    await agent.start();
    const logged = cap.find('store file was damaged: moved aside for inspection, started a fresh store');
    expect(logged).toBeDefined();
    expect(existsSync(String(logged!.movedTo))).toBe(true);
    const alarm = agent.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-recovered');
    expect(alarm).toMatchObject({ category: 'technical', state: 'active' });
    expect(alarm!.condition.text).toContain(String(logged!.movedTo));
  });

  it('a damaged store: its alarm is a latched loss, raised again after a restart until acknowledged', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const box = new Outbox(path);
    box.append(Array.from({ length: 300 }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'd', body: JSON.stringify({ i }) })));
    box.close();
    writeFileSync(path, Buffer.alloc(16384, 0x5a)); // not a database any more
    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: cap.log });
    await agent.start();
    const movedTo = String(cap.find('store file was damaged: moved aside for inspection, started a fresh store')!.movedTo);
    const alarm = () => agent!.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-recovered');
    expect(alarm()).toMatchObject({ state: 'active' });

    // Restarted before anyone acknowledged it (a crash loop, a supervisor): the fresh store still says so.
    await agent.stop();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: captureLog().log });
    await agent.start();
    expect(alarm()).toMatchObject({ state: 'latched', category: 'technical' });
    expect(alarm()!.condition.text).toMatch(`Store was damaged and replaced; old file kept at ${movedTo}; 0 unsent records salvaged into the new store, an unknown number could not be read (before the restart; at 20`);
    expect(agent.alarms.acknowledge(alarm()!.id, { user: 'biomed', role: 'engineer', from: 'test' }).ok).toBe(true);
    expect(alarm()).toBeUndefined();
    await agent.stop();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: captureLog().log });
    await agent.start();
    expect(alarm()).toBeUndefined();
  });

  it('a stored record that cannot be read back: moved aside, counted, logged, technical alarm; the rest still goes', () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const box = new Outbox(path);
    const body = '{"type":"waveform","samples":null}';
    box.append([{ stream: 'telemetry', cls: 2, deviceId: 'd', body, samples: encodeSamples([1, 2], body.indexOf('null')) }]);
    box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"i":1}' }]);
    box.close();
    const db = new Database(path);
    db.prepare("UPDATE outbox_2 SET samples = x'09' WHERE samples IS NOT NULL").run(); // a damaged blob
    db.close();
    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir, { store: { path }, hub: UNREACHED_HUB }), registry, log: cap.log });
    // What the forwarder does next: pack. The damaged row must not block the record behind it.
    const m = agent.outbox.pack('telemetry', 65536, (_id, _s, entries) => `[${entries.join(',')}]`)!;
    expect(m.body).toBe('[{"i":1}]');
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_unreadable_total')).toBe(1);
    expect(cap.find('stored records could not be read back: moved to the store table "unreadable", not sent')).toMatchObject({ records: 1, keptInStore: 1 });
    const alarm = () => agent!.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-unreadable');
    expect(alarm()).toMatchObject({ category: 'technical', state: 'active' });
    // The next check finds nothing new: the loss stands, so the alarm stays (latched) until acknowledged.
    agent.enforceStoreLimits();
    expect(alarm()).toMatchObject({ state: 'latched', conditionPresent: false });
    expect(agent.alarms.acknowledge(alarm()!.id, { user: 'biomed', role: 'engineer', from: 'test' }).ok).toBe(true);
    expect(alarm()).toBeUndefined();
  });

  it('a loss alarm acknowledged while still present is not raised again after a restart, even with more losses since', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const body = '{"type":"waveform","samples":null}';
    const damagedRecord = (box: Outbox) => {
      box.append([{ stream: 'telemetry', cls: 2, deviceId: 'd', body, samples: encodeSamples([1, 2], body.indexOf('null')) }]);
      const db = new Database(path);
      db.prepare("UPDATE outbox_2 SET samples = x'09' WHERE samples IS NOT NULL").run();
      db.close();
    };
    const box = new Outbox(path);
    damagedRecord(box);
    box.close();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: captureLog().log });
    const pack = () => agent!.outbox.pack('telemetry', 65536, (_id, _s, entries) => `[${entries.join(',')}]`);
    pack();
    agent.enforceStoreLimits();
    const alarm = () => agent!.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-unreadable');
    expect(agent.alarms.acknowledge(alarm()!.id, { user: 'biomed', role: 'engineer', from: 'test' }).ok).toBe(true);
    expect(alarm()).toMatchObject({ state: 'acknowledged' });
    // More of the same after the acknowledgement: counted and logged, the alarm stays acknowledged here...
    damagedRecord(agent.outbox);
    pack();
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_unreadable_total')).toBe(2);
    expect(alarm()).toMatchObject({ state: 'acknowledged' });
    // ...and a restarted agent agrees.
    await agent.stop();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: captureLog().log });
    await agent.start();
    expect(alarm()).toBeUndefined();
  });

  it('a loss note the store could not take is written at the next check; an unreadable note still raises the alarm', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    const body = '{"type":"waveform","samples":null}';
    const box = new Outbox(path);
    box.append([{ stream: 'telemetry', cls: 2, deviceId: 'd', body, samples: encodeSamples([1, 2], body.indexOf('null')) }]);
    box.close();
    const db = new Database(path);
    db.prepare("UPDATE outbox_2 SET samples = x'09' WHERE samples IS NOT NULL").run();
    db.close();
    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: cap.log });
    agent.outbox.pack('telemetry', 65536, (_id, _s, entries) => `[${entries.join(',')}]`);
    const noteLoss = agent.outbox.noteLoss.bind(agent.outbox);
    agent.outbox.noteLoss = () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    agent.enforceStoreLimits();
    expect(cap.find(/cannot note the loss in the store/)).toBeDefined();
    expect(agent.outbox.unacknowledgedLosses().size).toBe(0);
    agent.outbox.noteLoss = noteLoss; // space again
    agent.enforceStoreLimits();
    expect([...agent.outbox.unacknowledgedLosses().keys()]).toEqual(['store-unreadable']);
    await agent.stop();

    // The note damaged: the agent still starts, and still says that data was lost.
    const raw = new Database(path);
    raw.prepare("UPDATE meta SET value = 'not json' WHERE key = 'loss:store-unreadable'").run();
    raw.close();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: captureLog().log });
    await agent.start();
    const alarm = agent.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-unreadable');
    expect(alarm).toMatchObject({ state: 'latched', priority: 'medium' });
    expect(alarm!.condition.text).toBe('Store: data was lost before the restart (its note in the store is unreadable)');
  });

  it('a store written by a newer agent: the agent does not start, and says why', () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    new Outbox(path).close();
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'format'").run();
    db.close();
    // main.ts logs this as fatal and exits non-zero; the store file is left as it is.
    expect(() => new Agent({ config: testConfig(dir, { store: { path } }), registry, log: captureLog().log })).toThrow(/store format 99 was written by a newer agent/);
    expect(existsSync(path)).toBe(true);
  });

  describe('unsent telemetry past store.maxAgeHours', () => {
    const HOUR = 3600_000;
    function oldStore(dir: string): string {
      const path = join(dir, 'agent.db');
      const box = new Outbox(path);
      const rec = (i: number) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'd', body: JSON.stringify({ i }) });
      box.append(Array.from({ length: 50 }, (_, i) => rec(i)), Date.now() - 8 * 24 * HOUR); // older than the 7-day default
      box.append(Array.from({ length: 5 }, (_, i) => rec(100 + i)), Date.now() - HOUR);
      box.close();
      return path;
    }
    const evictedAlarm = (a: Agent) => a.alarms.engine.list().find((x) => x.condition.raw?.code === 'store-evicted');

    it('with a hub configured: evicted as lost data, counted, and a technical alarm raised', () => {
      const dir = tempDir();
      const path = oldStore(dir);
      const cap = captureLog();
      agent = new Agent({ config: testConfig(dir, { store: { path }, hub: UNREACHED_HUB }), registry, log: cap.log });
      agent.enforceStoreLimits();
      expect(agent.metrics.get('store_evicted_total', { class: 'numeric' })).toBe(50);
      expect(cap.find('store limits reached: unsent data evicted, oldest and lowest priority first')).toMatchObject({ reason: 'age' });
      expect(evictedAlarm(agent)).toMatchObject({ category: 'technical', state: 'active' });
      expect(evictedAlarm(agent)!.condition.text).toContain('50 unsent records discarded');
      expect(agent.outbox.pending('telemetry').records).toBe(5);
      // Below the limits again: the records stay lost, so the alarm latches instead of resolving.
      agent.enforceStoreLimits();
      expect(evictedAlarm(agent)).toMatchObject({ state: 'latched', conditionPresent: false });
    });

    it('over capacity: high once alarm records were lost, still high when a later check evicts only telemetry, and raised again after a restart until acknowledged', async () => {
      const dir = tempDir();
      const path = join(dir, 'agent.db');
      const box = new Outbox(path);
      const big = (i: number) => JSON.stringify({ i, pad: 'x'.repeat(3000) });
      box.append(Array.from({ length: 600 }, (_, i) => ({ stream: 'alarms' as const, cls: 0 as const, deviceId: 'd', body: big(i) })));
      box.close();
      agent = new Agent({ config: testConfig(dir, { store: { path, maxBytes: 1_048_576 }, hub: UNREACHED_HUB }), registry, log: captureLog().log });
      agent.enforceStoreLimits();
      expect(agent.metrics.get('store_evicted_total', { class: 'alarm' })).toBeGreaterThan(0);
      expect(evictedAlarm(agent)).toMatchObject({ priority: 'high', state: 'active' });
      agent.outbox.append(Array.from({ length: 600 }, (_, i) => ({ stream: 'telemetry' as const, cls: 1 as const, deviceId: 'd', body: big(i) })));
      const alarmsBefore = agent.metrics.get('store_evicted_total', { class: 'alarm' });
      agent.enforceStoreLimits();
      expect(agent.metrics.get('store_evicted_total', { class: 'numeric' })).toBeGreaterThan(0);
      expect(agent.metrics.get('store_evicted_total', { class: 'alarm' })).toBe(alarmsBefore);
      expect(evictedAlarm(agent)).toMatchObject({ priority: 'high' });

      // Restarted before anyone acknowledged it: the loss is raised again, latched, until acknowledged.
      await agent.stop();
      agent = new Agent({ config: testConfig(dir, { store: { path, maxBytes: 1_048_576 } }), registry, log: captureLog().log });
      const journal: AlarmStateChange[] = [];
      agent.alarms.subscribe((cs) => journal.push(...cs));
      await agent.start();
      expect(evictedAlarm(agent)).toMatchObject({ priority: 'high', state: 'latched' });
      // What is journalled (and forwarded) says why it ended at once.
      expect(journal.filter((c) => c.alarm.key === 'gateway:store-evicted').map((c) => [c.change, c.why.replace(/\d+/g, 'N')])).toEqual([
        ['raised', expect.stringMatching(/^Store full: N unsent records discarded .*\(before the restart; at /)],
        ['condition-ended', 'raised again after a restart: not acknowledged before it'],
      ]);
      expect(evictedAlarm(agent)!.condition.text).toMatch(/^Store full: \d+ unsent records discarded \(waveforms first\) \(before the restart; at 20\d\d-/);
      expect(agent.alarms.acknowledge(evictedAlarm(agent)!.id, { user: 'biomed', role: 'engineer', from: 'test' }).ok).toBe(true);
      expect(evictedAlarm(agent)).toBeUndefined();
      await agent.stop();
      agent = new Agent({ config: testConfig(dir, { store: { path, maxBytes: 1_048_576 } }), registry, log: captureLog().log });
      await agent.start();
      expect(evictedAlarm(agent)).toBeUndefined();
    });

    it('reported once while the store cannot mark the evictions reported, and settled when it can', () => {
      const dir = tempDir();
      const path = oldStore(dir);
      const cap = captureLog();
      agent = new Agent({ config: testConfig(dir, { store: { path }, hub: UNREACHED_HUB }), registry, log: cap.log });
      const settle = agent.outbox.settleEvictions.bind(agent.outbox);
      agent.outbox.settleEvictions = () => {
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      };
      agent.enforceStoreLimits();
      agent.enforceStoreLimits();
      expect(agent.metrics.get('store_evicted_total', { class: 'numeric' })).toBe(50);
      expect(cap.lines.filter((l) => l.msg === 'store limits reached: unsent data evicted, oldest and lowest priority first')).toHaveLength(1);
      expect(cap.find(/cannot mark evicted records as reported in the store/)).toBeDefined();
      expect(agent.outbox.unreportedEvictions()).toMatchObject({ age: { 1: 50 } }); // a restart now would report them again
      agent.outbox.settleEvictions = settle; // space again
      agent.enforceStoreLimits();
      expect(agent.metrics.get('store_evicted_total', { class: 'numeric' })).toBe(50);
      expect(agent.outbox.unreportedEvictions()).toBeNull();
      expect(agent.outbox.unacknowledgedLosses().get('store-evicted')?.text).toBe('Store age limit: 50 unsent records discarded (waveforms first)');
    });

    it('with forwarding off: removed as retention, counted and logged, no alarm', () => {
      const dir = tempDir();
      const path = oldStore(dir);
      const cap = captureLog();
      agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: cap.log });
      agent.enforceStoreLimits();
      expect(agent.metrics.get('store_retention_removed_total')).toBe(50);
      expect(agent.metrics.get('store_evicted_total', { class: 'numeric' })).toBe(0);
      expect(cap.find('store retention: records older than store.maxAgeHours removed (forwarding is off)')).toMatchObject({ removed: 50 });
      expect(evictedAlarm(agent)).toBeUndefined();
      expect(agent.outbox.pending('telemetry').records).toBe(5);
    });
  });

  it('store.requireEncryptedVolume: refuses to build the agent on a volume not known to be encrypted', () => {
    const dir = tempDir();
    const cap = captureLog();
    expect(() => new Agent({ config: testConfig(dir, { store: { requireEncryptedVolume: true } }), registry, log: cap.log })).toThrow(
      /store\.requireEncryptedVolume is set but .*(not encrypted|cannot be verified)/,
    );
    expect(existsSync(join(dir, 'agent.db'))).toBe(false);
  });

  it('without the requirement, the volume state is logged at start', () => {
    const dir = tempDir();
    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir), registry, log: cap.log });
    const line = cap.find('store is not on an encrypted volume: data at rest is readable by anyone with the disk (see docs/security.md)') ?? cap.find('store volume encryption');
    expect(line).toBeDefined();
  });
});
