// NEWS2 inputs and alarm text (review rv107): the alarm's text says its score is the one at raise (M2), core
// temperatures feed NEWS2 and other temperature terms are counted and told (L1), a value halfway between two chart
// integers scores the more severe band and an implausible body temperature is refused, counted and told (L2).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import type { MdcCode, NumericReading } from '../model/reading.js';
import { mapMessage } from '../../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../../drivers/hl7/protocol/index.js';
import { Metrics } from '../metrics.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { News2Monitor, scorePulse, scoreRespRate, scoreSpO2Scale1, scoreSpO2Scale2, scoreSystolic, scoreTemperature } from './news2.js';
import { AlarmService } from './service.js';

// IntelliVue temperature terms (drivers/intellivue/codes.ts), context-free: partition 2 × 65536 + term.
const T = (refid: string, term: number): MdcCode => ({ code: 2 * 65536 + term, refid });
const TCORE = T('MDC_TEMP_CORE', 19296);
const TESOPH = T('MDC_TEMP_ESOPH', 19300);
const TNASO = T('MDC_TEMP_NASOPH', 19308);
const TSKIN = T('MDC_TEMP_SKIN', 19316);
const CEL = { unit: { ucum: 'Cel' } };

const temperature = (m: News2Monitor, at: number) => m.score('bed-1', at)?.params.find((p) => p.param === 'temperature');

describe('NEWS2 alarm text while a level persists (rv107 M2)', () => {
  it("says the score is the one at raise: the engine keeps an alarm's text and value as raised", () => {
    const e = new AlarmEngine();
    const feed = (t: number, sys: number) => {
      e.ingest(numeric(MDC.RESP_RATE, 22, t));
      e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 94, t));
      e.ingest(numeric(MDC.PRESS_BLD_NONINV_SYS, sys, t));
      e.ingest(numeric(MDC.ECG_HEART_RATE, 95, t));
    };
    feed(0, 105); // 2+1+1+1 = 5, partial (no temperature)
    e.tick(s(0));
    feed(10, 100); // 6: still medium
    e.tick(s(10));
    const [a] = e.list({ bed: 'bed-1' }).filter((x) => x.source === 'news2');
    expect(a?.condition.text).toBe('NEWS2 5-6 (medium risk): score at raise 5 (partial) (assumed: oxygen, consciousness)');
    expect(a?.value).toBe(5);
    expect(e.news2('bed-1', s(10))?.total).toBe(6); // the current score: the bed tile's
  });
});

describe('NEWS2 temperature terms (rv107 L1)', () => {
  it('core temperatures (Tcore, Tesoph, Tnaso) feed NEWS2 temperature', () => {
    for (const mdc of [TCORE, TESOPH, TNASO]) {
      const m = new News2Monitor();
      expect(m.reading(numeric(mdc, 39.6, 0, CEL)), mdc.refid).toBe(true);
      expect(temperature(m, s(0))).toMatchObject({ status: 'measured', value: 39.6, score: 2 });
      expect(m.take().temperatureNotUsed).toBeUndefined();
    }
  });

  it('a skin temperature is not a NEWS2 input: counted, and told once per device and term', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.RESP_RATE, 16, 0));
    for (const t of [0, 1, 2]) expect(m.reading(numeric(TSKIN, 33, t, CEL))).toBe(false);
    m.reading(numeric(TSKIN, 33, 3, { ...CEL, deviceId: 'mon-2' }));
    m.reading(numeric(TSKIN, null, 4, { ...CEL, quality: { state: 'unavailable' } })); // no value: not counted
    expect(temperature(m, s(3))).toMatchObject({ status: 'missing' });
    expect(m.take().temperatureNotUsed).toEqual({
      readings: 4,
      terms: [
        { deviceId: 'mon-1', bed: 'bed-1', refid: 'MDC_TEMP_SKIN' },
        { deviceId: 'mon-2', bed: 'bed-1', refid: 'MDC_TEMP_SKIN' },
      ],
    });
    m.reading(numeric(TSKIN, 33, 5, CEL));
    expect(m.take().temperatureNotUsed).toEqual({ readings: 1, terms: [] });
  });

  it('the service counts it and logs it once', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => s(0));
    for (let i = 0; i < 3; i++) service.handle([numeric(TSKIN, 33, i, CEL)]);
    expect(metrics.get('news2_temperature_not_used_total')).toBe(3);
    expect(lines.filter((l) => String(l.msg).startsWith('NEWS2')).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^NEWS2 does not use MDC_TEMP_SKIN from mon-1 on bed bed-1 as temperature/),
    ]);
  });
});

describe('NEWS2 fractional values and implausible temperatures (rv107 L2)', () => {
  it('a value halfway between two chart integers scores the more severe band, on either side', () => {
    expect([scoreSpO2Scale1(91.5), scoreSystolic(90.5), scorePulse(40.5), scoreRespRate(8.5)]).toEqual([3, 3, 3, 3]);
    expect([scoreRespRate(11.5), scoreRespRate(20.5), scorePulse(50.5), scorePulse(90.5), scorePulse(130.5), scoreSystolic(219.5)]).toEqual([1, 2, 1, 1, 3, 3]);
    expect([scoreSpO2Scale2(92.5, 'oxygen'), scoreSpO2Scale2(92.5, 'air'), scoreSpO2Scale2(83.5, 'air')]).toEqual([1, 0, 3]);
    expect([scoreTemperature(35.05), scoreTemperature(36.05), scoreTemperature(38.05), scoreTemperature(39.05)]).toEqual([3, 1, 1, 2]);
    // Not halfway: rounded to the nearest, as before.
    expect([scoreSpO2Scale1(91.4), scoreSpO2Scale1(91.6), scorePulse(40.4), scorePulse(40.6), scoreTemperature(35.04), scoreTemperature(35.06)]).toEqual([3, 2, 3, 1, 3, 1]);
  });

  it('a body temperature outside 25–45 °C (98.6 sent without a unit) is refused, counted and told once per device', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.RESP_RATE, 16, 0));
    expect(m.reading(numeric(MDC.TEMP_BODY, 98.6, 0, { unit: { ucum: '' } }))).toBe(false);
    expect(m.reading(numeric(MDC.TEMP_BODY, 98.6, 1, { unit: { ucum: '' } }))).toBe(false);
    expect(m.reading(numeric(MDC.TEMP_BODY, 24.9, 2))).toBe(false);
    expect(temperature(m, s(2))).toMatchObject({ status: 'missing' });
    expect(m.take().implausible).toEqual({
      counts: { temperature: 3 },
      devices: [{ deviceId: 'mon-1', bed: 'bed-1', param: 'temperature', value: 98.6, unit: '', range: '25–45 Cel' }],
    });
    // The edges, and °F with its unit, are taken.
    for (const [v, unit, want] of [[25, 'Cel', 25], [45, 'Cel', 45], [98.6, '[degF]', 37]] as const) {
      expect(m.reading(numeric(MDC.TEMP_BODY, v, 10, { unit: { ucum: unit } }))).toBe(true);
      expect(temperature(m, s(10))?.value).toBeCloseTo(want, 6);
    }
    expect(m.take().implausible).toBeUndefined();
  });

  it('the service counts it per parameter and logs it once per device', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => s(0));
    for (let i = 0; i < 3; i++) service.handle([numeric(MDC.TEMP_BODY, 98.6, i, { unit: { ucum: '' } })]);
    expect(metrics.get('news2_implausible_total', { param: 'temperature' })).toBe(3);
    expect(lines.filter((l) => String(l.msg).startsWith('NEWS2')).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^NEWS2 refuses temperature 98.6 "" from mon-1 on bed bed-1: outside 25–45 Cel/),
    ]);
  });
});

describe('an implausible temperature makes the same source\'s previous one not current (rv109 H2)', () => {
  it('37.0 then 24.0 Cel (valid) from the same source: refused, counted once, and the 37.0 is no longer scored', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.RESP_RATE, 16, 0));
    expect(m.reading(numeric(MDC.TEMP_BODY, 37, 0))).toBe(true);
    expect(m.reading(numeric(MDC.TEMP_BODY, 24, 60))).toBe(true); // it changed an input: made it not current
    expect(temperature(m, s(60))).toMatchObject({ status: 'stale', staleValue: 37 });
    expect(m.score('bed-1', s(60))).toMatchObject({ partial: true, stale: ['temperature'] });
    expect(m.take().implausible).toEqual({ counts: { temperature: 1 }, devices: [{ deviceId: 'mon-1', bed: 'bed-1', param: 'temperature', value: 24, unit: 'Cel', range: '25–45 Cel' }] });
    // The next plausible reading is current again.
    expect(m.reading(numeric(MDC.TEMP_BODY, 36.8, 120))).toBe(true);
    expect(temperature(m, s(120))).toMatchObject({ status: 'measured', value: 36.8 });
  });

  it('a device that switched to °F without a unit does not keep its last °C value scored for 4 h', () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.TEMP_BODY, 39.5, 0));
    for (let t = 600; t <= 14_000; t += 600) m.reading(numeric(MDC.TEMP_BODY, 98.6, t));
    expect(temperature(m, s(14_000))).toMatchObject({ status: 'stale', staleValue: 39.5 });
    expect(m.take().implausible?.counts).toEqual({ temperature: 23 });
  });

  it("another device's implausible temperature leaves this one's alone", () => {
    const m = new News2Monitor();
    m.reading(numeric(MDC.TEMP_BODY, 37, 0));
    expect(m.reading(numeric(MDC.TEMP_BODY, 98.6, 10, { deviceId: 'therm-2' }))).toBe(false);
    expect(temperature(m, s(10))).toMatchObject({ status: 'measured', value: 37 });
  });
});

describe('tympanic, ear, oral, axillary and rectal temperatures feed NEWS2 (rv109 M3)', () => {
  // IEEE 11073-10101 partition 2 (SCADA) terms.
  const sites = [T('MDC_TEMP_TYMP', 19320), T('MDC_TEMP_RECT', 57348), T('MDC_TEMP_ORAL', 57352), T('MDC_TEMP_EAR', 57356), T('MDC_TEMP_AXILLA', 57380)];
  it('each is NEWS2 temperature, not counted as not used', () => {
    for (const mdc of sites) {
      const m = new News2Monitor();
      expect(m.reading(numeric(mdc, 39.8, 0, CEL)), mdc.refid).toBe(true);
      expect(temperature(m, s(0)), mdc.refid).toMatchObject({ status: 'measured', value: 39.8, score: 2 });
      expect(m.take().temperatureNotUsed, mdc.refid).toBeUndefined();
    }
  });

  it('blood temperatures stay not used, and the log says the site is not one NEWS2 uses', () => {
    const m = new News2Monitor();
    m.reading(numeric(T('MDC_TEMP_ART', 19280), 37, 0, CEL));
    expect(m.take().temperatureNotUsed).toEqual({ readings: 1, terms: [{ deviceId: 'mon-1', bed: 'bed-1', refid: 'MDC_TEMP_ART' }] });
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, new Metrics(), () => s(0));
    service.handle([numeric(TSKIN, 33, 0, CEL)]);
    const msg = String(lines.find((l) => String(l.msg).startsWith('NEWS2'))?.msg);
    expect(msg).toMatch(/^NEWS2 does not use MDC_TEMP_SKIN from mon-1 on bed bed-1 as temperature: not a measurement site NEWS2 uses/);
    expect(msg).not.toContain('not a body temperature');
  });
});

describe('a non-finite value scores the most severe band (rv109 L1)', () => {
  it('NaN and ±Infinity score 3 on every chart', () => {
    for (const x of [NaN, Infinity, -Infinity]) {
      expect([scoreRespRate(x), scoreSpO2Scale1(x), scoreSpO2Scale2(x, 'air'), scoreSpO2Scale2(x, 'oxygen'), scoreSystolic(x), scorePulse(x), scoreTemperature(x)], String(x)).toEqual([3, 3, 3, 3, 3, 3, 3]);
    }
  });
});

describe('temperature sites sent over HL7 reach the NEWS2 score (rv111 M1)', () => {
  // Through the real mapping: drivers/hl7 resolves OBX-3 only for terms agent/model/mdc.ts knows; a site missing there
  // arrived with mdc null and never reached NEWS2 (tests above build the MdcCode by hand, so could not see it).
  const oru = (obx3: string) =>
    `MSH|^~\\&|THERM^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE||UNICODE UTF-8\r` +
    `PID|||P1\rOBR|1|||x|||20240101120000+0000\r` +
    `OBX|1|NM|${obx3}|1.1.1.1|39.8|268192^MDC_DIM_DEGC^MDC|||||R\r`;
  const sites = ['150368^MDC_TEMP_CORE', '150372^MDC_TEMP_ESOPH', '150380^MDC_TEMP_NASOPH', '150392^MDC_TEMP_TYMP', '188428^MDC_TEMP_EAR', '188424^MDC_TEMP_ORAL', '188452^MDC_TEMP_AXILLA', '188420^MDC_TEMP_RECT'];
  it.each(sites)('%s over PCD-01 scores NEWS2 temperature', (site) => {
    const m = parseMessage(oru(`${site}^MDC`));
    const r = mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 }).events.find((e): e is NumericReading => e.kind === 'numeric');
    expect(r?.mdc?.refid).toBe(site.split('^')[1]);
    const mon = new News2Monitor();
    expect(mon.reading({ ...r!, bed: 'bed-1' })).toBe(true);
    expect(temperature(mon, 1000)).toMatchObject({ status: 'measured', value: 39.8, score: 2 });
    expect(mon.take().temperatureNotUsed).toBeUndefined();
  });
});
