// Medibus code → MDC term + unit. Codes are per page: measured data code page 1 (24H) and 2 (2BH),
// device settings (29H). MDC numbers are from IEEE 11073-10101 as checked in public sources (an HL7
// PCD-01 sample for MDC_PRESS_AWAY_INSP_PEAK; a terminology-server lookup table for the MDC_VENT_*
// terms). Codes not in a table are still emitted, with `raw`, never dropped.
// Pressures stay in mbar (the device's unit); we do not convert to cmH2O.
//
// Two code profiles (review rv67 M1). Public tables disagree on a few code page 1 codes:
//   * 'medibus-x': the Medibus.X profile table (VSCaptureDrgVent `MedibusXMeasurementCP1`), for the Infinity V500;
//   * 'classic':   classic Medibus tables (VSCaptureDrgVent `MeasurementCP1`, the OpenICE-derived `draeger.h`),
//                  for the other presets and generic.
// Codes with the same meaning in both are in COMMON_CP1. A code only the Medibus.X table lists is kept raw (no MDC
// term, no label) on a classic device: what it means there is not in any source we have.
import type { MdcCode, RawCode, Unit } from '../../agent/model/reading.js';
import { MDC, UNITS } from '../../agent/model/mdc.js';

const t = (refid: string, code: number): MdcCode => ({ code, refid });

/** MDC terms this driver names that agent/model/mdc.ts does not (yet) carry. */
export const VENT_MDC = {
  PRESS_AWAY_INSP_PEAK: t('MDC_PRESS_AWAY_INSP_PEAK', 151817),
  VENT_PRESS_AWAY_MEAN: t('MDC_VENT_PRESS_AWAY_MEAN', 151975),
  VENT_PRESS_RESP_PLAT: t('MDC_VENT_PRESS_RESP_PLAT', 152424),
  VENT_PRESS_AWAY_END_EXP_POS: t('MDC_VENT_PRESS_AWAY_END_EXP_POS', 151976),
  PRESS_AWAY_END_EXP_POS_INTRINSIC: t('MDC_PRESS_AWAY_END_EXP_POS_INTRINSIC', 151808),
  VENT_VOL_TIDAL: t('MDC_VENT_VOL_TIDAL', 151980),
  VOL_AWAY_TIDAL_INSP: t('MDC_VOL_AWAY_TIDAL_INSP', 152660),
  VOL_AWAY_TIDAL_EXP: t('MDC_VOL_AWAY_TIDAL_EXP', 152664),
  VENT_VOL_MINUTE: t('MDC_VENT_VOL_MINUTE', 151996),
  VENT_VOL_MINUTE_EXP: t('MDC_VENT_VOL_MINUTE_EXP', 152000),
  VENT_VOL_MINUTE_INSP: t('MDC_VENT_VOL_MINUTE_INSP', 152004),
  VENT_RESP_RATE: t('MDC_VENT_RESP_RATE', 151586),
  VENT_RESP_BTSD_P_RATE: t('MDC_VENT_RESP_BTSD_P_RATE', 152498),
  CONC_AWAY_O2_INSP: t('MDC_CONC_AWAY_O2_INSP', 152196),
  CONC_AWAY_O2_EXP: t('MDC_CONC_AWAY_O2_EXP', 153132),
  COMPL_LUNG_DYN: t('MDC_COMPL_LUNG_DYN', 151692),
  RES_AWAY: t('MDC_RES_AWAY', 151840),
  RATIO_IE: t('MDC_RATIO_IE', 151832),
  VENT_VOL_TIDAL_SETTING: t('MDC_VENT_VOL_TIDAL_SETTING', 16929196),
} as const;

/**
 * Units in the device's own terms; MDC unit codes only where the shared table has them. Units the shared table names
 * are taken from it, so mbar, kPa and L/min are spelt as HL7 and IntelliVue spell them (review rv114 L2).
 */
export const MB_UNITS = {
  MBAR: UNITS.MILLI_BAR,
  ML: UNITS.MILLI_L,
  L: { ucum: 'L' },
  L_PER_MIN: UNITS.X_L_PER_MIN,
  ML_PER_MIN: { ucum: 'mL/min' },
  PER_MIN: UNITS.RESP_PER_MIN,
  BEAT_PER_MIN: UNITS.BEAT_PER_MIN,
  PERCENT: UNITS.PERCENT,
  MMHG: UNITS.MMHG,
  KPA: UNITS.KILO_PASCAL,
  L_PER_BAR: { ucum: 'L/bar' },
  MBAR_PER_L_S: { ucum: 'mbar/(L/s)' },
  SEC: { ucum: 's' },
  DEGC: UNITS.DEGC,
  NONE: { ucum: '' },
} as const satisfies Record<string, Unit>;

export interface CodeInfo {
  label: string;
  unit: Unit;
  mdc: MdcCode | null;
}

type Table = Record<number, CodeInfo>;
const e = (label: string, unit: Unit, mdc: MdcCode | null = null): CodeInfo => ({ label, unit, mdc });
const U = MB_UNITS;

export type CodeProfile = 'classic' | 'medibus-x';
export const CODE_PROFILES: CodeProfile[] = ['classic', 'medibus-x'];

/**
 * Measured data, code page 1 (24H), codes with the same meaning in the classic and the Medibus.X tables; also the
 * codes of alarm limits page 1 (25H/26H). (0B: "ResistanceFrac" in the classic tables, "Rpat" in Medibus.X; both
 * mbar/(L/s), no MDC term here.)
 */
const COMMON_CP1: Table = {
  0x05: e('Paw', U.MBAR),
  0x07: e('Cdyn', U.L_PER_BAR, VENT_MDC.COMPL_LUNG_DYN),
  0x08: e('R', U.MBAR_PER_L_S, VENT_MDC.RES_AWAY),
  0x09: e("V'CO2", U.ML_PER_MIN),
  0x0b: e('Rpat', U.MBAR_PER_L_S),
  0x71: e('Pmin', U.MBAR),
  0x72: e('P0.1', U.MBAR),
  0x73: e('Pmean', U.MBAR, VENT_MDC.VENT_PRESS_AWAY_MEAN),
  0x74: e('Pplat', U.MBAR, VENT_MDC.VENT_PRESS_RESP_PLAT),
  0x78: e('PEEP', U.MBAR, VENT_MDC.VENT_PRESS_AWAY_END_EXP_POS),
  0x79: e('PEEPi', U.MBAR, VENT_MDC.PRESS_AWAY_END_EXP_POS_INTRINSIC),
  0x7b: e('RRmand', U.PER_MIN),
  0x7d: e('PIP', U.MBAR, VENT_MDC.PRESS_AWAY_INSP_PEAK),
  0x7e: e('VTmand', U.L),
  0x7f: e('VTspon', U.L),
  0x88: e('VT', U.ML, VENT_MDC.VENT_VOL_TIDAL),
  0xb2: e('Leakage', U.ML_PER_MIN),
  0xb3: e('% leak', U.PERCENT),
  0xb5: e('RRspon', U.PER_MIN, VENT_MDC.VENT_RESP_BTSD_P_RATE),
  0xb7: e('MVspon', U.L_PER_MIN),
  0xb9: e('MV', U.L_PER_MIN, VENT_MDC.VENT_VOL_MINUTE),
  0xc1: e('T airway', U.DEGC),
  0xd6: e('RR', U.PER_MIN, VENT_MDC.VENT_RESP_RATE),
  0xda: e('inCO2', U.PERCENT),
  0xdb: e('etCO2', U.PERCENT, MDC.CONC_AWAY_CO2_ET),
  0xe1: e('Pulse rate', U.BEAT_PER_MIN, MDC.PULS_OXIM_PULS_RATE),
  0xe3: e('etCO2', U.KPA, MDC.CONC_AWAY_CO2_ET),
  0xe5: e('inCO2', U.MMHG),
  0xe6: e('etCO2', U.MMHG, MDC.CONC_AWAY_CO2_ET),
  0xe7: e('I:E (I part)', U.NONE),
  0xe8: e('I:E (E part)', U.NONE),
  0xeb: e('SpO2', U.PERCENT, MDC.PULS_OXIM_SAT_O2),
  0xef: e('etO2', U.PERCENT, VENT_MDC.CONC_AWAY_O2_EXP),
  0xf0: e('FiO2', U.PERCENT, VENT_MDC.CONC_AWAY_O2_INSP),
};

/** Code page 1 as the Medibus.X profile table lists it (MedibusXMeasurementCP1). */
export const MEASURED_CP1_X: Table = {
  ...COMMON_CP1,
  0x03: e('MVe', U.L_PER_MIN, VENT_MDC.VENT_VOL_MINUTE_EXP), // not in the classic tables
  0x06: e('MVi', U.L_PER_MIN, VENT_MDC.VENT_VOL_MINUTE_INSP), // "MVi L/min Carina"; classic: compliance
  0x8b: e('VTi', U.ML, VENT_MDC.VOL_AWAY_TIDAL_INSP), // classic: inspiratory spontaneous support volume
  0xdc: e('HR', U.BEAT_PER_MIN, MDC.ECG_HEART_RATE), // not in the classic tables
};

/**
 * Code page 1 as the classic Medibus tables list it (MeasurementCP1 / draeger.h). No MDC term for 06H and 8BH: we know
 * of none that is certainly theirs (06H is not Cdyn, which 07H carries in L/bar; 8BH is the ASB volume, not VTi).
 */
export const MEASURED_CP1_CLASSIC: Table = {
  ...COMMON_CP1,
  0x06: e('Compliance', { ucum: 'mL/mbar' }), // "ComplianceFrac", mL/mbar
  0x8b: e('VTasb', U.ML), // "InspiratorySpontaneousSupportVolume"
};

/** Measured data, code page 2 (2BH). */
export const MEASURED_CP2: Table = {
  0x00: e('VTspon', U.ML),
  0x06: e('Elastance', { ucum: 'mbar/L' }),
  0x07: e('TC', U.SEC),
  0x21: e('VTe', U.ML, VENT_MDC.VOL_AWAY_TIDAL_EXP),
  0x22: e('VTi', U.ML, VENT_MDC.VOL_AWAY_TIDAL_INSP),
  0x23: e('EIP', U.MBAR),
};

/** Device settings (29H). Settings are what the clinician set, not measurements. */
export const SETTINGS: Table = {
  0x01: e('FiO2 (set)', U.PERCENT),
  0x02: e('Insp. flow (set)', U.L_PER_MIN),
  0x04: e('VT (set)', U.L),
  0x05: e('Ti (set)', U.SEC),
  0x07: e('I:E I part (set)', U.NONE),
  0x08: e('I:E E part (set)', U.NONE),
  // 09H is the IMV/SIMV frequency, 0AH the IPPV one (VSCaptureDrgVent DeviceSettings, OpenICE draeger.h: FrequencyIMV,
  // FrequencyIPPV), not one "RR (set)" (review rv149 M1). No MDC term here names a set mandatory rate: raw codes only.
  0x09: e('f IMV/SIMV (set)', U.PER_MIN),
  0x0a: e('f IPPV (set)', U.PER_MIN),
  0x0b: e('PEEP (set)', U.MBAR),
  0x12: e('Psupp (set)', U.MBAR),
  0x13: e('Pmax (set)', U.MBAR),
  0x40: e('VT (set)', U.ML, VENT_MDC.VENT_VOL_TIDAL_SETTING),
  0x45: e('Pinsp (set)', U.MBAR),
};

export type CodeKind = 'cp1' | 'cp2' | 'set';

const TABLES: Record<CodeProfile, Record<CodeKind, Table>> = {
  'classic': { cp1: MEASURED_CP1_CLASSIC, cp2: MEASURED_CP2, set: SETTINGS },
  'medibus-x': { cp1: MEASURED_CP1_X, cp2: MEASURED_CP2, set: SETTINGS },
};

export function hexCode(code: number): string {
  return code.toString(16).toUpperCase().padStart(2, '0');
}

/**
 * Look a code up in the table of `profile`; unknown codes come back with mdc null and a raw code
 * `{system:'medibus', code:'cp1:5C'}`.
 */
export function lookup(kind: CodeKind, code: number, profile: CodeProfile): { mdc: MdcCode | null; unit: Unit; raw: RawCode } {
  const info = TABLES[profile === 'medibus-x' ? 'medibus-x' : 'classic'][kind][code];
  const raw: RawCode = { system: 'medibus', code: `${kind}:${hexCode(code)}` };
  if (info) raw.text = info.label;
  return { mdc: info?.mdc ?? null, unit: info?.unit ?? U.NONE, raw };
}
