// A value beyond the device's measuring range (HL7 SN `>^40`), shared by the limit rules and the technical monitor so
// both judge such a reading alike (review rv99 M2).
import type { Quality } from '../model/reading.js';

/**
 * '>' or '<' when the value is questionable only because the device could merely bound it (every reason is
 * `sn-comparator:*`); else null. With any other doubt (OBX-8 QUES or CAL, OBX-11 P/S or missing) it is questionable
 * like any other reading: the device itself does not vouch for the bound.
 */
export function onlyBeyondRange(q: Quality): '>' | '<' | null {
  const reasons = q.reasons ?? [];
  if (q.state !== 'questionable' || reasons.length === 0) return null;
  let bound: '>' | '<' | null = null;
  for (const reason of reasons) {
    const b = reason === 'sn-comparator:>' || reason === 'sn-comparator:>=' ? '>' : reason === 'sn-comparator:<' || reason === 'sn-comparator:<=' ? '<' : null;
    if (b === null || (bound !== null && b !== bound)) return null; // another doubt, or bounds that disagree
    bound = b;
  }
  return bound;
}
