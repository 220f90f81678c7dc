// A record too large to store at all (an alarm text of 250 kB) is a loss: a latched gateway alarm, raised again after a
// restart until acknowledged; the rest of its emit is stored and the store is not reported as refusing.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Agent } from './agent.js';
import { GATEWAY_BED } from './alarms/types.js';
import type { DriverEvent } from './model/reading.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';

describe('a record over the store limit', () => {
  it('raises a latched loss alarm naming it, kept across a restart; no "cannot store data" alarm', async () => {
    const config = testConfig(tempDir(), { drivers: [], store: { path: join(tempDir(), 'agent.db') } });
    const gateway = (a: Agent, key: string) => a.alarms.engine.list({ bed: GATEWAY_BED }).find((x) => x.key === `gateway:${key}`);
    const first = new Agent({ config, registry, log: captureLog().log });
    await first.start();
    try {
      const huge = {
        kind: 'alarm', deviceId: 'mon-7', bed: 'ICU-07', source: 'test', alarmId: 'a1', condition: null, text: 'x'.repeat(250_000), priority: 'high',
        category: 'physiological', phase: 'start', receivedAt: Date.now(), deviceTime: null,
      } as DriverEvent;
      await first.ingest.accept('test', [huge]);
      const lost = gateway(first, 'record-dropped');
      expect(lost).toMatchObject({ priority: 'medium', latching: true });
      expect(lost!.condition.text).toMatch(/^Gateway dropped a record of 250 kB \(alarm, mon-7\) over the store's 200 kB limit: shown and alarmed here, not kept or forwarded$/);
      expect(gateway(first, 'store-refusing')).toBeUndefined();
    } finally {
      await first.stop();
    }
    const second = new Agent({ config, registry, log: captureLog().log });
    await second.start();
    try {
      expect(gateway(second, 'record-dropped')?.condition.text).toMatch(/^Gateway dropped a record of 250 kB/);
    } finally {
      await second.stop();
    }
  });
});
