// Review rv162. F2: an action on an alarm shown latched (condition gone) whose condition has returned since is refused,
// so that a click meant for a past episode does not silence the present one. F3: an alarm's records never go back in
// time (`at`), so that ordering them by (at, seq), as docs/cloud-consumers.md says, ends at the alarm's last state.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from './engine.js';
import { numeric, nurse, s } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import type { AlarmStateChange } from './types.js';

/** SpO2 75 0..10 s (DESAT high, latching, raised at +5), 88 from 11..20 s (latched); with `returns`, 74 from 21..27 s. */
function latchedDesat(returns: boolean): { e: AlarmEngine; id: string; all: AlarmStateChange[]; step: (v: number, t: number) => void } {
  const e = new AlarmEngine();
  const all: AlarmStateChange[] = [];
  const step = (v: number, t: number) => {
    all.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, v, t)), ...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.tick(s(t)));
  };
  for (let t = 0; t <= 10; t++) step(75, t);
  for (let t = 11; t <= 20; t++) step(88, t);
  const desat = e.list().find((a) => a.key.includes('spo2-desat'))!;
  expect(desat.state).toBe('latched');
  if (returns) for (let t = 21; t <= 27; t++) step(74, t);
  return { e, id: desat.id, all, step };
}

const returnedAt = (all: AlarmStateChange[], id: string) => all.find((c) => c.alarmId === id && c.change === 'condition-returned')!.at;

describe('rv162 F2: an alarm shown latched whose condition returned since', () => {
  it('pe2: acknowledge with the latched state shown is refused; the alarm sounds on and escalates', () => {
    const { e, id, all, step } = latchedDesat(true);
    expect(e.get(id)!.state).toBe('active');
    const back = returnedAt(all, id);
    const r = e.acknowledge(id, nurse, s(27.5), 'high', false);
    expect(r).toEqual({ ok: false, error: `alarm ${id}'s condition returned since it was shown: look at it again`, changes: [] });
    expect(e.get(id)!.state).toBe('active');
    for (let t = 28; t <= 120; t++) step(74, t);
    const esc = all.filter((c) => c.alarmId === id && c.change === 'escalated');
    // Escalation is timed from the raise (+5 s; a latched alarm is unanswered), so it comes within 60 s of the return.
    expect(esc.map((c) => c.at)).toEqual([s(65)]);
    expect(esc[0]!.at).toBeLessThanOrEqual(back + 60_000);
    expect(e.get(id)).toMatchObject({ state: 'active', escalated: true });
  });

  it('pe2: acknowledge shown with the condition present (or without the shown state) acknowledges as before', () => {
    const a = latchedDesat(true);
    expect(a.e.acknowledge(a.id, nurse, s(27.5), 'high', true).ok).toBe(true);
    expect(a.e.get(a.id)!.state).toBe('acknowledged');
    const b = latchedDesat(true);
    expect(b.e.acknowledge(b.id, nurse, s(27.5), 'high').ok).toBe(true);
    expect(b.e.get(b.id)!.state).toBe('acknowledged');
  });

  it('pe1: with no return, acknowledging the latched alarm shown latched clears it; the next dip is a new alarm', () => {
    const { e, id, all, step } = latchedDesat(false);
    const r = e.acknowledge(id, nurse, s(27.5), 'high', false);
    expect(r.ok).toBe(true);
    expect(r.changes.map((c) => [c.change, c.from, c.to])).toEqual([['acknowledged', 'latched', 'resolved']]);
    for (let t = 28; t <= 100; t++) step(74, t);
    const next = e.list().filter((a) => a.key.includes('spo2-desat'));
    expect(next.map((a) => [a.id === id, a.state, a.escalated])).toEqual([[false, 'active', true]]);
    expect(all.filter((c) => c.alarmId === next[0]!.id && c.change === 'escalated').map((c) => c.at)).toEqual([s(93)]);
  });

  it("a single alarm's audio pause with the latched state shown is refused after a return", () => {
    const { e, id } = latchedDesat(true);
    const r = e.audioPause({ alarmId: id, conditionPresent: false }, nurse, 120, s(27.5), 'high');
    expect(r).toEqual({ ok: false, error: `alarm ${id}'s condition returned since it was shown: look at it again`, changes: [] });
    expect(e.get(id)!.state).toBe('active');
    // Shown present, or without the state shown (an API client): paused as before.
    expect(latchedDesat(true).e.audioPause({ alarmId: id, conditionPresent: true }, nurse, 120, s(27.5), 'high').ok).toBe(true);
    expect(latchedDesat(true).e.audioPause({ alarmId: id }, nurse, 120, s(27.5), 'high').ok).toBe(true);
    // Shown latched and still latched: paused.
    const still = latchedDesat(false);
    expect(still.e.audioPause({ alarmId: still.id, conditionPresent: false }, nurse, 120, s(27.5), 'high').ok).toBe(true);
  });

  it("a bed's audio pause given shown leaves out an alarm shown latched whose condition returned", () => {
    const { e, id } = latchedDesat(true);
    // A second alarm on the bed, shown as it is: HR 150 (HR HIGH).
    for (let t = 28; t <= 45; t++) {
      e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 74, t));
      e.ingest(numeric(MDC.ECG_HEART_RATE, 150, t));
      e.tick(s(t));
    }
    const hr = e.list().find((a) => a.key.includes('hr-high'))!;
    expect(hr).toBeDefined();
    const shown = [
      { id, priority: 'high' as const, conditionPresent: false },
      { id: hr.id, priority: hr.priority, conditionPresent: true },
    ];
    const r = e.audioPause({ bed: 'bed-1', shown }, nurse, 120, s(45.5));
    expect(r.ok).toBe(true);
    expect(r.changes.map((c) => c.alarmId)).toEqual([hr.id]);
    expect(e.get(id)!.state).toBe('active');
    // Only that one shown: nothing to pause, said as for a risen one.
    const only = e.audioPause({ bed: 'bed-1', shown: [shown[0]!] }, nurse, 120, s(46));
    expect(only).toEqual({ ok: false, error: 'the alarms of bed bed-1 changed since they were shown: look at them again', changes: [] });
    // Without the state shown: as before (the risen-priority check only).
    const e2 = latchedDesat(true);
    expect(e2.e.audioPause({ bed: 'bed-1', shown: [{ id: e2.id, priority: 'high' }] }, nurse, 120, s(27.5)).changes.map((c) => c.alarmId)).toEqual([e2.id]);
  });

});

/** Each alarm's last record by (at, seq), as docs/cloud-consumers.md orders them, and by seq alone. */
function lastByAtAndBySeq(changes: AlarmStateChange[], id: string): [AlarmStateChange, AlarmStateChange] {
  const mine = changes.filter((c) => c.alarmId === id);
  const byAt = [...mine].sort((x, y) => x.at - y.at || x.seq - y.seq).at(-1)!;
  const bySeq = [...mine].sort((x, y) => x.seq - y.seq).at(-1)!;
  return [byAt, bySeq];
}

function expectOrdered(changes: AlarmStateChange[], id: string): void {
  const [byAt, bySeq] = lastByAtAndBySeq(changes, id);
  expect(byAt.seq).toBe(bySeq.seq);
  expect(bySeq.to).toBe('resolved');
  const mine = changes.filter((c) => c.alarmId === id);
  // Each record no earlier than the one written before it.
  for (let i = 1; i < mine.length; i++) expect(mine[i]!.at).toBeGreaterThanOrEqual(mine[i - 1]!.at);
  const a = bySeq.alarm;
  expect(a.resolvedAt!).toBeGreaterThanOrEqual(a.raisedAt);
  expect(a.conditionEndedAt!).toBeGreaterThanOrEqual(a.raisedAt);
  expect(a.resolvedAt).toBe(bySeq.at);
}

describe('rv162 F3: records never earlier than the alarm record before them', () => {
  it('pb1: a tick raises at +10 s; a reading received at +9.9 s, committed after, ends it', () => {
    const e = new AlarmEngine();
    const ch: AlarmStateChange[] = [];
    for (let t = 0; t <= 9; t++) ch.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 87, t)), ...e.tick(s(t)));
    ch.push(...e.tick(s(10)));
    const id = ch.find((c) => c.change === 'raised' && c.alarm.key.includes('spo2-low'))!.alarmId;
    ch.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 95, 9.9)));
    expectOrdered(ch, id);
    const end = ch.filter((c) => c.alarmId === id).at(-1)!;
    expect([end.at, end.alarm.raisedAt, end.alarm.resolvedAt, end.alarm.conditionEndedAt]).toEqual([s(10), s(10), s(10), s(10)]);
  });

  it('pb2: the nurse acknowledges at +10.2 s, then a reading received at +10.1 s ends the alarm', () => {
    const e = new AlarmEngine();
    const ch: AlarmStateChange[] = [];
    for (let t = 0; t <= 10; t++) ch.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 87, t)), ...e.tick(s(t)));
    const a = e.list().find((x) => x.key.includes('spo2-low'))!;
    ch.push(...e.acknowledge(a.id, nurse, s(10.2)).changes);
    ch.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 95, 10.1)));
    expectOrdered(ch, a.id);
    const end = ch.filter((c) => c.alarmId === a.id).at(-1)!;
    // The condition's end keeps the reading's time (after the raise); the record and the resolution are not earlier
    // than the acknowledgement written before them.
    expect([end.at, end.alarm.resolvedAt, end.alarm.conditionEndedAt, end.alarm.acknowledgedAt]).toEqual([s(10.2), s(10.2), s(10.1), s(10.2)]);
  });

  it('pb3: an audio pause expires at the +130 s tick; a reading received at +129.99 s ends the alarm', () => {
    const e = new AlarmEngine();
    const ch: AlarmStateChange[] = [];
    for (let t = 0; t <= 10; t++) ch.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 87, t)), ...e.tick(s(t)));
    const a = e.list().find((x) => x.key.includes('spo2-low'))!;
    ch.push(...e.audioPause({ alarmId: a.id }, nurse, 120, s(10)).changes);
    for (let t = 11; t <= 129; t++) ch.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 87, t)), ...e.tick(s(t)));
    ch.push(...e.tick(s(130)));
    ch.push(...e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 95, 129.99)));
    expectOrdered(ch, a.id);
    const [byAt] = lastByAtAndBySeq(ch, a.id);
    expect([byAt.change, byAt.to, byAt.at]).toEqual(['resolved', 'resolved', s(130)]);
  });
});
