// The 10 s store check failing (not a full disk: a failing or read-only disk, a store damaged while running) must not
// take the alarm journal's alarm with it, and is itself counted, logged and alarmed (review rv42 §1).
import { describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { GATEWAY_BED } from './alarms/types.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';

describe('store check failures', () => {
  it('still raise the alarm-journal alarm, are counted, logged once and alarmed after three in a row; the alarm ends when the check works', async () => {
    const cap = captureLog('info');
    const agent = new Agent({ config: testConfig(tempDir(), { drivers: [] }), registry, log: cap.log });
    try {
      const ioerr = () => Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
      const enforce = agent.outbox.enforceLimits.bind(agent.outbox);
      // The store's own failure, as SQLite would throw it: the limits check and the journal's writes both fail.
      agent.outbox.enforceLimits = () => { throw ioerr(); };
      const append = agent.outbox.append.bind(agent.outbox);
      agent.outbox.append = () => { throw ioerr(); };
      agent.alarms.gatewayCondition('test-gw', 'probe', true, 'probe condition', 'medium');
      const gateway = (key: string) => agent.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === `gateway:${key}`);

      agent.enforceStoreLimits();
      expect(gateway('alarm-journal')?.condition.text).toMatch(/^Alarm changes cannot be stored: \d+ held/);
      expect(gateway('store-check')).toBeUndefined(); // one failure is not yet an alarm
      agent.enforceStoreLimits();
      agent.enforceStoreLimits();
      expect(gateway('store-check')).toMatchObject({ priority: 'medium' });
      expect(gateway('store-check')!.condition.text).toBe('Store check failing (SQLITE_IOERR_WRITE): store limits not kept; see the agent log');
      expect(agent.metrics.snapshot()['store_check_failures_total']).toBe(3);
      expect(cap.lines.filter((l) => String(l.msg).startsWith('cannot enforce store limits'))).toHaveLength(1);

      agent.outbox.enforceLimits = enforce;
      agent.outbox.append = append;
      agent.enforceStoreLimits();
      expect(gateway('store-check')).toBeUndefined(); // ended (not latching: nothing was lost by the check itself)
      expect(cap.lines.some((l) => l.msg === 'store check works again' && l.failedChecks === 3)).toBe(true);
    } finally {
      await agent.stop();
    }
  });
});
