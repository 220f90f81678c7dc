// One ECG lead coming off takes heart rate, respiration rate and the ECG waveform at once. At the bedside that is
// one cause: the agent raises one technical alarm for it (beside the monitor's own LEADS OFF), not one per metric.
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

describe('lead off on a simulated bed, through the whole agent', () => {
  it('one agent alarm names HR, RR and ECG II; the monitor\'s own alarm is kept beside it', async () => {
    const dir = tempDir();
    const config = testConfig(dir, {
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: true, numericPeriodMs: 200, episodesPerHour: 0, scenario: [{ atS: 0, bed: 1, episode: 'lead-off', durationS: 600 }] } }],
    });
    agent = new Agent({ config, registry, log: pino({ level: 'silent' }) });
    await agent.start();
    const technical = () => agent!.alarms.engine.list().filter((a) => a.category === 'technical');
    const ours = () => technical().filter((a) => a.source === 'technical');
    const end = Date.now() + 15_000;
    while (ours().length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    // A little longer: a second alarm for the same cause would come within the same tick.
    await new Promise((r) => setTimeout(r, 1500));
    expect(ours().map((a) => a.condition.text)).toEqual(['HR, RR, ECG II LEAD OFF']);
    expect(ours()[0]).toMatchObject({ deviceId: 'sim-monitor-01', priority: 'low' });
    expect(technical().filter((a) => a.source !== 'technical').map((a) => a.condition.text)).toEqual(['ECG LEADS OFF']);
  }, 30_000);
});
