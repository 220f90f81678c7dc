// Per-device and per-bed state is forgotten once nothing needs it (review rv77 M2): a device silent for a day with
// nothing open but its own "no data" alarm, or the least recently heard ones over MAX_DEVICES.
import { describe, expect, it } from 'vitest';
import { AlarmEngine, FORGET_AFTER_MS, MAX_DEVICES } from './engine.js';
import { deviceAlarm, numeric, nurse, s } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';
import type { AlarmStateChange } from './types.js';

describe('forgetting devices', () => {
  it('4,000 device ids that each send once leave at most MAX_DEVICES devices of state, their no-data alarms ended, not lost', () => {
    const e = new AlarmEngine();
    const raised = new Set<string>();
    const ended = new Map<string, AlarmStateChange>();
    const note = (cs: AlarmStateChange[]): void => {
      for (const c of cs) {
        if (c.change === 'raised') raised.add(c.alarm.key);
        if (c.change === 'condition-ended') ended.set(c.alarm.key, c);
      }
    };
    const N = 4000;
    for (let i = 0; i < N; i++) {
      const t = i * 2;
      note(e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t, { deviceId: `dev-${i}`, bed: `bed-${i % 500}` })));
      note(e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 97, t, { deviceId: `dev-${i}`, bed: `bed-${i % 500}` })));
      if (i % 100 === 0) note(e.tick(s(t)));
    }
    note(e.tick(s(N * 2 + 60)));
    const size = e.stateSizes();
    expect(size.devices).toBeLessThanOrEqual(MAX_DEVICES);
    expect(size.devices).toBeGreaterThan(MAX_DEVICES - 100);
    expect(size.feeds).toBe(size.devices);
    expect(size.metrics).toBe(2 * size.devices);
    expect(size.limitTracks).toBeLessThanOrEqual(8 * size.devices);
    // The oldest were forgotten, the newest kept.
    const forgotten = e.takeForgotten();
    expect(forgotten.length).toBe(N - size.devices);
    expect(forgotten[0]).toMatchObject({ deviceId: 'dev-0', reason: 'cap' });
    // Each forgotten device's "no data" alarm ended with the reason; unanswered, it stays in view (latched).
    const c = ended.get('tech:dev-0:no-data')!;
    expect(c.why).toMatch(/^forgotten: more than 2000 devices known, dev-0 the least recently heard \(silent for \d+ s\)$/);
    expect(c.to).toBe('latched');
    const open = new Set(e.list().map((a) => a.key));
    expect([...raised].filter((k) => !open.has(k))).toEqual([]);
    // A later tick has no device state to scan beyond the cap.
    note(e.tick(s(N * 2 + 200)));
    expect(e.stateSizes().devices).toBeLessThanOrEqual(MAX_DEVICES);
  });

  it('forgets a device silent for a day whose only open alarm is its acknowledged "no data"; keeps one with another open alarm', () => {
    const e = new AlarmEngine();
    e.ingest(numeric(MDC.ECG_HEART_RATE, 80, 0, { deviceId: 'a' }));
    e.ingest(numeric(MDC.ECG_HEART_RATE, 80, 0, { deviceId: 'b', bed: 'bed-2' }));
    e.ingest(deviceAlarm('x1', 'start', 0, { deviceId: 'b', bed: 'bed-2' }));
    e.tick(s(40));
    const noData = e.list().find((a) => a.key === 'tech:a:no-data')!;
    e.acknowledge(noData.id, nurse, s(50));
    // b's device alarm ends unconfirmed (10 min silent) and latches: someone must see it, so b is kept.
    const day = FORGET_AFTER_MS / 1000;
    const cs = e.tick(s(day + 100));
    const end = cs.find((c) => c.alarmId === noData.id)!;
    expect(end.why).toMatch(/^forgotten: no event from a for 86500 s \(silent for a day\)$/);
    expect(end.to).toBe('resolved');
    expect(e.takeForgotten()).toEqual([{ deviceId: 'a', reason: 'day', silentS: day + 100 }]);
    expect(e.stateSizes()).toMatchObject({ devices: 1, feeds: 1, metrics: 1, alarmsSentAt: 1 });
    // Once b's alarms are answered, b goes too.
    for (const a of e.list().filter((x) => x.deviceId === 'b')) e.acknowledge(a.id, nurse, s(day + 110));
    e.tick(s(day + 200));
    expect(e.takeForgotten().map((f) => f.deviceId)).toEqual(['b']);
    expect(e.stateSizes()).toMatchObject({ devices: 0, feeds: 0, metrics: 0, limitTracks: 0, alarmsSentAt: 0 });
    // A forgotten device that sends again starts afresh.
    e.ingest(numeric(MDC.ECG_HEART_RATE, 80, day + 300, { deviceId: 'a' }));
    expect(e.stateSizes()).toMatchObject({ devices: 1, feeds: 1, metrics: 1 });
  });

  it('never forgets a device listed in the config; forgets a bed a device left a day ago', () => {
    const e = new AlarmEngine({ technical: { ...DEFAULT_TECHNICAL_CONFIG, devices: { fixed: { bed: 'bed-9' } } } });
    e.ingest(numeric(MDC.ECG_HEART_RATE, 80, 0, { deviceId: 'fixed' }));
    e.ingest(numeric(MDC.ECG_HEART_RATE, 80, 0, { deviceId: 'transport', bed: 'bed-1' }));
    const day = FORGET_AFTER_MS / 1000;
    for (let t = 60; t <= day + 120; t += 60) {
      e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t, { deviceId: 'transport', bed: 'bed-2' }));
      e.tick(s(t));
    }
    expect(e.takeForgotten()).toEqual([{ deviceId: 'transport', bed: 'bed-1', reason: 'day', silentS: expect.any(Number) }]);
    expect(e.stateSizes()).toMatchObject({ devices: 2, feeds: 2, metrics: 2 });
    expect(e.list().some((a) => a.key === 'tech:fixed:no-data' && a.conditionPresent)).toBe(true);
  });
});
