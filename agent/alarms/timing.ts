// Quality that doubts only when a reading was taken, not what it measured (review rv142 F4), shared by the alarm
// checks that judge whether a reading is "valid", as bound.ts is for a value beyond the measuring range.
import type { Quality } from '../model/reading.js';

/**
 * Reasons about a reading's time alone: placed at the gateway's receipt (HL7 waveform without OBX-14/OBR-7,
 * drivers/hl7/pcd01.ts), on a timeline anchored at a receipt (IntelliVue), a zone assumed, a time field unreadable.
 */
export function isTimingReason(reason: string): boolean {
  return reason === 'time-from-receipt' || reason === 'time-anchored-at-receipt' || reason === 'time-zone-assumed' || reason.startsWith('time-invalid:');
}

/**
 * Whether the quality is questionable only for its timing (every reason one of isTimingReason's): its values are as
 * good as a valid reading's. With any other doubt, or none given, it is questionable like any other reading.
 */
export function onlyTimingDoubt(q: Quality): boolean {
  const reasons = q.reasons ?? [];
  return q.state === 'questionable' && reasons.length > 0 && reasons.every(isTimingReason);
}
