// A disk another program filled while the store is small (too small for the disk limit to apply: review rv59 M1) is a
// full store to the agent: the "store nearly full" alarm says so, and nothing is evicted for it (review rv152 R3).
import { afterEach, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { GATEWAY_BED } from './alarms/types.js';
import { registry } from '../drivers/registry.js';
import { captureLog } from '../test/support/log.js';
import { tempDir } from '../test/support/agent-process.js';
import { testConfig } from '../test/support/agent-config.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

it('a small store on a disk with less free than the store needs to write is reported full, and nothing is evicted', () => {
  agent = new Agent({ config: testConfig(tempDir()), registry, log: captureLog().log });
  const a = agent;
  for (let i = 0; i < 200; i++) a.outbox.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, pad: 'p'.repeat(200) }) }]);
  const open = () => a.alarms.engine.list({ bed: GATEWAY_BED }).filter((x) => x.conditionPresent);
  const storeAlarm = () => open().find((x) => x.key === 'tech:gateway:store');
  a.enforceStoreLimits();
  expect(storeAlarm()).toBeUndefined();
  // 1 MB free: under what the store needs to write (FULL_DISK_FREE_BYTES), and the store far smaller than the disk
  // limit's minimum, so that the disk share of usage (used / (used + free)) is small.
  (a.outbox as unknown as { freeDiskBytes: () => number }).freeDiskBytes = () => 1_000_000;
  a.enforceStoreLimits();
  expect(storeAlarm()?.condition.text).toBe('Gateway store nearly full (100 %)');
  expect(a.outbox.pending('telemetry').records).toBe(200);
  expect(open().filter((x) => /evicted|discarded/.test(`${x.key} ${x.condition.text}`))).toEqual([]);
});
