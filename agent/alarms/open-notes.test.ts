// The notes of open alarms and the restart list made from them (pure; the e2e test runs them through restarts).
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { AlarmEngine } from './engine.js';
import { deviceAlarm, numeric, nurse, s } from './fixtures.js';
import { acknowledgedBeforeRestart, openAlarmNotes, parseOpenAlarmNote, restartList } from './open-notes.js';

const note = (text: string, priority: 'high' | 'medium' | 'low', raisedAt: number, bed = 'bed-1') =>
  JSON.stringify({ text, bed, priority, state: 'active', raisedAt });

describe('open-alarm notes', () => {
  it('a raised bed alarm gets a note, kept acknowledged while present, gone once resolved; gateway conditions get none', () => {
    const e = new AlarmEngine({ limits: { defaults: [{ id: 'hr', label: 'HR', metrics: [MDC.ECG_HEART_RATE.code], unit: '/min', high: 120, priority: 'medium', delayS: 0, hysteresis: 5 }] } });
    const raised = e.reading(numeric(MDC.ECG_HEART_RATE, 150, 0));
    const id = raised.find((c) => c.alarm.source === 'limit')!.alarmId;
    expect(parseOpenAlarmNote(openAlarmNotes(raised).get(id)!)).toEqual({ text: 'HR HIGH 150 > 120 /min', bed: 'bed-1', priority: 'medium', state: 'active', raisedAt: s(0) });
    const acked = e.acknowledge(id, { user: 'n', role: 'clinician', from: 't' }, s(1)).changes;
    // The last change of an alarm wins: acknowledged, its condition present, it keeps a note (review rv99 M3).
    expect(parseOpenAlarmNote(openAlarmNotes([...raised, ...acked]).get(id)!)).toMatchObject({ state: 'acknowledged', key: 'limit:bed-1:mon-1:hr-high', acknowledgedAt: s(1) });
    const ended = e.reading(numeric(MDC.ECG_HEART_RATE, 80, 2));
    expect(ended.map((c) => c.to)).toEqual(['resolved']);
    expect(openAlarmNotes([...raised, ...acked, ...ended]).get(id)).toBeNull();
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

describe('acknowledged alarms at a restart (review rv99 M3)', () => {
  const vtach = (phase: 'start' | 'continue' | 'end', atS: number, priority: 'high' | 'medium' = 'high') => deviceAlarm('vt-1', phase, atS, { text: 'V-TACH', priority });

  it('an acknowledged alarm whose condition is present keeps its note and is listed as acknowledged before the restart', () => {
    const e = new AlarmEngine({ idPrefix: 'gw-boot1' });
    const raised = e.ingest(vtach('start', 0));
    const acked = e.acknowledge(raised[0]!.alarmId, nurse, s(5)).changes;
    const notes = openAlarmNotes([...raised, ...acked]);
    const n = notes.get(raised[0]!.alarmId)!;
    expect(parseOpenAlarmNote(n)).toEqual({ text: 'V-TACH', bed: 'bed-1', priority: 'high', state: 'acknowledged', raisedAt: s(0), key: 'device:mon-1:vt-1', deviceId: 'mon-1', acknowledgedAt: s(5) });
    const list = restartList([n])!;
    expect(list.text).toMatch(/^1 alarm was open when the agent stopped and is no longer tracked — check the bedside: V-TACH \(bed-1, high, acknowledged before the restart; condition still present then; open since 20\d\d-/);
    // Answered already: the list is medium for it (an unanswered high one makes it high).
    expect(list.priority).toBe('medium');
    expect(restartList([n, note('SpO2 DESAT', 'high', 3)])!.priority).toBe('high');
    // At the same listed priority, the unanswered one comes first though raised later.
    expect(restartList([n, note('RR HIGH', 'medium', s(9))])!.text).toMatch(/: RR HIGH .*; V-TACH \(bed-1, high, acknowledged/);
    expect(acknowledgedBeforeRestart([n, note('SpO2 DESAT', 'high', 3), 'not json'])).toEqual([{ key: 'device:mon-1:vt-1', bed: 'bed-1', deviceId: 'mon-1', priority: 'high', acknowledgedAt: s(5) }]);
    // Its end (resolved) still takes the note away.
    expect(openAlarmNotes(e.ingest(vtach('end', 10))).get(raised[0]!.alarmId)).toBeNull();
  });

  it('an acknowledged limit alarm is listed too, but its acknowledgement is not restored (limits are judged anew)', () => {
    const e = new AlarmEngine({ limits: { defaults: [{ id: 'hr', label: 'HR', metrics: [MDC.ECG_HEART_RATE.code], unit: '/min', high: 120, priority: 'medium', delayS: 0, hysteresis: 5 }] } });
    const raised = e.reading(numeric(MDC.ECG_HEART_RATE, 150, 0));
    const id = raised.find((c) => c.alarm.source === 'limit')!.alarmId;
    const n = openAlarmNotes([...raised, ...e.acknowledge(id, nurse, s(1)).changes]).get(id)!;
    expect(parseOpenAlarmNote(n)).toMatchObject({ state: 'acknowledged' });
    expect(acknowledgedBeforeRestart([n])).toEqual([]);
  });

  it('a repeat of the device alarm after the restart comes back acknowledged, audited, and does not escalate', () => {
    const e = new AlarmEngine({ idPrefix: 'gw-boot2' });
    e.restoreAcknowledgements([{ key: 'device:mon-1:vt-1', bed: 'bed-1', priority: 'high', acknowledgedAt: s(5), until: s(600) }]);
    const cs = [...e.ingest(vtach('continue', 100)), ...e.tick(s(161)), ...e.tick(s(400))].filter((c) => c.alarm.key === 'device:mon-1:vt-1');
    expect(cs.map((c) => `${c.change} ${c.from}->${c.to}`)).toEqual(['raised null->active', 'acknowledged active->acknowledged']);
    expect(cs[1]).toMatchObject({ actor: 'system', why: `acknowledged before the restart (at ${new Date(s(5)).toISOString()})` });
    expect(e.list()[0]).toMatchObject({ state: 'acknowledged', escalated: false });
    // Used once: the next episode (after its end) is a new alarm, unanswered.
    e.ingest(vtach('end', 420));
    expect(e.ingest(vtach('start', 430)).map((c) => c.change)).toEqual(['raised']);
  });

  it('not restored: a repeat at a higher priority, one after the window, one after an end, for another bed, or another device alarm', () => {
    const ack = { key: 'device:mon-1:vt-1', bed: 'bed-1', priority: 'medium' as const, acknowledgedAt: s(5), until: s(600) };
    const run = (events: ReturnType<typeof vtach>[]) => {
      const e = new AlarmEngine();
      e.restoreAcknowledgements([ack]);
      return events.flatMap((ev) => e.ingest(ev)).map((c) => c.change);
    };
    expect(run([vtach('start', 100, 'high')])).toEqual(['raised']); // worse than acknowledged: must sound
    expect(run([vtach('start', 601, 'medium')])).toEqual(['raised']); // too long after the device was last heard
    expect(run([vtach('end', 50, 'medium'), vtach('start', 100, 'medium')])).toEqual(['raised', 'resolved', 'raised']); // its end came: a new episode
    expect(run([deviceAlarm('asy-1', 'start', 100, { priority: 'medium' })])).toEqual(['raised']);
    expect(run([deviceAlarm('vt-1', 'start', 100, { priority: 'medium', bed: 'bed-2' })])).toEqual(['raised']); // another bed: another patient
    expect(run([vtach('start', 100, 'medium')])).toEqual(['raised', 'acknowledged']); // the same within the window
  });
});
