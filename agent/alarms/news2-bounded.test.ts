// A value beyond the monitor's measuring range (HL7 SN `>^40`: questionable, reason sn-comparator:>) scores NEWS2 where
// the bound alone decides the band (review rv142 F1: it was dropped, the previous input made not current, and a HIGH
// bed scored MEDIUM, partial, "RR missing").
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import type { MdcCode, NumericReading, Quality } from '../model/reading.js';
import { mapMessage } from '../../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../../drivers/hl7/protocol/index.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG, News2Monitor, boundDecidesBand } from './news2.js';

const above: Quality = { state: 'questionable', reasons: ['sn-comparator:>'] };
const below: Quality = { state: 'questionable', reasons: ['sn-comparator:<'] };

/** The probe's bed (rv142 p2): SpO2 93 (2), HR 115 (2), NIBP 105 (1), temperature 38.5 (1), A, air; plus `rr`. */
function batch(t: number, rr: NumericReading): NumericReading[] {
  return [
    rr,
    numeric(MDC.PULS_OXIM_SAT_O2, 93, t),
    numeric(MDC.ECG_HEART_RATE, 115, t),
    numeric(MDC.PRESS_BLD_NONINV_SYS, 105, t),
    numeric(MDC.TEMP_BODY, 38.5, t),
  ];
}

function run(rr: (t: number) => NumericReading) {
  const e = new AlarmEngine();
  e.observe('bed-1', { consciousness: 'A', oxygen: 'air' }, s(0));
  for (let t = 0; t <= 30; t += 2) {
    e.ingestAll(batch(t, rr(t)));
    e.tick(s(t));
  }
  const score = e.news2('bed-1', s(30))!;
  const open = e.list({ bed: 'bed-1' }).filter((a) => a.source === 'news2');
  return { score, open };
}

describe('NEWS2 with a value beyond the measuring range (rv142 F1)', () => {
  it('RR >40 scores 3: the bed is 9, complete, and its HIGH level is raised', () => {
    const { score, open } = run((t) => numeric(MDC.RESP_RATE, 40, t, { quality: above }));
    expect(score).toMatchObject({ total: 9, partial: false, risk: 'high', missing: [], stale: [], bounded: ['respRate'] });
    expect(score.params.find((p) => p.param === 'respRate')).toMatchObject({ status: 'measured', value: 40, bound: '>', score: 3 });
    expect(open.map((a) => a.key)).toEqual(['news2:bed-1:high']);
    // The alarm says the RR scored is a bound, not a measured 40.
    expect(open[0]?.condition.text).toContain('beyond device range: respRate >40');
  });

  it('scores the same as a valid RR past the bound would', () => {
    const bounded = run((t) => numeric(MDC.RESP_RATE, 40, t, { quality: above }));
    const valid = run((t) => numeric(MDC.RESP_RATE, 45, t));
    expect(bounded.score.total).toBe(valid.score.total);
    expect(bounded.open.map((a) => a.key)).toEqual(valid.open.map((a) => a.key));
    // A valid value is not marked bounded.
    expect(valid.score.bounded).toEqual([]);
    expect(valid.score.params.find((p) => p.param === 'respRate')?.bound).toBeUndefined();
  });

  it('RR >20 does not decide the band (21–24 scores 2, 25+ scores 3): not current, as before', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.RESP_RATE, 18, 0));
    m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, 0));
    expect(m.score('bed-1', s(1))?.params.find((p) => p.param === 'respRate')).toMatchObject({ status: 'measured', value: 18 });
    expect(m.reading(numeric(MDC.RESP_RATE, 20, 2, { quality: above }))).toBe(true);
    const sc = m.score('bed-1', s(3))!;
    expect(sc.stale).toContain('respRate');
    expect(sc.partial).toBe(true);
    expect(sc.bounded).toEqual([]);
    expect(sc.params.find((p) => p.param === 'respRate')).toMatchObject({ status: 'stale', staleValue: 18 });
  });

  it('RR <8 scores 3 (the bottom band); RR <10 (9–11 scores 1, 8 or less 3) does not decide it', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.RESP_RATE, 8, 0, { quality: below }));
    expect(m.score('bed-1', s(1))?.params.find((p) => p.param === 'respRate')).toMatchObject({ status: 'measured', bound: '<', score: 3 });
    m.reading(numeric(MDC.RESP_RATE, 10, 2, { quality: below }));
    expect(m.score('bed-1', s(3))?.stale).toContain('respRate');
  });

  it('SpO2 <50 scores 3 on scale 1 and on scale 2', () => {
    for (const scale of [1, 2] as const) {
      const m = new News2Monitor({ ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, spo2Scale: scale } });
      m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 50, 0, { quality: below }));
      const sc = m.score('bed-1', s(1))!;
      expect(sc.params.find((p) => p.param === 'spo2'), `scale ${scale}`).toMatchObject({ status: 'measured', value: 50, bound: '<', score: 3 });
      expect(sc.bounded).toEqual(['spo2']);
    }
  });

  it('HR >300 scores 3, also through the engine as the bed\'s pulse', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.ECG_HEART_RATE, 300, 0, { quality: above }));
    expect(m.score('bed-1', s(1))?.params.find((p) => p.param === 'pulse')).toMatchObject({ status: 'measured', value: 300, bound: '>', score: 3 });
    const e = new AlarmEngine();
    e.ingest(numeric(MDC.ECG_HEART_RATE, 300, 0, { quality: above }));
    e.tick(s(0));
    expect(e.list({ bed: 'bed-1' }).filter((a) => a.source === 'news2').map((a) => a.key)).toEqual(['news2:bed-1:low-medium']);
  });

  it('a bound with another doubt (QUES) is not current, as any questionable value', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.RESP_RATE, 18, 0));
    m.reading(numeric(MDC.RESP_RATE, 40, 2, { quality: { state: 'questionable', reasons: ['sn-comparator:>', 'obx-8:QUES'] } }));
    expect(m.score('bed-1', s(3))?.stale).toContain('respRate');
  });

  it('SpO2 >96 decides the band on scale 1 (0) but not on scale 2, where on oxygen 96 scores 2 and 97 scores 3', () => {
    const scale1 = new News2Monitor();
    scale1.reading(numeric(MDC.PULS_OXIM_SAT_O2, 96, 0, { quality: above }));
    expect(scale1.score('bed-1', s(1))?.params.find((p) => p.param === 'spo2')).toMatchObject({ status: 'measured', bound: '>', score: 0 });
    const scale2 = new News2Monitor({ ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, spo2Scale: 2 } });
    scale2.reading(numeric(MDC.PULS_OXIM_SAT_O2, 96, 0, { quality: above }));
    expect(scale2.score('bed-1', s(1))?.params.find((p) => p.param === 'spo2')?.status).not.toBe('measured');
    // A config change to scale 2 after the bound was taken: no longer decided, so not scored.
    scale1.setConfig({ ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, spo2Scale: 2 } });
    expect(scale1.score('bed-1', s(2))?.stale).toContain('spo2');
  });

  it('boundDecidesBand agrees with the chart at every band edge', () => {
    const cases: [Parameters<typeof boundDecidesBand>[0], '>' | '<', number, 1 | 2, boolean][] = [
      ['respRate', '>', 25, 1, true], ['respRate', '>', 24, 1, false], ['respRate', '<', 8, 1, true], ['respRate', '<', 9, 1, false],
      ['spo2', '>', 96, 1, true], ['spo2', '>', 95, 1, false], ['spo2', '<', 91, 1, true], ['spo2', '<', 92, 1, false],
      ['spo2', '>', 97, 2, true], ['spo2', '>', 96, 2, false], ['spo2', '<', 83, 2, true], ['spo2', '<', 84, 2, false],
      ['systolic', '>', 220, 1, true], ['systolic', '>', 219, 1, false], ['systolic', '<', 90, 1, true], ['systolic', '<', 91, 1, false],
      ['pulse', '>', 131, 1, true], ['pulse', '>', 130, 1, false], ['pulse', '<', 40, 1, true], ['pulse', '<', 41, 1, false],
      ['temperature', '>', 39.1, 1, true], ['temperature', '>', 39.0, 1, false], ['temperature', '<', 35.0, 1, true], ['temperature', '<', 35.1, 1, false],
    ];
    for (const [p, b, v, scale, want] of cases) expect(boundDecidesBand(p, b, v, scale), `${p} ${b}${v} scale ${scale}`).toBe(want);
  });

  it('a temperature <35 in °F converts and scores the bottom band', () => {
    const m = new News2Monitor();
    const tb: MdcCode = MDC.TEMP_BODY;
    m.reading(numeric(tb, 95, 0, { quality: below, unit: { ucum: '[degF]' } })); // 35.0 °C
    expect(m.score('bed-1', s(1))?.params.find((p) => p.param === 'temperature')).toMatchObject({ status: 'measured', bound: '<', score: 3 });
  });

  it('RR SN >^40 over PCD-01 scores 3 (the quality the driver gives is the one taken)', () => {
    const m = parseMessage(
      `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE||UNICODE UTF-8\r` +
        `PID|||P1\rOBR|1|||x|||20240101120000+0000\r` +
        `OBX|1|SN|151562^MDC_RESP_RATE^MDC|1.1.1.1|>^40|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R\r`,
    );
    const r = mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 }).events.find((e): e is NumericReading => e.kind === 'numeric');
    expect(r).toMatchObject({ value: 40, quality: { state: 'questionable', reasons: ['sn-comparator:>'] } });
    const mon = new News2Monitor();
    expect(mon.reading({ ...r!, bed: 'bed-1' })).toBe(true);
    expect(mon.score('bed-1', 1000)?.params.find((p) => p.param === 'respRate')).toMatchObject({ status: 'measured', value: 40, bound: '>', score: 3 });
  });
});
