// NEWS2 scores one patient per bed: a change of patient at the bed (review rv79 H1, H2, M3).
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { countNewId, NEW_PATIENT_AFTER_READINGS, News2Monitor } from './news2.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';

const P = (mdc: typeof MDC.RESP_RATE, v: number, t: number, patientId: string, deviceId = 'mon-1') => numeric(mdc, v, t, { patientId, deviceId });
const show = (u: ReturnType<News2Monitor['evaluate']>) => u.map((x) => (x.present ? `+${x.spec.key} ${x.spec.patientId}` : `-${x.key}`));

describe('NEWS2 and a change of patient at the bed', () => {
  it("a new patient's NEWS2 alarm is a new alarm, not the previous patient's latched one reactivated", () => {
    const e = new AlarmEngine({ technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 } });
    const sick = (t: number, id: string) => {
      e.ingest(P(MDC.RESP_RATE, 26, t, id));
      e.ingest(P(MDC.ECG_HEART_RATE, 135, t, id));
      e.ingest(P(MDC.PULS_OXIM_SAT_O2, 90, t, id));
    };
    sick(0, 'P1'); // 3+3+3: high, not answered
    for (const t of [600, 605, 610]) sick(t, 'P2'); // P2 admitted on the same monitor, also high
    const open = e.list().filter((a) => a.source === 'news2');
    expect(open.map((a) => [a.patientId, a.priority, a.state, (a.raisedAt - s(0)) / 1000])).toEqual(
      expect.arrayContaining([
        ['P1', 'high', 'latched', 0],
        ['P2', 'high', 'active', 610],
      ]),
    );
    expect(open).toHaveLength(2);
  });

  it("a second device still giving the previous patient's id neither sets the bed's patient back nor scores the new patient; catching up resets nothing", () => {
    const m = new News2Monitor();
    m.reading(P(MDC.RESP_RATE, 16, 0, 'P1', 'mon-1'));
    m.reading(P(MDC.PULS_OXIM_SAT_O2, 97, 0, 'P1', 'ox-1'));
    m.evaluate(s(0));
    for (const t of [100, 105, 110]) m.reading(P(MDC.RESP_RATE, 22, t, 'P2', 'mon-1'));
    m.evaluate(s(110));
    // ox-1 not yet re-admitted: its SpO2 is the previous patient's by its own id, kept out of P2's score.
    expect(m.reading(P(MDC.PULS_OXIM_SAT_O2, 94, 115, 'P1', 'ox-1'))).toBe(false);
    expect(m.score('bed-1', s(115))?.missing).toContain('spo2');
    // The nurse records for P2: RR 22 (2) + oxygen (2) + confusion (3) = 7, high, labelled P2.
    m.observe('bed-1', { oxygen: 'oxygen', consciousness: 'C' }, s(120));
    expect(show(m.evaluate(s(120)))).toEqual(['+news2:bed-1:episode-1:high P2']);
    // ox-1 admitted to P2, the bed's patient already: no change of patient, nothing reset.
    for (const t of [130, 135, 140]) expect(m.reading(P(MDC.PULS_OXIM_SAT_O2, 94, t, 'P2', 'ox-1'))).toBe(true);
    m.reading(P(MDC.RESP_RATE, 22, 141, 'P2', 'mon-1'));
    expect(m.score('bed-1', s(141))).toMatchObject({ total: 8, assumed: [] });
    expect(m.evaluate(s(141))).toEqual([]);
    expect(Object.keys(m.observations(s(141)))).toEqual(['bed-1']);
  });

  it("a device that consistently gives the id the bed's patient already has is no change of patient", () => {
    const m = new News2Monitor();
    m.reading(P(MDC.RESP_RATE, 26, 0, 'P1', 'mon-1'));
    m.reading(P(MDC.PULS_OXIM_SAT_O2, 97, 0, 'V-778', 'ox-1')); // the same patient by visit number
    m.observe('bed-1', { oxygen: 'oxygen' }, s(0));
    expect(show(m.evaluate(s(0)))).toEqual(['+news2:bed-1:medium P1']);
    // ox-1 switches to the MRN the bed's patient has had all along.
    for (const t of [10, 15, 20]) m.reading(P(MDC.PULS_OXIM_SAT_O2, 97, t, 'P1', 'ox-1'));
    expect(m.evaluate(s(20))).toEqual([]);
    expect(m.score('bed-1', s(20))?.params.find((p) => p.param === 'oxygen')).toMatchObject({ status: 'measured', value: 'oxygen' });
  });
});

describe('NEWS2 observations across a restart, per patient', () => {
  it("observations kept for one patient are not restored for the next one: dropped and reported", () => {
    const a = new News2Monitor();
    a.reading(P(MDC.RESP_RATE, 16, 0, 'P1'));
    a.observe('bed-1', { oxygen: 'oxygen', consciousness: 'V' }, s(0));
    const kept = JSON.parse(JSON.stringify(a.observations(s(10))));
    expect(kept['bed-1']).toMatchObject({ patientId: 'P1' });
    // Restarted; meanwhile P1 left and P2 was admitted on mon-1.
    const b = new News2Monitor();
    b.restoreObservations(kept);
    b.reading(P(MDC.RESP_RATE, 16, 600, 'P2'));
    b.reading(P(MDC.PULS_OXIM_SAT_O2, 97, 600, 'P2'));
    expect(b.score('bed-1', s(600))).toMatchObject({ total: 0, assumed: ['oxygen', 'consciousness'] });
    expect(b.evaluate(s(600))).toEqual([]);
    expect(b.observations(s(600))).toEqual({});
    expect(b.take().observationsDropped).toEqual([{ bed: 'bed-1', deviceId: 'mon-1' }]);
  });

  it('observations kept for a patient are restored when the bed gives that patient again', () => {
    const a = new News2Monitor();
    a.reading(P(MDC.RESP_RATE, 16, 0, 'P1'));
    a.observe('bed-1', { oxygen: 'oxygen', consciousness: 'V' }, s(0));
    const kept = JSON.parse(JSON.stringify(a.observations(s(10))));
    const b = new News2Monitor();
    expect(b.restoreObservations(kept)).toEqual(['bed-1']);
    // Until a reading says whose bed it is, kept (a save now keeps them still) but not scored.
    expect(b.observations(s(20))).toEqual(kept);
    b.reading(P(MDC.RESP_RATE, 16, 30, 'P1'));
    expect(b.score('bed-1', s(30))).toMatchObject({ total: 5, assumed: [] });
    expect(b.take().observationsDropped).toEqual([]);
  });
});

describe('countNewId: the one count of a run of a new patient id (NEWS2 and the limit rules)', () => {
  it('counts readings received at later times only, restarts on another id, and takes the change at NEW_PATIENT_AFTER_READINGS', () => {
    let c = countNewId(undefined, 'P2', 100);
    expect(c).toEqual({ run: { id: 'P2', count: 1, lastAt: 100 }, taken: false });
    // Another reading of the same message (same receipt time) and one received earlier do not count.
    c = countNewId(c.run, 'P2', 100);
    c = countNewId(c.run, 'P2', 90);
    expect(c).toEqual({ run: { id: 'P2', count: 1, lastAt: 100 }, taken: false });
    c = countNewId(c.run, 'P2', 105);
    expect(c.taken).toBe(false);
    // Another id starts a run of its own.
    const other = countNewId(c.run, 'P3', 106);
    expect(other).toEqual({ run: { id: 'P3', count: 1, lastAt: 106 }, taken: false });
    c = countNewId(c.run, 'P2', 110);
    expect(c).toEqual({ run: { id: 'P2', count: NEW_PATIENT_AFTER_READINGS, lastAt: 110 }, taken: true });
  });

  it('is pure: the run passed in is not changed', () => {
    const run = { id: 'P2', count: 1, lastAt: 100 };
    countNewId(run, 'P2', 200);
    expect(run).toEqual({ id: 'P2', count: 1, lastAt: 100 });
  });
});
