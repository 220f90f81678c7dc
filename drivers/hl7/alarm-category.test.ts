// PCD-04 alarm category when the sender gives no alert type (OBX-8 SP/ST/SA, MDC_ATTR_ALERT_TYPE) and no metric row:
// taken from the event code when the agent knows it (review rv153), else technical as before.
import { describe, expect, it } from 'vitest';
import type { AlarmEvent } from '../../agent/model/reading.js';
import { AlarmEngine } from '../../agent/alarms/engine.js';
import { modelAlarmType } from '../../agent/inference/triggers.js';
import { mapMessage, type Notice } from './pcd01.js';
import { parseMessage, readHeader } from './protocol/index.js';

const HEAD =
  'MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R40^ORU_R40|C1|P|2.6|||AL|NE||UNICODE UTF-8\r' +
  'PID|||P1\rOBR|1||ALM-1^GW|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r';
const obx = (fields: string[]): string => `OBX|${fields.join('|')}\r`;
/** One event row: OBX-3 code, OBX-5 text, OBX-8 flags; OBX-2 as given (ST unless said). */
const event = (code: string, text: string, flags: string, type = 'ST'): string => obx(['1', type, code, '1.1.1.1.1', text, '', '', flags, '', '', 'F']);
const run = (rows: string) => {
  const m = parseMessage(HEAD + rows);
  const r = mapMessage(m, readHeader(m), { source: 's', receivedAt: 0 });
  return { alarm: r.events.find((e): e is AlarmEvent => e.kind === 'alarm')!, notices: r.notices };
};
const guessed = (notices: Notice[]) => notices.filter((n) => n.counter === 'alarm_type_from_code');

describe('PCD-04 alarm category without an alert type', () => {
  it('an arrhythmia event (MDC_EVT_ECG_V_TACHY) with no OBX-8 type and no metric row is physiological, noticed once per sender', () => {
    const { alarm, notices } = run(event('199832^MDC_EVT_ECG_V_TACHY^MDC', 'VTach', 'PH'));
    expect(alarm.category).toBe('physiological');
    expect(guessed(notices)).toEqual([expect.objectContaining({ by: 1, oncePerSender: true })]);
    expect(guessed(notices)[0]!.text).toMatch(/MDC_EVT_ECG_V_TACHY.*physiological/);
  });

  it('the arrhythmias are known by number alone, by refid alone, and as the value of a generic MDC_EVT_ALARM row', () => {
    expect(run(event('199832^VTACH^MDC', 'VTach', 'PH')).alarm.category).toBe('physiological');
    expect(run(event('199684', 'Asystole', 'PH')).alarm.category).toBe('physiological');
    expect(run(event('^MDC_EVT_ECG_V_FIB^MDC', 'VFib', 'PH')).alarm.category).toBe('physiological');
    expect(run(event('196616^MDC_EVT_ALARM^MDC', '199694^MDC_EVT_ECG_BRADY_EXTREME^MDC', 'PH', 'CWE')).alarm.category).toBe('physiological');
    expect(run(event('196616^MDC_EVT_ALARM^MDC', '199730^MDC_EVT_ECG_TACHY_EXTREME^MDC', 'PH', 'CWE')).alarm.category).toBe('physiological');
  });

  it('every refid the edge model judges is physiological here, so that the model sees these alarms', () => {
    for (const refid of ['MDC_EVT_ECG_ASYSTOLE', 'MDC_EVT_ECG_BRADY_EXTREME', 'MDC_EVT_ECG_TACHY_EXTREME', 'MDC_EVT_ECG_V_TACHY', 'MDC_EVT_ECG_V_FIB', 'MDC_EVT_ECG_V_FIB_TACHY', 'MDC_EVT_ECG_V_FLUTTER']) {
      // The list above must be the model's: a refid it does not judge would make this test prove nothing.
      expect(modelAlarmType({ source: 'device', category: 'physiological', condition: { code: { code: 0, refid }, text: '' } }), refid).not.toBeNull();
      expect(run(event(`^${refid}^MDC`, '', 'PH')).alarm.category, refid).toBe('physiological');
    }
  });

  it('a known technical event (lead or sensor off) stays technical, said to come from the code', () => {
    const { alarm, notices } = run(event('196876^MDC_EVT_LEAD_DISCONN^MDC', 'ECG lead off', 'PM'));
    expect(alarm.category).toBe('technical');
    expect(guessed(notices)[0]!.text).toMatch(/MDC_EVT_LEAD_DISCONN.*technical/);
    expect(run(event('196916', 'SpO2 sensor off', 'PM')).alarm.category).toBe('technical');
  });

  it('an unknown code without a type stays technical, with no notice (as before)', () => {
    for (const code of ['196652^MDC_EVT_LO^MDC', '12345^VT local^99LOCAL', '199832^VTACH^LN']) {
      const { alarm, notices } = run(event(code, 'VTach', 'PH'));
      expect(alarm.category, code).toBe('technical');
      expect(guessed(notices), code).toEqual([]);
    }
  });

  it('the edge model judges such an alarm by its code, whatever its text says (through the real alarm engine)', () => {
    for (const [code, type] of [
      ['199832^MDC_EVT_ECG_V_TACHY^MDC', 'Ventricular_Tachycardia'],
      ['199832', 'Ventricular_Tachycardia'],
      ['^MDC_EVT_ECG_V_FIB^MDC', 'Ventricular_Flutter_Fib'],
      ['199684^MDC_EVT_ECG_ASYSTOLE^MDC', 'Asystole'],
    ] as const) {
      // "Alarm 7": a text the model's patterns cannot read; only the code says VT.
      const { alarm } = run(event(code, 'Alarm 7', 'PH'));
      const [change] = new AlarmEngine().deviceAlarm({ ...alarm, bed: 'bed-1' });
      expect(change, code).toBeDefined();
      expect(modelAlarmType(change!.alarm), code).toBe(type);
    }
    // An LN code with VT's number is no MDC code: not judged by the number.
    const ln = run(event('199832^Alarm 7^LN', 'Alarm 7', 'PH', 'ST') + obx(['2', 'NM', '147842^MDC_ECG_HEART_RATE^MDC', '1.1.1.1.2', '80', '264864^MDC_DIM_BEAT_PER_MIN^MDC', '', '', '', '', 'F'])).alarm;
    const [lnChange] = new AlarmEngine().deviceAlarm({ ...ln, bed: 'bed-1' });
    expect(modelAlarmType(lnChange!.alarm)).toBeNull();
  });

  it("the sender's alert type wins over the code, and a metric row still makes it physiological, with no notice", () => {
    const st = run(event('199832^MDC_EVT_ECG_V_TACHY^MDC', 'VTach', 'PH~ST'));
    expect(st.alarm.category).toBe('technical');
    expect(guessed(st.notices)).toEqual([]);
    const typeRow = run(event('199832^MDC_EVT_ECG_V_TACHY^MDC', 'VTach', 'PH') + obx(['2', 'ST', '68485^MDC_ATTR_ALERT_TYPE^MDC', '1.1.1.1.6', 'ST', '', '', '', '', '', 'F']));
    expect(typeRow.alarm.category).toBe('technical');
    expect(guessed(typeRow.notices)).toEqual([]);
    const withMetric = run(event('196876^MDC_EVT_LEAD_DISCONN^MDC', 'lead off', 'PM') + obx(['2', 'NM', '147842^MDC_ECG_HEART_RATE^MDC', '1.1.1.1.2', '80', '264864^MDC_DIM_BEAT_PER_MIN^MDC', '', '', '', '', 'F']));
    expect(withMetric.alarm.category).toBe('physiological');
    expect(guessed(withMetric.notices)).toEqual([]);
  });
});
