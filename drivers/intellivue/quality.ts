// MeasurementState bits and special FLOAT values → reading quality. The guide: "only if state
// indicates a valid measurement should the value be interpreted", so invalid / unavailable values are
// emitted as null with the reason; questionable, demo and test data keep their value, marked.
import type { Quality, QualityState } from '../../agent/model/reading.js';
import { MSMT } from './protocol/constants.js';
import type { FloatValue } from './protocol/float.js';

const RANK: Record<QualityState, number> = { valid: 0, questionable: 1, unavailable: 2, invalid: 3 };

export interface Judged {
  value: number | null;
  quality: Quality;
}

/** Raises the state to `state` if that is worse, and adds `reason` once (as drivers/hl7/pcd01.ts worsen()). */
export function worsen(q: Quality, state: QualityState, reason: string): void {
  if (RANK[state] > RANK[q.state]) q.state = state;
  if (!q.reasons?.includes(reason)) q.reasons = [...(q.reasons ?? []), reason];
}

export function judge(state: number, v: FloatValue | null): Judged {
  let worst: QualityState = 'valid';
  const reasons: string[] = [];
  const mark = (s: QualityState, reason: string) => {
    reasons.push(reason);
    if (RANK[s] > RANK[worst]) worst = s;
  };
  if (state & MSMT.INVALID) mark('invalid', 'device-flag:invalid');
  if (state & MSMT.UNAVAILABLE) mark('unavailable', 'device-flag:unavailable');
  if (state & MSMT.QUESTIONABLE) mark('questionable', 'device-flag:questionable');
  if (state & MSMT.CALIBRATION_ONGOING) mark('questionable', 'calibration-ongoing');
  if (state & MSMT.DEMO_DATA) mark('invalid', 'demo-data');
  if (state & MSMT.TEST_DATA) mark('invalid', 'test-data');
  if (state & MSMT.EARLY_INDICATION) mark('questionable', 'early-indication');
  let value: number | null = null;
  if (v) {
    if (v.kind === 'number') value = v.value;
    else if (v.kind === 'nan') mark('unavailable', 'value:NaN');
    else if (v.kind === 'nres') mark('unavailable', 'value:not-at-this-resolution');
    else mark('invalid', v.kind === 'pos-inf' ? 'out-of-range:+INF' : 'out-of-range:-INF');
  }
  // A value flagged invalid/unavailable by the device is not a measurement: do not pass it on.
  if (state & (MSMT.INVALID | MSMT.UNAVAILABLE)) value = null;
  if (value === null && v && worst === 'valid') worst = 'unavailable';
  return { value, quality: reasons.length ? { state: worst, reasons } : { state: 'valid' } };
}
