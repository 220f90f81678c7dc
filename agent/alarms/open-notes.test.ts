// The notes of open alarms and the restart list made from them (pure; the e2e test runs them through restarts).
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { openAlarmNotes, parseOpenAlarmNote, restartList } from './open-notes.js';

const note = (text: string, priority: 'high' | 'medium' | 'low', raisedAt: number, bed = 'bed-1') =>
  JSON.stringify({ text, bed, priority, state: 'active', raisedAt });

describe('open-alarm notes', () => {
  it('a raised bed alarm gets a note, the same alarm acknowledged loses it; gateway conditions get none', () => {
    const e = new AlarmEngine({ limits: { defaults: [{ id: 'hr', label: 'HR', metrics: [MDC.ECG_HEART_RATE.code], unit: '/min', high: 120, priority: 'medium', delayS: 0, hysteresis: 5 }] } });
    const raised = e.reading(numeric(MDC.ECG_HEART_RATE, 150, 0));
    const id = raised.find((c) => c.alarm.source === 'limit')!.alarmId;
    expect(parseOpenAlarmNote(openAlarmNotes(raised).get(id)!)).toEqual({ text: 'HR HIGH 150 > 120 /min', bed: 'bed-1', priority: 'medium', state: 'active', raisedAt: s(0) });
    const acked = e.acknowledge(id, { user: 'n', role: 'clinician', from: 't' }, s(1)).changes;
    expect(openAlarmNotes([...raised, ...acked]).get(id)).toBeNull(); // the last change of an alarm wins
    const store = e.storeUsage(0.95, s(2)); // store nearly full: a gateway condition
    expect(store.map((c) => c.alarm.bed)).toEqual(['*']);
    expect(openAlarmNotes(store)).toEqual(new Map());
  });

  it('the restart list: highest priority first, at most five named, unreadable notes as such, an earlier list carried on', () => {
    expect(restartList([])).toBeNull();
    const list = restartList([note('RR HIGH', 'medium', 2), note('SpO2 DESAT', 'high', 3), 'not json', note('TEMP LOW', 'low', 1), ...[4, 5, 6].map((t) => note(`X${t}`, 'low', t))])!;
    expect(list.priority).toBe('high');
    expect(list.text).toMatch(/^7 alarms were open when the agent stopped and are no longer tracked — check the bedside: SpO2 DESAT \(bed-1, high, active since 1970-01-01T00:00:00\.003Z\); RR HIGH .*; TEMP LOW .*; X4 .*; X5 .*; and 2 more$/);
    // Only low alarms: medium (losing track is not a low matter); only an unreadable note: high.
    expect(restartList([note('TEMP LOW', 'low', 1)])!.priority).toBe('medium');
    expect(restartList(['{}'])).toEqual({ priority: 'high', text: expect.stringContaining('an alarm whose note is unreadable') });
    expect(restartList([note('TEMP LOW', 'low', 1), 'not json'])!.priority).toBe('high'); // with readable ones too
    const carried = restartList([note('HR HIGH', 'medium', 1)], { text: '1 alarm was open … SpO2 DESAT', priority: 'high' })!;
    expect(carried).toEqual({ priority: 'high', text: expect.stringMatching(/HR HIGH .*\. Before an earlier restart: 1 alarm was open … SpO2 DESAT$/) });
    expect(restartList([note('HR HIGH', 'medium', 1)], { text: 'y'.repeat(5000), priority: 'medium' })!.text).toHaveLength(2000);
  });
});
