// IntelliVue nomenclature → MDC. IntelliVue physiological ids are IEEE 11073-10101 term codes in the
// SCADA partition (2), units are in the DIM partition (4), so the context-free code is mechanical:
// partition × 65536 + code. The table below names the terms we know; an id it lacks is looked up in the agent's own
// MDC table (agent/model/mdc.ts) by that code; anything else is still emitted with its raw code
// {system:'intellivue', code:'<partition>:<code>'} and mdc null.
import type { MdcCode, RawCode, Unit } from '../../agent/model/reading.js';
import { MDC, contextFree, mdcByCode, unitByMdc } from '../../agent/model/mdc.js';
import { NOM_PART_DIM, NOM_PART_SCADA } from './protocol/constants.js';

interface Term {
  refid: string;
  label: string;
  /** Set when the MDC term is not the mechanical mapping of the IntelliVue code (see comment). */
  mdcCode?: number;
}

/** SCADA partition codes (NOM_* values from the Data Export programming guide). */
const PHYSIO: Record<number, Term> = {
  // ECG
  0x0100: { refid: 'MDC_ECG_ELEC_POTL', label: 'ECG' },
  0x0101: { refid: 'MDC_ECG_ELEC_POTL_I', label: 'ECG I' },
  0x0102: { refid: 'MDC_ECG_ELEC_POTL_II', label: 'ECG II' },
  0x013d: { refid: 'MDC_ECG_ELEC_POTL_III', label: 'ECG III' },
  0x013e: { refid: 'MDC_ECG_ELEC_POTL_AVR', label: 'ECG aVR' },
  0x013f: { refid: 'MDC_ECG_ELEC_POTL_AVL', label: 'ECG aVL' },
  0x0140: { refid: 'MDC_ECG_ELEC_POTL_AVF', label: 'ECG aVF' },
  0x0103: { refid: 'MDC_ECG_ELEC_POTL_V1', label: 'ECG V1' },
  0x0107: { refid: 'MDC_ECG_ELEC_POTL_V5', label: 'ECG V5' },
  16770: { refid: 'MDC_ECG_HEART_RATE', label: 'HR' },
  16993: { refid: 'MDC_ECG_V_P_C_CNT', label: 'PVC' },
  0x0301: { refid: 'MDC_ECG_AMPL_ST_I', label: 'ST-I' },
  0x0302: { refid: 'MDC_ECG_AMPL_ST_II', label: 'ST-II' },
  0x033d: { refid: 'MDC_ECG_AMPL_ST_III', label: 'ST-III' },
  // Pulse
  18442: { refid: 'MDC_PULS_RATE', label: 'Pulse' },
  // NOM_PLETH_PULS_RATE (18466) is IntelliVue's pulse rate from the pleth wave; MDC names that
  // MDC_PULS_OXIM_PULS_RATE (18458), so this one is mapped by meaning, not mechanically.
  18466: { refid: 'MDC_PULS_OXIM_PULS_RATE', label: 'Pulse (SpO2)', mdcCode: contextFree(NOM_PART_SCADA, 18458) },
  // SpO2 and pleth
  19384: { refid: 'MDC_PULS_OXIM_SAT_O2', label: 'SpO2' },
  19380: { refid: 'MDC_PULS_OXIM_PLETH', label: 'Pleth' },
  19396: { refid: 'MDC_PULS_OXIM_SAT_O2_DIFF', label: 'ΔSpO2' },
  // Blood pressures (wave code; _SYS/_DIA/_MEAN follow as +1/+2/+3)
  18948: { refid: 'MDC_PRESS_BLD_NONINV', label: 'NBP' },
  18949: { refid: 'MDC_PRESS_BLD_NONINV_SYS', label: 'NBP sys' },
  18950: { refid: 'MDC_PRESS_BLD_NONINV_DIA', label: 'NBP dia' },
  18951: { refid: 'MDC_PRESS_BLD_NONINV_MEAN', label: 'NBP mean' },
  18944: { refid: 'MDC_PRESS_BLD', label: 'P' },
  18945: { refid: 'MDC_PRESS_BLD_SYS', label: 'P sys' },
  18946: { refid: 'MDC_PRESS_BLD_DIA', label: 'P dia' },
  18947: { refid: 'MDC_PRESS_BLD_MEAN', label: 'P mean' },
  18960: { refid: 'MDC_PRESS_BLD_ART', label: 'ART' },
  18961: { refid: 'MDC_PRESS_BLD_ART_SYS', label: 'ART sys' },
  18962: { refid: 'MDC_PRESS_BLD_ART_DIA', label: 'ART dia' },
  18963: { refid: 'MDC_PRESS_BLD_ART_MEAN', label: 'ART mean' },
  18964: { refid: 'MDC_PRESS_BLD_ART_ABP', label: 'ABP' },
  18965: { refid: 'MDC_PRESS_BLD_ART_ABP_SYS', label: 'ABP sys' },
  18966: { refid: 'MDC_PRESS_BLD_ART_ABP_DIA', label: 'ABP dia' },
  18967: { refid: 'MDC_PRESS_BLD_ART_ABP_MEAN', label: 'ABP mean' },
  18972: { refid: 'MDC_PRESS_BLD_ART_PULM', label: 'PAP' },
  18973: { refid: 'MDC_PRESS_BLD_ART_PULM_SYS', label: 'PAP sys' },
  18974: { refid: 'MDC_PRESS_BLD_ART_PULM_DIA', label: 'PAP dia' },
  18975: { refid: 'MDC_PRESS_BLD_ART_PULM_MEAN', label: 'PAP mean' },
  19012: { refid: 'MDC_PRESS_BLD_VEN_CENT', label: 'CVP' },
  19013: { refid: 'MDC_PRESS_BLD_VEN_CENT_SYS', label: 'CVP sys' },
  19014: { refid: 'MDC_PRESS_BLD_VEN_CENT_DIA', label: 'CVP dia' },
  19015: { refid: 'MDC_PRESS_BLD_VEN_CENT_MEAN', label: 'CVP mean' },
  22536: { refid: 'MDC_PRESS_INTRA_CRAN', label: 'ICP' },
  22539: { refid: 'MDC_PRESS_INTRA_CRAN_MEAN', label: 'ICP mean' },
  22532: { refid: 'MDC_PRESS_CEREB_PERF', label: 'CPP' },
  // Temperatures
  19272: { refid: 'MDC_TEMP', label: 'Temp' },
  19280: { refid: 'MDC_TEMP_ART', label: 'Tart' },
  19296: { refid: 'MDC_TEMP_CORE', label: 'Tcore' },
  19300: { refid: 'MDC_TEMP_ESOPH', label: 'Tesoph' },
  19308: { refid: 'MDC_TEMP_NASOPH', label: 'Tnaso' },
  19316: { refid: 'MDC_TEMP_SKIN', label: 'Tskin' },
  19324: { refid: 'MDC_TEMP_VEN', label: 'Tven' },
  // Sites NEWS2 takes as body temperature (review rv114 M1). 19320 and 57348 are the MDC terms themselves; Philips'
  // own oral and axillary ids, and the predictive (spot-check thermometer) ones, are mapped by meaning.
  19320: { refid: 'MDC_TEMP_TYMP', label: 'Ttymp' },
  57348: { refid: 'MDC_TEMP_RECT', label: 'Trect' },
  61704: { refid: 'MDC_TEMP_ORAL', label: 'Toral', mdcCode: MDC.TEMP_ORAL.code }, // NOM_TEMP_ORAL
  61708: { refid: 'MDC_TEMP_AXILLA', label: 'Taxil', mdcCode: MDC.TEMP_AXILLA.code }, // NOM_TEMP_AXIL
  61712: { refid: 'MDC_TEMP_ORAL', label: 'pToral', mdcCode: MDC.TEMP_ORAL.code }, // NOM_TEMP_ORAL_PRED
  61716: { refid: 'MDC_TEMP_RECT', label: 'pTrect', mdcCode: MDC.TEMP_RECT.code }, // NOM_TEMP_RECT_PRED
  61720: { refid: 'MDC_TEMP_AXILLA', label: 'pTaxil', mdcCode: MDC.TEMP_AXILLA.code }, // NOM_TEMP_AXIL_PRED
  // Respiration and gases
  20480: { refid: 'MDC_RESP', label: 'Resp' },
  20490: { refid: 'MDC_RESP_RATE', label: 'RR' },
  20498: { refid: 'MDC_AWAY_RESP_RATE', label: 'awRR' },
  20652: { refid: 'MDC_AWAY_CO2', label: 'CO2' },
  // NOM_AWAY_CO2_ET (MDC_AWAY_CO2_ET, 151728) is mapped by meaning to MDC_CONC_AWAY_CO2_ET (151708), the term every
  // other driver and HL7 senders use for end-tidal CO2 (review rv114 M3). The raw code stays 2:20656.
  20656: { refid: 'MDC_CONC_AWAY_CO2_ET', label: 'etCO2', mdcCode: MDC.CONC_AWAY_CO2_ET.code },
  20666: { refid: 'MDC_AWAY_CO2_INSP_MIN', label: 'imCO2' },
  20836: { refid: 'MDC_CONC_AWAY_O2', label: 'O2' },
  21124: { refid: 'MDC_CONC_AWAY_O2_INSP', label: 'inO2' },
  19260: { refid: 'MDC_SAT_O2_VEN', label: 'SvO2' },
  19204: { refid: 'MDC_OUTPUT_CARD', label: 'C.O.' },
};

interface UnitTerm {
  ucum: string;
  refid: string;
}

/** DIM partition codes → UCUM. */
const DIM: Record<number, UnitTerm> = {
  0x0000: { ucum: '', refid: 'MDC_DIM_NOS' },
  0x0200: { ucum: '1', refid: 'MDC_DIM_DIMLESS' },
  0x0220: { ucum: '%', refid: 'MDC_DIM_PERCENT' },
  0x0aa0: { ucum: '/min', refid: 'MDC_DIM_BEAT_PER_MIN' },
  0x0ac0: { ucum: '/min', refid: 'MDC_DIM_PULS_PER_MIN' },
  0x0ae0: { ucum: '/min', refid: 'MDC_DIM_RESP_PER_MIN' },
  0x09e0: { ucum: '/min', refid: 'MDC_DIM_PER_MIN' },
  0x0f20: { ucum: 'mm[Hg]', refid: 'MDC_DIM_MMHG' },
  0x0f03: { ucum: 'kPa', refid: 'MDC_DIM_KILO_PASCAL' },
  0x0f40: { ucum: 'cm[H2O]', refid: 'MDC_DIM_CM_H2O' },
  0x0f72: { ucum: 'mbar', refid: 'MDC_DIM_MILLI_BAR' },
  0x17a0: { ucum: 'Cel', refid: 'MDC_DIM_DEGC' },
  0x1140: { ucum: '[degF]', refid: 'MDC_DIM_FAHR' },
  0x10b2: { ucum: 'mV', refid: 'MDC_DIM_MILLI_VOLT' },
  0x10b3: { ucum: 'uV', refid: 'MDC_DIM_MICRO_VOLT' },
  0x0652: { ucum: 'mL', refid: 'MDC_DIM_MILLI_L' },
  0x0c00: { ucum: 'L/min', refid: 'MDC_DIM_X_L_PER_MIN' },
  0x0880: { ucum: 's', refid: 'MDC_DIM_SEC' },
  0x0892: { ucum: 'ms', refid: 'MDC_DIM_MILLI_SEC' },
  0x10c0: { ucum: 'Ohm', refid: 'MDC_DIM_X_OHM' },
};

export function rawCode(partition: number, code: number, text?: string): RawCode {
  return text ? { system: 'intellivue', code: `${partition}:${code}`, text } : { system: 'intellivue', code: `${partition}:${code}` };
}

export interface PhysioLookup {
  mdc: MdcCode | null;
  raw: RawCode;
  label: string | null;
}

/** A SCADA physiological id → MDC term (when known) and the raw code (always). */
export function lookupPhysio(physioId: number): PhysioLookup {
  const t = PHYSIO[physioId];
  if (!t) {
    // The mapping is mechanical: a term the agent names needs no entry here to be recognised.
    const known = mdcByCode(contextFree(NOM_PART_SCADA, physioId));
    return { mdc: known ?? null, raw: rawCode(NOM_PART_SCADA, physioId), label: null };
  }
  const code = t.mdcCode ?? contextFree(NOM_PART_SCADA, physioId);
  // Prefer the agent's own term object when it has this code, so consumers compare like with like.
  const known = mdcByCode(code);
  const mdc = known && known.refid === t.refid ? known : { code, refid: t.refid };
  return { mdc, raw: rawCode(NOM_PART_SCADA, physioId, t.label), label: t.label };
}

/**
 * A DIM unit code → Unit (UCUM + MDC): the agent's shared unit table first (one spelling per unit across drivers),
 * then this driver's. Unknown units keep the IntelliVue code as their UCUM text.
 */
export function lookupUnit(unitCode: number): Unit {
  const code = contextFree(NOM_PART_DIM, unitCode);
  const shared = unitByMdc(code);
  if (shared) return shared;
  const u = DIM[unitCode];
  // Unknown to us: a UCUM annotation that names the device's code, no MDC term (we would be guessing).
  if (!u) return { ucum: `{intellivue-dim:${unitCode}}` };
  return { ucum: u.ucum, mdc: { code, refid: u.refid } };
}

/** Physiological ids the simulator uses, by name (tests and simulator read them from here). */
export const NOM = {
  ECG_ELEC_POTL_II: 0x0102,
  ECG_CARD_BEAT_RATE: 16770,
  PLETH_PULS_RATE: 18466,
  PULS_OXIM_SAT_O2: 19384,
  PLETH: 19380,
  NIBP: 18948,
  NIBP_SYS: 18949,
  NIBP_DIA: 18950,
  NIBP_MEAN: 18951,
  ABP: 18964,
  ABP_SYS: 18965,
  ABP_DIA: 18966,
  ABP_MEAN: 18967,
  TEMP: 19272,
  RESP_RATE: 20490,
  AWAY_RESP_RATE: 20498,
  AWAY_CO2: 20652,
  AWAY_CO2_ET: 20656,
} as const;

export const DIM_CODES = { PERCENT: 0x0220, BEAT_PER_MIN: 0x0aa0, RESP_PER_MIN: 0x0ae0, MMHG: 0x0f20, DEGC: 0x17a0, MILLI_VOLT: 0x10b2, DIMLESS: 0x0200 } as const;
