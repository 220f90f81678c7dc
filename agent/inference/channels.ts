// Which streamed waveforms the edge model can use, and under what name. The feature code
// (models/features) decides a channel's role by its name as a monitor labels it (II, V, PLETH, ABP…),
// and treats any name it does not know as an ECG lead — so only waveforms recognised here reach it.
import type { WaveformSegment } from '../model/reading.js';
import { channelRank, type Channel } from '../../models/features/index.js';
import { quantiles } from '../../models/features/dsp.js';

export type ModelChannelKind = 'ecg' | 'ppg' | 'abp';

export interface ModelChannel {
  /** Name as the feature code expects it: II, V, aVR, PLETH, ABP… */
  name: string;
  kind: ModelChannelKind;
  /** Multiply samples by this to get the units the model was trained on (ECG mV, ABP mmHg). */
  scale: number;
}

/** Refid of an ECG lead's waveform (MDC_ECG_ELEC_POTL, MDC_ECG_ELEC_POTL_II, ...). */
export const ECG_PREFIX = 'MDC_ECG_ELEC_POTL';
/** MDC lead suffixes spelled as monitors (and the PhysioNet headers) spell them. */
const LEAD_NAMES: Record<string, string> = { AVR: 'aVR', AVL: 'aVL', AVF: 'aVF' };
const ABP_REFIDS = new Set(['MDC_PRESS_BLD_ART', 'MDC_PRESS_BLD_ART_ABP']);
const PLETH_REFIDS = new Set(['MDC_PULS_OXIM_PLETH']);

/** ECG in µV/nV → mV; ABP in kPa → mmHg. Other units are taken as they come (pleth has no standard unit). */
function scaleFor(kind: ModelChannelKind, ucum: string): number | null {
  if (kind === 'ecg') return ({ mV: 1, uV: 1e-3, nV: 1e-6, V: 1e3 } as Record<string, number>)[ucum] ?? (ucum === '' ? 1 : null);
  if (kind === 'abp') return ({ 'mm[Hg]': 1, kPa: 7.50062 } as Record<string, number>)[ucum] ?? (ucum === '' ? 1 : null);
  return 1;
}

/**
 * The model signal a waveform code stands for (ECG lead, pleth, ABP), whatever its unit, or null when the model does
 * not use that signal (CVP, PAP, respiration, codes we do not know).
 */
export function modelSignal(seg: Pick<WaveformSegment, 'mdc'>): { name: string; kind: ModelChannelKind } | null {
  const refid = seg.mdc?.refid;
  if (refid === undefined) return null;
  if (refid === ECG_PREFIX) return { kind: 'ecg', name: 'ECG' };
  if (refid.startsWith(`${ECG_PREFIX}_`)) {
    const lead = refid.slice(ECG_PREFIX.length + 1);
    return { kind: 'ecg', name: LEAD_NAMES[lead] ?? lead };
  }
  if (PLETH_REFIDS.has(refid)) return { kind: 'ppg', name: 'PLETH' };
  if (ABP_REFIDS.has(refid)) return { kind: 'abp', name: 'ABP' };
  return null;
}

/**
 * The model channel of a waveform segment, or null when the model does not use that signal (modelSignal), or its
 * unit cannot be converted.
 */
export function modelChannel(seg: Pick<WaveformSegment, 'mdc' | 'unit'>): ModelChannel | null {
  const signal = modelSignal(seg);
  if (!signal) return null;
  const scale = scaleFor(signal.kind, seg.unit.ucum);
  return scale === null ? null : { ...signal, scale };
}

/**
 * Order the model sees channels in: the features' canonical rank (models/features channelRank: lead II, then I, III,
 * aVR, aVL, aVF, then the other leads — V, V1–V6 and the generic "ECG" alike —, then PLETH, then ABP). Channels of
 * equal rank compare equal: the caller keeps them in arrival order, as the features keep a window's order among
 * them, so the live path and training give a record's leads the same roles.
 */
export function channelOrder(a: ModelChannel, b: ModelChannel): number {
  return rankOf(a) - rankOf(b);
}

function rankOf(c: ModelChannel): number {
  // By kind, not only by name: a pleth or ABP is ranked as such whatever it is called.
  return c.kind === 'ecg' ? Math.min(channelRank(c.name), channelRank('V')) : channelRank(c.kind === 'ppg' ? 'PLETH' : 'ABP');
}

/**
 * Bounds of a PLETH the model may read. Training PLETH is in normalised units: over the 494 corpus windows with PLETH
 * the median level is −1.3…2.7 (median 0.48) and the 5–95 % range at most 10.2 (99th percentile 7.4, median 0.70). A
 * device may send pleth in its own scale (an IntelliVue without an absolute scale: 0–4095 integers, unit 1), which the
 * model's absolute pleth features misread (review rv71 M2: ×1000 + 2000 turned a true asystole likely-false).
 * Normalising it per window inside the features cost cross-validated score (83 → 81 in the f3 retrain), so such a
 * pleth is left out instead, as on a record without pleth. The bounds sit just outside the training envelope (review
 * rv81 M1: ±25 / 50 let a pleth at 10–35× through): a margin of ×1.8 over the largest level and ×1.5 over the largest
 * range, so none of the 494 corpus windows meets them; at ×10 they refuse 279 of them, at ×30 481. A scaled pleth
 * whose level and range still fall inside the envelope cannot be told from a trained one and is read as it comes.
 */
export const PLETH_MAX_LEVEL = 5;
export const PLETH_MAX_RANGE = 15;

/**
 * Why a PLETH window is not in the scale the model was trained on (its median level or 5–95 % range outside the
 * bounds above), or null when it is, or has no finite sample.
 */
export function plethScaleProblem(c: Pick<Channel, 'samples'>): string | null {
  const v: number[] = [];
  for (const x of c.samples) if (Number.isFinite(x)) v.push(x);
  if (v.length === 0) return null;
  const [p05, p50, p95] = quantiles(v, [0.05, 0.5, 0.95]) as [number, number, number];
  const range = p95 - p05;
  if (Math.abs(p50) <= PLETH_MAX_LEVEL && range <= PLETH_MAX_RANGE) return null;
  const f = (x: number) => Number(x.toPrecision(3));
  return `PLETH not used: level ${f(p50)}, 5–95 % range ${f(range)} in the device's units, outside the normalised units the model was trained on (level −1.3…2.7, range ≤ 10; taken up to ±${PLETH_MAX_LEVEL} and ${PLETH_MAX_RANGE})`;
}
