// An alarm's updatedAt never goes back (review rv75 H1): a reading's change is stamped with the time the reading was
// received, which can be before an action taken while the reading waited for its commit.
import { expect, it } from 'vitest';
import { AlarmEngine, type AlarmEngineConfig } from './engine.js';
import { deviceAlarm, nurse, s } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG } from './news2.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';

const QUIET: Partial<AlarmEngineConfig> = {
  news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } },
  technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 },
};

it('keeps updatedAt at the newest change when a report received before an acknowledgement is applied after it', () => {
  const e = new AlarmEngine(QUIET);
  const [raised] = e.deviceAlarm(deviceAlarm('spo2', 'start', 0, { priority: 'medium' }));
  const id = raised!.alarm.id;
  const ack = e.acknowledge(id, nurse, s(10), 'medium');
  expect(ack.ok).toBe(true);
  // Received at 9.98 s, applied after the ack of 10 s: the priority rises and the ack is undone.
  const rise = e.deviceAlarm({ ...deviceAlarm('spo2', 'continue', 0, { priority: 'high' }), receivedAt: s(10) - 20 });
  expect(rise.map((c) => c.change)).toEqual(['priority-changed']);
  expect(rise[0]!.alarm).toMatchObject({ priority: 'high', state: 'active', updatedAt: s(10) });
  expect(e.get(id)!.updatedAt).toBe(s(10));
  // The record is not stamped before the acknowledgement recorded before it: consumers order by (at, seq) (rv162 F3).
  expect(rise[0]!.at).toBe(s(10));
});
