// NEWS2 with two sources for one parameter (review rv162 F1): ECG HR and SpO2 pulse rate both feed pulse, a monitor and
// a pulse oximeter both feed SpO2. The score took whichever reading came last in a batch; now each source is kept
// with its own age and validity, and the current one that scores highest is scored, whatever the order.
import { describe, expect, it } from 'vitest';
import { MDC, UNITS } from '../model/mdc.js';
import type { NumericReading } from '../model/reading.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { News2Monitor } from './news2.js';
import type { AlarmStateChange } from './types.js';

const others = (t: number): NumericReading[] => [
  numeric(MDC.RESP_RATE, 16, t),
  numeric(MDC.PRESS_BLD_NONINV_SYS, 120, t),
  numeric(MDC.TEMP_BODY, 37, t),
];
const hr = (v: number, t: number) => numeric(MDC.ECG_HEART_RATE, v, t);
const pr = (v: number, t: number) => numeric(MDC.PULS_OXIM_PULS_RATE, v, t);
const spo2 = (v: number | null, t: number, deviceId: string, quality?: NumericReading['quality']) =>
  numeric(MDC.PULS_OXIM_SAT_O2, v, t, { deviceId, ...(quality && { quality }) });
const param = (e: AlarmEngine | News2Monitor, p: string, at: number) => {
  const n = e instanceof AlarmEngine ? e.news2('bed-1', at) : e.score('bed-1', at);
  return n?.params.find((x) => x.param === p);
};

describe('NEWS2 with two sources in one committed batch (rv162 F1 pc1-pc4)', () => {
  const cases: { name: string; p: 'pulse' | 'spo2'; value: number; batch: (t: number) => NumericReading[] }[] = [
    { name: 'pc1: ECG HR 135 then SpO2 PR 95', p: 'pulse', value: 135, batch: (t) => [...others(t), hr(135, t), spo2(97, t, 'mon-1'), pr(95, t)] },
    { name: 'pc2: SpO2 PR 95 then ECG HR 135', p: 'pulse', value: 135, batch: (t) => [...others(t), pr(95, t), spo2(97, t, 'mon-1'), hr(135, t)] },
    { name: 'pc3: monitor SpO2 85 then oximeter 97', p: 'spo2', value: 85, batch: (t) => [...others(t), hr(80, t), spo2(85, t, 'mon-1'), spo2(97, t, 'pox-1')] },
    { name: 'pc4: oximeter SpO2 97 then monitor 85', p: 'spo2', value: 85, batch: (t) => [...others(t), hr(80, t), spo2(97, t, 'pox-1'), spo2(85, t, 'mon-1')] },
  ];
  for (const c of cases) {
    it(`${c.name}: the worse reading is scored (3), total 3, low-medium raised`, () => {
      const e = new AlarmEngine();
      const ch: AlarmStateChange[] = [];
      for (let t = 0; t <= 120; t++) ch.push(...e.ingestAll(c.batch(t)), ...e.tick(s(t + 0.5)));
      const n = e.news2('bed-1', s(120.5))!;
      expect(n.params.find((x) => x.param === c.p)).toMatchObject({ status: 'measured', value: c.value, score: 3 });
      expect(n).toMatchObject({ total: 3, risk: 'low-medium' });
      expect(ch.filter((x) => x.change === 'raised').map((x) => x.alarm.key)).toContain('news2:bed-1:low-medium');
      expect(e.list({ bed: 'bed-1' }).find((a) => a.key === 'news2:bed-1:low-medium')).toMatchObject({ state: 'active', conditionPresent: true });
    });
  }

  it('the parameter names the source scored and the other current sources with their values', () => {
    const m = new News2Monitor();
    for (const r of [pr(95, 0), hr(135, 0)]) m.reading(r);
    const p = param(m, 'pulse', s(1));
    expect(p).toMatchObject({ value: 135, score: 3, source: { deviceId: 'mon-1', metric: 'MDC_ECG_HEART_RATE' } });
    expect(p?.others).toEqual([{ deviceId: 'mon-1', metric: 'MDC_PULS_OXIM_PULS_RATE', value: 95, score: 1 }]);
    // One source: no others listed.
    const one = new News2Monitor();
    one.reading(hr(70, 0));
    expect(param(one, 'pulse', s(1))).toMatchObject({ value: 70, source: { deviceId: 'mon-1', metric: 'MDC_ECG_HEART_RATE' } });
    expect(param(one, 'pulse', s(1))?.others).toBeUndefined();
  });

  it("the alarm change's why names the scored source and the others' values", () => {
    const e = new AlarmEngine();
    const ch = e.ingestAll([...others(0), pr(95, 0), hr(135, 0)]);
    const raised = ch.find((x) => x.change === 'raised' && x.alarm.source === 'news2');
    expect(raised?.why).toContain('pulse 135=3 (mon-1 MDC_ECG_HEART_RATE; also 95 mon-1 MDC_PULS_OXIM_PULS_RATE)');
    expect(raised?.why).toContain('respRate 16=0,'); // one source: as before
  });

  it('a tie scores the newest source', () => {
    const m = new News2Monitor();
    m.reading(spo2(90, 0, 'pox-1'));
    m.reading(spo2(88, 1, 'mon-1'));
    m.reading(spo2(91, 2, 'pox-1')); // 91 and 88 both score 3: pox-1 is newer
    expect(param(m, 'spo2', s(3))).toMatchObject({ value: 91, score: 3, source: { deviceId: 'pox-1' } });
  });
});

describe('NEWS2 with two devices in separate batches (rv162 F1 case B)', () => {
  const feed = (e: AlarmEngine, ch: AlarmStateChange[], from: number, to: number, monFirst: boolean) => {
    for (let t = from; t <= to; t++) {
      const [a, b] = monFirst ? [spo2(85, t, 'mon-1'), spo2(97, t + 0.5, 'pox-1')] : [spo2(97, t, 'pox-1'), spo2(85, t + 0.5, 'mon-1')];
      ch.push(...e.ingest(a), ...e.ingest(b), ...e.tick(s(t + 0.6)));
    }
  };

  it('the monitor 85 is scored at every sample, and the alarm and the score agree', () => {
    const e = new AlarmEngine();
    const ch: AlarmStateChange[] = [];
    for (let t = 0; t <= 120; t++) {
      ch.push(...e.ingest(spo2(85, t, 'mon-1')), ...e.ingest(spo2(97, t + 0.5, 'pox-1')), ...e.tick(s(t + 0.6)));
      expect(param(e, 'spo2', s(t + 0.6)), `t=${t}`).toMatchObject({ status: 'measured', value: 85, score: 3, source: { deviceId: 'mon-1' } });
    }
    const keys = ch.filter((x) => x.alarm.source === 'news2').map((x) => `${x.change} ${x.alarm.key}`);
    expect(keys).toEqual(['raised news2:bed-1:low-medium']);
  });

  it("after the monitor's SpO2 goes unavailable, the oximeter's 97 is scored at once", () => {
    for (const monFirst of [true, false]) {
      const e = new AlarmEngine();
      const ch: AlarmStateChange[] = [];
      feed(e, ch, 0, 120, monFirst);
      expect(param(e, 'spo2', s(121))).toMatchObject({ value: 85, score: 3 });
      e.ingest(spo2(null, 121, 'mon-1', { state: 'unavailable', reasons: ['probe off'] }));
      // Before the oximeter's next reading: its last one (at most 1 s old) is current and scored alone.
      expect(param(e, 'spo2', s(121.1)), `monFirst=${monFirst}`).toMatchObject({ status: 'measured', value: 97, score: 0, source: { deviceId: 'pox-1' } });
      expect(param(e, 'spo2', s(121.1))?.others).toBeUndefined();
    }
  });

  it('a monitor that falls silent beside a newer oximeter keeps its worse reading scored until it is stale (rv165 F2, rv169), then drops out', () => {
    const e = new AlarmEngine();
    const ch: AlarmStateChange[] = [];
    feed(e, ch, 0, 120, true);
    expect(param(e, 'spo2', s(120.6))).toMatchObject({ value: 85, score: 3 });
    const pox = (from: number, to: number) => { for (let t = from; t <= to; t++) ch.push(...e.ingest(spo2(97, t + 0.5, 'pox-1')), ...e.tick(s(t + 0.6))); };
    pox(121, 419);
    // mon-1's last reading at 120 s is current for SpO2's maxAgeS (300 s): still the worse of two current readings.
    const p = param(e, 'spo2', s(419.6));
    expect(p).toMatchObject({ status: 'measured', value: 85, score: 3, source: { deviceId: 'mon-1' } });
    expect(p?.others).toEqual([{ deviceId: 'pox-1', metric: 'MDC_PULS_OXIM_SAT_O2', value: 97, score: 0 }]);
    pox(420, 430);
    expect(param(e, 'spo2', s(430.6))?.others).toBeUndefined(); // stale at 420 s, then dropped
    const n = e.news2('bed-1', s(430.6))!;
    expect(n.params.find((x) => x.param === 'spo2')).toMatchObject({ status: 'measured', value: 97, score: 0, source: { deviceId: 'pox-1' } });
    expect(n.stale).not.toContain('spo2');
  });

  it('with every source stale, the parameter shows the newest value stale', () => {
    const m = new News2Monitor();
    m.reading(spo2(85, 0, 'mon-1'));
    m.reading(spo2(97, 10, 'pox-1'));
    expect(param(m, 'spo2', s(311))).toMatchObject({ status: 'stale', staleValue: 97, staleAt: s(10) });
  });
});

describe('NEWS2 sources stay bounded', () => {
  it('a stale source is dropped when another source of the parameter sends', () => {
    const m = new News2Monitor();
    for (let d = 0; d < 40; d++) m.reading(spo2(85, d, `dev-${d}`));
    // All 40 are current at 40 s: at most a few are kept, the worst-scoring ones among the newest.
    const p = param(m, 'spo2', s(40));
    expect(p).toMatchObject({ value: 85, score: 3, source: { deviceId: 'dev-39' } });
    expect((p?.others ?? []).length).toBeLessThan(16);
    m.reading(spo2(97, 1000, 'pox-1'));
    expect(param(m, 'spo2', s(1000))?.others).toBeUndefined(); // the stale ones are gone
  });
});

describe('NEWS2: a source that stopped counts until stale (rv165 F2, rv169)', () => {
  const vitals = (t: number): NumericReading[] => [...others(t), numeric(MDC.PULS_OXIM_SAT_O2, 97, t), hr(80, t)];
  const news2Alarm = (e: AlarmEngine) => e.list({ bed: 'bed-1' }).find((a) => a.key === 'news2:bed-1:low-medium');

  it('an oximeter moved to bed-2 keeps its last bed-1 reading scored there until it is stale (SpO2 maxAgeS 300 s), then the monitor\'s', () => {
    const e = new AlarmEngine();
    for (let t = 0; t <= 60; t += 5) { e.ingestAll([...vitals(t), spo2(85, t, 'pox-1')]); e.tick(s(t + 0.5)); }
    expect(param(e, 'spo2', s(60.5))).toMatchObject({ value: 85, score: 3, source: { deviceId: 'pox-1' } });
    expect(news2Alarm(e)).toMatchObject({ conditionPresent: true });
    const at = (t: number) => {
      e.ingestAll([...vitals(t), numeric(MDC.PULS_OXIM_SAT_O2, 98, t, { deviceId: 'pox-1', bed: 'bed-2' })]);
      e.tick(s(t + 0.5));
      return param(e, 'spo2', s(t + 0.5));
    };
    for (let t = 65; t <= 355; t += 5) expect(at(t), `t=${t}`).toMatchObject({ value: 85, source: { deviceId: 'pox-1' } });
    const after = at(365);
    expect(after).toMatchObject({ status: 'measured', value: 97, score: 0, source: { deviceId: 'mon-1' } });
    expect(after?.others).toBeUndefined();
  });

  it('a cuff NIBP stopped when a live ABP goes in counts until it is stale (maxAgeS 1 h), the worse reading; then ABP 125 alone', () => {
    const e = new AlarmEngine();
    const base = (t: number) => [numeric(MDC.RESP_RATE, 16, t), numeric(MDC.PULS_OXIM_SAT_O2, 97, t), hr(80, t), numeric(MDC.TEMP_BODY, 37, t)];
    const abp = (t: number) => numeric(MDC.PRESS_BLD_ART_ABP_SYS, 125, t, { unit: UNITS.MMHG });
    for (const [t, v] of [[0, 92], [300, 90], [600, 89], [900, 88]] as const) e.ingestAll([...base(t), numeric(MDC.PRESS_BLD_NONINV_SYS, v, t)]);
    const sys = (at: number) => e.news2('bed-1', at)!.params.find((x) => x.param === 'systolic');
    for (let t = 905; t <= 4495; t += 5) { e.ingestAll([...base(t), abp(t)]); e.tick(s(t + 0.5)); }
    expect(sys(s(4495.5))).toMatchObject({ value: 88, score: 3, source: { metric: 'MDC_PRESS_BLD_NONINV_SYS' } });
    expect(sys(s(4495.5))?.others).toEqual([{ deviceId: 'mon-1', metric: 'MDC_PRESS_BLD_ART_ABP_SYS', value: 125, score: 0 }]);
    for (let t = 4500; t <= 4600; t += 5) { e.ingestAll([...base(t), abp(t)]); e.tick(s(t + 0.5)); }
    expect(sys(s(4600.5))).toMatchObject({ status: 'measured', value: 125, score: 0, source: { metric: 'MDC_PRESS_BLD_ART_ABP_SYS' } });
    expect(sys(s(4600.5))?.others).toBeUndefined();
  });

  it('a spot check (one reading, no pace) counts for maxAgeS beside a continuous source: a fever beside a normal core probe (rv166 F1)', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.TEMP_BODY, 39.5, 0, { deviceId: 'thermo-1' }));
    for (let t = 0; t <= 3 * 3600; t += 10) m.reading(numeric(MDC.TEMP_BODY, 37, t, { deviceId: 'core-1' }));
    expect(param(m, 'temperature', s(3 * 3600))).toMatchObject({ value: 39.5, score: 2, source: { deviceId: 'thermo-1' } });
  });

  it('a slow periodic oximeter (every 120 s) beside a 1 Hz monitor is scored between its reports, never flipping out (rv166 F1)', () => {
    const m = new News2Monitor();
    const scored: number[] = [];
    for (let t = 0; t <= 1200; t++) {
      m.reading(spo2(97, t, 'mon-1'));
      if (t % 120 === 0) m.reading(spo2(85, t, 'pox-1'));
      if (t >= 120) scored.push(param(m, 'spo2', s(t + 0.5))!.value as number);
    }
    expect(new Set(scored)).toEqual(new Set([85]));
  });

  it("the alarm's why names the source scored and the others", () => {
    const e = new AlarmEngine();
    const rest = (t: number) => [numeric(MDC.RESP_RATE, 16, t), numeric(MDC.TEMP_BODY, 37, t), hr(80, t), numeric(MDC.PULS_OXIM_SAT_O2, 97, t)];
    for (const t of [0, 60, 120, 180]) e.ingestAll([...rest(t), numeric(MDC.PRESS_BLD_NONINV_SYS, 120, t)]);
    const ch = e.ingestAll([...rest(310), numeric(MDC.PRESS_BLD_ART_ABP_SYS, 85, 310, { unit: UNITS.MMHG })]);
    const raised = ch.find((x) => x.change === 'raised' && x.alarm.source === 'news2');
    expect(raised?.why).toContain('systolic 85=3 (mon-1 MDC_PRESS_BLD_ART_ABP_SYS; also 120 mon-1 MDC_PRESS_BLD_NONINV_SYS)');
  });

  it('a 1 Hz oximeter taken off the patient beside a live 1 Hz monitor counts until its reading is stale (SpO2 maxAgeS 300 s)', () => {
    const m = new News2Monitor();
    for (let t = 0; t <= 419; t++) {
      m.reading(spo2(96, t, 'mon-1'));
      if (t <= 120) m.reading(spo2(85, t, 'pox-1'));
    }
    expect(param(m, 'spo2', s(419.5))).toMatchObject({ value: 85, source: { deviceId: 'pox-1' } });
    for (let t = 420; t <= 430; t++) m.reading(spo2(96, t, 'mon-1'));
    expect(param(m, 'spo2', s(430.5))).toMatchObject({ value: 96, source: { deviceId: 'mon-1' } });
  });
});

describe('NEWS2: a worse current reading is never hidden by another source (reviews rv168, rv169)', () => {
  it('F1: a spot check re-taken to confirm it (two readings) keeps counting for maxAgeS beside a core probe', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.TEMP_BODY, 39.5, 0, { deviceId: 'thermo-1' }));
    for (let t = 0; t <= 3600; t += 10) {
      if (t === 60) m.reading(numeric(MDC.TEMP_BODY, 39.6, 60, { deviceId: 'thermo-1' }));
      m.reading(numeric(MDC.TEMP_BODY, 37, t, { deviceId: 'core-1' }));
    }
    expect(param(m, 'temperature', s(3600.5))).toMatchObject({ value: 39.6, score: 2, source: { deviceId: 'thermo-1' } });
  });

  it('F1: a portable oximeter read twice (88, then 87) beside a 1 Hz monitor at 96 keeps its 87 scored', () => {
    const m = new News2Monitor();
    m.reading(spo2(88, 0, 'pox-1'));
    for (let t = 0; t <= 280; t++) {
      if (t === 30) m.reading(spo2(87, 30, 'pox-1'));
      m.reading(spo2(96, t, 'mon-1'));
    }
    expect(param(m, 'spo2', s(280.5))).toMatchObject({ value: 87, score: 3, source: { deviceId: 'pox-1' } });
  });

  it('F2: a sender delivering 30 one-second readings every 30 s is not overdue between its deliveries', () => {
    const m = new News2Monitor();
    const scored = new Set<number>();
    for (let t = 0; t <= 600; t++) {
      m.reading(spo2(97, t, 'pox-1'));
      // Each batch: measured t-29 … t, received at t.
      if (t % 30 === 0 && t > 0) for (let k = 29; k >= 0; k--) m.reading(spo2(85, t, 'central-1'), s(t - k));
      if (t >= 30) scored.add(param(m, 'spo2', s(t + 0.5))!.value as number);
    }
    expect([...scored]).toEqual([85]);
  });

  it('F2: a 2-minute oximeter that sends one extra report between its periodic ones never drops out of the score', () => {
    const m = new News2Monitor();
    const scored = new Set<number>();
    for (let t = 0; t <= 1200; t++) {
      m.reading(spo2(97, t, 'mon-1'));
      if (t % 120 === 0) m.reading(spo2(85, t, 'pox-1'));
      if (t === 242) m.reading(spo2(84, t, 'pox-1'));
      if (t >= 120) scored.add(param(m, 'spo2', s(t + 0.5))!.value as number);
    }
    expect(scored.has(97)).toBe(false);
  });

  it('F3: two devices silent together (one hub): neither supersedes the other, the worse SpO2 stays scored until stale', () => {
    const m = new News2Monitor();
    for (let t = 0; t <= 120; t++) {
      m.reading(spo2(85, t, 'mon-1'));
      m.reading(spo2(97, t + 0.5, 'pox-1')); // the better one the newer, by half a second
    }
    for (const at of [128, 200, 400]) expect(param(m, 'spo2', s(at))).toMatchObject({ value: 85, score: 3, source: { deviceId: 'mon-1' } });
  });

  it('rv169 F2: an NIBP whose cycle goes from 5 to 60 min keeps its 88 scored beside an ABP 125 between its cycles', () => {
    const m = new News2Monitor();
    const sys = (v: number, t: number, refid: 'n' | 'a') =>
      numeric(refid === 'n' ? MDC.PRESS_BLD_NONINV_SYS : MDC.PRESS_BLD_ART_ABP_SYS, v, t, { unit: UNITS.MMHG });
    for (const t of [0, 300, 600, 900]) m.reading(sys(88, t, 'n'));
    for (let t = 900; t <= 4400; t += 10) m.reading(sys(125, t, 'a'));
    expect(param(m, 'systolic', s(4400.5))).toMatchObject({ value: 88, score: 3 });
  });

  it('rv169 F4: a shared outage of a paced monitor and an oximeter with irregular deliveries: the worse SpO2 stays scored until stale', () => {
    const m = new News2Monitor();
    for (let t = 0; t <= 120; t++) {
      m.reading(spo2(85, t, 'mon-1'));
      if (t % 7 === 0 || t % 11 === 0) m.reading(spo2(97, t + 0.4, 'pox-1'));
    }
    for (const at of [130, 300, 420]) expect(param(m, 'spo2', s(at))).toMatchObject({ value: 85, score: 3 });
  });
});
