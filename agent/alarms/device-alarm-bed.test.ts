// A device alarm goes on being reported for another bed (patient and monitor moved): it follows the bed (review rv99 H1).
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { AlarmEngine } from './engine.js';
import { deviceAlarm, numeric, nurse, s } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG } from './news2.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';
import type { AlarmStateChange } from './types.js';

const engine = () => new AlarmEngine({ news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } }, technical: DEFAULT_TECHNICAL_CONFIG });
const show = (cs: AlarmStateChange[]) => cs.map((c) => `${(c.at - s(0)) / 1000} ${c.alarmId} ${c.change} ${c.from}>${c.to} ${c.alarm.bed} :: ${c.why}`);
const rows = (e: AlarmEngine, bed: string) => e.list({ bed }).map((a) => `${a.id} ${a.condition.text} ${a.state} present=${a.conditionPresent}`);

describe('a device alarm reported for another bed (rv99 H1)', () => {
  it('ends on the old bed, unconfirmed ("moved to bed-2"), and is raised on the new one; the old bed does not keep a present alarm for ever', () => {
    const e = engine();
    const out: AlarmStateChange[] = [...e.ingest(deviceAlarm('OBR-77', 'start', 0, { bed: 'bed-1', text: 'SpO2 LOW', priority: 'medium' }))];
    // The patient and monitor move: everything now comes for bed-2, and the alarm goes on (continue every 60 s).
    for (let t = 10; t <= 1800; t += 10) {
      out.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t, { bed: 'bed-2' })));
      if (t % 60 === 0) out.push(...e.ingest(deviceAlarm('OBR-77', 'continue', t, { bed: 'bed-2', text: 'SpO2 LOW', priority: 'medium' })));
      out.push(...e.tick(s(t)));
    }
    expect(show(out.filter((c) => c.alarm.source === 'device'))).toEqual([
      '0 alm-1 raised null>active bed-1 :: device reported start (medium)',
      // Unanswered: it latches, so bed-1's staff keep it in view until someone acknowledges it (an unconfirmed end).
      '60 alm-1 condition-ended active>latched bed-1 :: moved to bed-2: mon-1 now reports this alarm for bed bed-2, no longer for bed bed-1',
      '60 alm-2 raised null>active bed-2 :: device reported continue (medium), for bed bed-2 (moved from bed bed-1)',
    ]);
    expect(rows(e, 'bed-1')).toEqual(['alm-1 SpO2 LOW latched present=false']);
    expect(rows(e, 'bed-2')).toEqual(['alm-2 SpO2 LOW active present=true']);
    // Acknowledging the old bed's resolves it; the alarm on bed-2 is the device's alarm from now on: its end ends it.
    expect(e.acknowledge('alm-1', nurse, s(1801)).changes.map((c) => `${c.change} ${c.to}`)).toEqual(['acknowledged resolved']);
    expect(show(e.ingest(deviceAlarm('OBR-77', 'end', 1802, { bed: 'bed-2', text: 'SpO2 LOW', priority: 'medium' })))).toEqual([
      '1802 alm-2 resolved active>resolved bed-2 :: device reported its end',
    ]);
    expect(e.list()).toEqual([]);
  });

  it('an acknowledged alarm resolves on the old bed and is raised unanswered on the new one', () => {
    const e = engine();
    e.ingest(deviceAlarm('A1', 'start', 0, { bed: 'bed-1', priority: 'high', text: 'ASYSTOLE' }));
    e.acknowledge('alm-1', nurse, s(5));
    expect(show(e.ingest(deviceAlarm('A1', 'continue', 30, { bed: 'bed-2', priority: 'high', text: 'ASYSTOLE' })))).toEqual([
      '30 alm-1 resolved acknowledged>resolved bed-1 :: moved to bed-2: mon-1 now reports this alarm for bed bed-2, no longer for bed bed-1',
      '30 alm-2 raised null>active bed-2 :: device reported continue (high), for bed bed-2 (moved from bed bed-1)',
    ]);
    expect(e.list().map((a) => `${a.id} ${a.bed} ${a.state}`)).toEqual(['alm-2 bed-2 active']);
  });

  it('reports for the same bed, and reports that carry no bed, change nothing (as before)', () => {
    const e = engine();
    e.ingest(deviceAlarm('A1', 'start', 0, { bed: 'bed-1', priority: 'medium', text: 'SpO2 LOW' }));
    const out: AlarmStateChange[] = [];
    for (let t = 10; t <= 600; t += 10) {
      out.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t, { bed: 'bed-1' })));
      if (t % 60 === 0) out.push(...e.ingest(deviceAlarm('A1', 'continue', t, { bed: 'bed-1', priority: 'medium', text: 'SpO2 LOW' })));
      // A sender whose message lacks PV1 (no bed, none configured for the device): unknown is not a move.
      if (t % 90 === 0) out.push(...e.ingest({ ...deviceAlarm('A1', 'continue', t, { priority: 'medium', text: 'SpO2 LOW' }), bed: undefined }));
      out.push(...e.tick(s(t)));
    }
    expect(out.filter((c) => c.alarm.source === 'device')).toEqual([]);
    expect(rows(e, 'bed-1')).toEqual(['alm-1 SpO2 LOW active present=true']);
  });
});
