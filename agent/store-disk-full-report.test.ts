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

it('free space hovering around 2 MiB raises the store alarm once, not at every crossing, and it clears once space is clearly back (review rv155 F1)', () => {
  agent = new Agent({ config: testConfig(tempDir()), registry, log: captureLog().log });
  const a = agent;
  for (let i = 0; i < 200; i++) a.outbox.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: JSON.stringify({ i, pad: 'p'.repeat(200) }) }]);
  const changes: string[] = [];
  a.alarms.subscribe((cs) => {
    for (const c of cs) if (c.alarm.key === 'tech:gateway:store') changes.push(`${c.change}:${c.alarm.id}`);
  });
  const o = a.outbox as unknown as { freeDiskBytes: () => number };
  for (let k = 0; k < 5; k++) {
    o.freeDiskBytes = () => 2_000_000; // 1.91 MiB: under FULL_DISK_FREE_BYTES
    a.enforceStoreLimits();
    o.freeDiskBytes = () => 2_200_000; // 2.10 MiB: just over it
    a.enforceStoreLimits();
  }
  const raised = changes.filter((c) => c.startsWith('raised'));
  expect(raised).toHaveLength(1);
  expect(changes.filter((c) => c.startsWith('resolved'))).toEqual([]);
  const storeAlarm = () => a.alarms.engine.list({ bed: GATEWAY_BED }).find((x) => x.key === 'tech:gateway:store' && x.conditionPresent);
  expect(storeAlarm()?.condition.text).toBe('Gateway store nearly full (100 %)');
  // Clearly back (twice FULL_DISK_FREE_BYTES free): the condition ends.
  o.freeDiskBytes = () => 4_300_000;
  a.enforceStoreLimits();
  expect(storeAlarm()).toBeUndefined();
  expect(changes.filter((c) => c.startsWith('resolved'))).toEqual([`resolved:${raised[0]!.slice('raised:'.length)}`]);
  expect(a.outbox.pending('telemetry').records).toBe(200);
});
