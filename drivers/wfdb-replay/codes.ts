// WFDB signal names and PhysioNet 2015 alarm types → the agent's vocabulary. Lead and signal codes are the
// IEEE 11073-10101 SCADA terms (partition 2) the IntelliVue driver maps mechanically (drivers/intellivue/codes.ts);
// the alarm events are its partition-3 event codes (drivers/intellivue/alarms.ts). A name we do not know keeps
// its raw code and no MDC term (so the edge model does not mistake it for an ECG lead).
import type { MdcCode, RawCode, Unit } from '../../agent/model/reading.js';
import { contextFree, UNITS } from '../../agent/model/mdc.js';

const SCADA = 2;
const EVT = 3;

const ecg = (suffix: string, term: number): MdcCode => ({ code: contextFree(SCADA, term), refid: suffix ? `MDC_ECG_ELEC_POTL_${suffix}` : 'MDC_ECG_ELEC_POTL' });

const SIGNALS: Record<string, { mdc: MdcCode; unit: Unit }> = {
  I: { mdc: ecg('I', 257), unit: UNITS.MILLI_VOLT },
  II: { mdc: ecg('II', 258), unit: UNITS.MILLI_VOLT },
  III: { mdc: ecg('III', 317), unit: UNITS.MILLI_VOLT },
  AVR: { mdc: ecg('AVR', 318), unit: UNITS.MILLI_VOLT },
  AVL: { mdc: ecg('AVL', 319), unit: UNITS.MILLI_VOLT },
  AVF: { mdc: ecg('AVF', 320), unit: UNITS.MILLI_VOLT },
  V1: { mdc: ecg('V1', 259), unit: UNITS.MILLI_VOLT },
  V2: { mdc: ecg('V2', 260), unit: UNITS.MILLI_VOLT },
  V3: { mdc: ecg('V3', 261), unit: UNITS.MILLI_VOLT },
  V4: { mdc: ecg('V4', 262), unit: UNITS.MILLI_VOLT },
  V5: { mdc: ecg('V5', 263), unit: UNITS.MILLI_VOLT },
  V6: { mdc: ecg('V6', 264), unit: UNITS.MILLI_VOLT },
  // A chest lead of unstated position (PhysioNet "V") or a modified chest lead (MCL): the generic ECG term.
  V: { mdc: ecg('', 256), unit: UNITS.MILLI_VOLT },
  MCL: { mdc: ecg('', 256), unit: UNITS.MILLI_VOLT },
  PLETH: { mdc: { code: contextFree(SCADA, 19380), refid: 'MDC_PULS_OXIM_PLETH' }, unit: UNITS.DIMLESS },
  ABP: { mdc: { code: contextFree(SCADA, 18964), refid: 'MDC_PRESS_BLD_ART_ABP' }, unit: UNITS.MMHG },
};

/** A WFDB header's units as a Unit (UCUM spelling, the MDC term when we have it); null when the header gives none. */
function wfdbUnit(units: string): Unit | null {
  const u = units.trim();
  if (u === '') return null;
  const known: Record<string, Unit> = { mV: UNITS.MILLI_VOLT, mmHg: UNITS.MMHG, NU: UNITS.DIMLESS, uV: { ucum: 'uV' }, 'µV': { ucum: 'uV' }, 'μV': { ucum: 'uV' } };
  return known[u] ?? { ucum: u };
}

/**
 * Codes and unit of a WFDB signal. A known signal keeps the header's unit (`units`; '' when not stated: the
 * signal's usual one): a uV ECG or a kPa ABP is sent as such and the receiver converts it (the edge model's ring
 * does), rather than relabelled mV / mmHg.
 */
export function signalCode(name: string, units: string): { mdc: MdcCode | null; raw: RawCode; unit: Unit } {
  const raw: RawCode = { system: 'wfdb', code: name };
  const known = SIGNALS[name.trim().toUpperCase()];
  if (known) {
    const unit = wfdbUnit(units);
    return { mdc: known.mdc, raw, unit: unit === null || unit.ucum === known.unit.ucum ? known.unit : unit };
  }
  // Unknown signals keep the header's unit too (RESP in NU, CO2 in kPa or %): '' only when it states none.
  return { mdc: null, raw, unit: wfdbUnit(units) ?? { ucum: '' } };
}

const ALARMS: Record<string, { code: MdcCode | null; text: string }> = {
  Asystole: { code: { code: contextFree(EVT, 3076), refid: 'MDC_EVT_ECG_ASYSTOLE' }, text: 'ASYSTOLE' },
  Bradycardia: { code: { code: contextFree(EVT, 3086), refid: 'MDC_EVT_ECG_BRADY_EXTREME' }, text: 'EXTREME BRADY' },
  Tachycardia: { code: { code: contextFree(EVT, 3122), refid: 'MDC_EVT_ECG_TACHY_EXTREME' }, text: 'EXTREME TACHY' },
  Ventricular_Tachycardia: { code: { code: contextFree(EVT, 3224), refid: 'MDC_EVT_ECG_V_TACHY' }, text: 'VTACH' },
  // IntelliVue reports fibrillation under a private code; no standard term is named here.
  Ventricular_Flutter_Fib: { code: null, text: 'VFIB/VFLUTTER' },
};

/** The PhysioNet 2015 alarm types the replay can raise. */
export const ALARM_TYPES: readonly string[] = Object.keys(ALARMS);

export function isKnownAlarmType(alarmType: string): boolean {
  return Object.hasOwn(ALARMS, alarmType);
}

/** The alarm a PhysioNet 2015 header names, as a monitor would word it. */
export function alarmCode(alarmType: string): { condition: MdcCode | null; raw: RawCode; text: string } {
  const a = ALARMS[alarmType];
  return { condition: a?.code ?? null, raw: { system: 'physionet-2015', code: alarmType }, text: a?.text ?? alarmType };
}
