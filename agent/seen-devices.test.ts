import { describe, expect, it } from 'vitest';
import { EXPECT_AFTER_RESTART_MS, SeenDevices } from './seen-devices.js';
import type { DriverEvent } from './model/reading.js';

const ev = (deviceId: string, source = 'icu-mllp', bed?: string): DriverEvent => ({
  kind: 'device-status',
  deviceId,
  source,
  ...(bed !== undefined && { bed }),
  state: 'online',
  detail: '',
  at: 0,
});
const T = Date.UTC(2026, 11, 3, 12, 0, 30);

describe('SeenDevices', () => {
  it('stores the devices heard from, to the minute, only when something changed', () => {
    const s = new SeenDevices();
    expect(s.takeChanges(T)).toBeNull();
    s.note([ev('mon-1', 'icu-mllp', 'ICU/1'), ev('mon-1', 'icu-mllp', 'ICU/1'), ev('mon-2')], T);
    expect(JSON.parse(s.takeChanges(T)!)).toEqual({ 'mon-1': { source: 'icu-mllp', bed: 'ICU/1', at: T - 30_000 }, 'mon-2': { source: 'icu-mllp', at: T - 30_000 } });
    s.note([ev('mon-1', 'icu-mllp', 'ICU/1')], T + 20_000); // same minute
    expect(s.takeChanges(T + 20_000)).toBeNull();
    s.note([ev('mon-1', 'icu-mllp', 'ICU/2')], T + 20_000); // moved bed
    expect(JSON.parse(s.takeChanges(T + 20_000)!)['mon-1'].bed).toBe('ICU/2');
  });

  it('after a restart, expects the devices heard from within a day through drivers still enabled', () => {
    const before = new SeenDevices();
    before.note([ev('mon-1', 'icu-mllp', 'ICU/1')], T);
    before.note([ev('mon-old', 'icu-mllp')], T - EXPECT_AFTER_RESTART_MS - 120_000);
    before.note([ev('pump-1', 'removed-driver')], T);
    const stored = before.takeChanges(T - EXPECT_AFTER_RESTART_MS - 60_000); // nothing aged out yet at that time
    const after = new SeenDevices();
    const expected = after.restore(stored, T + 60_000, new Set(['icu-mllp']));
    expect(expected.map(([id, d]) => [id, d.bed])).toEqual([['mon-1', 'ICU/1']]);
    // Kept as seen: still expected at the next restart, until it ages out.
    after.note([ev('mon-9')], T + 60_000);
    expect(Object.keys(JSON.parse(after.takeChanges(T + 60_000)!))).toEqual(['mon-1', 'mon-9']);
  });

  it('a damaged or foreign note is ignored', () => {
    const s = new SeenDevices();
    expect(s.restore('{not json', T, new Set(['a']))).toEqual([]);
    expect(s.restore('[1,2]', T, new Set(['a']))).toEqual([]);
    expect(s.restore(JSON.stringify({ x: { source: 'a', at: 'yesterday' } }), T, new Set(['a']))).toEqual([]);
  });
});
