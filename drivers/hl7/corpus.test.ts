// Every sample in ../shared/corpus/hl7 through the parser; PCD samples through the mapper.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlarmEvent, DeviceStatusEvent, NumericReading, WaveformSegment } from '../../agent/model/reading.js';
import { mapMessage } from './pcd01.js';
import { Hl7ParseError, parseFrame, parseMessage, readHeader, str } from './protocol/index.js';

const DIR = join(import.meta.dirname, '../../../shared/corpus/hl7');
const HAVE = existsSync(DIR);
if (!HAVE) console.warn(`[hl7 corpus] ${DIR} not found: corpus tests skipped (the project runs without ../shared)`);
const read = (f: string): Buffer => readFileSync(join(DIR, f));

/** What each file must do: parse (kind, segment count or batch sizes) or fail with a precise reason. */
const EXPECT: Record<string, { kind: 'message'; segments: number; header?: string } | { kind: 'batch'; sizes: number[] } | { error: RegExp }> = {
  'draeger-ihe-pcd-acm_1.hl7': { kind: 'message', segments: 13, header: 'ORU^R40' },
  'draeger-ihe-pcd-acm_2.hl7': { kind: 'message', segments: 14, header: 'ORU^R40' },
  'draeger-ihe-pcd-acm_3.hl7': { kind: 'message', segments: 2, header: 'error:MSH-10' },
  'draeger-ihe-pcd-acm_4.hl7': { kind: 'message', segments: 3, header: 'error:MSH-11' },
  'fhir-converter_1.hl7': { kind: 'message', segments: 29, header: 'ORU^R01' },
  'hapi-hl7v2_1.hl7': { kind: 'message', segments: 7, header: 'ERP^Z99' },
  'hl7-standard_1.hl7': { kind: 'message', segments: 22, header: 'ADT^A01' },
  'hl7-standard_2.hl7': { kind: 'message', segments: 3, header: 'ACK^V01' },
  'hl7-standard_3.hl7': { kind: 'batch', sizes: [2] },
  'hl7v2-panates_1.hl7': { kind: 'message', segments: 13, header: 'ORU^R01' },
  'hl7v2-panates_2.hl7': { kind: 'message', segments: 2, header: 'ORU^R01' },
  'ihe-pcd-tf_1.hl7': { kind: 'message', segments: 21, header: 'ORU^R01' },
  'ihe-pcd-tf_2.hl7': { kind: 'message', segments: 11, header: 'ORU^R01' },
  'ihe-pcd-tf_3.hl7': { kind: 'message', segments: 7, header: 'RGV^O15' },
  'ihe-pcd-tf_4.hl7': { kind: 'message', segments: 2, header: 'ACK^O15' },
  'ihe-pcd-tf_5.hl7': { kind: 'message', segments: 6, header: 'RGV^O15' },
  'ihe-pcd-tf_6.hl7': { kind: 'message', segments: 2, header: 'ACK^O15' },
  'ihe-pcd-tf_7.hl7': { kind: 'message', segments: 3, header: 'RRG^O16' },
  'ihe-pcd-tf_8.hl7': { kind: 'message', segments: 9, header: 'ORU^R40' },
  'ihe-pcd-tf_9.hl7': { kind: 'message', segments: 9, header: 'ORU^R40' },
  'ihe-pcd-tf_10.hl7': { kind: 'message', segments: 9, header: 'ORU^R40' },
  'ihe-pcd-tf_11.hl7': { kind: 'message', segments: 8, header: 'ORU^R40' },
  'ihe-pcd-tf_12.hl7': { kind: 'message', segments: 8, header: 'ORU^R01' },
  'ihe-pcd-tf_13.hl7': { kind: 'message', segments: 2, header: 'ACK^A01' },
  'ihe-pcd-tf_14.hl7': { kind: 'message', segments: 27, header: 'ORU^R42' },
  'ipf_1.hl7': { kind: 'message', segments: 13, header: 'ORU^R01' },
  'ipf_2.hl7': { kind: 'message', segments: 28, header: 'ORU^R01' },
  'ipf_3.hl7': { kind: 'message', segments: 6, header: 'ORU^R01' },
  'ipf_4.hl7': { kind: 'message', segments: 14, header: 'ORU^R01' },
  'ipf_5.hl7': { kind: 'message', segments: 2, header: 'ACK^R01' },
  'ipf_6.hl7': { kind: 'message', segments: 2, header: 'ACK^R01' },
  'ipf_7.hl7': { kind: 'message', segments: 3, header: 'ACK^Q23' },
  'ipf_8.hl7': { kind: 'message', segments: 28, header: 'error:MSH-10' },
  'ipf_9.hl7': { kind: 'message', segments: 4, header: 'ORU^R01' },
  'node-hl7_1.hl7': { kind: 'message', segments: 2, header: 'ADT^A01' },
  'node-hl7_2.hl7': { kind: 'message', segments: 4, header: 'ADT^A08' },
  'node-hl7_3.hl7': { kind: 'message', segments: 2, header: 'ADT^A01' },
  'node-hl7_4.hl7': { kind: 'message', segments: 2, header: 'ADT^A01' },
  'python-hl7_1.hl7': { kind: 'message', segments: 5, header: 'ORU^R01' },
  'python-hl7_2.hl7': { kind: 'message', segments: 2, header: 'ORU^R01' },
  'python-hl7_3.hl7': { kind: 'message', segments: 9, header: 'ADT^A01' },
  'python-hl7_4.hl7': { kind: 'batch', sizes: [2, 1] },
  'python-hl7_5.hl7': { error: /segment 2 \(EVN\).*outside a message/ },
  'python-hl7_6.hl7': { kind: 'message', segments: 2, header: 'error:MSH-9' },
  'python-hl7_7.hl7': { kind: 'batch', sizes: [2] },
  'python-hl7_8.hl7': { error: /segment 5 \(FHS\).*only allowed as the first segment/ },
  'simple-hl7_1.hl7': { kind: 'message', segments: 4, header: 'ADT^A04' },
  'simple-hl7_2.hl7': { kind: 'message', segments: 60, header: 'ORU^R01' },
  'simple-hl7_3.hl7': { kind: 'message', segments: 9, header: 'ORU^R01' },
};

describe.skipIf(!HAVE)('HL7 corpus: every file through the parser', () => {
  const files = HAVE ? readdirSync(DIR).filter((f) => f.endsWith('.hl7')).sort() : [];
  it('has an expectation for every file', () => {
    expect(files.length).toBeGreaterThanOrEqual(49);
    expect(files.filter((f) => !(f in EXPECT))).toEqual([]);
  });
  for (const f of files) {
    it(f, () => {
      const exp = EXPECT[f];
      if (!exp) throw new Error(`no expectation for ${f}`);
      if ('error' in exp) {
        expect(() => parseFrame(read(f))).toThrow(Hl7ParseError);
        expect(() => parseFrame(read(f))).toThrow(exp.error);
        return;
      }
      const r = parseFrame(read(f));
      expect(r.kind).toBe(exp.kind);
      if (r.kind === 'batch' && exp.kind === 'batch') {
        expect(r.batch.batches.map((b) => b.messages.length)).toEqual(exp.sizes);
        return;
      }
      if (r.kind !== 'message' || exp.kind !== 'message') return;
      expect(r.message.segments.length).toBe(exp.segments);
      if (exp.header?.startsWith('error:')) {
        const field = exp.header.slice(6);
        try {
          readHeader(r.message);
          throw new Error('expected header error');
        } catch (e) {
          expect(e).toBeInstanceOf(Hl7ParseError);
          const err = e as Hl7ParseError;
          expect(`MSH-${err.position.field}`).toBe(field);
          expect(err.code).toBe(101);
        }
      } else if (exp.header) {
        const h = readHeader(r.message);
        expect(`${h.messageCode}^${h.triggerEvent}`).toBe(exp.header);
      }
    });
  }
});

describe.skipIf(!HAVE)('HL7 corpus: parser details from real files', () => {
  it('keeps the LF inside PID-14 as data and flags it (hl7v2-panates_2)', () => {
    const m = parseMessage(read('hl7v2-panates_2.hl7'));
    expect(m.segments.map((s) => s.id)).toEqual(['MSH', 'PID']);
    expect(str(m.segments[1]!, 14)).toBe('555-666\nx');
    expect(m.warnings.map((w) => w.kind)).toContain('lf-in-field');
  });
  it('decodes all five delimiter escapes (node-hl7_1)', () => {
    expect(str(parseMessage(read('node-hl7_1.hl7')).segments[1]!, 3)).toBe('A|B^C~D&E\\F');
  });
  it('decodes hex escapes (node-hl7_3)', () => {
    expect(str(parseMessage(read('node-hl7_3.hl7')).segments[1]!, 3)).toBe('Hi');
  });
  it('drops \\H\\ \\N\\ and keeps \\C\\ \\M\\ \\Z\\ verbatim with warnings (node-hl7_4)', () => {
    const m = parseMessage(read('node-hl7_4.hl7'));
    expect(str(m.segments[1]!, 3)).toBe('A\\C\\BC\\M\\DE\\Z\\');
    expect(m.warnings.filter((w) => w.kind === 'escape-kept')).toHaveLength(3);
  });
  it('decodes \\S\\ and \\T\\ in MSA-3 (ipf_7)', () => {
    expect(str(parseMessage(read('ipf_7.hl7')).segments[1]!, 3)).toBe('Unable to resolve requested domains in QPD-4: ^^^NONEXISTING, ^^^&1.2.3.4&ISO');
  });
  it('reads non-standard delimiters $ and % (python-hl7_6)', () => {
    const m = parseMessage(read('python-hl7_6.hl7'));
    expect(m.delimiters.field).toBe('$');
    expect(m.delimiters.component).toBe('%');
    expect(str(m.segments[1]!, 5, 2)).toBe('EVE');
  });
  it('reads the v2.7 truncation character (draeger-ihe-pcd-acm_3)', () => {
    expect(parseMessage(read('draeger-ihe-pcd-acm_3.hl7')).delimiters.truncation).toBe('#');
  });
  it('tells "" null from empty (python-hl7_3 PV1-9 is "", PV1-10 is NUR, PV1-11 empty)', () => {
    const pv1 = parseMessage(read('python-hl7_3.hl7')).segments[2]!;
    expect(pv1.fields[9]![0]![0]![0]).toBeNull();
    expect(str(pv1, 10)).toBe('NUR');
    expect(pv1.fields[11]![0]![0]![0]).toBe('');
  });
  it('does not split on "MSH" inside values (hl7-standard_3)', () => {
    const r = parseFrame(read('hl7-standard_3.hl7'));
    if (r.kind !== 'batch') throw new Error('batch expected');
    const second = r.batch.batches[0]!.messages[1]!;
    expect(second.segments.filter((s) => s.id === 'OBX').map((s) => str(s, 4))).toEqual(['xMSHx', 'xMSH', 'MSH']);
  });
  it('decodes MSH-18 UNICODE UTF-8 and 8859/1 messages', () => {
    expect(parseMessage(read('ihe-pcd-tf_2.hl7')).charset).toBe('UNICODE UTF-8');
    expect(parseMessage(read('hapi-hl7v2_1.hl7')).charset).toBe('8859/1');
  });
});

const map = (f: string) => {
  const m = parseMessage(read(f));
  return mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: 1_700_000_000_000 });
};
const numerics = (f: string) => map(f).events.filter((e): e is NumericReading => e.kind === 'numeric');

describe.skipIf(!HAVE)('PCD-01 mapping on corpus samples', () => {
  it('ihe-pcd-tf_1 (Philips): NBP, HR, SpO2 with units, device, bed, patient, times', () => {
    const r = numerics('ihe-pcd-tf_1.hl7');
    expect(r).toHaveLength(10); // 17 OBX minus 7 MDS/VMD/CHAN header rows
    const sys = r.find((x) => x.mdc?.refid === 'MDC_PRESS_BLD_NONINV_SYS')!;
    expect(sys.value).toBe(117);
    expect(sys.unit).toEqual({ ucum: 'mm[Hg]', mdc: { code: 266016, refid: 'MDC_DIM_MMHG' } });
    expect(sys.deviceId).toBe('e86c094f-f751-4acf-92b2-38f11c1f6f57-Device');
    expect(sys.bed).toBe('HO Surgery/OR/1');
    expect(sys.patientId).toBe('HO2009001');
    // OBX-14 20150122115000 has no offset; MSH-7 says +0000.
    expect(sys.deviceTime).toBe(Date.UTC(2015, 0, 22, 11, 50, 0));
    expect((sys as NumericReading & { context: { containment: string; referenceRange: string } }).context).toMatchObject({ containment: '1.1.1.5', referenceRange: '90-160' });
    // The example marks values X ("cannot obtain") yet sends them: kept, flagged questionable.
    expect(sys.quality).toEqual({ state: 'questionable', reasons: ['hl7-status:X-with-value'] });
    const hr = r.find((x) => x.mdc?.code === 147842)!;
    expect(hr.value).toBe(80);
    expect(hr.unit.ucum).toBe('/min');
    expect(hr.deviceTime).toBe(Date.UTC(2015, 0, 22, 18, 26, 56)); // falls back to OBR-7
    const qt = r.find((x) => x.raw?.code === '147232')!;
    // An MDC term outside the agent's table keeps the sender's code and refid, and its raw code (review rv114 M2).
    expect(qt).toMatchObject({ mdc: { code: 147232, refid: 'MDC_ECG_TIME_PD_QT_GL' }, raw: { system: 'MDC', code: '147232', text: 'MDC_ECG_TIME_PD_QT_GL' }, value: 360, unit: { ucum: 'ms' } });
    const rhythm = r.find((x) => x.raw?.text === 'MDC_ECG_STAT_RHY')!;
    expect(rhythm.value).toBe('MDC_ECG_SINUS_RHY'); // a coded value under a term the agent does not name stays text
    expect(r.find((x) => x.mdc?.code === 150456)).toMatchObject({ value: 99, unit: { ucum: '%' } });
  });

  it('ihe-pcd-tf_2 (gateway, UCUM units, OBX-18 device, +0000 times)', () => {
    const r = numerics('ihe-pcd-tf_2.hl7');
    expect(r.map((x) => x.value)).toEqual([111, 60, 80, 63]);
    expect(r[0]!.unit.ucum).toBe('mm[Hg]');
    expect(r[3]!.unit.ucum).toBe('/min'); // sent as {beat}/min: the same unit, spelt as the agent spells it (rv125 M2)
    expect(r[3]!.raw).toEqual({ system: 'MDC', code: '149546', text: 'MDC_PULS_RATE_NON_INV' });
    expect(r[0]!.deviceId).toBe('080019FFFE3ED02D172.16.172.135');
    expect(r[0]!.bed).toBe('COLWELL//SOLAR'); // PV1-3 COLWELL^^SOLAR: no room, bed SOLAR
    expect(r[0]!.deviceTime).toBe(Date.UTC(2011, 5, 2, 4, 58, 42));
    expect(r.every((x) => x.quality.state === 'valid')).toBe(true);
  });

  it('ihe-pcd-tf_12: OBX-11 shifted into OBX-10 is read and flagged; +0500 offset applied', () => {
    const r = numerics('ihe-pcd-tf_12.hl7');
    expect(r.map((x) => [x.mdc?.refid, x.value])).toEqual([
      ['MDC_PRESS_BLD_NONINV_SYS', 120],
      ['MDC_PRESS_BLD_NONINV_DIA', 80],
      ['MDC_PRESS_BLD_NONINV_MEAN', 100],
    ]);
    expect(r[0]!.quality).toEqual({ state: 'valid', reasons: ['obx-11-in-obx-10'] });
    expect(r[0]!.deviceId).toBe('0123456789ABCDEF');
    expect(r[0]!.deviceTime).toBe(Date.UTC(2009, 7, 13, 4, 57, 15)); // 09:57:15+0500
  });

  it('ipf_3: NA pleth waveform with its samples; no sample-rate facet → questionable', () => {
    const ev = map('ipf_3.hl7').events;
    const w = ev.find((e): e is WaveformSegment => e.kind === 'waveform')!;
    expect(w.mdc).toEqual({ code: 150452, refid: 'MDC_PULS_OXIM_PLETH' });
    expect(w.samples).toEqual([12, 123, 24, 12, 234, 55, 66, 77, 88, 99]);
    expect(w.sampleRateHz).toBe(0);
    expect(w.quality).toEqual({ state: 'questionable', reasons: ['sample-rate-unknown'] });
    expect(w.startTime).toBe(Date.UTC(2009, 6, 15, 7, 7, 7));
    expect(ev.find((e) => e.kind === 'numeric')).toMatchObject({ value: 80.5, unit: { ucum: '%' } });
  });

  it('ipf_2: status C/D/P/S/U/X map to quality; two OBR groups', () => {
    const r = numerics('ipf_2.hl7');
    const byStatus = Object.fromEntries(r.map((x) => [(x as NumericReading & { context: { resultStatus: string } }).context.resultStatus, x.quality.state]));
    expect(byStatus).toMatchObject({ D: 'invalid', F: 'valid', S: 'questionable', U: 'valid', X: 'questionable' });
    // The first group's rows also carry OBX-8 measurement status (TEST, QUES, EARLY~QUES): it lowers quality further.
    const first = r.slice(0, 4).map((x) => x.quality);
    expect(first).toEqual([
      { state: 'invalid', reasons: ['obx-8:TEST'] }, // status R
      { state: 'questionable', reasons: ['obx-8:QUES'] }, // status C
      { state: 'invalid', reasons: ['hl7-status:D', 'obx-8:EARLY', 'obx-8:QUES'] },
      { state: 'valid' },
    ]);
    expect((r[1] as NumericReading & { context: { observationMethod: string[] } }).context.observationMethod).toEqual(['AMEAS', 'MMEAS']);
    // Unknown code 1500212 is kept raw, not guessed from its text.
    expect(r.find((x) => x.raw?.code === '1500212')?.mdc).toBeNull();
  });

  it('ihe-pcd-tf_14 (IPEC R42): code 0 resolved by refid where known, units from MDC^UCUM pairs', () => {
    const r = numerics('ihe-pcd-tf_14.hl7');
    const rate = r.find((x) => x.raw?.text === 'MDC_FLOW_FLUID_PUMP_CURRENT')!;
    expect(rate.value).toBe(15.4);
    expect(rate.unit).toEqual({ ucum: 'mL/h', mdc: { code: 265266, refid: 'MDC_DIM_MILLI_L_PER_HR' } });
    expect(r.find((x) => x.raw?.text === 'MDC_PUMP_INFUSING_STATUS')?.value).toBe('pump-status-infusing');
  });

  it('routes several PID/PV1 groups separately', () => {
    const base = read('ihe-pcd-tf_2.hl7').toString('latin1');
    const second = base
      .split('\r')
      .slice(1)
      .join('\r')
      .replace('12345^^^A^MR', '67890^^^A^MR')
      .replace('COLWELL^^SOLAR', 'WARD2^^BED7');
    const m = parseMessage(base + second);
    const ev = mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 }).events as NumericReading[];
    expect(ev).toHaveLength(8);
    expect(ev.slice(0, 4).every((e) => e.patientId === '12345' && e.bed === 'COLWELL//SOLAR')).toBe(true);
    expect(ev.slice(4).every((e) => e.patientId === '67890' && e.bed === 'WARD2//BED7')).toBe(true);
  });

  it('refuses message types it does not map (ADT → 200, ORU^R30-like → 201)', () => {
    const m = parseMessage(read('hl7-standard_1.hl7'));
    expect(() => mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 })).toThrow(/not accepted/);
  });
});

describe.skipIf(!HAVE)('PCD-04 mapping on corpus samples', () => {
  const alarm = (f: string) => map(f).events[0] as AlarmEvent & { context: Record<string, unknown> };

  it('ihe-pcd-tf_8 (Mindray): Low SpO2, PM, physiological, start, source metric 88 %', () => {
    const a = alarm('ihe-pcd-tf_8.hl7');
    expect(a).toMatchObject({
      kind: 'alarm',
      alarmId: '1^MINDRAY_EGATEWAY^00A037EB2175780F^EUI64', // all of OBR-3's EI (review rv161 F2)
      condition: null,
      raw: { system: 'MDC', code: '196670', text: 'MDC_EVT_LO' },
      text: 'Low SpO2',
      priority: 'medium',
      category: 'physiological',
      phase: 'start',
      sourceMetric: { code: 150456, refid: 'MDC_PULS_OXIM_SAT_O2' },
      value: 88,
      unit: { ucum: '%' },
      deviceId: 'F1519EFX',
      bed: 'HO Surgery/OR/1',
    });
    expect(a.deviceTime).toBe(Date.UTC(2012, 0, 11, 21, 4, 57)); // 15:04:57-0600
    expect(a.context).toMatchObject({ abnormalFlags: ['L'], alarmState: 'active', inactivationState: 'enabled', alertType: 'SP' });
  });

  it('ihe-pcd-tf_9/_10 (B. Braun): occlusion start then end share one alarm id', () => {
    const start = alarm('ihe-pcd-tf_9.hl7');
    const end = alarm('ihe-pcd-tf_10.hl7');
    expect(start).toMatchObject({ phase: 'start', text: 'Occlusion', category: 'technical', raw: { code: '196940', text: 'MDC_EVT_FLUID_LINE_OCCL' }, deviceId: '0012210000000000' });
    expect(end).toMatchObject({ phase: 'end', text: 'Occlusion' });
    expect(end.context.alarmState).toBe('inactive');
    expect(start.alarmId).toBe('P6013_4^PAT_DEVICE_BBRAUN^0012211839000001^EUI-64'); // all of OBR-3's EI (review rv161 F2)
    expect(end.alarmId).toBe(start.alarmId);
    expect(end.deviceTime! - start.deviceTime!).toBe(9000);
  });

  it('draeger-ihe-pcd-acm_1: explicit priority/type facets (PL, SP)', () => {
    const a = alarm('draeger-ihe-pcd-acm_1.hl7');
    expect(a).toMatchObject({ priority: 'low', text: 'CO2 Sensor unplugged', raw: { code: '196916' }, deviceId: 'urn:uuid:f9bd67ba-10f9-11ea-bab1-0050b612afeb', bed: 'CU1//Bed001', patientId: '8888' });
    expect(a.deviceTime).toBe(Date.UTC(2019, 10, 27, 15, 5, 43));
  });

  it('draeger-ihe-pcd-acm_2: watchdog becomes a device-status event, not an alarm', () => {
    const ev = map('draeger-ihe-pcd-acm_2.hl7').events;
    expect(ev).toHaveLength(1);
    expect((ev[0] as DeviceStatusEvent).kind).toBe('device-status');
    expect((ev[0] as DeviceStatusEvent).state).toBe('online');
    // A keep-alive (counts as data for the feed's silence), stamped with the gateway's time, not the device's
    // (2019 in this sample): a device clock running ahead would otherwise postpone the "no data" alarm.
    expect(ev[0]).toMatchObject({ alive: true, at: 1_700_000_000_000 });
  });

  it('ihe-pcd-tf_11: advisory (SA~PM) with trailing-space codes still finds its facets', () => {
    const a = alarm('ihe-pcd-tf_11.hl7');
    expect(a).toMatchObject({ priority: 'medium', category: 'technical', phase: 'start', text: 'Timeout not documented' });
    expect(a.context.alertType).toBe('SA');
  });
});
