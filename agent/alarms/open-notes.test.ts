// The notes of open alarms and the restart list made from them (pure; the e2e test runs them through restarts).
import { describe, expect, it } from 'vitest';
import { MDC, UNITS } from '../model/mdc.js';
import { alarmChangeRecord } from '../forward/wire.js';
import type { AlarmEvent } from '../model/reading.js';
import { AlarmEngine, NEW_EPISODE_AFTER_MS } from './engine.js';
import { deviceAlarm, numeric, nurse, s } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG } from './news2.js';
import { acknowledgedBeforeRestart, formerAlarm, openAlarmNotes, parseOpenAlarmNote, restartList } from './open-notes.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';
import type { AlarmStateChange } from './types.js';
import { AlarmService } from './service.js';
import { Metrics } from '../metrics.js';
import { captureLog } from '../../test/support/log.js';
import { pseudonymizer } from '../privacy.js';

const note = (text: string, priority: 'high' | 'medium' | 'low', raisedAt: number, bed = 'bed-1') =>
  JSON.stringify({ text, bed, priority, state: 'active', raisedAt });

describe('open-alarm notes', () => {
  it('a raised bed alarm gets a note, kept acknowledged while present, gone once resolved; gateway conditions get none', () => {
    const e = new AlarmEngine({ limits: { defaults: [{ id: 'hr', label: 'HR', metrics: [MDC.ECG_HEART_RATE.code], unit: '/min', high: 120, priority: 'medium', delayS: 0, hysteresis: 5 }] } });
    const raised = e.reading(numeric(MDC.ECG_HEART_RATE, 150, 0));
    const id = raised.find((c) => c.alarm.source === 'limit')!.alarmId;
    expect(parseOpenAlarmNote(openAlarmNotes(raised).get(id)!)).toEqual({
      text: 'HR HIGH 150 > 120 /min', bed: 'bed-1', priority: 'medium', state: 'active', raisedAt: s(0),
      // What its closing record at the next start needs (review rv185 M4).
      key: 'limit:bed-1:mon-1:hr-high', deviceId: 'mon-1', source: 'limit', category: 'physiological', raw: { system: 'agent', code: 'limit:hr-high' },
      conditionPresent: true, latching: false, escalated: false, updatedAt: s(0),
      // ...its source fields too (review rv187 M2).
      metric: { code: MDC.ECG_HEART_RATE.code, refid: MDC.ECG_HEART_RATE.refid }, value: 150, unit: '/min',
    });
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
    expect(parseOpenAlarmNote(n)).toEqual({
      text: 'V-TACH', bed: 'bed-1', priority: 'high', state: 'acknowledged', raisedAt: s(0), key: 'device:mon-1:vt-1', deviceId: 'mon-1', acknowledgedAt: s(5), acknowledgedBy: { user: 'nurse.jones', role: 'clinician' },
      source: 'device', category: 'physiological', sourceAlarmId: 'vt-1', conditionPresent: true, latching: true, escalated: false, updatedAt: s(5), value: null,
    });
    const list = restartList([n])!;
    expect(list.text).toMatch(/^1 alarm was open when the agent stopped and is no longer tracked — check the bedside: V-TACH \(bed-1, high, acknowledged before the restart; condition still present then; open since 20\d\d-/);
    // Answered already: the list is medium for it (an unanswered high one makes it high).
    expect(list.priority).toBe('medium');
    expect(restartList([n, note('SpO2 DESAT', 'high', 3)])!.priority).toBe('high');
    // At the same listed priority, the unanswered one comes first though raised later.
    expect(restartList([n, note('RR HIGH', 'medium', s(9))])!.text).toMatch(/: RR HIGH .*; V-TACH \(bed-1, high, acknowledged/);
    expect(acknowledgedBeforeRestart([n, note('SpO2 DESAT', 'high', 3), 'not json'])).toEqual([
      { key: 'device:mon-1:vt-1', bed: 'bed-1', deviceId: 'mon-1', priority: 'high', acknowledgedAt: s(5), acknowledgedBy: { user: 'nurse.jones', role: 'clinician' } },
    ]);
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
    // Its end came (answered: rv185 M1, below): the start after it is a new episode.
    expect(run([vtach('end', 50, 'medium'), vtach('start', 100, 'medium')])).toEqual(['raised', 'acknowledged', 'resolved', 'raised']);
    expect(run([deviceAlarm('asy-1', 'start', 100, { priority: 'medium' })])).toEqual(['raised']);
    expect(run([deviceAlarm('vt-1', 'start', 100, { priority: 'medium', bed: 'bed-2' })])).toEqual(['raised']); // another bed: another patient
    expect(run([vtach('start', 100, 'medium')])).toEqual(['raised', 'acknowledged']); // the same within the window
  });

  it('review rv185 M1: an end as the first report after the restart comes back acknowledged, then resolves: it neither latches nor escalates', () => {
    const ack = { key: 'device:mon-1:vt-1', bed: 'bed-1', priority: 'high' as const, acknowledgedAt: s(5), until: s(600), acknowledgedBy: { user: 'nurse.jones', role: 'clinician' } };
    const e = new AlarmEngine({ idPrefix: 'gw-boot3' });
    e.restoreAcknowledgements([ack]);
    const cs = [...e.ingest(vtach('end', 100)), ...e.tick(s(161))].filter((c) => c.alarm.key === 'device:mon-1:vt-1');
    expect(cs.map((c) => [c.change, `${c.from}->${c.to}`, c.actor, c.why])).toEqual([
      ['raised', 'null->active', 'system', 'device reported the end of an alarm not seen starting'],
      ['acknowledged', 'active->acknowledged', 'system', `acknowledged before the restart (at ${new Date(s(5)).toISOString()}, by nurse.jones (clinician))`],
      ['resolved', 'acknowledged->resolved', 'system', 'device reported its end'],
    ]);
    expect(e.list().filter((a) => a.key === 'device:mon-1:vt-1')).toEqual([]);
    // Reported latched at the device (its condition gone, its signal held): answered before, so resolved too.
    const latched = new AlarmEngine();
    latched.restoreAcknowledgements([ack]);
    expect(latched.ingest({ ...vtach('end', 100), latched: true }).map((c) => c.change)).toEqual(['raised', 'acknowledged', 'resolved']);
    // Not after the window, above the priority noted, or for another bed: unanswered, it latches (high) as before.
    const run = (ev: AlarmEvent, priority: 'high' | 'medium' = 'high') => {
      const x = new AlarmEngine();
      x.restoreAcknowledgements([{ ...ack, priority }]);
      return x.ingest(ev).map((c) => `${c.change} ${c.to}`);
    };
    expect(run(vtach('end', 601))).toEqual(['raised active', 'condition-ended latched']);
    expect(run(vtach('end', 100), 'medium')).toEqual(['raised active', 'condition-ended latched']);
    expect(run(deviceAlarm('vt-1', 'end', 100, { text: 'V-TACH', priority: 'high', bed: 'bed-2' }))).toEqual(['raised active', 'condition-ended latched']);
  });
});

describe('review rv104 M3, L2: the device-linked twins and who acknowledged, across a restart', () => {
  const SPO2 = MDC.PULS_OXIM_SAT_O2;
  const QUIET = {
    news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } },
    technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 },
  };
  const desat = (phase: 'start' | 'continue', atS: number, atDevice?: 'acknowledged') =>
    ({ ...deviceAlarm('desat', phase, atS, { text: 'Desat', priority: 'high', ...(atDevice && { atDevice }) }), sourceMetric: SPO2 });
  /** SpO2 76 every second (DESAT high after 5 s, LOW medium after 10 s), with device events at given seconds. */
  const run = (e: AlarmEngine, from: number, to: number, events: Record<number, AlarmEvent[]>, patientId?: string): AlarmStateChange[] => {
    const out: AlarmStateChange[] = [];
    for (let t = from; t <= to; t++) {
      out.push(...e.ingest(numeric(SPO2, 76, t, patientId === undefined ? {} : { patientId })));
      for (const ev of events[t] ?? []) out.push(...e.ingest(ev));
      out.push(...e.tick(s(t)));
    }
    return out;
  };
  /** What agent.ts restores from the notes, the device last heard at 30 s. */
  const restore = (e: AlarmEngine, notes: Iterable<string>) =>
    e.restoreAcknowledgements(acknowledgedBeforeRestart(notes).map(({ deviceId: _, ...a }) => ({ ...a, until: s(30) + NEW_EPISODE_AFTER_MS })));
  const notesOf = (out: AlarmStateChange[], e?: AlarmEngine) => [...openAlarmNotes(out, e && ((id) => e.acknowledgedBy(id))).values()].filter((n): n is string => n !== null);
  const every10s = (from: number, to: number): Record<number, AlarmEvent[]> => Object.fromEntries(Array.from({ length: (to - from) / 10 + 1 }, (_, i) => [from + i * 10, [desat('continue', from + i * 10, 'acknowledged')]]));

  it('SpO2 DESAT and LOW answered with the monitor\'s Desat before the restart come back acknowledged when raised again, and do not escalate', () => {
    const run1 = new AlarmEngine({ ...QUIET, idPrefix: 'boot1' });
    const out1 = run(run1, 0, 30, { 6: [desat('start', 6)], 15: [desat('continue', 15, 'acknowledged')] });
    expect(run1.list().map((a) => a.state)).toEqual(['acknowledged', 'acknowledged', 'acknowledged']);
    const run2 = new AlarmEngine({ ...QUIET, idPrefix: 'boot2' });
    restore(run2, notesOf(out1, run1));
    const out2 = run(run2, 40, 120, every10s(40, 120));
    const limits = run2.list().filter((a) => a.source === 'limit');
    expect(limits.map((a) => [a.condition.text.split(' ').slice(0, 2).join(' '), a.state, a.escalated])).toEqual([
      ['SpO2 DESAT', 'acknowledged', false],
      ['SpO2 LOW', 'acknowledged', false],
    ]);
    const acks = out2.filter((c) => c.change === 'acknowledged' && c.alarm.source === 'limit');
    expect(acks.map((c) => c.at)).toEqual([s(45), s(50)]); // at their raise
    for (const c of acks) expect(c).toMatchObject({ actor: 'system', why: `acknowledged before the restart (at ${new Date(s(15)).toISOString()}, by device mon-1)` });
    expect(out2.filter((c) => c.change === 'escalated')).toEqual([]);
  });

  it('a twin unanswered before the restart (raised after the bedside acknowledgement) stays unanswered after it', () => {
    const run1 = new AlarmEngine({ ...QUIET, idPrefix: 'boot1' });
    // Acknowledged at the device at 3 s, before DESAT (5 s) and LOW (10 s) were raised: they were new conditions (rv99).
    const out1 = run(run1, 0, 30, { 2: [desat('start', 2)], 3: [desat('continue', 3, 'acknowledged')] });
    expect(run1.list().filter((a) => a.source === 'limit').map((a) => a.state)).toEqual(['active', 'active']);
    const run2 = new AlarmEngine({ ...QUIET, idPrefix: 'boot2' });
    restore(run2, notesOf(out1, run1));
    run(run2, 40, 120, every10s(40, 120));
    expect(run2.list().filter((a) => a.source === 'limit').map((a) => a.state)).toEqual(['active', 'active']);
  });

  it('not restored for another patient, nor for a limit alarm a person acknowledged (judged anew)', () => {
    const run1 = new AlarmEngine({ ...QUIET, idPrefix: 'boot1' });
    const out1 = run(run1, 0, 30, { 6: [desat('start', 6)], 15: [desat('continue', 15, 'acknowledged')] }, 'pat-A');
    const run2 = new AlarmEngine({ ...QUIET, idPrefix: 'boot2' });
    restore(run2, notesOf(out1, run1));
    run(run2, 40, 120, every10s(40, 120), 'pat-B');
    expect(run2.list().filter((a) => a.source === 'limit').map((a) => a.state)).toEqual(['active', 'active']);
    // The same patient: restored.
    const run3 = new AlarmEngine({ ...QUIET, idPrefix: 'boot3' });
    restore(run3, notesOf(out1, run1));
    run(run3, 40, 60, every10s(40, 60), 'pat-A');
    expect(run3.list().filter((a) => a.source === 'limit').map((a) => a.state)).toEqual(['acknowledged', 'acknowledged']);
  });

  it('the note keeps who acknowledged, also when a later change rewrites it; the restored device alarm names them (L2)', () => {
    const e = new AlarmEngine({ idPrefix: 'gw-boot1' });
    const raised = e.ingest(deviceAlarm('vt-1', 'start', 0, { text: 'V-TACH', priority: 'high' }));
    const id = raised[0]!.alarmId;
    const acked = e.acknowledge(id, nurse, s(5)).changes;
    expect(parseOpenAlarmNote(openAlarmNotes([...raised, ...acked]).get(id)!)).toMatchObject({ acknowledgedBy: { user: 'nurse.jones', role: 'clinician' } });
    // A later batch (the device lowers its priority) rewrites the note: the engine still tells who acknowledged.
    const lower = e.ingest(deviceAlarm('vt-1', 'continue', 10, { text: 'V-TACH', priority: 'medium' }));
    expect(lower.map((c) => c.actor)).toEqual(['system']);
    const n = openAlarmNotes(lower, (x) => e.acknowledgedBy(x)).get(id)!;
    expect(parseOpenAlarmNote(n)).toMatchObject({ acknowledgedBy: { user: 'nurse.jones', role: 'clinician' } });
    const [ack] = acknowledgedBeforeRestart([n]);
    expect(ack).toMatchObject({ key: 'device:mon-1:vt-1', acknowledgedBy: { user: 'nurse.jones', role: 'clinician' } });
    const run2 = new AlarmEngine({ idPrefix: 'gw-boot2' });
    run2.restoreAcknowledgements([{ ...ack!, until: s(600) }]);
    const back = run2.ingest(deviceAlarm('vt-1', 'continue', 100, { text: 'V-TACH', priority: 'medium' })).find((c) => c.change === 'acknowledged')!;
    expect(back).toMatchObject({ actor: 'system', why: `acknowledged before the restart (at ${new Date(s(5)).toISOString()}, by nurse.jones (clinician))` });
    // Kept for the next restart too: the person, not the system that restored it.
    expect(run2.acknowledgedBy(back.alarmId)).toEqual({ user: 'nurse.jones', role: 'clinician' });
  });
});

describe('review rv106 M1: a limit acknowledgement restored for a device\'s later patient (episode n)', () => {
  const SPO2 = MDC.PULS_OXIM_SAT_O2;
  const QUIET = {
    news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } },
    technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 },
  };
  const desat = (phase: 'start' | 'continue', atS: number, atDevice?: 'acknowledged') =>
    ({ ...deviceAlarm('desat', phase, atS, { text: 'Desat', priority: 'high', ...(atDevice && { atDevice }) }), sourceMetric: SPO2 });
  /** SpO2 `value` every second for `patientId`, with device events at given seconds. */
  const run = (e: AlarmEngine, from: number, to: number, patientId: string, value: number, events: Record<number, AlarmEvent[]> = {}): AlarmStateChange[] => {
    const out: AlarmStateChange[] = [];
    for (let t = from; t <= to; t++) {
      out.push(...e.ingest(numeric(SPO2, value, t, { patientId })));
      for (const ev of events[t] ?? []) out.push(...e.ingest(ev));
      out.push(...e.tick(s(t)));
    }
    return out;
  };
  const every10s = (from: number, to: number): Record<number, AlarmEvent[]> => Object.fromEntries(Array.from({ length: (to - from) / 10 + 1 }, (_, i) => [from + i * 10, [desat('continue', from + i * 10, 'acknowledged')]]));
  /** Run 1: pat-A with normal values, then pat-B (the device's episode 1) desaturates; DESAT and LOW answered with the monitor's Desat. */
  const firstRun = () => {
    const e = new AlarmEngine({ ...QUIET, idPrefix: 'boot1' });
    const out = [...run(e, 0, 5, 'pat-A', 97), ...run(e, 6, 36, 'pat-B', 76, { 12: [desat('start', 12)], 21: [desat('continue', 21, 'acknowledged')] })];
    const notes = [...openAlarmNotes(out, (id) => e.acknowledgedBy(id)).values()].filter((n): n is string => n !== null);
    return { e, notes };
  };
  const restarted = (notes: string[]) => {
    const e = new AlarmEngine({ ...QUIET, idPrefix: 'boot2' });
    e.restoreAcknowledgements(acknowledgedBeforeRestart(notes).map(({ deviceId: _, ...a }) => ({ ...a, until: s(36) + NEW_EPISODE_AFTER_MS })));
    return e;
  };

  it('the second patient\'s DESAT and LOW, answered at the device, come back acknowledged after a restart (episode counter at 0 again) and do not escalate', () => {
    const { e: run1, notes } = firstRun();
    const limits1 = run1.list().filter((a) => a.source === 'limit');
    expect(limits1.map((a) => [a.key, a.state, a.patientId])).toEqual([
      ['limit:bed-1:mon-1:spo2-desat-low:episode-1', 'acknowledged', 'pat-B'],
      ['limit:bed-1:mon-1:spo2-low:episode-1', 'acknowledged', 'pat-B'],
    ]);
    const run2 = restarted(notes);
    const out2 = run(run2, 46, 206, 'pat-B', 76, every10s(46, 206));
    const limits2 = run2.list().filter((a) => a.source === 'limit');
    // Raised under the episode-0 keys of the new run: matched on the key without the episode, and the same patient.
    expect(limits2.map((a) => [a.key, a.state, a.escalated, a.patientId])).toEqual([
      ['limit:bed-1:mon-1:spo2-desat-low', 'acknowledged', false, 'pat-B'],
      ['limit:bed-1:mon-1:spo2-low', 'acknowledged', false, 'pat-B'],
    ]);
    const acks = out2.filter((c) => c.change === 'acknowledged' && c.alarm.source === 'limit');
    for (const c of acks) expect(c).toMatchObject({ actor: 'system', why: `acknowledged before the restart (at ${new Date(s(21)).toISOString()}, by device mon-1)` });
    expect(out2.filter((c) => c.change === 'escalated')).toEqual([]);
  });

  it('not restored for another patient on the same base key, whatever its episode; used once', () => {
    const { notes } = firstRun();
    // Another patient, episode 0 after the restart: the base key matches, the patient does not.
    const other = restarted(notes);
    run(other, 46, 120, 'pat-C', 76, every10s(46, 120));
    expect(other.list().filter((a) => a.source === 'limit').map((a) => [a.key, a.state])).toEqual([
      ['limit:bed-1:mon-1:spo2-desat-low', 'active'],
      ['limit:bed-1:mon-1:spo2-low', 'active'],
    ]);
    // Another patient in episode 1 again (the exact key noted): still not theirs.
    const sameKey = restarted(notes);
    run(sameKey, 40, 45, 'pat-A', 97);
    run(sameKey, 46, 120, 'pat-C', 76, every10s(46, 120));
    expect(sameKey.list().filter((a) => a.source === 'limit').map((a) => [a.key, a.state])).toEqual([
      ['limit:bed-1:mon-1:spo2-desat-low:episode-1', 'active'],
      ['limit:bed-1:mon-1:spo2-low:episode-1', 'active'],
    ]);
    // Used once: pat-B's alarm restored, ended, raised again: unanswered.
    const once = restarted(notes);
    run(once, 46, 60, 'pat-B', 76, every10s(46, 60));
    expect(once.list().filter((a) => a.source === 'limit').map((a) => a.state)).toEqual(['acknowledged', 'acknowledged']);
    run(once, 61, 70, 'pat-B', 97);
    run(once, 71, 90, 'pat-B', 76);
    expect(once.list().filter((a) => a.source === 'limit').map((a) => a.state)).toEqual(['active', 'active']);
  });
});

describe('review rv185 M4: a closing record for each alarm an earlier run left open', () => {
  it('the note keeps what the record needs; the next run\'s engine numbers one resolved record per alarm, without tracking it', () => {
    const e = new AlarmEngine({ idPrefix: 'gw-boot1' });
    const raised = e.ingest(deviceAlarm('vt-1', 'start', 0, { text: 'V-TACH', priority: 'high' }));
    const id = raised[0]!.alarmId;
    const escalated = e.tick(s(61)).filter((c) => c.alarmId === id);
    expect(escalated.map((c) => c.change)).toEqual(['escalated']);
    const n = openAlarmNotes([...raised, ...escalated]).get(id)!;
    expect(parseOpenAlarmNote(n)).toMatchObject({
      key: 'device:mon-1:vt-1', deviceId: 'mon-1', source: 'device', category: 'physiological', sourceAlarmId: 'vt-1', conditionPresent: true, latching: true, escalated: true, updatedAt: s(61),
    });
    const run2 = new AlarmEngine({ idPrefix: 'gw-boot2' });
    const first = run2.ingest(deviceAlarm('asy', 'start', 100));
    const why = 'no longer tracked: the agent restarted (see gw-boot2-9)';
    const closed = run2.closeFormer([formerAlarm(id, n)!], why, s(50));
    expect(closed).toEqual([
      expect.objectContaining({ seq: first[0]!.seq + 1, alarmId: id, change: 'resolved', from: 'active', to: 'resolved', actor: 'system', why, at: s(61) + 1 }),
    ]);
    // The alarm as its note left it, closed: stamped after its last change (s(61), though given s(50); review rv187 M1).
    expect(closed[0]!.alarm).toMatchObject({
      id, key: 'device:mon-1:vt-1', bed: 'bed-1', deviceId: 'mon-1', source: 'device', sourceAlarmId: 'vt-1', category: 'physiological', priority: 'high',
      state: 'resolved', escalated: true, raisedAt: s(0), resolvedAt: s(61) + 1, condition: { code: null, text: 'V-TACH' },
    });
    expect(run2.get(id)).toBeUndefined();
    expect(run2.list().map((a) => a.key)).toEqual(['device:mon-1:asy']);
    // A note an older agent wrote (no source, category, device or key), or one that cannot be read: no record.
    expect(formerAlarm('a-1', note('HR HIGH', 'medium', 1))).toBeNull();
    expect(formerAlarm('a-2', 'not json')).toBeNull();
  });

  it('review rv187 M2: the closing record of an alarm left unanswered carries its patient and source fields, as its raised record did', () => {
    const e = new AlarmEngine({ idPrefix: 'gw-boot1' });
    const desat: AlarmEvent = {
      ...deviceAlarm('desat', 'start', 0, { text: 'Low SpO2', priority: 'none', value: 78 }),
      patientId: 'P1', sourceMetric: MDC.PULS_OXIM_SAT_O2, unit: UNITS.PERCENT,
    };
    const raised = e.ingest(desat);
    const id = raised[0]!.alarmId;
    const n = openAlarmNotes(raised).get(id)!;
    // Kept small (review rv187 measured 343 bytes for a PCD-04 device alarm before): these fields add about 110.
    expect(Buffer.byteLength(n)).toBeLessThan(500);
    const closed = new AlarmEngine({ idPrefix: 'gw-boot2' }).closeFormer([formerAlarm(id, n)!], 'no longer tracked: the agent restarted (see gw-boot2-1)', s(10));
    // A consumer keeping the newest state whole keeps what the raised record said (the closing record replaces it).
    const ofState = (r: Record<string, unknown>) => {
      const { seq: _seq, change: _change, from: _from, to: _to, why: _why, actor: _actor, at: _at, state: _state, ...rest } = r;
      return rest;
    };
    const before = ofState(alarmChangeRecord(raised[0]!));
    expect(before).toMatchObject({ patientId: 'P1', sourceCode: 150456, sourceRefid: 'MDC_PULS_OXIM_SAT_O2', value: 78, unit: '%', reportedPriority: 'none' });
    expect(ofState(alarmChangeRecord(closed[0]!))).toEqual(before);
    // Pseudonyms configured: the note keeps the patient as the records carry it, never the raw id (an acknowledged
    // alarm's note keeps that too, for its restored acknowledgement), and so does the alarm its closing record is of.
    const pseudonymised = openAlarmNotes(raised, undefined, (p) => `p_${p}x`).get(id)!;
    expect(pseudonymised).not.toContain('"P1"');
    expect(formerAlarm(id, pseudonymised)!.patientId).toBe('p_P1x');
    // A long text value is cut as the text is: the note stays small.
    const long = e.ingest({ ...deviceAlarm('msg', 'start', 1, { text: 'Message', value: 'v'.repeat(5000) }), patientId: 'P1' });
    const longNote = openAlarmNotes(long).get(long[0]!.alarmId)!;
    expect(Buffer.byteLength(longNote)).toBeLessThan(600);
    expect(formerAlarm(long[0]!.alarmId, longNote)!.value).toBe(`${'v'.repeat(119)}…`);
  });
});

describe('review rv187 M1, L1: a closing record sorts last for its alarm, and never closes an alarm of this run', () => {
  /** As docs/cloud-consumers.md tells a consumer: an alarm's records by `at` (ISO, as sent), then `seq`; the last is its state. */
  const newest = (records: ReturnType<typeof alarmChangeRecord>[]) =>
    [...records].sort((x, y) => (x.at! < y.at! ? -1 : x.at! > y.at! ? 1 : x.seq - y.seq)).at(-1)!;

  it('M1: with the gateway clock behind at the restart, the closing record is stamped after the alarm\'s last record, not at the same ms', () => {
    const e = new AlarmEngine({ idPrefix: 'gw-boot1' });
    // Other alarms first, so that this run's seq is well past what the next run reaches at its start.
    for (const id of ['a', 'b', 'c']) e.ingest(deviceAlarm(id, 'start', 0, { text: id, deviceId: 'mon-2', bed: 'bed-2' }));
    const raised = e.ingest(deviceAlarm('vt-1', 'start', 0, { text: 'V-TACH', priority: 'high' }));
    const id = raised[0]!.alarmId;
    const acked = e.acknowledge(id, nurse, s(10), 'high').changes;
    const annotated = e.annotate(id, { kind: 'model', values: {} }, { user: 'edge-model', role: 'model', from: 'agent' }, s(10)).changes;
    const run1 = [...raised, ...acked, ...annotated];
    const n = openAlarmNotes(run1, () => ({ user: 'nurse', role: 'clinician' })).get(id)!;

    for (const behind of [3_600_000, 0]) {
      // The next run's clock: an hour behind (no RTC, NTP not yet synced), or at the very ms of the last change.
      const run2 = new AlarmEngine({ idPrefix: 'gw-boot2' });
      run2.ingest(deviceAlarm('asy', 'start', 0));
      const closed = run2.closeFormer([formerAlarm(id, n)!], 'no longer tracked: the agent restarted (see gw-boot2-9)', s(10) - behind);
      expect(closed[0]!.seq).toBeLessThan(annotated[0]!.seq); // seq starts again: it cannot order them
      expect(closed[0]!.at).toBe(s(10) + 1);
      expect(closed[0]!.alarm.resolvedAt).toBe(s(10) + 1);
      expect(newest([...run1, ...closed].map((c) => alarmChangeRecord(c)))).toMatchObject({ change: 'resolved', state: 'resolved', seq: closed[0]!.seq });
    }
    // A clock ahead: stamped when it is closed.
    expect(new AlarmEngine({ idPrefix: 'gw-boot2' }).closeFormer([formerAlarm(id, n)!], 'x', s(99))[0]!.at).toBe(s(99));
  });

  it('L1: an id this engine gave (an earlier run with the same id prefix) is not closed: the alarm of this run stays, and the service logs it', () => {
    const log = captureLog();
    const engine = new AlarmEngine({ idPrefix: 'gw-same' });
    const service = new AlarmService(engine, () => undefined, log.log, new Metrics(), () => s(20));
    // The earlier run left gw-same-1 and gw-same-2 open, and gw-same-3; this run has given gw-same-1 (open) and
    // gw-same-2 (resolved) to alarms of its own.
    const before = new AlarmEngine({ idPrefix: 'gw-same' });
    const former = before.ingest(deviceAlarm('x', 'start', 0, { text: 'X' })).concat(before.ingest(deviceAlarm('y', 'start', 0, { text: 'Y' })), before.ingest(deviceAlarm('z', 'start', 0, { text: 'Z' })));
    const notes = openAlarmNotes(former);
    service.handle([deviceAlarm('vt-1', 'start', 1, { text: 'V-TACH', priority: 'high' }), deviceAlarm('brady', 'start', 1, { text: 'BRADY', priority: 'medium' })]);
    service.handle([deviceAlarm('brady', 'end', 2, { text: 'BRADY', priority: 'medium' })]);
    expect(engine.list().map((a) => a.id)).toEqual(['gw-same-1']);
    expect(engine.get('gw-same-2')!.state).toBe('resolved');

    const closed = service.closeFormer([...notes].map(([id, text]) => formerAlarm(id, text!)!), 'no longer tracked: the agent restarted (see gw-same-9)');
    expect(closed.map((c) => c.alarmId)).toEqual(['gw-same-3']);
    expect(engine.get('gw-same-1')).toMatchObject({ state: 'active', condition: { text: 'V-TACH' } });
    expect(log.find(/not closed/)).toMatchObject({ level: 50, alarmIds: ['gw-same-1', 'gw-same-2'] });
  });
});

describe('review rv188 M3: with pseudonyms on, no note keeps a raw patient id, and no closing record forwards one', () => {
  const pseudonym = pseudonymizer('k'.repeat(32));
  const asy = (phase: 'start' | 'continue', atS: number): AlarmEvent => ({ ...deviceAlarm('asy', phase, atS, { text: 'ASYSTOLE', priority: 'high' }), patientId: 'P-RAW-123' });

  it("an acknowledged alarm's note keeps the pseudonym, and its restored acknowledgement is compared in that form", () => {
    const e = new AlarmEngine({ idPrefix: 'boot1', patientKey: pseudonym });
    const raised = e.ingest(asy('start', 0));
    const id = raised[0]!.alarmId;
    const acked = e.acknowledge(id, nurse, s(1)).changes;
    const n = openAlarmNotes([...raised, ...acked], (a) => e.acknowledgedBy(a), pseudonym).get(id)!;
    expect(n).not.toContain('P-RAW-123');
    expect(parseOpenAlarmNote(n)).toMatchObject({ state: 'acknowledged', patientId: pseudonym('P-RAW-123'), recordPatientId: pseudonym('P-RAW-123'), pseudonyms: true });
    const restore = (patientKey: (p: string) => string) => {
      const run2 = new AlarmEngine({ idPrefix: 'boot2', patientKey });
      run2.restoreAcknowledgements(acknowledgedBeforeRestart([n], patientKey).map(({ deviceId: _, ...a }) => ({ ...a, until: s(600) })));
      run2.ingest(asy('continue', 20));
      return run2.list().map((a) => a.state);
    };
    expect(restore(pseudonym)).toEqual(['acknowledged']);
    // Another patient's alarm under the same key is not answered by it.
    const other = new AlarmEngine({ idPrefix: 'boot3', patientKey: pseudonym });
    other.restoreAcknowledgements(acknowledgedBeforeRestart([n], pseudonym).map(({ deviceId: _, ...a }) => ({ ...a, until: s(600) })));
    other.ingest({ ...asy('continue', 20), patientId: 'P-OTHER' });
    expect(other.list().map((a) => a.state)).toEqual(['active']);
  });

  it('a note written with pseudonyms off, read with them on: its closing record and restored acknowledgement carry the pseudonym', () => {
    const e = new AlarmEngine({ idPrefix: 'boot1' });
    const raised = e.ingest(asy('start', 0));
    const id = raised[0]!.alarmId;
    const acked = e.acknowledge(id, nurse, s(1)).changes;
    const raw = openAlarmNotes([...raised, ...acked], (a) => e.acknowledgedBy(a)).get(id)!;
    expect(raw).toContain('P-RAW-123'); // pseudonyms off: the raw id is the records' id
    const closed = new AlarmEngine({ idPrefix: 'boot2' }).closeFormer([formerAlarm(id, raw, pseudonym)!], 'no longer tracked', s(10));
    expect(JSON.stringify(alarmChangeRecord(closed[0]!))).not.toContain('P-RAW-123');
    expect(closed[0]!.alarm.patientId).toBe(pseudonym('P-RAW-123'));
    expect(acknowledgedBeforeRestart([raw], pseudonym)[0]!.patientId).toBe(pseudonym('P-RAW-123'));
    // Read with pseudonyms off, as it was written.
    expect(formerAlarm(id, raw)!.patientId).toBe('P-RAW-123');
  });

  it('a note written by an agent before this flag, with pseudonyms on (its record id a pseudonym already), is not pseudonymised twice', () => {
    const e = new AlarmEngine({ idPrefix: 'boot1' });
    const raised = e.ingest(asy('start', 0));
    const id = raised[0]!.alarmId;
    const older = JSON.parse(openAlarmNotes(raised, undefined, pseudonym).get(id)!) as Record<string, unknown>;
    delete older.pseudonyms;
    expect(formerAlarm(id, JSON.stringify(older), pseudonym)!.patientId).toBe(pseudonym('P-RAW-123'));
  });
});
