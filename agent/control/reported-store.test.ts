// The twin's reported store while the store cannot be read: said (error, "unknown"), not deleted by nulls, and sent
// at once rather than with the next periodic report; cleared again when it can be read (review rv136 M2).
import { describe, expect, it } from 'vitest';
import { buildReported, diffPatch, significant, type ReportInputs } from './reported.js';

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
