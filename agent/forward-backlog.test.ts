// /metrics shows the whole backlog and the uplink (review rv87 L1); messages the hub refuses and the store set aside
// raise one gateway alarm while any is kept (review rv87 M1).
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';
import type { HubTransport } from './forward/azure.js';
import { idleHub } from './forward/test-support.js';

const idle = idleHub(false);

const wrap = (id: string, _s: string, entries: string[]) => `{"messageId":"${id}","records":[${entries.join(',')}]}`;

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

describe('backlog gauges on /metrics', () => {
  it('count packed messages waiting for the hub, the oldest pending age and whether the hub is reachable', () => {
    agent = new Agent({ config: testConfig(tempDir(), { store: { retainSentHours: 1 } }), registry, log: captureLog().log, transport: idle });
    const box = agent.outbox;
    for (let i = 0; i < 50; i++) box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, pad: 'p'.repeat(300) }) }], Date.now() - 120_000);
    const ids: string[] = [];
    for (let m = box.pack('telemetry', 4096, wrap); m; m = box.pack('telemetry', 4096, wrap)) ids.push(m.id);
    const snap = agent.metrics.snapshot();
    expect(snap['store_pending_records{stream="telemetry"}']).toBe(0);
    expect(snap['store_unacked_messages{stream="telemetry"}']).toBe(ids.length);
    expect(snap['store_unacked_messages{stream="alarms"}']).toBe(0);
    expect(snap['store_oldest_pending_age_seconds']).toBeGreaterThanOrEqual(0);
    // Not started: nothing delivered, no connection made, so not known to be reachable (review rv92 L1).
    expect(snap['forward_hub_reachable']).toBe(0);
    for (const id of ids) box.acknowledge(id);
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: '{"a":1}' }], Date.now() - 120_000);
    const after = agent.metrics.snapshot();
    expect(after['store_unacked_messages{stream="telemetry"}']).toBe(0);
    expect(after['store_oldest_pending_age_seconds']).toBeGreaterThanOrEqual(119);
  });
});

describe('messages set aside as refused by the hub', () => {
  const refusedAlarm = () => agent!.alarms.engine.list().find((a) => a.condition.raw?.code === 'hub-refused');

  it('raise one gateway alarm, naming the count, while any is kept', () => {
    agent = new Agent({ config: testConfig(tempDir()), registry, log: captureLog().log, transport: idle });
    const box = agent.outbox;
    agent.enforceStoreLimits();
    expect(refusedAlarm()).toBeUndefined();
    for (const a of [1, 2]) {
      box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: `{"a":${a}}` }]);
      box.setAside(box.pack('alarms', 4096, wrap)!.id, 'Connection closed');
    }
    agent.enforceStoreLimits();
    expect(refusedAlarm()).toMatchObject({ conditionPresent: true, condition: { text: expect.stringMatching(/^Hub refuses 2 messages \(2 records\).*--refused list/) } });
    agent.enforceStoreLimits();
    expect(agent.alarms.engine.list().filter((a) => a.condition.raw?.code === 'hub-refused')).toHaveLength(1);
  });
});

describe('messages the hub refuses repeatedly (review rv92 H1)', () => {
  const alarm = () => agent!.alarms.engine.list().find((a) => a.condition.raw?.code === 'hub-refuses-repeatedly');

  it('raise one gateway alarm naming how many while the forwarder reports any, which ends when none is left', async () => {
    agent = new Agent({ config: testConfig(tempDir()), registry, log: captureLog().log, transport: idle });
    let ids: string[] = [];
    agent.forwarder!.refusedRepeatedly = () => ids;
    await agent.start();
    ids = ['m1', 'm2'];
    const end = Date.now() + 5000;
    while (!alarm()?.conditionPresent && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(alarm()).toMatchObject({
      conditionPresent: true,
      condition: { text: 'The hub has refused 2 message(s) repeatedly for over 30 min; they are retried every 30 min, the rest goes on; see the log (message ids)' },
    });
    ids = [];
    while (alarm()?.conditionPresent && Date.now() < end + 5000) await new Promise((r) => setTimeout(r, 50));
    expect(alarm()?.conditionPresent ?? false).toBe(false);
  }, 15_000);
});

describe('messages set aside deleted for room or age (review rv92 H2)', () => {
  it('are a loss: counted, logged and a latched gateway alarm, reported once and settled in the store', () => {
    const cap = captureLog();
    agent = new Agent({ config: testConfig(tempDir()), registry, log: cap.log, transport: idle });
    const box = agent.outbox;
    const old = Date.now() - 30 * 24 * 3600_000;
    box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: '{"a":1}' }], old);
    box.setAside(box.pack('alarms', 4096, wrap, old)!.id, 'MessageTooLargeError', old);
    agent.enforceStoreLimits();
    const alarm = agent.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-refused-trimmed');
    expect(alarm).toMatchObject({ priority: 'high', condition: { text: expect.stringMatching(/^Store: 1 records set aside as refused by the hub \(1 messages, 1 alarm records\) deleted/) } });
    expect(agent.metrics.get('store_refused_trimmed_total')).toBe(1);
    expect(cap.lines.filter((l) => /set aside as refused by the hub deleted/.test(String(l.msg)))).toHaveLength(1);
    expect(box.refusedMessages()).toEqual({ messages: 0, records: 0 });
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_refused_trimmed_total')).toBe(1);
    expect(box.unacknowledgedLosses().has('store-refused-trimmed')).toBe(true);
  });

  it('an unreadable tally (torn write, hand edit) is still reported, as an unknown number of records (review rv96 L1)', () => {
    const cap = captureLog();
    agent = new Agent({ config: testConfig(tempDir()), registry, log: cap.log, transport: idle });
    const db = (agent.outbox as unknown as { db: { prepare(sql: string): { run(): unknown; get(): unknown } } }).db;
    db.prepare("INSERT INTO meta (key, value) VALUES ('refused-trimmed-unreported', '{not json') ON CONFLICT(key) DO UPDATE SET value = excluded.value").run();
    agent.enforceStoreLimits();
    const alarm = agent.alarms.engine.list().find((a) => a.condition.raw?.code === 'store-refused-trimmed');
    expect(alarm).toMatchObject({ priority: 'high', condition: { text: expect.stringMatching(/^Store: an unknown number of records set aside as refused by the hub/) } });
    expect(agent.metrics.get('store_refused_trimmed_total')).toBe(1);
    expect(cap.lines.filter((l) => /set aside as refused by the hub deleted/.test(String(l.msg)) && /unknown number of records/.test(String(l.msg)))).toHaveLength(1);
    // Settled with its loss note: not reported again.
    expect(db.prepare("SELECT value FROM meta WHERE key = 'refused-trimmed-unreported'").get()).toBeUndefined();
    expect(agent.outbox.unacknowledgedLosses().has('store-refused-trimmed')).toBe(true);
    agent.enforceStoreLimits();
    expect(agent.metrics.get('store_refused_trimmed_total')).toBe(1);
  });
});

describe('alarm changes raised outside ingest (review rv96 H1)', () => {
  it('are forwarded at once on an idle gateway, not at the next reading', async () => {
    const sent: string[] = [];
    const recording: HubTransport = { ...idle, send: async (m) => void sent.push(m.body) };
    agent = new Agent({ config: testConfig(tempDir()), registry, log: captureLog('error').log, transport: recording });
    await agent.start();
    // Idle: connected, nothing to send (no driver, no telemetry committing).
    const deadline = Date.now() + 5000;
    while (agent.forwarder!.getStatus().state !== 'connected' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    agent.alarms.gatewayCondition(agent.gatewayId, 'probe', true, 'PROBE ALARM', 'high');
    const until = Date.now() + 3000;
    while (!sent.some((b) => b.includes('PROBE ALARM')) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(sent.some((b) => b.includes('PROBE ALARM'))).toBe(true);
  }, 15_000);
});
