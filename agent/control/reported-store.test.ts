// The twin's reported store while the store cannot be read: said (error, "unknown"), not deleted by nulls, and sent
// at once rather than with the next periodic report; cleared again when it can be read (review rv136 M2).
import { afterEach, describe, expect, it } from 'vitest';
import { buildReported, diffPatch, significant, type ReportInputs } from './reported.js';
import { Agent } from '../agent.js';
import { registry } from '../../drivers/registry.js';
import { captureLog } from '../../test/support/log.js';
import { tempDir } from '../../test/support/agent-process.js';
import { testConfig } from '../../test/support/agent-config.js';
import { idleHub } from '../forward/test-support.js';

function inputs(store: Partial<ReportInputs['store']> = {}, status?: 'ok' | 'degraded'): ReportInputs {
  return {
    agent: { version: '1', node: 'v20', gatewayId: 'gw', startedAt: 'x' },
    models: {},
    config: { status: 'applied', desiredVersion: 3, source: 'twin', at: 'x' },
    drivers: {},
    forward: { state: 'connected', lastSuccessAt: 0, lastError: null, sentMessages: 1, sentRecords: 2 },
    store: { pendingRecords: { telemetry: 20, alarms: 0 }, unackedMessages: { telemetry: 1, alarms: 0 }, oldestPendingAgeS: 4, ...store },
    ...(status && { status }),
    metrics: {},
    now: 0,
  };
}

describe('the reported store while it cannot be read', () => {
  const failing = inputs({ unackedMessages: { telemetry: Number.NaN, alarms: Number.NaN }, oldestPendingAgeS: 'unknown', error: 'SQLITE_IOERR_READ' }, 'degraded');

  it('carries the error and "unknown" counts and age, never null; the status', () => {
    const doc = buildReported(failing);
    expect(doc.status).toBe('degraded');
    expect(doc.store).toEqual({ pendingRecords: { telemetry: 20, alarms: 0 }, unackedMessages: { telemetry: 'unknown', alarms: 'unknown' }, oldestPendingAgeS: 'unknown', error: 'SQLITE_IOERR_READ' });
    // What goes to the hub from a healthy report: no null (a null deletes a twin property).
    const patch = diffPatch(buildReported(inputs({}, 'ok')), doc);
    expect(JSON.stringify(patch)).not.toContain('null');
  });

  it('is significant (sent at once), and healed, the error is cleared', () => {
    const healthy = buildReported(inputs());
    expect(significant(buildReported(failing))).not.toBe(significant(healthy));
    expect(diffPatch(buildReported(failing), healthy)).toMatchObject({ store: { error: null, unackedMessages: { telemetry: 1, alarms: 0 }, oldestPendingAgeS: 4 } });
  });
});

// The twin's backlog age is the figure health and the store_oldest_pending_age_seconds gauge give
// (Outbox.oldestPendingAt): replay copies left out, the oldest of all that waits, not the next in send order (rv152 R1).
describe('the reported backlog age', () => {
  const idle = idleHub();
  const wrap = (id: string, _s: string, entries: string[]) => `{"messageId":"${id}","records":[${entries.join(',')}]}`;
  const H = 3600_000;
  let agent: Agent | null = null;
  afterEach(async () => {
    await agent?.stop();
    agent = null;
  });
  function start(): Agent {
    agent = new Agent({ config: testConfig(tempDir(), { store: { retainSentHours: 48 } }), registry, log: captureLog().log, transport: idle });
    return agent;
  }
  // reportInputs is what the control plane sends as the twin's reported properties.
  const reported = (a: Agent) => buildReported((a.control as unknown as { reportInputs(): ReportInputs }).reportInputs()).store as { oldestPendingAgeS: unknown };

  it('is "nothing waits" during a replay of yesterday with nothing else pending, as the gauge says', () => {
    const a = start();
    const yesterday = Date.now() - 20 * H;
    a.outbox.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"v":1}' }], yesterday);
    a.outbox.acknowledge(a.outbox.pack('telemetry', 65536, wrap, yesterday)!.id, yesterday + 1000);
    expect(a.outbox.replay(yesterday - H, yesterday + H).messages).toBe(1);
    expect(a.outbox.nextMessage()?.replayOf).toBeDefined();
    expect(a.metrics.snapshot()['store_oldest_pending_age_seconds']).toBe(0);
    expect(reported(a).oldestPendingAgeS).toBeNull();
  });

  it('is the age of an older unacknowledged telemetry message behind a newer alarm message, as the gauge says', () => {
    const a = start();
    const now = Date.now();
    a.outbox.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"v":1}' }], now - 2 * H);
    a.outbox.pack('telemetry', 65536, wrap, now - 2 * H);
    a.outbox.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: '{"a":1}' }], now);
    a.outbox.pack('alarms', 65536, wrap, now);
    expect(a.outbox.unackedMessages()).toEqual({ alarms: 1, telemetry: 1 });
    const gauge = a.metrics.snapshot()['store_oldest_pending_age_seconds']!;
    expect(gauge).toBeGreaterThanOrEqual(7200);
    const age = reported(a).oldestPendingAgeS as number;
    expect(age).toBeGreaterThanOrEqual(7200);
    expect(Math.abs(age - gauge)).toBeLessThanOrEqual(1); // two reads of the clock
  });
});
