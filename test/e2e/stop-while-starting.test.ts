// A stop that arrives while the agent is still starting (IoT Edge sends SIGTERM on every redeploy, often right after
// a start): the step in progress finishes, nothing after it starts, and the stop completes with the store closed.
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { validateConfig } from '../../agent/config/load.js';
import { registry } from '../../drivers/registry.js';
import type { Driver, DriverFactory } from '../../drivers/types.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { connect } from 'node:net';
import { join } from 'node:path';
import { testConfig } from '../support/agent-config.js';
import { freePort } from '../support/mllp-client.js';

describe('stop while starting', () => {
  it('a driver the twin is starting (an HL7 listener) finishes its start before it is stopped: the stop does not hang', async () => {
    const port = await freePort();
    const agent = new Agent({ config: testConfig(tempDir(), { drivers: [] }), registry, log: captureLog().log });
    await agent.start();
    const entry = validateConfig({ drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } }] }, registry, 'test').drivers[0]!;
    const starting = agent.startDriver(entry).then(() => 'started', () => 'refused');
    const stopping = agent.stop().then(() => 'stopped');
    // A hang shows as 'pending' (before, the start never settled once the listener was closed half-way).
    const pending = new Promise((r) => setTimeout(() => r('pending'), 4000));
    expect(await Promise.race([Promise.all([starting, stopping]), pending])).toEqual(['started', 'stopped']);
    // And nothing is left listening.
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    expect(open).toBe(false);
  });

  it('waits for the driver being started, starts nothing after it, and stops cleanly', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const stopped: string[] = [];
    const gated: DriverFactory = {
      type: 'gated',
      description: 'a driver whose start waits for the test',
      configSchema: { type: 'object' },
      create: (_o, ctx): Driver => ({
        start: async () => {
          started.push(ctx.name);
          if (ctx.name === 'first') await gate;
        },
        stop: async () => {
          stopped.push(ctx.name);
        },
        health: () => ({ state: 'running' }),
      }),
    };
    const reg = new Map(registry).set('gated', gated);
    const dir = tempDir();
    const config = validateConfig(
      {
        gateway: { id: 'gw' },
        store: { path: join(dir, 'agent.db') },
        hub: { mode: 'off' },
        drivers: [
          { name: 'first', type: 'gated' },
          { name: 'second', type: 'gated' },
        ],
      },
      reg,
      'test',
    );
    const cap = captureLog();
    const agent = new Agent({ config, registry: reg, log: cap.log });
    const starting = agent.start();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['first']);
    let stopDone = false;
    const stopping = agent.stop().then(() => (stopDone = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopDone).toBe(false); // waits for the step in progress
    release();
    await starting;
    await stopping;
    expect(started).toEqual(['first']); // 'second' never started
    expect(stopped).toEqual(['first']);
    expect(cap.find('agent running')).toBeUndefined();
    expect(cap.find('stop requested while starting: waiting for the step in progress')).toBeDefined();
    expect(cap.find('agent stopped')).toBeDefined();
    // Nothing is left running: a start after the stop is refused rather than half-done against a closed store.
    await expect(agent.startDriver(config.drivers[1]!)).rejects.toThrow(/stopping/);
  });
});
