// NEWS2 trigger levels: when one may be raised, held, lowered or ended (review rv107 H1, H2, M1).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { MDC } from '../model/mdc.js';
import { AlarmEngine, NEW_EPISODE_AFTER_MS } from './engine.js';
import { numeric, s } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG, News2Monitor, STALE_OBSERVATION_KEEP_S, computeNews2, type News2Config, type News2Inputs } from './news2.js';
import type { NumericReading } from '../model/reading.js';
import type { AlarmStateChange, ConditionUpdate } from './types.js';
import { acknowledgedBeforeRestart, openAlarmNotes } from './open-notes.js';
import { AlarmService } from './service.js';

const nurse = { user: 'nurse', role: 'clinician', from: 'test' };
const show = (u: ConditionUpdate[]): string[] => u.map((x) => (x.present ? `+${x.spec.key}` : `-${x.key}`));
type Vitals = { rr: number; spo2: number; sys: number; pulse: number; temp?: number };
const normal: Vitals = { rr: 16, spo2: 97, sys: 120, pulse: 70, temp: 37 };

/** Feeds the vitals; with an engine, returns the alarm changes they made. */
function feed(m: News2Monitor | AlarmEngine, t: number, v: Vitals): AlarmStateChange[] {
  const out: AlarmStateChange[] = [];
  const put = (r: NumericReading): void => {
    if (m instanceof AlarmEngine) out.push(...m.ingest(r));
    else m.reading(r);
  };
  put(numeric(MDC.RESP_RATE, v.rr, t));
  put(numeric(MDC.PULS_OXIM_SAT_O2, v.spo2, t));
  put(numeric(MDC.PRESS_BLD_NONINV_SYS, v.sys, t));
  put(numeric(MDC.ECG_HEART_RATE, v.pulse, t));
  if (v.temp !== undefined) put(numeric(MDC.TEMP_BODY, v.temp, t));
  return out;
}

describe('NEWS2 with no current device input raises no level (rv107 H1)', () => {
  it('a recorded non-alert ACVPU on a bed whose monitor is silent raises nothing, evaluated once a second', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.ECG_HEART_RATE, 70, 0)); // the bed is known; its monitor then goes silent
    m.observe('bed-1', { consciousness: 'C' }, s(400)); // HR stale (> 300 s)
    const changes: string[] = [];
    for (let t = 400; t < 1000; t++) changes.push(...show(m.evaluate(s(t))));
    expect(changes).toEqual([]);
    expect(m.score('bed-1', s(999))).toMatchObject({ total: 3, risk: 'low-medium', partial: true });
    // A device input current again: scored, raised at once.
    m.reading(numeric(MDC.ECG_HEART_RATE, 70, 1000));
    expect(show(m.evaluate(s(1000)))).toEqual(['+news2:bed-1:low-medium']);
  });

  it('a level ended for no current input stays ended while a recorded observation remains; acknowledging it leaves nothing new', () => {
    const e = new AlarmEngine();
    e.ingest(numeric(MDC.ECG_HEART_RATE, 70, 0));
    e.observe('bed-1', { consciousness: 'V' }, s(0)); // 3 with a current device input: low-medium
    const news2 = () => e.list({ bed: 'bed-1' }).filter((a) => a.source === 'news2');
    expect(news2().map((a) => `${a.priority} ${a.state}`)).toEqual(['low active']);
    const log: string[] = [];
    for (let t = 1; t <= 900; t++) for (const c of e.tick(s(t))) if (c.alarm.source === 'news2') log.push(`${t} ${c.change} ${c.alarm.id} ${c.alarm.state}`);
    // HR goes stale after 300 s: ended once, unconfirmed (latched, unanswered), and not raised again.
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/^301 condition-ended alm-\d+ latched$/);
    const id = news2()[0]!.id;
    expect(e.acknowledge(id, nurse, s(901)).ok).toBe(true);
    for (let t = 902; t <= 1500; t++) for (const c of e.tick(s(t))) if (c.alarm.source === 'news2') log.push(`${t} ${c.change} ${c.alarm.id} ${c.alarm.state}`);
    expect(log).toHaveLength(1);
    expect(news2().filter((a) => a.state !== 'resolved')).toEqual([]);
  });
});

describe('a recorded observation that ages out is stale, not replaced by the assumption (rv107 H2)', () => {
  const NOW = s(50_000);
  const fresh = (v: number) => ({ value: v, at: NOW - 10_000 });
  const base = (): News2Inputs => ({ respRate: fresh(16), spo2: fresh(97), systolic: fresh(120), pulse: fresh(70), temperature: fresh(37) });

  it('an aged-out V is stale (the score partial), an aged-out A is replaced by the assumption A', () => {
    const v = computeNews2({ ...base(), consciousness: { value: 'V', at: NOW - 43_201_000 } }, NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(v).toMatchObject({ total: 0, partial: true, stale: ['consciousness'], assumed: ['oxygen'] });
    expect(v.params.find((p) => p.param === 'consciousness')).toEqual({ param: 'consciousness', status: 'stale', staleValue: 'V', staleAt: NOW - 43_201_000 });
    const a = computeNews2({ ...base(), consciousness: { value: 'A', at: NOW - 43_201_000 } }, NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(a).toMatchObject({ total: 0, partial: false, stale: [], assumed: ['oxygen', 'consciousness'] });
  });

  it('an aged-out "on oxygen" is stale; an assumption that scores higher than the recorded value is used', () => {
    const o = computeNews2({ ...base(), oxygen: { value: 'oxygen', at: NOW - 43_201_000 } }, NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(o).toMatchObject({ partial: true, stale: ['oxygen'], assumed: ['consciousness'] });
    const onO2: News2Config = { ...DEFAULT_NEWS2_CONFIG, beds: { 'bed-1': { assume: { oxygen: 'oxygen' } } } };
    const air = computeNews2({ ...base(), oxygen: { value: 'air', at: NOW - 43_201_000 } }, NOW, onO2, 'bed-1');
    expect(air).toMatchObject({ total: 2, partial: false, assumed: ['oxygen', 'consciousness'] });
  });

  it('a low-medium raised by a recorded V is held, not ended, once V ages out; recording A ends it', () => {
    const m = new News2Monitor();
    feed(m, 0, normal);
    m.observe('bed-1', { consciousness: 'V' }, s(0));
    const changes = show(m.evaluate(s(0)));
    for (let t = 60; t <= 43_200 + 900; t += 60) {
      feed(m, t, normal);
      changes.push(...show(m.evaluate(s(t))));
    }
    expect(changes).toEqual(['+news2:bed-1:low-medium']);
    expect(m.score('bed-1', s(44_100))).toMatchObject({ total: 0, partial: true, stale: ['consciousness'] });
    m.observe('bed-1', { consciousness: 'A' }, s(44_100));
    for (let t = 44_100; t <= 44_400; t += 60) {
      feed(m, t, normal);
      changes.push(...show(m.evaluate(s(t))));
    }
    expect(changes).toEqual(['+news2:bed-1:low-medium', '-news2:bed-1:low-medium']);
  });

  it('scale 2: a medium raised on oxygen (SpO2 97 % 3, oxygen 2) is held once oxygen ages out', () => {
    const m = new News2Monitor({ ...DEFAULT_NEWS2_CONFIG, beds: { 'bed-1': { spo2Scale: 2 } } });
    feed(m, 0, normal);
    m.observe('bed-1', { oxygen: 'oxygen' }, s(0));
    const changes = show(m.evaluate(s(0)));
    for (let t = 60; t <= 43_200 + 900; t += 60) {
      feed(m, t, normal);
      changes.push(...show(m.evaluate(s(t))));
    }
    expect(changes).toEqual(['+news2:bed-1:medium']);
    expect(m.score('bed-1', s(44_100))).toMatchObject({ total: 0, partial: true, stale: ['oxygen'] });
  });
});

describe('a partial score ends or lowers a level when its upper bound is below it (rv107 M1)', () => {
  it('no temperature feed: a medium is lowered to low-medium (0 + 3 < 5) after clearAfterS, not held for ever', () => {
    const e = new AlarmEngine();
    feed(e, 0, { rr: 22, spo2: 94, sys: 105, pulse: 95 }); // 2 + 1 + 1 + 1 = 5, temperature missing
    e.tick(s(0));
    const news2 = () => e.list({ bed: 'bed-1' }).filter((a) => a.source === 'news2');
    expect(news2().map((a) => `${a.priority} ${a.state}`)).toEqual(['medium active']);
    const log: string[] = [];
    for (let t = 20; t <= 7200; t += 20) {
      for (const c of [...feed(e, t, { rr: 16, spo2: 98, sys: 125, pulse: 72 }), ...e.tick(s(t))]) {
        if (c.alarm.source === 'news2') log.push(`${t} ${c.change} ${c.alarm.priority}`);
      }
    }
    // At most 0 + 3 (temperature) since t = 20: lowered at t = 320. Low-medium stays: temperature could score 3.
    expect(log).toEqual(['320 resolved medium', '320 raised low']); // a confirmed end: not latched
    expect(e.news2('bed-1', s(7200))).toMatchObject({ total: 0, partial: true, missing: ['temperature'] });
    expect(news2().filter((a) => a.conditionPresent).map((a) => a.priority)).toEqual(['low']);
    // Its text says why a total of 0 holds low-medium.
    expect(news2().find((a) => a.conditionPresent)!.condition.text).toContain('score at raise 0 (partial) (at most 3 with the missing and stale parameters)');
  });

  it('holds while the upper bound reaches the level; lowers to what the upper bound allows', () => {
    const m = new News2Monitor();
    feed(m, 0, { rr: 26, spo2: 91, sys: 120, pulse: 70 }); // 3 + 3 = 6, + assumed 0: medium (temperature missing)
    m.observe('bed-1', { consciousness: 'V' }, s(0)); // 9: high
    expect(show(m.evaluate(s(0)))).toEqual(['+news2:bed-1:high']);
    const changes: string[] = [];
    // Total 4 (partial): at most 7, still high.
    for (let t = 10; t <= 700; t += 10) {
      feed(m, t, { rr: 21, spo2: 94, sys: 105, pulse: 70 }); // 2 + 1 + 1 = 4
      m.observe('bed-1', { consciousness: 'A' }, s(t));
      changes.push(...show(m.evaluate(s(t))));
    }
    expect(changes).toEqual([]);
    // Total 3: at most 6, medium, after clearAfterS.
    const updates: ConditionUpdate[] = [];
    for (let t = 710; t <= 1010; t += 10) {
      feed(m, t, { rr: 21, spo2: 95, sys: 120, pulse: 70 }); // 2 + 1 = 3
      updates.push(...m.evaluate(s(t)));
    }
    expect(show(updates)).toEqual(['-news2:bed-1:high', '+news2:bed-1:medium']);
    expect(updates[0]).toMatchObject({ at: s(1010) });
    expect(updates[0]!.present === false && updates[0]!.why).toMatch(/^NEWS2 now medium \(at most 6 with the missing and stale parameters\): total 3 \(partial\), .*temperature missing$/);
  });

  it('with only oxygen unknown (no assumption configured), a partial score can end a level', () => {
    const cfg: News2Config = { ...DEFAULT_NEWS2_CONFIG, defaults: { spo2Scale: 1, assume: { consciousness: 'A' } } };
    const m = new News2Monitor(cfg);
    feed(m, 0, { rr: 26, spo2: 97, sys: 120, pulse: 70, temp: 37 });
    expect(show(m.evaluate(s(0)))).toEqual(['+news2:bed-1:low-medium']);
    const changes: string[] = [];
    for (let t = 10; t <= 320; t += 10) {
      feed(m, t, normal); // 0, oxygen missing: at most 2, no single 3
      changes.push(...show(m.evaluate(s(t))));
    }
    expect(changes).toEqual(['-news2:bed-1:low-medium']);
  });

  it('scale 2 with oxygen unknown: SpO2 could score as on oxygen, so the bound counts it (97 %: + 3, oxygen + 2)', () => {
    const cfg: News2Config = { ...DEFAULT_NEWS2_CONFIG, defaults: { spo2Scale: 2, assume: { consciousness: 'A' } } };
    const m = new News2Monitor(cfg);
    feed(m, 0, { rr: 26, spo2: 97, sys: 100, pulse: 70, temp: 37 }); // 3 + 0 (as on air) + 2 = 5: medium
    expect(show(m.evaluate(s(0)))).toEqual(['+news2:bed-1:medium']);
    const changes: string[] = [];
    for (let t = 10; t <= 700; t += 10) {
      feed(m, t, normal); // 0 (SpO2 97 as on air): at most 0 + 3 + 2 = 5
      changes.push(...show(m.evaluate(s(t))));
    }
    expect(changes).toEqual([]);
  });
});

describe('a stale recorded observation is kept across a restart (rv109 H1)', () => {
  it('a V recorded over 12 h ago comes back stale after a restart: the score stays partial, not "assumed A"', () => {
    const a = new News2Monitor();
    feed(a, 0, normal);
    a.observe('bed-1', { consciousness: 'V' }, s(0));
    expect(show(a.evaluate(s(0)))).toEqual(['+news2:bed-1:low-medium']);
    const t = 43_200 + 60;
    feed(a, t, normal);
    expect(a.evaluate(s(t))).toEqual([]); // held: V is stale, the score partial
    // Saved with its original time, so that it ages on as it would have.
    const kept = JSON.parse(JSON.stringify(a.observations(s(t))));
    expect(kept).toEqual({ 'bed-1': { consciousness: { value: 'V', at: s(0) }, level: { value: 'low-medium', at: s(t) } } });

    const b = new News2Monitor();
    expect(b.restoreObservations(kept)).toEqual(['bed-1']);
    feed(b, t + 30, normal);
    expect(b.score('bed-1', s(t + 30))).toMatchObject({ total: 0, partial: true, stale: ['consciousness'], assumed: ['oxygen'] });
    expect(b.score('bed-1', s(t + 30))!.params.find((p) => p.param === 'consciousness')).toMatchObject({ status: 'stale', staleValue: 'V', staleAt: s(0) });
  });

  it('kept for at most STALE_OBSERVATION_KEEP_S (48 h) after it was recorded; an aged-out A or air is not kept', () => {
    expect(STALE_OBSERVATION_KEEP_S).toBe(48 * 3600);
    const m = new News2Monitor();
    m.observe('bed-1', { consciousness: 'P', oxygen: 'oxygen' }, s(0));
    m.observe('bed-2', { consciousness: 'A', oxygen: 'air' }, s(0));
    const at = (sec: number) => JSON.parse(JSON.stringify(m.observations(s(sec))));
    expect(at(47 * 3600)).toEqual({ 'bed-1': { consciousness: { value: 'P', at: s(0) }, oxygen: { value: 'oxygen', at: s(0) } } });
    expect(at(48 * 3600)).toEqual({ 'bed-1': { consciousness: { value: 'P', at: s(0) }, oxygen: { value: 'oxygen', at: s(0) } } });
    expect(at(48 * 3600 + 1)).toEqual({});
  });

  it('observations restored for a patient and not yet confirmed are kept stale the same way, with their patient ids', () => {
    const a = new News2Monitor();
    a.reading(numeric(MDC.ECG_HEART_RATE, 70, 0, { patientId: 'P1' }));
    a.observe('bed-1', { oxygen: 'oxygen' }, s(0));
    const kept = JSON.parse(JSON.stringify(a.observations(s(43_300))));
    expect(kept).toEqual({ 'bed-1': { oxygen: { value: 'oxygen', at: s(0) }, patientId: 'P1', patientIds: { 'mon-1': 'P1' } } });
    const b = new News2Monitor();
    b.restoreObservations(kept);
    expect(JSON.parse(JSON.stringify(b.observations(s(43_400))))).toEqual(kept);
    b.reading(numeric(MDC.ECG_HEART_RATE, 70, 43_500, { patientId: 'P1' }));
    expect(b.score('bed-1', s(43_500))).toMatchObject({ partial: true, stale: expect.arrayContaining(['oxygen']) });
  });
  it('a stored stale V older than STALE_OBSERVATION_KEEP_S is not restored: a restart days later gives the assumption (rv111 M3)', () => {
    const a = new News2Monitor();
    feed(a, 0, normal);
    a.observe('bed-1', { consciousness: 'V' }, s(0));
    const note = JSON.parse(JSON.stringify(a.observations(s(0)))); // written then, never again
    for (const hours of [72, 24 * 7]) {
      const t = hours * 3600;
      const b = new News2Monitor();
      expect(b.restoreObservations(note, s(t)), `${hours} h`).toEqual([]);
      feed(b, t, normal);
      expect(b.score('bed-1', s(t))!.params.find((p) => p.param === 'consciousness'), `${hours} h`).toMatchObject({ status: 'assumed' });
    }
    // Within the bound it still comes back stale.
    const c = new News2Monitor();
    expect(c.restoreObservations(note, s(47 * 3600))).toEqual(['bed-1']);
    feed(c, 47 * 3600, normal);
    expect(c.score('bed-1', s(47 * 3600))!.params.find((p) => p.param === 'consciousness')).toMatchObject({ status: 'stale', staleValue: 'V' });
  });
});

describe('a level held on a partial score before a restart is held after it, for the same inputs', () => {
  const silent = pino({ level: 'silent' });
  const sick: Vitals = { rr: 22, spo2: 95, sys: 120, pulse: 95, temp: 37 }; // 2 + 1 + 1 = 4
  const message = (t: number, v: Partial<Vitals>): NumericReading[] =>
    [
      v.rr !== undefined && numeric(MDC.RESP_RATE, v.rr, t),
      v.spo2 !== undefined && numeric(MDC.PULS_OXIM_SAT_O2, v.spo2, t),
      v.sys !== undefined && numeric(MDC.PRESS_BLD_NONINV_SYS, v.sys, t),
      v.pulse !== undefined && numeric(MDC.ECG_HEART_RATE, v.pulse, t),
      v.temp !== undefined && numeric(MDC.TEMP_BODY, v.temp, t),
    ].filter((r): r is NumericReading => r !== false);

  /** An agent run as the agent wires one: the NEWS2 note and the open-alarm notes kept, restored at its start. */
  function agentRun(store: { note: unknown; open: Map<string, string | null> }, clock: { now: number }) {
    const service = new AlarmService(new AlarmEngine({ idPrefix: `run-${clock.now}` }), (cs) => {
      for (const [id, n] of openAlarmNotes(cs)) store.open.set(id, n);
    }, silent, new Metrics(), () => clock.now);
    service.engine.restoreNews2Observations(store.note, clock.now);
    // As the agent: acknowledgements of device alarms (and their limit twins) kept for a repeat; NEWS2 has none.
    const acks = acknowledgedBeforeRestart([...store.open.values()].filter((n): n is string => n !== null));
    service.engine.restoreAcknowledgements(acks.map((a) => ({ ...a, until: clock.now + NEW_EPISODE_AFTER_MS })));
    service.keepObservationsIn((all) => (store.note = JSON.parse(JSON.stringify(all))));
    const level = () => service.engine.list({ bed: 'bed-1' }).filter((a) => a.source === 'news2' && a.conditionPresent).map((a) => a.key);
    const send = (t: number, v: Partial<Vitals>): void => {
      clock.now = s(t);
      service.handle(message(t, v));
      service.tick();
    };
    return { service, level, send };
  }

  it('a high held once the recorded V aged out (stale) is raised again after a restart while the devices send the same', () => {
    const store = { note: {} as unknown, open: new Map<string, string | null>() };
    const clock = { now: s(0) };
    const a = agentRun(store, clock);
    a.send(0, sick);
    a.service.observe('bed-1', { consciousness: 'V' }, nurse); // 4 + 3 = 7: high
    for (let t = 60; t <= 13 * 3600; t += 60) a.send(t, sick);
    expect(a.service.engine.news2('bed-1', s(13 * 3600))).toMatchObject({ total: 4, partial: true, stale: ['consciousness'] });
    expect(a.level()).toEqual(['news2:bed-1:high']); // held: V is stale, not known to be A

    const b = agentRun(store, clock); // the agent restarts
    const changes: AlarmStateChange[] = [];
    b.service.subscribe((cs) => changes.push(...cs));
    for (let t = 13 * 3600 + 30; t <= 14 * 3600; t += 60) b.send(t, sick);
    expect(b.level()).toEqual(['news2:bed-1:high']);
    const raised = changes.filter((c) => c.alarm.source === 'news2' && c.change === 'raised');
    expect(raised.map((c) => `${c.change} ${c.alarm.key} ${(c.at - s(0)) / 1000}`)).toEqual([`raised news2:bed-1:high ${13 * 3600 + 30}`]);
    expect(raised[0]!.why).toMatch(/^held before the restart, and the partial score could still reach it \(at most 7 with the missing and stale parameters\): total 4 \(partial\)/);
  });

  it('a high held while only SpO2 and pulse are sent is raised again after a restart, not lowered to what the partial total gives', () => {
    const store = { note: {} as unknown, open: new Map<string, string | null>() };
    const clock = { now: s(0) };
    const a = agentRun(store, clock);
    a.send(0, { rr: 26, spo2: 91, sys: 120, pulse: 135, temp: 37 }); // 3 + 3 + 3 = 9: high
    for (let t = 10; t <= 3600; t += 10) a.send(t, { spo2: 91, pulse: 135 }); // RR, systolic, temperature stale: 6, at most 15
    expect(a.level()).toEqual(['news2:bed-1:high']);
    const b = agentRun(store, clock);
    for (let t = 3610; t <= 7200; t += 10) b.send(t, { spo2: 91, pulse: 135 }); // the same: RR, systolic, temperature missing
    expect(b.service.engine.news2('bed-1', s(7200))).toMatchObject({ total: 6, partial: true });
    expect(b.level()).toEqual(['news2:bed-1:high']);
  });

  it('the level noted is judged once, at the first score: a complete one afresh, a partial one up to its upper bound', () => {
    const note = { 'bed-1': { level: { value: 'high', at: s(0) } } };
    // Complete (nothing missing or stale): judged afresh, the note is not a floor.
    const complete = new News2Monitor();
    expect(complete.restoreObservations(note, s(60))).toEqual([]); // no observation restored: not told as one
    feed(complete, 60, normal);
    expect(show(complete.evaluate(s(60)))).toEqual([]);
    // Only temperature missing, total 0: at most 3, a single 3 (low-medium); high cannot apply.
    const capped = new News2Monitor();
    capped.restoreObservations(note, s(60));
    feed(capped, 60, { ...normal, temp: undefined });
    const updates = capped.evaluate(s(60));
    expect(show(updates)).toEqual(['+news2:bed-1:low-medium']);
    expect(updates[0]).toMatchObject({ why: expect.stringMatching(/^held before the restart, and the partial score could still reach it \(at most 3 with/) });
    // Judged once: from then on the level present is held or lowered as any (here held: at most 3).
    feed(capped, 70, { ...normal, temp: undefined });
    expect(show(capped.evaluate(s(70)))).toEqual([]);
  });

  it("not for another patient, nor from a note older than STALE_OBSERVATION_KEEP_S; the note keeps a level not yet judged", () => {
    const note = { 'bed-1': { level: { value: 'high', at: s(0) }, patientId: 'P1', patientIds: { 'mon-1': 'P1' } } };
    const partial = (m: News2Monitor, t: number, patientId: string) => m.reading(numeric(MDC.ECG_HEART_RATE, 135, t, { patientId })); // 3, the rest missing
    const other = new News2Monitor();
    other.restoreObservations(note, s(60));
    partial(other, 60, 'P2');
    expect(show(other.evaluate(s(60)))).toEqual(['+news2:bed-1:low-medium']); // P2 judged afresh
    expect(other.take().observationsDropped).toEqual([]); // no observation lost with it
    const same = new News2Monitor();
    same.restoreObservations(note, s(60));
    // Written again before the bed's first score (another bed's observation): the level is kept as it came.
    expect(JSON.parse(JSON.stringify(same.observations(s(30))))).toEqual(note);
    partial(same, 60, 'P1');
    expect(show(same.evaluate(s(60)))).toEqual(['+news2:bed-1:high']);
    const old = new News2Monitor();
    old.restoreObservations(note, s(STALE_OBSERVATION_KEEP_S + 1));
    partial(old, STALE_OBSERVATION_KEEP_S + 1, 'P1');
    expect(show(old.evaluate(s(STALE_OBSERVATION_KEEP_S + 1)))).toEqual(['+news2:bed-1:low-medium']);
  });
});
