// Review rv142. F2: a metric that keeps arriving but not valid (probe off) for as long as a silent one would be
// ended after is not monitored: its limit alarm ends unconfirmed, and the next violation is a new alarm.
// F4: a waveform questionable only for its timing (HL7 time-from-receipt) is no "not valid" technical alarm.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from './engine.js';
import { onlyTimingDoubt } from './timing.js';
import { numeric, nurse, s, wave } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import type { AlarmStateChange } from './types.js';

const off = (t: number) => numeric(MDC.PULS_OXIM_SAT_O2, null, t, { quality: { state: 'unavailable', reasons: ['sensor-off'] } });
const hr = (t: number) => numeric(MDC.ECG_HEART_RATE, 80, t);

/** SpO2 87 from 0 to 12 s (SpO2 LOW raised at 10 s), then sensor-off readings every second from 13 s to `offUntil`. */
function lowThenOff(e: AlarmEngine, offUntil: number, ack: boolean): { id: string; all: AlarmStateChange[] } {
  const all: AlarmStateChange[] = [];
  for (let t = 0; t <= 12; t++) all.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 87, t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
  const a = e.list({ bed: 'bed-1' }).find((x) => x.key.includes('spo2-low'))!;
  expect(a).toBeDefined();
  if (ack) expect(e.acknowledge(a.id, nurse, s(12)).ok).toBe(true);
  for (let t = 13; t <= offUntil; t++) all.push(...e.ingest(off(t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
  return { id: a.id, all };
}

describe('rv142 F2: a limit alarm whose metric keeps arriving not valid', () => {
  it('acknowledged: ends unconfirmed once not valid as long as a silent metric, and the next desaturation is a new alarm', () => {
    const e = new AlarmEngine();
    const { id, all } = lowThenOff(e, 7200, true);
    const end = all.filter((c) => c.alarmId === id && c.change !== 'raised');
    // Last usable SpO2 at 12 s; the device's silentAfterS (30 s) passed at 43 s.
    expect(end.map((c) => [c.to, c.at, c.why])).toEqual([
      ['resolved', s(43), 'no longer monitored: SpO2 from mon-1 not valid (sensor-off) for 31 s'],
    ]);
    // The technical monitor says why (sensor-off); no "No SpO2" alarm, the metric is not missing.
    expect(e.takeMissingMetrics()).toEqual([]);
    expect(e.list().some((a) => a.key.endsWith(':metric-missing'))).toBe(false);
    const later: AlarmStateChange[] = [];
    for (let t = 7201; t <= 7260; t++) later.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 86, t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
    const spo2 = e.list({ bed: 'bed-1' }).filter((x) => x.key.includes('spo2-low'));
    expect(spo2.map((a) => [a.id === id, a.state])).toEqual([[false, 'active']]);
    expect(later.find((c) => c.alarm.key.includes('spo2-low') && c.change === 'raised')!.at).toBe(s(7211));
  });

  it('questionable values with a number (artifact) for that long end it too, worded "questionable", not "not valid" (review rv147 F3)', () => {
    // A choice: 30 s of numbers the rule cannot judge is as unwatched as a probe off; the alarm latches when unanswered,
    // and after an acknowledgement the next valid desaturation is a new alarm, not folded into the old one.
    const e = new AlarmEngine();
    const all: AlarmStateChange[] = [];
    for (let t = 0; t <= 12; t++) all.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 86, t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
    const a = e.list({ bed: 'bed-1' }).find((x) => x.key.includes('spo2-low'))!;
    const artifact = (t: number) => numeric(MDC.PULS_OXIM_SAT_O2, 86, t, { quality: { state: 'questionable', reasons: ['artifact'] } });
    for (let t = 13; t <= 60; t++) all.push(...e.ingest(artifact(t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
    const end = all.filter((c) => c.alarmId === a.id && c.change !== 'raised');
    expect(end.map((c) => c.why)).toEqual(['no longer monitored: SpO2 from mon-1 questionable (artifact) for 31 s']);
    expect(e.list().find((x) => x.id === a.id)!.state).toBe('latched');
  });

  it('unanswered: latches (stays in view until acknowledged), as for a silent metric', () => {
    const e = new AlarmEngine();
    const { id } = lowThenOff(e, 600, false);
    const a = e.list().find((x) => x.id === id)!;
    expect([a.state, a.conditionPresent]).toEqual(['latched', false]);
  });

  it('a brief dropout does not end it: not valid for less than the silent time keeps the alarm and its acknowledgement', () => {
    const e = new AlarmEngine();
    const { id, all } = lowThenOff(e, 40, true);
    for (let t = 41; t <= 60; t++) all.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 86, t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
    expect(all.filter((c) => c.alarm.key.includes('spo2-low') && c.at > s(12)).map((c) => c.change)).toEqual([]);
    expect(e.list().filter((x) => x.key.includes('spo2-low')).map((x) => [x.id, x.state])).toEqual([[id, 'acknowledged']]);
  });

  it('a pending run whose metric is not valid that long starts over: a later violation waits its delay again', () => {
    const e = new AlarmEngine();
    const all: AlarmStateChange[] = [];
    // 87 % for 5 s (delay 10 s: pending), then sensor-off for 60 s, then 86 %.
    for (let t = 0; t <= 4; t++) all.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 87, t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
    for (let t = 5; t <= 64; t++) all.push(...e.ingest(off(t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
    for (let t = 65; t <= 80; t++) all.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 86, t)), ...e.ingest(hr(t)), ...e.tick(s(t)));
    const raised = all.filter((c) => c.alarm.key.includes('spo2-low') && c.change === 'raised');
    expect(raised.map((c) => c.at)).toEqual([s(75)]);
  });
});

describe('rv142 F4: waveform quality that doubts only its timing', () => {
  const ecg = (e: AlarmEngine, reasons: string[]): AlarmStateChange[] => {
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 60; t++) out.push(...e.ingest(wave(MDC.ECG_ELEC_POTL_II, t, { state: 'questionable', reasons })), ...e.tick(s(t)));
    return out;
  };

  it('time-from-receipt only (with an unreadable time noted): no "readings not valid" alarm', () => {
    expect(ecg(new AlarmEngine(), ['time-from-receipt']).filter((c) => c.alarm.key.endsWith(':invalid'))).toEqual([]);
    expect(ecg(new AlarmEngine(), ['time-invalid:obx-14', 'time-from-receipt']).filter((c) => c.alarm.key.endsWith(':invalid'))).toEqual([]);
  });

  it('time-from-receipt and another doubt: still not valid', () => {
    const raised = ecg(new AlarmEngine(), ['time-from-receipt', 'sample-rate-unknown']).filter((c) => c.alarm.key.endsWith(':invalid'));
    expect(raised.map((c) => [c.change, c.alarm.condition.text])).toEqual([['raised', 'ECG II readings not valid (time-from-receipt, sample-rate-unknown)']]);
  });

  it('onlyTimingDoubt: questionable for timing reasons alone, nothing else', () => {
    expect(onlyTimingDoubt({ state: 'questionable', reasons: ['time-from-receipt'] })).toBe(true);
    expect(onlyTimingDoubt({ state: 'questionable', reasons: ['time-zone-assumed', 'time-anchored-at-receipt'] })).toBe(true);
    expect(onlyTimingDoubt({ state: 'questionable', reasons: ['time-from-receipt', 'obx-8:QUES'] })).toBe(false);
    expect(onlyTimingDoubt({ state: 'questionable' })).toBe(false); // questionable for no reason given: a doubt
    expect(onlyTimingDoubt({ state: 'invalid', reasons: ['time-from-receipt'] })).toBe(false);
    expect(onlyTimingDoubt({ state: 'valid' })).toBe(false); // valid needs no excuse
  });
});
