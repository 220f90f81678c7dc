import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { numeric, s } from './fixtures.js';
import {
  DEFAULT_NEWS2_CONFIG,
  NEW_PATIENT_AFTER_READINGS,
  News2Monitor,
  computeNews2,
  news2Risk,
  scoreConsciousness,
  scorePulse,
  scoreRespRate,
  scoreSpO2Scale1,
  scoreSpO2Scale2,
  scoreSystolic,
  scoreTemperature,
  type News2Config,
  type News2Inputs,
} from './news2.js';

const NOW = s(1000);
const at = (ageS: number) => NOW - ageS * 1000;

function inputs(v: { rr?: number; spo2?: number; o2?: 'air' | 'oxygen'; sys?: number; pulse?: number; acvpu?: 'A' | 'C' | 'V' | 'P' | 'U'; temp?: number }, ageS = 10): News2Inputs {
  const i: News2Inputs = {};
  if (v.rr !== undefined) i.respRate = { value: v.rr, at: at(ageS) };
  if (v.spo2 !== undefined) i.spo2 = { value: v.spo2, at: at(ageS) };
  if (v.o2 !== undefined) i.oxygen = { value: v.o2, at: at(ageS) };
  if (v.sys !== undefined) i.systolic = { value: v.sys, at: at(ageS) };
  if (v.pulse !== undefined) i.pulse = { value: v.pulse, at: at(ageS) };
  if (v.acvpu !== undefined) i.consciousness = { value: v.acvpu, at: at(ageS) };
  if (v.temp !== undefined) i.temperature = { value: v.temp, at: at(ageS) };
  return i;
}

const normal = { rr: 16, spo2: 97, o2: 'air', sys: 120, pulse: 70, acvpu: 'A', temp: 37.0 } as const;
const scale2: News2Config = { ...DEFAULT_NEWS2_CONFIG, beds: { copd: { spo2Scale: 2 } } };

describe('NEWS2 bands (RCP 2017 chart 1)', () => {
  const cases: [string, (v: number) => number, [number, number][]][] = [
    ['respiration rate', scoreRespRate, [[5, 3], [8, 3], [9, 1], [11, 1], [12, 0], [20, 0], [21, 2], [24, 2], [25, 3], [40, 3]]],
    ['SpO2 scale 1', scoreSpO2Scale1, [[85, 3], [91, 3], [92, 2], [93, 2], [94, 1], [95, 1], [96, 0], [100, 0]]],
    ['systolic BP', scoreSystolic, [[70, 3], [90, 3], [91, 2], [100, 2], [101, 1], [110, 1], [111, 0], [219, 0], [220, 3]]],
    ['pulse', scorePulse, [[30, 3], [40, 3], [41, 1], [50, 1], [51, 0], [90, 0], [91, 1], [110, 1], [111, 2], [130, 2], [131, 3]]],
    ['temperature', scoreTemperature, [[34.0, 3], [35.0, 3], [35.1, 1], [36.0, 1], [36.1, 0], [38.0, 0], [38.1, 1], [39.0, 1], [39.1, 2], [41, 2]]],
  ];
  for (const [name, fn, table] of cases) {
    it(name, () => {
      for (const [v, score] of table) expect([v, fn(v)]).toEqual([v, score]);
    });
  }

  it('SpO2 scale 2 depends on air or oxygen above 92 %', () => {
    const table: [number, 'air' | 'oxygen', number][] = [
      [83, 'oxygen', 3], [84, 'air', 2], [85, 'oxygen', 2], [86, 'air', 1], [87, 'oxygen', 1],
      [88, 'oxygen', 0], [92, 'oxygen', 0], [93, 'air', 0], [99, 'air', 0],
      [93, 'oxygen', 1], [94, 'oxygen', 1], [95, 'oxygen', 2], [96, 'oxygen', 2], [97, 'oxygen', 3], [100, 'oxygen', 3],
    ];
    for (const [v, o2, score] of table) expect([v, o2, scoreSpO2Scale2(v, o2)]).toEqual([v, o2, score]);
  });

  it('consciousness: alert 0, new confusion / voice / pain / unresponsive 3', () => {
    expect((['A', 'C', 'V', 'P', 'U'] as const).map(scoreConsciousness)).toEqual([0, 3, 3, 3, 3]);
  });

  it('risk levels: 0–4 low, single 3 low-medium, 5–6 medium, 7+ high', () => {
    expect([news2Risk(0, false), news2Risk(4, false), news2Risk(3, true), news2Risk(5, false), news2Risk(6, true), news2Risk(7, false), news2Risk(20, true)])
      .toEqual(['low', 'low', 'low-medium', 'medium', 'medium', 'high', 'high']);
  });
});

describe('NEWS2 worked examples', () => {
  it('all parameters in the normal band: 0, low, complete', () => {
    const r = computeNews2(inputs(normal), NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(r).toMatchObject({ total: 0, risk: 'low', partial: false, anySingle3: false, missing: [], stale: [], assumed: [], scale: 1 });
  });

  it('RR 22, SpO2 95 on oxygen, SBP 105, pulse 95, alert, 38.5 °C: 2+1+2+1+1+0+1 = 8, high', () => {
    const r = computeNews2(inputs({ rr: 22, spo2: 95, o2: 'oxygen', sys: 105, pulse: 95, acvpu: 'A', temp: 38.5 }), NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(r.params.map((p) => [p.param, p.score])).toEqual([
      ['respRate', 2], ['spo2', 1], ['oxygen', 2], ['systolic', 1], ['pulse', 1], ['consciousness', 0], ['temperature', 1],
    ]);
    expect(r).toMatchObject({ total: 8, risk: 'high', partial: false });
  });

  it('a single red parameter (RR 26) with aggregate 3 is low-medium', () => {
    const r = computeNews2(inputs({ ...normal, rr: 26 }), NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(r).toMatchObject({ total: 3, anySingle3: true, risk: 'low-medium' });
  });

  it('aggregate 5 and 6 are medium, 7 is high', () => {
    const five = computeNews2(inputs({ ...normal, rr: 21, spo2: 94, sys: 100 }), NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(five).toMatchObject({ total: 5, risk: 'medium', anySingle3: false });
    const six = computeNews2(inputs({ ...normal, rr: 21, spo2: 94, sys: 100, temp: 38.2 }), NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(six).toMatchObject({ total: 6, risk: 'medium' });
    const seven = computeNews2(inputs({ ...normal, rr: 21, spo2: 94, sys: 100, temp: 39.5 }), NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(seven).toMatchObject({ total: 7, risk: 'high' });
  });

  it('scale 2: SpO2 89 % on oxygen scores 0 (+2 for oxygen) where scale 1 scores 3', () => {
    const v = { ...normal, spo2: 89, o2: 'oxygen' as const };
    const s2 = computeNews2(inputs(v), NOW, scale2, 'copd');
    expect(s2).toMatchObject({ scale: 2, total: 2, risk: 'low' });
    const s1 = computeNews2(inputs(v), NOW, scale2, 'bed-1');
    expect(s1).toMatchObject({ scale: 1, total: 5, risk: 'medium', anySingle3: true });
  });

  it('scale 2: over-oxygenation scores (SpO2 97 % on oxygen: 3 + 2) but not on air', () => {
    expect(computeNews2(inputs({ ...normal, spo2: 97, o2: 'oxygen' }), NOW, scale2, 'copd')).toMatchObject({ total: 5, risk: 'medium' });
    expect(computeNews2(inputs({ ...normal, spo2: 97, o2: 'air' }), NOW, scale2, 'copd')).toMatchObject({ total: 0, risk: 'low' });
  });
});

describe('NEWS2 inputs: stale, missing, assumed', () => {
  it('stale inputs are not used; the score is partial and says which', () => {
    const i = inputs(normal);
    i.spo2 = { value: 85, at: at(301) }; // older than the 300 s limit
    i.respRate = { value: 30, at: at(300) }; // exactly at the limit: still fresh
    const r = computeNews2(i, NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(r.partial).toBe(true);
    expect(r.stale).toEqual(['spo2']);
    expect(r.total).toBe(3); // RR 30 only
    expect(r.params.find((p) => p.param === 'spo2')).toEqual({ param: 'spo2', status: 'stale', staleValue: 85, staleAt: at(301) });
  });

  it('missing inputs are listed and make the score partial', () => {
    const { temp: _t, sys: _s, ...rest } = normal;
    const r = computeNews2(inputs(rest), NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(r).toMatchObject({ partial: true, missing: ['systolic', 'temperature'], total: 0 });
  });

  it('consciousness and oxygen fall back to configured assumptions, reported as assumed', () => {
    const { acvpu: _a, o2: _o, ...rest } = normal;
    const r = computeNews2(inputs(rest), NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(r).toMatchObject({ partial: false, assumed: ['oxygen', 'consciousness'], total: 0 });
    expect(r.params.find((p) => p.param === 'consciousness')).toMatchObject({ status: 'assumed', value: 'A', score: 0 });

    const none: News2Config = { ...DEFAULT_NEWS2_CONFIG, defaults: { spo2Scale: 1 } };
    expect(computeNews2(inputs(rest), NOW, none, 'bed-1')).toMatchObject({ partial: true, missing: ['oxygen', 'consciousness'] });

    const perBed: News2Config = { ...DEFAULT_NEWS2_CONFIG, beds: { 'bed-9': { assume: { oxygen: 'oxygen' } } } };
    expect(computeNews2(inputs(rest), NOW, perBed, 'bed-9')).toMatchObject({ total: 2, assumed: ['oxygen', 'consciousness'] });
  });

  it('a stale observation is replaced by the assumption and says so, unless it scored more (then stale: rv107 H2)', () => {
    const i = inputs(normal);
    i.consciousness = { value: 'A', at: at(43201) };
    const r = computeNews2(i, NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(r.params.find((p) => p.param === 'consciousness')).toMatchObject({ status: 'assumed', value: 'A', staleValue: 'A' });
    i.consciousness = { value: 'V', at: at(43201) };
    const v = computeNews2(i, NOW, DEFAULT_NEWS2_CONFIG, 'bed-1');
    expect(v).toMatchObject({ partial: true, stale: ['consciousness'] });
    expect(v.params.find((p) => p.param === 'consciousness')).toEqual({ param: 'consciousness', status: 'stale', staleValue: 'V', staleAt: at(43201) });
  });
});

describe('NEWS2 monitor: trigger levels as conditions', () => {
  const R = (mdc: typeof MDC.RESP_RATE, v: number, t: number, quality?: { state: 'invalid' }) =>
    numeric(mdc, v, t, quality ? { quality } : {});
  function setAll(m: News2Monitor, t: number, v: { rr: number; spo2: number; sys: number; pulse: number; temp: number }): void {
    m.reading(R(MDC.RESP_RATE, v.rr, t));
    m.reading(R(MDC.PULS_OXIM_SAT_O2, v.spo2, t));
    m.reading(R(MDC.PRESS_BLD_NONINV_SYS, v.sys, t));
    m.reading(R(MDC.ECG_HEART_RATE, v.pulse, t));
    m.reading(R(MDC.TEMP_BODY, v.temp, t));
  }

  it('raises the highest level, moves between levels, ends when a complete score is below trigger', () => {
    const m = new News2Monitor();
    setAll(m, 0, { rr: 16, spo2: 97, sys: 120, pulse: 70, temp: 37 });
    expect(m.evaluate(s(0))).toEqual([]);
    setAll(m, 10, { rr: 21, spo2: 94, sys: 100, pulse: 70, temp: 37 }); // 5
    const medium = m.evaluate(s(10));
    expect(medium.map((u) => (u.present ? `+${u.spec.key}` : `-${u.key}`))).toEqual(['+news2:bed-1:medium']);
    expect(medium[0]!.present && medium[0]!.spec).toMatchObject({ priority: 'medium', source: 'news2', value: 5, category: 'physiological' });
    // Consciousness and oxygen come from no device: assumed (alert, air: 0), which the alarm says, as the true score
    // may be higher.
    expect(medium[0]!.present && medium[0]!.spec.condition.text).toBe('NEWS2 5-6 (medium risk): score at raise 5 (assumed: oxygen, consciousness)');
    setAll(m, 20, { rr: 25, spo2: 94, sys: 100, pulse: 70, temp: 37 }); // 3+1+2 = 6 → still medium
    expect(m.evaluate(s(20))).toEqual([]);
    m.reading(R(MDC.TEMP_BODY, 39.5, 30)); // +2 → 8
    expect(m.evaluate(s(30)).map((u) => (u.present ? `+${u.spec.key}` : `-${u.key}`))).toEqual(['-news2:bed-1:medium', '+news2:bed-1:high']);
    // A level ends once a complete score has stayed below it for clearAfterS (300 s).
    const normal = { rr: 16, spo2: 97, sys: 120, pulse: 70, temp: 37 };
    setAll(m, 40, normal);
    expect(m.evaluate(s(40))).toEqual([]);
    setAll(m, 339, normal);
    expect(m.evaluate(s(339))).toEqual([]);
    setAll(m, 340, normal);
    expect(m.evaluate(s(340)).map((u) => (u.present ? `+${u.spec.key}` : `-${u.key}`))).toEqual(['-news2:bed-1:high']);
  });

  it('a score on a band edge gives one alarm, not one every other second', () => {
    const m = new News2Monitor();
    const changes: string[] = [];
    // RR 21 (2) + SpO2 95 (1) + pulse 90 (0) / 91 (1) + temp 36.0 (1) + systolic 120 (0): 4 or 5, once a second.
    for (let t = 0; t < 60; t++) {
      setAll(m, t, { rr: 21, spo2: 95, sys: 120, pulse: t % 2 ? 91 : 90, temp: 36 });
      changes.push(...m.evaluate(s(t)).map((u) => (u.present ? `+${u.spec.key}` : `-${u.key}`)));
    }
    expect(changes).toEqual(['+news2:bed-1:medium']);
    // Below the level for a whole clearAfterS: it ends.
    for (let t = 60; t <= 361; t++) {
      setAll(m, t, { rr: 21, spo2: 95, sys: 120, pulse: 90, temp: 36 });
      changes.push(...m.evaluate(s(t)).map((u) => (u.present ? `+${u.spec.key}` : `-${u.key}`)));
    }
    expect(changes).toEqual(['+news2:bed-1:medium', '-news2:bed-1:medium']);
  });

  it('a partial (lower-bound) score raises but never ends a level', () => {
    const m = new News2Monitor();
    m.reading(R(MDC.RESP_RATE, 26, 0)); // only RR: partial, single 3
    const up = m.evaluate(s(0));
    expect(up.map((u) => u.present && u.spec.key)).toEqual(['news2:bed-1:low-medium']);
    expect(m.score('bed-1', s(0))).toMatchObject({ partial: true, missing: ['spo2', 'systolic', 'pulse', 'temperature'] });
    m.reading(R(MDC.RESP_RATE, 16, 10)); // partial score now 0, but spo2 etc. unknown
    expect(m.evaluate(s(10))).toEqual([]);
    m.reading(R(MDC.PULS_RATE, 70, 20));
    expect(m.evaluate(s(20))).toEqual([]);
    setAll(m, 100, { rr: 16, spo2: 97, sys: 120, pulse: 70, temp: 37 });
    expect(m.evaluate(s(100))).toEqual([]); // complete now: ends once it stays below for clearAfterS
    setAll(m, 400, { rr: 16, spo2: 97, sys: 120, pulse: 70, temp: 37 });
    expect(m.evaluate(s(400)).map((u) => u.present)).toEqual([false]);
  });

  it('a level whose every input went stale (the monitor silent, or moved away) ends, unconfirmed, saying so', () => {
    const m = new News2Monitor();
    m.reading(R(MDC.RESP_RATE, 26, 0));
    m.reading(R(MDC.ECG_HEART_RATE, 140, 0));
    expect(m.evaluate(s(0)).map((u) => u.present && u.spec.key)).toEqual(['news2:bed-1:medium']);
    expect(m.evaluate(s(300))).toEqual([]); // still current (maxAgeS 300 s)
    const ended = m.evaluate(s(301));
    expect(ended).toEqual([{ present: false, key: 'news2:bed-1:medium', at: s(301), unconfirmed: true, why: 'NEWS2 no longer scored, no current input: total 0 (partial), respRate stale, spo2 missing, oxygen air (assumed)=0, systolic missing, pulse stale, consciousness A (assumed)=0, temperature missing' }]);
    expect(m.evaluate(s(400))).toEqual([]);
    // Inputs back: scored again, a new condition.
    m.reading(R(MDC.RESP_RATE, 26, 500));
    m.reading(R(MDC.ECG_HEART_RATE, 140, 500));
    expect(m.evaluate(s(500)).map((u) => u.present && u.spec.key)).toEqual(['news2:bed-1:medium']);
    // A recorded observation still current does not keep it (rv79 M1): "no current input" is judged on what devices
    // measure, else a bed whose monitor went silent kept its level for the 12 h an observation counts.
    m.observe('bed-1', { consciousness: 'V' }, s(510));
    expect(m.evaluate(s(900)).map((u) => (u.present ? `+${u.spec.key}` : `-${u.key}`))).toEqual(['-news2:bed-1:medium']);
  });

  it('a recorded observation does not keep a level present once every device input is stale', () => {
    const m = new News2Monitor();
    m.reading(R(MDC.RESP_RATE, 26, 0));
    m.reading(R(MDC.ECG_HEART_RATE, 135, 0));
    m.reading(R(MDC.PULS_OXIM_SAT_O2, 90, 0));
    m.observe('bed-1', { consciousness: 'A' }, s(0));
    expect(m.evaluate(s(0)).map((u) => u.present && u.spec.key)).toEqual(['news2:bed-1:high']);
    expect(m.evaluate(s(300))).toEqual([]);
    const ended = m.evaluate(s(301));
    expect(ended).toMatchObject([{ present: false, key: 'news2:bed-1:high', unconfirmed: true }]);
    expect(ended[0]!.present === false && ended[0]!.why).toMatch(/^NEWS2 no longer scored, no current input/);
  });

  it('a reading of a metric that turns non-valid makes that input not current: stale, the score partial', () => {
    const m = new News2Monitor();
    setAll(m, 0, { rr: 16, spo2: 85, sys: 120, pulse: 70, temp: 37 });
    m.reading(numeric(MDC.PULS_OXIM_PULS_RATE, 72, 0, { deviceId: 'ox-1' })); // pulse now from the oximeter
    m.reading(R(MDC.ECG_HEART_RATE, 70, 1)); // and from the ECG again
    expect(m.reading(numeric(MDC.PULS_OXIM_SAT_O2, null, 5, { quality: { state: 'unavailable', reasons: ['probe off'] } }))).toBe(true);
    const sc = m.score('bed-1', s(240))!;
    expect(sc.params.find((p) => p.param === 'spo2')).toEqual({ param: 'spo2', status: 'stale', staleValue: 85, staleAt: s(0), source: { deviceId: 'mon-1', metric: 'MDC_PULS_OXIM_SAT_O2' } });
    expect(sc).toMatchObject({ partial: true, stale: ['spo2'] });
    // Another device's metric going invalid makes only its own input not current (rv162 F1): pulse is the ECG's alone.
    expect(m.reading(numeric(MDC.PULS_OXIM_PULS_RATE, null, 6, { deviceId: 'ox-1', quality: { state: 'invalid' } }))).toBe(true);
    expect(m.score('bed-1', s(240))!.params.find((p) => p.param === 'pulse')).toMatchObject({ status: 'measured', value: 70, source: { deviceId: 'mon-1' } });
    expect(m.score('bed-1', s(240))!.params.find((p) => p.param === 'pulse')?.others).toBeUndefined();
    // A valid value again: current again.
    m.reading(R(MDC.PULS_OXIM_SAT_O2, 97, 250));
    expect(m.score('bed-1', s(250))).toMatchObject({ partial: false, stale: [] });
  });

  it('readings in units NEWS2 cannot convert are counted per parameter and unit, and told once per device; common spellings are accepted', () => {
    const m = new News2Monitor();
    const u = (ucum: string) => ({ unit: { ucum } });
    expect(m.reading(numeric(MDC.TEMP_BODY, 101.3, 0, u('degF')))).toBe(true);
    expect(m.score('bed-1', s(0))!.params.find((p) => p.param === 'temperature')).toMatchObject({ status: 'measured', score: 1 });
    expect(m.reading(numeric(MDC.TEMP, 38.5, 1, u('degC')))).toBe(true);
    expect(m.reading(numeric(MDC.PRESS_BLD_NONINV_SYS, 86, 1, u('mmHg')))).toBe(true);
    expect(m.score('bed-1', s(1))!.params.find((p) => p.param === 'systolic')).toMatchObject({ status: 'measured', value: 86, score: 3 });
    expect(m.take()).toEqual({ unconvertible: [], newUnconvertible: [], observationsDropped: [], observationsUnmatchable: [], formerPatient: { readings: 0, devices: [] } });
    for (const t of [2, 3]) expect(m.reading(numeric(MDC.TEMP_BODY, 311.15, t, u('K')))).toBe(false);
    m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 0.95, 3, { ...u('1'), deviceId: 'ox-1' }));
    expect(m.take()).toEqual({
      unconvertible: [{ param: 'temperature', unit: 'K', count: 2 }, { param: 'spo2', unit: '1', count: 1 }],
      newUnconvertible: [
        { deviceId: 'mon-1', bed: 'bed-1', param: 'temperature', unit: 'K', want: 'Cel' },
        { deviceId: 'ox-1', bed: 'bed-1', param: 'spo2', unit: '1', want: '%' },
      ],
      observationsDropped: [],
      observationsUnmatchable: [],
      formerPatient: { readings: 0, devices: [] },
    });
    m.reading(numeric(MDC.TEMP_BODY, 311.15, 4, u('K')));
    expect(m.take()).toEqual({ unconvertible: [{ param: 'temperature', unit: 'K', count: 1 }], newUnconvertible: [], observationsDropped: [], observationsUnmatchable: [], formerPatient: { readings: 0, devices: [] } });
  });

  it('a device giving another patient id for the bed is a new patient: inputs and observations go, the level ends', () => {
    const m = new News2Monitor();
    const P = (mdc: typeof MDC.RESP_RATE, v: number, t: number, patientId: string, deviceId = 'mon-1') => numeric(mdc, v, t, { patientId, deviceId });
    m.reading(P(MDC.RESP_RATE, 26, 0, 'P1'));
    m.reading(P(MDC.ECG_HEART_RATE, 120, 0, 'P1'));
    m.reading(P(MDC.TEMP_BODY, 39.5, 0, 'P1'));
    m.observe('bed-1', { consciousness: 'U', oxygen: 'oxygen' }, s(0));
    expect(m.evaluate(s(0)).map((u) => u.present && [u.spec.key, u.spec.patientId])).toEqual([['news2:bed-1:high', 'P1']]);
    // Another device on the bed gives the same patient another id (a visit number): no change of patient.
    m.reading(P(MDC.PULS_OXIM_SAT_O2, 97, 10, 'V-778', 'spo2-1'));
    expect(m.evaluate(s(10))).toEqual([]);
    expect(m.score('bed-1', s(10))?.params.find((p) => p.param === 'oxygen')).toMatchObject({ status: 'measured', value: 'oxygen' });
    // mon-1 now gives P2, consistently (NEW_PATIENT_AFTER_READINGS readings): a new patient, whose normal vitals are scored alone.
    expect(NEW_PATIENT_AFTER_READINGS).toBe(3);
    m.reading(P(MDC.RESP_RATE, 16, 3600, 'P2'));
    m.reading(P(MDC.RESP_RATE, 16, 3605, 'P2'));
    expect(m.evaluate(s(3605))).toEqual([]);
    expect(m.reading(P(MDC.RESP_RATE, 16, 3610, 'P2'))).toBe(true);
    const ended = m.evaluate(s(3610));
    expect(ended).toEqual([{ present: false, key: 'news2:bed-1:high', at: s(3610), unconfirmed: true, why: "a new patient on this bed (mon-1 now gives another patient id): the previous patient's NEWS2 no longer applies" }]);
    expect(m.score('bed-1', s(3610))).toMatchObject({ total: 0, assumed: ['oxygen', 'consciousness'], missing: ['spo2', 'systolic', 'pulse', 'temperature'] });
    expect(m.observations(s(3610))).toEqual({});
  });

  it('a patient id that flips back and forth, or comes in one message only, is no new patient: inputs and observations stay', () => {
    const m = new News2Monitor();
    const P = (mdc: typeof MDC.RESP_RATE, v: number, t: number, patientId: string) => numeric(mdc, v, t, { patientId });
    m.observe('bed-1', { consciousness: 'V', oxygen: 'oxygen' }, s(0));
    const up: ReturnType<News2Monitor['evaluate']> = [];
    for (let t = 0; t <= 120; t += 5) {
      // Same patient, id as each message gives it: MRN, and from 60 s a visit number in every other message.
      const id = t >= 60 && t % 10 === 0 ? 'VN-778' : 'MR-123';
      m.reading(P(MDC.RESP_RATE, 22, t, id));
      m.reading(P(MDC.PULS_OXIM_SAT_O2, 95, t, id));
      m.reading(P(MDC.ECG_HEART_RATE, 95, t, id)); // three readings of one message: they count once
      up.push(...m.evaluate(s(t)));
    }
    expect(up.map((u) => (u.present ? `+${u.spec.key}` : `-${u.key}`))).toEqual(['+news2:bed-1:high']);
    expect(m.score('bed-1', s(120))).toMatchObject({ total: 9, assumed: [] });
    expect(Object.keys(m.observations(s(120)))).toEqual(['bed-1']);
    // Two messages in a row with another id, then the old one: still the same patient.
    m.reading(P(MDC.RESP_RATE, 22, 125, 'X-1'));
    m.reading(P(MDC.RESP_RATE, 22, 130, 'X-1'));
    m.reading(P(MDC.RESP_RATE, 22, 135, 'MR-123'));
    m.reading(P(MDC.RESP_RATE, 22, 140, 'X-1'));
    expect(m.evaluate(s(140))).toEqual([]);
    expect(m.score('bed-1', s(140))).toMatchObject({ total: 9, assumed: [] });
  });

  it('invalid readings and readings without a bed do not feed NEWS2', () => {
    const m = new News2Monitor();
    expect(m.reading(R(MDC.RESP_RATE, 40, 0, { state: 'invalid' }))).toBe(false);
    expect(m.reading(numeric(MDC.RESP_RATE, 40, 0, { bed: null }))).toBe(false);
    expect(m.score('bed-1', s(0))).toBeUndefined();
  });

  it('observations (ACVPU, oxygen) are inputs with their own age', () => {
    const m = new News2Monitor();
    setAll(m, 0, { rr: 16, spo2: 97, sys: 120, pulse: 70, temp: 37 });
    m.observe('bed-1', { consciousness: 'V', oxygen: 'oxygen' }, s(0));
    expect(m.score('bed-1', s(1))).toMatchObject({ total: 5, risk: 'medium', assumed: [] });
  });

  it('recorded observations are handed over to a new run, and count there as recorded, not assumed', () => {
    const before = new News2Monitor();
    before.observe('bed-1', { consciousness: 'V', oxygen: 'oxygen' }, s(0));
    before.observe('bed-2', { oxygen: 'air' }, s(10));
    // Kept as JSON in the store: what comes back is a parse of it.
    const kept = JSON.parse(JSON.stringify(before.observations(s(60))));
    expect(kept).toEqual({ 'bed-1': { consciousness: { value: 'V', at: s(0) }, oxygen: { value: 'oxygen', at: s(0) } }, 'bed-2': { oxygen: { value: 'air', at: s(10) } } });

    const after = new News2Monitor();
    expect(after.restoreObservations(kept)).toEqual(['bed-1', 'bed-2']);
    setAll(after, 100, { rr: 16, spo2: 97, sys: 120, pulse: 70, temp: 37 });
    expect(after.score('bed-1', s(101))).toMatchObject({ total: 5, assumed: [] });
  });

  it('observations past their maximum age are not kept; malformed ones are skipped; a newer one of this run wins', () => {
    const m = new News2Monitor();
    // 'air' (no more than the assumption): an aged-out 'oxygen' is kept stale (rv109 H1, news2-levels.test.ts).
    m.observe('bed-1', { oxygen: 'air' }, s(0));
    expect(m.observations(s(0) + DEFAULT_NEWS2_CONFIG.maxAgeS.oxygen * 1000 + 1)).toEqual({});

    const r = new News2Monitor();
    r.observe('bed-3', { oxygen: 'air' }, s(50));
    const restored = r.restoreObservations({
      'bed-1': { oxygen: { value: 'helium', at: s(0) } },
      'bed-2': { consciousness: { value: 'C', at: 'yesterday' } },
      'bed-3': { oxygen: { value: 'oxygen', at: s(20) }, consciousness: { value: 'P', at: s(20) } },
      'bed-4': null,
    });
    expect(restored).toEqual(['bed-3']);
    expect(r.observations(s(60))).toEqual({ 'bed-3': { oxygen: { value: 'air', at: s(50) }, consciousness: { value: 'P', at: s(20) } } });
    expect(r.restoreObservations('not an object')).toEqual([]);
  });
});

describe('NEWS2 monitor: a reading judged older than the input it follows (review rv83 H1)', () => {
  const rr = (v: number, atS: number, deviceS: number, deviceId = 'mon-1') => ({ ...numeric(MDC.RESP_RATE, v, atS, { deviceId }), deviceTime: s(deviceS) });
  it('is taken when the input came from the same device and metric with a device time not newer', () => {
    const m = new News2Monitor(DEFAULT_NEWS2_CONFIG);
    expect(m.reading(rr(16, 100, 100), s(100))).toBe(true);
    // The same device's next measurement, aged by a clock not yet caught up with it: its own, newer by the device's clock.
    expect(m.reading(rr(26, 105, 105), s(40))).toBe(true);
    expect(m.score('bed-1', s(105))!.params.find((p) => p.param === 'respRate')).toMatchObject({ value: 26, at: s(40) });
  });
  it('is still left out against a newer device time of the same one; from another device it is that source\'s own input', () => {
    const m = new News2Monitor(DEFAULT_NEWS2_CONFIG);
    m.reading(rr(16, 100, 100), s(100));
    expect(m.reading(rr(26, 106, 90), s(40))).toBe(false);
    expect(m.score('bed-1', s(106))!.params.find((p) => p.param === 'respRate')).toMatchObject({ value: 16 });
    // Another device's reading is its own source with its own age (rv162 F1): current (measured 66 s before), it scores
    // higher, so it is scored; once stale it drops out alone.
    expect(m.reading(rr(26, 105, 105, 'mon-2'), s(40))).toBe(true);
    expect(m.score('bed-1', s(106))!.params.find((p) => p.param === 'respRate')).toMatchObject({ value: 26, at: s(40), source: { deviceId: 'mon-2' } });
    expect(m.score('bed-1', s(341))!.params.find((p) => p.param === 'respRate')).toMatchObject({ status: 'measured', value: 16, source: { deviceId: 'mon-1' } });
  });
});
