// An alarm change the store refuses for good (too large) is a loss: a latched gateway alarm, not only a log line.
import { describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { GATEWAY_BED } from './alarms/types.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';

describe('alarm journal refusals', () => {
  it('raise the latched alarm-journal-lost alarm at the next store check', async () => {
    const agent = new Agent({ config: testConfig(tempDir()), registry, log: captureLog().log });
    try {
      // The journal's own count (a real refusal needs a change over the store's record limit, which the engine's
      // text caps now prevent): what the agent does with it is what is tested here.
      const state = agent.alarms.journalState.bind(agent.alarms);
      agent.alarms.journalState = () => ({ ...state(), refused: 2 });
      agent.enforceStoreLimits();
      const lost = agent.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === 'gateway:alarm-journal-lost');
      expect(lost).toMatchObject({ priority: 'medium', state: 'active', latching: true }); // stays until acknowledged
      expect(lost!.condition.text).toBe('Alarm journal: 2 alarm changes were too large to store: shown here, not journalled or forwarded');
    } finally {
      await agent.stop();
    }
  });
});
