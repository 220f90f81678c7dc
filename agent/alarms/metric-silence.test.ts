// A limit alarm must not outlive its metric (review rv77 H1): a metric that stops while its device goes on sending
// ends its limit alarm unconfirmed, says so with a low technical alarm, and a later episode is a new alarm.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from './engine.js';
import { numeric, nurse, s } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import type { AlarmStateChange } from './types.js';

describe('a metric that stops while its device sends on', () => {
  it('ends its limit alarm, raises "No SpO2 from mon-1", and a later desaturation is a new alarm', () => {
    const e = new AlarmEngine();
    const all: AlarmStateChange[] = [];
    for (let t = 0; t <= 20; t++) {
      all.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 85, t)), ...e.tick(s(t)));
    }
    const first = e.list().find((a) => a.source === 'limit')!;
    expect(first.condition.text).toContain('SpO2 LOW');
    expect(e.acknowledge(first.id, nurse, s(21)).ok).toBe(true);
    // SpO2 stops at 20 s (1 Hz before: it is silent after its device's silentAfterS, 30 s); HR goes on for 2 h.
    for (let t = 21; t <= 7200; t++) all.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.tick(s(t)));
    const end = all.find((c) => c.alarmId === first.id && c.to === 'resolved')!;
    expect(end.why).toBe('no longer monitored: no SpO2 from mon-1 for 31 s, while it still sends for bed bed-1');
    expect(end.at).toBe(s(51));
    expect(e.list().some((a) => a.source === 'limit')).toBe(false);
    const tech = all.filter((c) => c.alarm.key === 'tech:mon-1|bed-1|150456:metric-missing');
    expect(tech.map((c) => [c.change, c.alarm.condition.text, c.alarm.priority, c.at])).toEqual([['raised', 'No SpO2 from mon-1', 'low', s(51)]]);
    expect(e.takeMissingMetrics()).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', label: 'SpO2', alarm: 'SpO2 LOW 85 < 90 %', silentS: 31 }]);
    expect(e.takeMissingMetrics()).toEqual([]);
    // SpO2 comes back at 86 %: the technical alarm ends, and the desaturation is raised as a new, unanswered alarm.
    const later: AlarmStateChange[] = [];
    for (let t = 7201; t <= 7220; t++) {
      later.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 86, t)), ...e.tick(s(t)));
    }
    expect(later.filter((c) => c.alarm.source === 'technical').map((c) => [c.change, c.why])).toEqual([['resolved', 'SpO2 received again']]);
    const raised = later.filter((c) => c.alarm.source === 'limit' && c.change === 'raised');
    expect(raised).toHaveLength(1);
    expect(raised[0]!.alarmId).not.toBe(first.id);
    expect(raised[0]!.at).toBe(s(7211));
    expect(e.list().filter((a) => a.source === 'technical')).toEqual([]);
  });

  it('an unanswered limit alarm latches; a metric that stops without an alarm raises nothing', () => {
    const e = new AlarmEngine();
    const all: AlarmStateChange[] = [];
    for (let t = 0; t <= 12; t++) {
      all.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 85, t)), ...e.tick(s(t)));
    }
    // RR out of range but not yet for its delay, then not valid (it cannot confirm), then it stops: nothing raised for it.
    all.push(...e.ingest(numeric(MDC.RESP_RATE, 40, 12)), ...e.ingest(numeric(MDC.RESP_RATE, null, 13, { quality: { state: 'invalid' } })));
    for (let t = 13; t <= 600; t++) all.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.tick(s(t)));
    const limit = e.list().filter((a) => a.source === 'limit');
    expect(limit.map((a) => [a.state, a.conditionPresent])).toEqual([['latched', false]]);
    const raised = all.filter((c) => c.change === 'raised' && (c.alarm.source === 'limit' || c.alarm.key.endsWith(':metric-missing')));
    expect(raised.map((c) => c.alarm.condition.text)).toEqual(['SpO2 LOW 85 < 90 %', 'No SpO2 from mon-1']);
  });

  it('a NIBP limit alarm stays between cuff measurements, even when the cycle goes from 15 to 60 min; ends after 3 cycles without', () => {
    const e = new AlarmEngine();
    const all: AlarmStateChange[] = [];
    const cuff = [0, 15 * 60, 75 * 60];
    for (let t = 0; t <= 80 * 60; t += 5) {
      if (cuff.includes(t)) all.push(...e.ingest(numeric(MDC.PRESS_BLD_NONINV_SYS, 80, t)));
      all.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.tick(s(t)));
    }
    const nibp = all.filter((c) => c.alarm.source === 'limit' || c.alarm.source === 'technical');
    expect(nibp.map((c) => [c.change, c.alarm.condition.text])).toEqual([['raised', 'NIBP SYS LOW 80 < 90 mmHg']]);
    // Then it stops for good: the alarm ends after three of its cycles (the last 60 min), not never.
    for (let t = 80 * 60 + 5; t <= 260 * 60; t += 5) all.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.tick(s(t)));
    const ended = all.find((c) => c.alarm.source === 'limit' && c.change === 'condition-ended')!;
    expect(ended.why).toMatch(/^no longer monitored: no NIBP sys from mon-1 for \d+ s, while it still sends for bed bed-1$/);
    expect(ended.at).toBe(s(75 * 60 + 3 * 60 * 60 + 5));
  });

  it('a device silent altogether ends the metric-missing alarm as no longer monitored', () => {
    const e = new AlarmEngine();
    for (let t = 0; t <= 20; t++) e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 85, t)), e.tick(s(t));
    for (let t = 21; t <= 60; t++) e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), e.tick(s(t));
    expect(e.list().some((a) => a.condition.text === 'No SpO2 from mon-1')).toBe(true);
    const all: AlarmStateChange[] = [];
    for (let t = 61; t <= 120; t++) all.push(...e.tick(s(t)));
    const end = all.find((c) => c.alarm.condition.text === 'No SpO2 from mon-1' && c.change !== 'raised')!;
    expect(end.why).toMatch(/^no longer monitored: nothing from mon-1 for bed bed-1/);
  });
});
