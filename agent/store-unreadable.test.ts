// Stored records that cannot be read back are counted, logged and alarmed once, and never lost from the count: not by
// a store check that fails or is retried for room, nor by a kill between the check and its report (review rv74 M1).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Agent } from './agent.js';
import { Outbox } from './store/outbox.js';
import { encodeSamples } from './store/samples.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

/** A store whose one waveform row cannot be read back (a damaged blob), and one readable record behind it. */
function damagedStore(): { dir: string; path: string } {
  const dir = tempDir();
  const path = join(dir, 'agent.db');
  const box = new Outbox(path);
  const body = '{"type":"waveform","samples":null}';
  box.append([{ stream: 'telemetry', cls: 2, deviceId: 'd', body, samples: encodeSamples([1, 2], body.indexOf('null')) }]);
  box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"i":1}' }]);
  box.close();
  const db = new Database(path);
  db.prepare("UPDATE outbox_2 SET samples = x'09' WHERE samples IS NOT NULL").run();
  db.close();
  return { dir, path };
}

const pack = (box: Outbox) => box.pack('telemetry', 65536, (_id, _s, entries) => `[${entries.join(',')}]`);

/** The first write after the check counted the rows fails `times` times (keepReserve() stands for it). */
function failAfterCount(box: Outbox, code: string, times: number): void {
  const p = box as unknown as { keepReserve: (f: number) => void };
  const orig = p.keepReserve.bind(box);
  let n = 0;
  p.keepReserve = (f: number) => {
    if (n++ < times) throw Object.assign(new Error('database or disk is full'), { code });
    orig(f);
  };
}

const unreadableAlarm = () => agent!.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-unreadable');

describe('unreadable store records, reported once and never lost from the count', () => {
  it('a check retried for room (full disk) or failing (I/O error) still reports them, once', () => {
    const { dir, path } = damagedStore();
    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: cap.log });
    pack(agent.outbox);
    failAfterCount(agent.outbox, 'SQLITE_IOERR_WRITE', 1);
    agent.enforceStoreLimits(); // the check throws (an I/O error on a disk with room is not retried as for a full disk)
    expect(agent.metrics.get('store_check_failures_total')).toBe(1);
    expect(agent.metrics.get('store_unreadable_total')).toBe(0);
    failAfterCount(agent.outbox, 'SQLITE_FULL', 1);
    agent.enforceStoreLimits(); // retried in small passes by withRoom()
    expect(agent.metrics.get('store_unreadable_total')).toBe(1);
    expect(unreadableAlarm()).toMatchObject({ state: 'active' });
    agent.enforceStoreLimits();
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_unreadable_total')).toBe(1);
    expect(cap.lines.filter((l) => String(l.msg).startsWith('stored records could not be read back'))).toHaveLength(1);
  });

  it('killed between the check and its report: the next run reports them', async () => {
    const { dir, path } = damagedStore();
    const box = new Outbox(path);
    pack(box);
    box.enforceLimits(1e12, 1e12); // the check ran, then the agent was killed
    box.close();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: captureLog().log });
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_unreadable_total')).toBe(1);
    expect(unreadableAlarm()).toMatchObject({ state: 'active' });
    expect([...agent.outbox.unacknowledgedLosses().keys()]).toEqual(['store-unreadable']);
    // Settled with the note: a restart raises the noted loss again and does not count the rows twice.
    await agent.stop();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: captureLog().log });
    await agent.start();
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_unreadable_total')).toBe(0);
    expect(unreadableAlarm()).toMatchObject({ state: 'latched' });
  });

  it('a settle the store refuses is not counted again, and is settled at a later check', () => {
    const { dir, path } = damagedStore();
    const cap = captureLog();
    agent = new Agent({ config: testConfig(dir, { store: { path } }), registry, log: cap.log });
    pack(agent.outbox);
    const settle = agent.outbox.settleUnreadable.bind(agent.outbox);
    agent.outbox.settleUnreadable = () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    agent.enforceStoreLimits();
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_unreadable_total')).toBe(1);
    expect(agent.outbox.enforceLimits(1e12, 1e12).unreadable).toBe(1); // not settled in the store
    agent.outbox.settleUnreadable = settle; // space again
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_unreadable_total')).toBe(1);
    expect(agent.outbox.enforceLimits(1e12, 1e12).unreadable).toBe(0);
    expect([...agent.outbox.unacknowledgedLosses().keys()]).toEqual(['store-unreadable']);
  });
});
