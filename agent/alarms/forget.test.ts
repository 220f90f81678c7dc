// Per-device and per-bed state is forgotten once nothing needs it (review rv77 M2): a device silent for a day with
// nothing open but its own "no data" alarm, or the least recently heard ones over MAX_DEVICES.
import { describe, expect, it } from 'vitest';
import { AlarmEngine, FORGET_AFTER_MS, MAX_DEVICES } from './engine.js';
import { deviceAlarm, numeric, nurse, s } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';
import type { AlarmStateChange } from './types.js';

describe('forgetting devices', () => {
  it('4,000 device ids that each send once: their open "no data" alarms keep them under the cap (counted, told at most every 10 min); a day later they are forgotten', () => {
    const e = new AlarmEngine();
    const N = 4000;
    for (let i = 0; i < N; i++) {
      const t = i * 2;
      e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t, { deviceId: `dev-${i}`, bed: `bed-${i % 500}` }));
      e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 97, t, { deviceId: `dev-${i}`, bed: `bed-${i % 500}` }));
      if (i % 100 === 0) e.tick(s(t));
    }
    e.tick(s(N * 2 + 60));
    // Every silent device has its "no data" alarm open: none is forgotten for the cap, which is not met, and said so.
    expect(e.takeForgotten()).toEqual([]);
    expect(e.stateSizes().devices).toBe(N);
    const unmet = e.takeCapUnmet()!;
    expect(unmet).toMatchObject({ held: N, tell: true });
    // Kept for their open alarm, or (their "no data" raised in this very tick) for being silent under an hour.
    expect(unmet.alarmed).toBeGreaterThan(N / 2);
    expect(unmet.alarmed + unmet.recent).toBe(N);
    expect(unmet.sweeps).toBeGreaterThan(1);
    // Counted at each sweep; told at most once in 10 min (ten sweeps within 9 min: one told at most).
    const later: boolean[] = [];
    for (let t = N * 2 + 200; t < N * 2 + 200 + 540; t += 60) {
      e.tick(s(t));
      const u = e.takeCapUnmet()!;
      expect(u.sweeps).toBe(1);
      later.push(u.tell);
    }
    expect(later.filter(Boolean).length).toBeLessThanOrEqual(1);
    expect(e.takeCapUnmet()).toBeNull();
    // A day on, each is forgotten, its "no data" alarm ended with the reason; unanswered, it stays in view (latched).
    const cs = e.tick(s(N * 2 + FORGET_AFTER_MS / 1000 + 100));
    expect(e.takeForgotten()).toHaveLength(N);
    expect(e.stateSizes().devices).toBe(0);
    const c = cs.find((x) => x.alarm.key === 'tech:dev-0:no-data')!;
    expect(c.why).toMatch(/^forgotten: no event from dev-0 for \d+ s \(silent for a day\)$/);
    expect(c.to).toBe('latched');
  });

  it('over MAX_DEVICES live devices, a monitor whose link dies keeps its acknowledged "no data" alarm (review rv80 M2)', () => {
    const e = new AlarmEngine();
    const N = MAX_DEVICES + 50;
    const all: AlarmStateChange[] = [];
    for (let t = 0; t <= 300; t++) {
      for (let i = t % 20; i < N; i += 20) {
        if (i === 0 && t > 60) continue; // dev-0 dies at 60 s
        e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t, { deviceId: `dev-${i}`, bed: `bed-${i}` }));
      }
      const cs = e.tick(s(t));
      all.push(...cs);
      for (const c of cs) if (c.change === 'raised' && c.alarm.key === 'tech:dev-0:no-data') e.acknowledge(c.alarmId, nurse, s(t));
    }
    expect(all.filter((c) => c.alarm.deviceId === 'dev-0').map((c) => [c.change, c.alarm.key])).toEqual([['raised', 'tech:dev-0:no-data']]);
    expect(e.list().filter((a) => a.deviceId === 'dev-0').map((a) => [a.key, a.state])).toEqual([['tech:dev-0:no-data', 'acknowledged']]);
    expect(e.takeForgotten()).toEqual([]);
    expect(e.takeCapUnmet()).toMatchObject({ held: N, alarmed: 1, tell: true });
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

describe('the service and a device cap it cannot meet (review rv80 M2)', () => {
  it('counts each sweep in alarm_device_cap_unmet_total and logs it at most every 10 min', async () => {
    const { pino } = await import('pino');
    const { Metrics } = await import('../metrics.js');
    const { AlarmService } = await import('./service.js');
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    let now = s(0);
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => now);
    service.handle(Array.from({ length: MAX_DEVICES + 1 }, (_, i) => numeric(MDC.ECG_HEART_RATE, 80, 0, { deviceId: `dev-${i}`, bed: `bed-${i}` })));
    for (const t of [40, 100, 160]) {
      now = s(t);
      service.tick();
    }
    expect(metrics.get('alarm_device_cap_unmet_total')).toBe(3);
    const told = lines.filter((l) => String(l.msg).includes('over the cap'));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ held: MAX_DEVICES + 1 });
  });
});
