// Which streamed waveforms the edge model can use, and under what name. The feature code
// (models/features) decides a channel's role by its name as a monitor labels it (II, V, PLETH, ABP…),
// and treats any name it does not know as an ECG lead — so only waveforms recognised here reach it.
import type { WaveformSegment } from '../model/reading.js';

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
 * Order the model sees channels in: the feature code takes the first two ECG leads, and the corpus it was
 * trained on lists lead II first, so II leads, then the other leads by name, then PLETH, then ABP.
 */
export function channelOrder(a: ModelChannel, b: ModelChannel): number {
  const rank = (c: ModelChannel) => (c.kind === 'ecg' ? (c.name === 'II' ? 0 : 1) : c.kind === 'ppg' ? 2 : 3);
  return rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
