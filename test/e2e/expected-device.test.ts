// A device listed in alarms.devices that sends nothing at all, as after a gateway restart with the monitor
// already unplugged: the agent must raise "no data" for it from its own start, not wait for a first event.
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

describe('expected devices (alarms.devices)', () => {
  it('raises "no data" for a listed device that never sends, on its bed, and not for one that does', async () => {
    const dir = tempDir();
    const config = testConfig(dir, {
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: false, numericPeriodMs: 200 } }],
      alarms: { devices: { 'mon-unplugged': { bed: 'bed-9', silentAfterS: 5 }, 'sim-monitor-01': { silentAfterS: 5 } } },
    });
    agent = new Agent({ config, registry, log: pino({ level: 'silent' }) });
    await agent.start();
    const noData = () => agent!.alarms.engine.list().filter((a) => a.condition.text.startsWith('No data'));
    const end = Date.now() + 10_000;
    while (noData().length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const raised = noData();
    expect(raised.map((a) => [a.deviceId, a.bed])).toEqual([['mon-unplugged', 'bed-9']]);
    expect(raised[0]!.category).toBe('technical');
    // Health says so too, although every driver is running: degraded, with the condition listed.
    const h = agent.health();
    expect(Object.values(h.drivers).every((d) => d.state === 'running')).toBe(true);
    expect(h.status).toBe('degraded');
    expect(h.technicalAlarms).toContainEqual(expect.objectContaining({ deviceId: 'mon-unplugged', bed: 'bed-9', text: expect.stringMatching(/^No data/) }));
  }, 20_000);
});
