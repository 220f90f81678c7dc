// IEEE 11073-10101 nomenclature: the subset the agent names in code.
// Codes are context-free (partition << 16 | term code). Drivers with vendor vocabularies map into
// these through their own tables; anything not here is still carried, with its raw code.
import type { MdcCode, Unit } from './reading.js';

function term(refid: string, code: number): MdcCode {
  return { code, refid };
}

/** Metrics (partition 2, SCADA) used by the simulator, rules and NEWS2. */
export const MDC = {
  ECG_HEART_RATE: term('MDC_ECG_HEART_RATE', 147842),
  PULS_RATE: term('MDC_PULS_RATE', 149514),
  PULS_OXIM_PULS_RATE: term('MDC_PULS_OXIM_PULS_RATE', 149530),
  PULS_OXIM_SAT_O2: term('MDC_PULS_OXIM_SAT_O2', 150456),
  PULS_OXIM_PLETH: term('MDC_PULS_OXIM_PLETH', 150452),
  RESP_RATE: term('MDC_RESP_RATE', 151562),
  // Respiration rate by method (IEEE 11073-10101, partition 2): transthoracic impedance 2::20506, direct airway flow
  // 2::20498 (IntelliVue's NOM_AWAY_RESP_RATE). Before 2026-12 the impedance term was given 151570 by mistake.
  TTHOR_RESP_RATE: term('MDC_TTHOR_RESP_RATE', 151578),
  AWAY_RESP_RATE: term('MDC_AWAY_RESP_RATE', 151570),
  PRESS_BLD_NONINV: term('MDC_PRESS_BLD_NONINV', 150020),
  PRESS_BLD_NONINV_SYS: term('MDC_PRESS_BLD_NONINV_SYS', 150021),
  PRESS_BLD_NONINV_DIA: term('MDC_PRESS_BLD_NONINV_DIA', 150022),
  PRESS_BLD_NONINV_MEAN: term('MDC_PRESS_BLD_NONINV_MEAN', 150023),
  // NIBP as cuff pressure (2::19228-19231), as Mindray and Comen monitors code it over HL7 (review rv126 H2: unknown
  // here, a hypotension reached neither the NIBP limits nor NEWS2). Kept as sent; the rules take both codings.
  PRESS_CUFF: term('MDC_PRESS_CUFF', 150300),
  PRESS_CUFF_SYS: term('MDC_PRESS_CUFF_SYS', 150301),
  PRESS_CUFF_DIA: term('MDC_PRESS_CUFF_DIA', 150302),
  PRESS_CUFF_MEAN: term('MDC_PRESS_CUFF_MEAN', 150303),
  // ABP is term 18964 (MDC_PRESS_BLD_ART_ABP, 150036); its systolic/diastolic/mean follow it. 150033-150035 are the
  // generic MDC_PRESS_BLD_ART_* terms, accepted as arterial pressure too where rules match by meaning.
  PRESS_BLD_ART_SYS: term('MDC_PRESS_BLD_ART_SYS', 150033),
  PRESS_BLD_ART_ABP_SYS: term('MDC_PRESS_BLD_ART_ABP_SYS', 150037),
  PRESS_BLD_ART_ABP_DIA: term('MDC_PRESS_BLD_ART_ABP_DIA', 150038),
  PRESS_BLD_ART_ABP_MEAN: term('MDC_PRESS_BLD_ART_ABP_MEAN', 150039),
  TEMP_BODY: term('MDC_TEMP_BODY', 150364),
  /** Unspecified-site temperature, as IntelliVue and others send it. */
  TEMP: term('MDC_TEMP', 150344),
  // Temperature sites NEWS2 takes as body temperature (review rv111 M1: without them here, drivers/hl7 resolved none of
  // them and a tympanic spot check over HL7 never reached NEWS2).
  TEMP_CORE: term('MDC_TEMP_CORE', 150368),
  TEMP_ESOPH: term('MDC_TEMP_ESOPH', 150372),
  TEMP_NASOPH: term('MDC_TEMP_NASOPH', 150380),
  TEMP_TYMP: term('MDC_TEMP_TYMP', 150392),
  TEMP_RECT: term('MDC_TEMP_RECT', 188420),
  TEMP_ORAL: term('MDC_TEMP_ORAL', 188424),
  TEMP_EAR: term('MDC_TEMP_EAR', 188428),
  TEMP_AXILLA: term('MDC_TEMP_AXILLA', 188452),
  ECG_ELEC_POTL_I: term('MDC_ECG_ELEC_POTL_I', 131329),
  ECG_ELEC_POTL_II: term('MDC_ECG_ELEC_POTL_II', 131330),
  ECG_ELEC_POTL_III: term('MDC_ECG_ELEC_POTL_III', 131389),
  CONC_AWAY_CO2_ET: term('MDC_CONC_AWAY_CO2_ET', 151708),
} as const;

/** Units (partition 4, DIM) with their UCUM equivalents. */
export const UNITS = {
  BEAT_PER_MIN: { ucum: '/min', mdc: term('MDC_DIM_BEAT_PER_MIN', 264864) },
  RESP_PER_MIN: { ucum: '/min', mdc: term('MDC_DIM_RESP_PER_MIN', 264928) },
  PERCENT: { ucum: '%', mdc: term('MDC_DIM_PERCENT', 262688) },
  MMHG: { ucum: 'mm[Hg]', mdc: term('MDC_DIM_MMHG', 266016) },
  DEGC: { ucum: 'Cel', mdc: term('MDC_DIM_DEGC', 268192) },
  MILLI_VOLT: { ucum: 'mV', mdc: term('MDC_DIM_MILLI_VOLT', 266418) },
  DIMLESS: { ucum: '1', mdc: term('MDC_DIM_DIMLESS', 262656) },
  MILLI_L: { ucum: 'mL', mdc: term('MDC_DIM_MILLI_L', 263762) },
  CM_H2O: { ucum: 'cm[H2O]', mdc: term('MDC_DIM_CM_H2O', 266048) },
  // One spelling per unit whichever driver sends it (review rv114 L2: HL7 wrote `{MDC_DIM_MILLI_BAR}`, IntelliVue
  // `{intellivue-dim:3842}` for hPa, Medibus `mbar` with no unit code). °F and kPa are spelt as agent/alarms/units.ts
  // converts them.
  MILLI_BAR: { ucum: 'mbar', mdc: term('MDC_DIM_MILLI_BAR', 266098) },
  HECTO_PASCAL: { ucum: 'hPa', mdc: term('MDC_DIM_HECTO_PASCAL', 265986) },
  KILO_PASCAL: { ucum: 'kPa', mdc: term('MDC_DIM_KILO_PASCAL', 265987) },
  FAHR: { ucum: '[degF]', mdc: term('MDC_DIM_FAHR', 266560) },
  X_L_PER_MIN: { ucum: 'L/min', mdc: term('MDC_DIM_X_L_PER_MIN', 265216) },
} as const satisfies Record<string, Unit>;

/**
 * Other spellings devices send for a unit of UNITS, each taken as that unit's UCUM code, so that one quantity has one
 * unit spelling for the rules, the display and cloud consumers (review rv125 M2: HL7 `{beat}/min^{beat}/min^UCUM`, as
 * the IHE PCD TF example spells it, and `mmHg^mmHg^UCUM` reached the FHIR templates, which match `/min` and `mm[Hg]`,
 * as other units). Spellings of the same unit only, never another unit: kPa stays kPa, °F is [degF] (never Cel).
 */
export const UNIT_SPELLINGS: Readonly<Record<string, string>> = {
  mmHg: UNITS.MMHG.ucum,
  degC: UNITS.DEGC.ucum,
  degF: UNITS.FAHR.ucum,
  // Rates written as text rather than as UCUM (fhir-converter's `beats/min^^ISO`, a `{beats/min}` annotation).
  'beats/min': UNITS.BEAT_PER_MIN.ucum,
  'breaths/min': UNITS.RESP_PER_MIN.ucum,
  '{beats/min}': UNITS.BEAT_PER_MIN.ucum,
  '{breaths/min}': UNITS.RESP_PER_MIN.ucum,
  // Common device spellings (review rv145 F3): without them `bpm` or `°C` became a `{…}` annotation the rules skip.
  bpm: UNITS.BEAT_PER_MIN.ucum,
  BPM: UNITS.BEAT_PER_MIN.ucum,
  '°C': UNITS.DEGC.ucum,
  '℃': UNITS.DEGC.ucum,
  '°F': UNITS.FAHR.ucum,
  'mm Hg': UNITS.MMHG.ucum,
  mmhg: UNITS.MMHG.ucum,
};

// A UCUM annotation in curly braces does not change the unit (`{beat}/min` is `/min`); beats, breaths and respirations
// only, so that an annotation that tells a different count ({drops}/min) is not hidden. Any case: `{Beats}/min`.
const RATE_ANNOTATION = /^\{(?:beats?|breaths?|resp|respirations?|pulses?)\}\/min$/i;

/** The agent's UCUM code for a unit spelling (UNIT_SPELLINGS, rate annotations); any other text as it is. */
export function canonicalUcum(spelling: string): string {
  // hasOwn: a spelling such as `constructor` is no key of the table.
  const known = Object.hasOwn(UNIT_SPELLINGS, spelling) ? UNIT_SPELLINGS[spelling] : undefined;
  // UCUM writes "per minute" `/min` or `1/min` (the factor 1 changes nothing); `/min` is the table's only such unit.
  if (spelling === '1/min') return '/min';
  return known ?? (RATE_ANNOTATION.test(spelling) ? '/min' : spelling);
}

// Metric and unit terms are looked up apart: a unit code where a metric is expected (an HL7 OBX-3 of 262688, a Modbus
// point `mdc: MDC_DIM_MMHG`) is not a metric (review rv114 L3).
const metricByCodeMap = new Map<number, MdcCode>(Object.values(MDC).map((t) => [t.code, t]));
const metricByRefidMap = new Map<string, MdcCode>(Object.values(MDC).map((t) => [t.refid, t]));
const unitByMdcCode = new Map<number, Unit>(Object.values(UNITS).map((u) => [u.mdc.code, u]));
const unitByRefidMap = new Map<string, Unit>(Object.values(UNITS).map((u) => [u.mdc.refid, u]));

/** The metric term (partition 2 or 258) with this code; never a unit term. */
export function mdcByCode(code: number): MdcCode | undefined {
  return metricByCodeMap.get(code);
}

/** The metric term with this refid; never a unit term (MDC_DIM_*). */
export function metricByRefid(refid: string): MdcCode | undefined {
  return metricByRefidMap.get(refid);
}

/**
 * Any term the agent names, metric or unit, by refid. Where only a metric will do, use metricByRefid; this one is for
 * callers that take either (a Modbus unit given as an MDC_DIM_* refid, an HL7 OBX-6 unit by refid alone).
 */
export function mdcByRefid(refid: string): MdcCode | undefined {
  return metricByRefidMap.get(refid) ?? unitByRefidMap.get(refid)?.mdc;
}

/** The Unit for an MDC unit code, with UCUM filled in when we know it. */
export function unitByMdc(code: number): Unit | undefined {
  return unitByMdcCode.get(code);
}

/** The Unit for an MDC unit refid (MDC_DIM_*). */
export function unitByRefid(refid: string): Unit | undefined {
  return unitByRefidMap.get(refid);
}

/** Context-free code from a partition and a term code, as IEEE 11073-10101 defines it. */
export function contextFree(partition: number, termCode: number): number {
  return partition * 65536 + termCode;
}
