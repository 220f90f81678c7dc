// A run that never cleared its "running" note (kill -9, power loss) is counted at the next start (review rv42 §10);
// the process-level case (a real SIGKILL) is in test/e2e/store-crash.test.ts.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Agent } from './agent.js';
import { Outbox } from './store/outbox.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';

describe('unclean stop of the previous run', () => {
  it('is counted and logged at the next start; a clean stop leaves nothing to report', async () => {
    const config = testConfig(tempDir(), { drivers: [], store: { path: join(tempDir(), 'agent.db') } });
    const first = new Agent({ config, registry, log: captureLog().log });
    await first.start();
    await first.stop();
    const cap = captureLog();
    const second = new Agent({ config, registry, log: cap.log });
    await second.start();
    expect(second.metrics.get('agent_unclean_stops_total')).toBe(0);
    expect(cap.lines.some((l) => String(l.msg).startsWith('the previous run did not stop cleanly'))).toBe(false);
    await second.stop();
    // As a killed run leaves the store: its note, never cleared.
    const box = new Outbox(config.store.path);
    box.setNote('running', JSON.stringify({ startedAt: '2026-12-04T10:00:00.000Z', pid: 4242 }));
    box.close();
    const third = new Agent({ config, registry, log: cap.log });
    try {
      await third.start();
      expect(third.metrics.get('agent_unclean_stops_total')).toBe(1);
      expect(cap.lines.find((l) => String(l.msg).startsWith('the previous run did not stop cleanly'))).toMatchObject({ previous: { pid: 4242, startedAt: '2026-12-04T10:00:00.000Z' } });
    } finally {
      await third.stop();
    }
  });
});
