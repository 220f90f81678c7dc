// Expected ward screens through the whole agent: a screen listed in display.screens that does not connect raises a
// gateway technical alarm through the agent's engine (journalled for the hub), and its first stream ends it.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { waitFor } from '../../drivers/serial/testing.js';
import { openStream } from '../browser/display-fixtures.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

describe('expected screens, whole agent', () => {
  it('a screen that does not connect within its grace is a technical alarm, journalled; connecting ends it', async () => {
    const dir = tempDir();
    const config = testConfig(dir, { store: { path: join(dir, 'agent.db') }, display: { enabled: true, port: 0, screens: [{ name: 'ward3-station', graceS: 5 }] } });
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    const a = agent;
    const alarm = () => a.alarms.engine.list().find((x) => x.condition.raw?.code === 'display:ward3-station');
    await waitFor('the screen alarm', () => alarm() !== undefined, 20_000);
    expect(alarm()).toMatchObject({ bed: '*', category: 'technical', priority: 'medium', state: 'active' });
    expect(alarm()!.condition.text).toMatch(/^Display ward3-station not connected for \d+ s: its alarms are not shown there$/);
    expect(a.outbox.pending('alarms').records).toBeGreaterThan(0); // journalled for the hub

    const stream = await openStream(a.display!.address().url, '/api/stream?screen=ward3-station');
    try {
      await waitFor('the alarm to end', () => alarm() === undefined, 10_000);
      const health = (await (await fetch(`${a.display!.address().url}/healthz`)).json()) as { display: { screens: { name: string; connected: boolean }[] } };
      expect(health.display.screens).toEqual([{ name: 'ward3-station', connected: true, address: '127.0.0.1', addressChanged: null }]);
    } finally {
      stream.close();
    }
  });
});
