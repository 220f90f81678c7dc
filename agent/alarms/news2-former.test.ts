// NEWS2 and the ids devices give for a bed's patient (review rv80 M1): readings left out as the previous patient's are
// counted and told once per device, and a change of patient is not taken while another device of the bed still gives
// the current patient's id.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { Metrics } from '../metrics.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { AlarmService } from './service.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';

const P = (mdc: typeof MDC.RESP_RATE, v: number, t: number, patientId: string, deviceId = 'mon-1') => numeric(mdc, v, t, { patientId, deviceId });
const engine = () => new AlarmEngine({ technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 } });

describe('NEWS2 and the patient ids of a bed (review rv80 M1)', () => {
  it('a monitor that gives a visit number in 3 messages while the oximeter gives the MRN: no change of patient, SpO2 still scored, one alarm', () => {
    const e = engine();
    for (let i = 0; i < 20; i++) {
      const t = i * 10;
      const id = i >= 3 && i <= 5 ? 'VN-77' : 'MRN-1';
      e.ingest(P(MDC.RESP_RATE, 26, t, id));
      e.ingest(P(MDC.ECG_HEART_RATE, 135, t, id));
      e.ingest(P(MDC.PULS_OXIM_SAT_O2, 90, t + 1, 'MRN-1', 'ox-1'));
      e.tick(s(t + 2));
      if (i === 6) expect(e.news2('bed-1', s(t + 2))).toMatchObject({ total: 9, risk: 'high' });
    }
    expect(e.news2('bed-1', s(192))?.params.find((p) => p.param === 'spo2')).toMatchObject({ status: 'measured', value: 90 });
    expect(e.list().filter((a) => a.source === 'news2').map((a) => [a.key, a.patientId, a.conditionPresent])).toEqual([['news2:bed-1:high', 'MRN-1', true]]);
    expect(e.takeNews2().formerPatient).toEqual({ readings: 0, devices: [] });
  });

  it("readings left out as the previous patient's are counted, and each device told once", () => {
    const e = engine();
    e.ingest(P(MDC.RESP_RATE, 16, 0, 'P1'));
    e.ingest(P(MDC.PULS_OXIM_SAT_O2, 97, 0, 'P1', 'ox-1'));
    for (const t of [100, 105, 110]) e.ingest(P(MDC.RESP_RATE, 22, t, 'P2'));
    e.takeNews2();
    e.ingest(P(MDC.PULS_OXIM_SAT_O2, 94, 115, 'P1', 'ox-1'));
    e.ingest(P(MDC.PULS_OXIM_SAT_O2, 94, 116, 'P1', 'ox-1'));
    expect(e.takeNews2().formerPatient).toEqual({ readings: 2, devices: [{ bed: 'bed-1', deviceId: 'ox-1' }] });
    e.ingest(P(MDC.PULS_OXIM_SAT_O2, 94, 117, 'P1', 'ox-1'));
    expect(e.takeNews2().formerPatient).toEqual({ readings: 1, devices: [] });
  });

  it('the service counts them (news2_readings_former_patient_total) and logs once per device, without patient ids', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const service = new AlarmService(engine(), () => undefined, log, metrics, () => s(0));
    service.handle([P(MDC.RESP_RATE, 16, 0, 'P1'), P(MDC.PULS_OXIM_SAT_O2, 97, 0, 'P1', 'ox-1')]);
    for (const t of [100, 105, 110]) service.handle([P(MDC.RESP_RATE, 22, t, 'P2')]);
    for (const t of [115, 116, 117]) service.handle([P(MDC.PULS_OXIM_SAT_O2, 94, t, 'P1', 'ox-1')]);
    expect(metrics.get('news2_readings_former_patient_total')).toBe(3);
    const told = lines.filter((l) => String(l.msg).includes('previous patient'));
    expect(told).toEqual([expect.objectContaining({ bed: 'bed-1', deviceId: 'ox-1' })]);
    expect(JSON.stringify(told)).not.toMatch(/P1|P2/);
  });
});
