// Short labels of parameters (HR, SpO2, ECG II) as screens and alarm texts name them, and their order on a bed tile.
// Unknown codes are still named, by their code.
import { MDC } from './mdc.js';
import type { MdcCode, RawCode } from './reading.js';

const LABELS: [MdcCode, string][] = [
  [MDC.ECG_HEART_RATE, 'HR'],
  [MDC.PULS_OXIM_SAT_O2, 'SpO2'],
  [MDC.PULS_OXIM_PULS_RATE, 'PR SpO2'], // apart from an arterial line's PR, which a monitor may send beside it
  [MDC.PULS_RATE, 'PR'],
  [MDC.RESP_RATE, 'RR'],
  [MDC.TTHOR_RESP_RATE, 'RR imp'],
  [MDC.AWAY_RESP_RATE, 'awRR'],
  [MDC.PRESS_BLD_NONINV_SYS, 'NIBP sys'],
  [MDC.PRESS_BLD_NONINV_DIA, 'NIBP dia'],
  [MDC.PRESS_BLD_NONINV_MEAN, 'NIBP mean'],
  // NIBP as cuff pressure (Mindray, Comen over HL7): the same measurement to the bedside (review rv126 H2).
  [MDC.PRESS_CUFF_SYS, 'NIBP sys'],
  [MDC.PRESS_CUFF_DIA, 'NIBP dia'],
  [MDC.PRESS_CUFF_MEAN, 'NIBP mean'],
  [MDC.PRESS_BLD_ART_ABP_SYS, 'ABP sys'],
  [MDC.PRESS_BLD_ART_SYS, 'ART sys'],
  [MDC.PRESS_BLD_ART_ABP_DIA, 'ABP dia'],
  [MDC.PRESS_BLD_ART_ABP_MEAN, 'ABP mean'],
  [MDC.TEMP_BODY, 'Temp'],
  [MDC.TEMP, 'Temp'],
  [MDC.CONC_AWAY_CO2_ET, 'etCO2'],
  [MDC.ECG_ELEC_POTL_I, 'ECG I'],
  [MDC.ECG_ELEC_POTL_II, 'ECG II'],
  [MDC.ECG_ELEC_POTL_III, 'ECG III'],
  [MDC.PULS_OXIM_PLETH, 'Pleth'],
];
const byCode = new Map(LABELS.map(([m, l], i) => [m.code, { label: l, order: i }]));

/** Intermittent measurements: a value minutes old is still the latest determination, not a stale feed. */
const INTERMITTENT = new Set([
  MDC.PRESS_BLD_NONINV_SYS.code,
  MDC.PRESS_BLD_NONINV_DIA.code,
  MDC.PRESS_BLD_NONINV_MEAN.code,
  MDC.PRESS_CUFF_SYS.code,
  MDC.PRESS_CUFF_DIA.code,
  MDC.PRESS_CUFF_MEAN.code,
]);

export function metricKey(mdc: MdcCode | null, raw: RawCode | undefined): string {
  if (mdc) return mdc.refid;
  return raw ? `${raw.system}:${raw.code}` : 'unknown';
}

/** Whether the display has a label of its own for this code (else it shows the refid without MDC_). */
export function hasLabel(mdc: MdcCode): boolean {
  return byCode.has(mdc.code);
}

export function metricLabel(mdc: MdcCode | null, raw: RawCode | undefined): string {
  if (mdc) return byCode.get(mdc.code)?.label ?? mdc.refid.replace(/^MDC_/, '');
  return raw?.text ?? raw?.code ?? 'unknown';
}

/** Sort position on a tile: known parameters in clinical order, then the rest. */
export function metricOrder(mdc: MdcCode | null): number {
  return (mdc && byCode.get(mdc.code)?.order) ?? 1000;
}

export function isIntermittent(mdc: MdcCode | null): boolean {
  return mdc !== null && INTERMITTENT.has(mdc.code);
}

/** Display text for a UCUM unit. */
export function unitText(ucum: string): string {
  return ({ 'mm[Hg]': 'mmHg', Cel: '°C', '[degF]': '°F', '/min': '/min', '1': '', 'cm[H2O]': 'cmH2O' } as Record<string, string>)[ucum] ?? ucum;
}
