// IEEE 11073-10101 event codes (partition 3, MDC_PART_EVT) the agent knows, with the kind of alarm each tells:
// a patient's condition (physiological) or the equipment's (technical). Read where a sender gives no alert type
// (an HL7 PCD-04 alarm without OBX-8 SP/ST/SA), and by the edge model to recognise the arrhythmias it judges.
// Numbers are the term codes the IntelliVue (drivers/intellivue/alarms.ts) and simulator tables use. Fibrillation
// and flutter have no number here (IntelliVue sends a private one): known by refid only (code 0).
import { contextFree } from './mdc.js';

export type EventKind = 'physiological' | 'technical';
export interface MdcEvent {
  readonly refid: string;
  /** Context-free code, 0 when the agent knows none. */
  readonly code: number;
  readonly kind: EventKind;
}

const EVT = 3;
const event = (refid: string, term: number, kind: EventKind): MdcEvent => ({ refid, code: term ? contextFree(EVT, term) : 0, kind });

export const MDC_EVENTS: readonly MdcEvent[] = [
  event('MDC_EVT_ECG_ASYSTOLE', 3076, 'physiological'),
  event('MDC_EVT_ECG_BRADY_EXTREME', 3086, 'physiological'),
  event('MDC_EVT_ECG_TACHY_EXTREME', 3122, 'physiological'),
  event('MDC_EVT_ECG_V_TACHY', 3224, 'physiological'),
  event('MDC_EVT_ECG_V_FIB', 0, 'physiological'),
  event('MDC_EVT_ECG_V_FIB_TACHY', 0, 'physiological'),
  event('MDC_EVT_ECG_V_FLUTTER', 0, 'physiological'),
  event('MDC_EVT_APNEA', 3072, 'physiological'),
  event('MDC_EVT_DESAT', 3246, 'physiological'),
  event('MDC_EVT_LEAD_DISCONN', 268, 'technical'),
  event('MDC_EVT_LEADS_OFF', 274, 'technical'),
  event('MDC_EVT_SENSOR_DISCONN', 308, 'technical'),
  event('MDC_EVT_MSMT_INOP', 358, 'technical'),
];

const byCode = new Map(MDC_EVENTS.filter((e) => e.code !== 0).map((e) => [e.code, e]));
const byRefid = new Map(MDC_EVENTS.map((e) => [e.refid, e]));

/**
 * The event a code names, or undefined when the agent does not know it. `code`: the context-free number (0 when
 * none); `refid`: an MDC_ refid ('' when none). The number wins when it is known (the number is normative).
 */
export function mdcEvent(code: number, refid: string): MdcEvent | undefined {
  return byCode.get(code) ?? (refid ? byRefid.get(refid.toUpperCase()) : undefined);
}
