// The full /healthz body says how many technical alarms there are, not only the first 20 it lists (review rv154 F2):
// after a ward-wide outage an engineer who sees the details must be able to tell the list is cut.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startDisplayAgent, type DisplayAgent } from '../../test/browser/display-fixtures.js';

describe('/healthz technical alarm count (full form)', () => {
  let d: DisplayAgent;
  beforeAll(async () => {
    d = await startDisplayAgent();
  });
  afterAll(() => d.close());

  it('lists at most 20 and gives the count and that the list is cut', async () => {
    const gw = d.agent.health().gatewayId;
    const first = (await call(d.url, 'GET', '/healthz')).json() as Record<string, unknown>;
    // Not cut: no flag (the shape of a quiet gateway stays small), the counts are there.
    expect(first.technicalAlarmsTruncated).toBeUndefined();
    expect(first.technicalAlarmCount).toBe((first.technicalAlarms as unknown[]).length);
    for (let i = 0; i < 25; i++) d.agent.alarms.gatewayCondition(gw, `rv154-${i}`, true, `condition ${i}`, 'medium');
    const h = (await call(d.url, 'GET', '/healthz')).json() as Record<string, unknown>;
    expect('gatewayId' in h).toBe(true); // the full form, not the anonymous one
    expect((h.technicalAlarms as unknown[]).length).toBe(20);
    expect(h.technicalAlarmCount).toBe(25);
    expect(h.latchedTechnicalAlarmCount).toBe(0);
    expect(h.technicalAlarmsTruncated).toBe(true);
  });
});
