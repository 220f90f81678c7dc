// A NEWS2 level noted before a restart is held again only if the bed's devices come back soon after the restart, and
// only while the note is recent (review rv116 H1: kept in memory with no time limit, it was raised HIGH, for ever, for
// whoever was on the bed days later on a pulse oximeter alone).
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { HELD_LEVEL_WAIT_S, News2Monitor, STALE_OBSERVATION_KEEP_S } from './news2.js';
import type { ConditionUpdate } from './types.js';

const DAY = 86_400;
const show = (u: ConditionUpdate[]): string[] => u.map((x) => (x.present ? `+${x.spec.key}` : `-${x.key}`));
/** A bed whose devices give no patient id had a high level when the note was written (at 0). */
const note = { 'bed-1': { level: { value: 'high', at: s(0) } } };
/** SpO2 97 and HR 70 from an oximeter alone: total 0, RR, systolic and temperature missing (at most 9: high). */
const healthy = (t: number) => [numeric(MDC.PULS_OXIM_SAT_O2, 97, t), numeric(MDC.ECG_HEART_RATE, 70, t)];
const feed = (m: News2Monitor, t: number): void => {
  for (const r of healthy(t)) m.reading(r);
};

describe('a level noted before a restart is held only if the devices come back soon after it (rv116 H1)', () => {
  it('a bed silent for days after the restart: nothing raised when its devices send again, the drop told and the note cleared', () => {
    const e = new AlarmEngine({ idPrefix: 'h1' });
    e.restoreNews2Observations(note, s(60));
    for (let t = 120; t < 5 * DAY; t += 600) e.tick(s(t)); // the monitor off: no current input
    expect(e.news2Observations(s(5 * DAY))).toEqual({}); // not written back to the note
    const raised = e.ingestAll(healthy(5 * DAY)).filter((c) => c.alarm.source === 'news2');
    expect(raised.map((c) => `${c.change} ${c.alarm.key}`)).toEqual([]);
    expect(e.list({ bed: 'bed-1' }).filter((a) => a.source === 'news2')).toEqual([]);
    expect(e.takeNews2().heldLevelsDropped).toEqual([{ bed: 'bed-1', level: 'high', reason: 'no-input-after-restart' }]);
  });

  it('devices back within seconds of the restart: the level is raised again as held before it', () => {
    const e = new AlarmEngine({ idPrefix: 'h2' });
    e.restoreNews2Observations(note, s(60));
    e.tick(s(61));
    const raised = e.ingestAll(healthy(65)).filter((c) => c.alarm.source === 'news2');
    expect(raised.map((c) => `${c.change} ${c.alarm.key}`)).toEqual(['raised news2:bed-1:high']);
    expect(raised[0]!.why).toMatch(/^held before the restart/);
    expect(e.takeNews2().heldLevelsDropped).toBeUndefined();
  });

  it('judged against HELD_LEVEL_WAIT_S from the restart at the first current input, even with no tick between', () => {
    expect(HELD_LEVEL_WAIT_S).toBe(300);
    const within = new News2Monitor();
    within.restoreObservations(note, s(60));
    feed(within, 60 + HELD_LEVEL_WAIT_S);
    expect(show(within.evaluate(s(60 + HELD_LEVEL_WAIT_S)))).toEqual(['+news2:bed-1:high']);
    const late = new News2Monitor();
    late.restoreObservations(note, s(60));
    feed(late, 61 + HELD_LEVEL_WAIT_S);
    expect(show(late.evaluate(s(61 + HELD_LEVEL_WAIT_S)))).toEqual([]);
    expect(late.take().heldLevelsDropped).toEqual([{ bed: 'bed-1', level: 'high', reason: 'no-input-after-restart' }]);
  });

  it('a note that passes STALE_OBSERVATION_KEEP_S before the first current input is dropped, though restored within it', () => {
    const m = new News2Monitor();
    m.restoreObservations(note, s(STALE_OBSERVATION_KEEP_S - 30));
    feed(m, STALE_OBSERVATION_KEEP_S + 30); // 60 s after the restart, but the note is now over 48 h old
    expect(show(m.evaluate(s(STALE_OBSERVATION_KEEP_S + 30)))).toEqual([]);
    expect(m.take().heldLevelsDropped).toEqual([{ bed: 'bed-1', level: 'high', reason: 'note-too-old' }]);
  });

  it('restored without a time: the wait runs from the first evaluation', () => {
    const m = new News2Monitor();
    m.restoreObservations(note);
    m.evaluate(s(1000));
    feed(m, 1000 + HELD_LEVEL_WAIT_S + 1);
    expect(show(m.evaluate(s(1000 + HELD_LEVEL_WAIT_S + 1)))).toEqual([]);
    expect(m.take().heldLevelsDropped).toEqual([{ bed: 'bed-1', level: 'high', reason: 'no-input-after-restart' }]);
  });

  it('noted for a patient: a first reading with that id after the wait does not raise it, and the note no longer holds it', () => {
    const withId = { 'bed-1': { level: { value: 'high', at: s(0) }, patientId: 'P1', patientIds: { 'mon-1': 'P1' } } };
    const m = new News2Monitor();
    m.restoreObservations(withId, s(60));
    for (let t = 61; t <= 60 + HELD_LEVEL_WAIT_S + 1; t++) m.evaluate(s(t));
    expect(m.take().heldLevelsDropped).toEqual([{ bed: 'bed-1', level: 'high', reason: 'no-input-after-restart' }]);
    expect(m.observations(s(400))).toEqual({});
    const t = 2 * 3600;
    for (const r of healthy(t)) m.reading({ ...r, patientId: 'P1' });
    expect(show(m.evaluate(s(t)))).toEqual([]);
    // Confirmed within the wait, the same note still raises it.
    const soon = new News2Monitor();
    soon.restoreObservations(withId, s(60));
    for (const r of healthy(90)) soon.reading({ ...r, patientId: 'P1' });
    expect(show(soon.evaluate(s(90)))).toEqual(['+news2:bed-1:high']);
  });

  it('readings without an id scored meanwhile do not start the wait again for a level noted for a patient', () => {
    const withId = { 'bed-1': { level: { value: 'high', at: s(0) }, patientId: 'P1', patientIds: { 'mon-1': 'P1' } } };
    const m = new News2Monitor();
    m.restoreObservations(withId, s(60));
    for (let t = 70; t <= 60 + HELD_LEVEL_WAIT_S + 10; t += 10) {
      feed(m, t); // no patient id: scored, but the note's patient not confirmed
      m.evaluate(s(t));
    }
    expect(m.take().heldLevelsDropped).toEqual([{ bed: 'bed-1', level: 'high', reason: 'no-input-after-restart' }]);
    const t = 60 + HELD_LEVEL_WAIT_S + 20;
    for (const r of healthy(t)) m.reading({ ...r, patientId: 'P1' });
    expect(show(m.evaluate(s(t)))).toEqual([]);
  });
});
