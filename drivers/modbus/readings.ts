// Decoded register value → NumericReading with quality from the map (sentinels, valid range, NaN).
import type { NumericReading, Quality } from '../../agent/model/reading.js';
import { applyScale } from './decode.js';
import type { PlannedPoint } from './plan.js';

export interface ReadingOrigin {
  deviceId: string;
  bed?: string;
  source: string;
}

export function judge(point: PlannedPoint, raw: number | string): { value: number | string | null; quality: Quality } {
  for (const s of point.sentinels) {
    if (s.value === raw) {
      const reasons = [s.reason ?? 'sentinel'];
      // An unavailable/invalid value has no meaning to pass on; a questionable one is kept.
      const value = s.quality === 'questionable' ? scaled(point, raw) : null;
      return { value, quality: { state: s.quality, reasons } };
    }
  }
  const value = scaled(point, raw);
  const r = point.validRange;
  if (typeof value === 'number' && Number.isNaN(value)) return { value: null, quality: { state: 'invalid', reasons: ['not-a-number'] } };
  if (typeof value === 'number' && !Number.isFinite(value)) {
    // ±Infinity is how some devices signal over-range (after scale: a negative one turns it round). With a validRange
    // bound on that side it is that bound, as HL7 sends `>300`: questionable for the bound alone (sn-comparator), so
    // the limit alarms judge it (agent/alarms/bound.ts). Without one there is no number to give: invalid, saying which way.
    const above = value > 0;
    const bound = above ? r?.max : r?.min;
    if (bound !== undefined) return { value: bound, quality: { state: 'questionable', reasons: [above ? 'sn-comparator:>' : 'sn-comparator:<'] } };
    return { value: null, quality: { state: 'invalid', reasons: [above ? 'over-range' : 'under-range'] } };
  }
  if (r && typeof value === 'number' && ((r.min !== undefined && value < r.min) || (r.max !== undefined && value > r.max))) {
    return { value, quality: { state: 'questionable', reasons: ['out-of-range'] } };
  }
  return { value, quality: { state: 'valid' } };
}

function scaled(point: PlannedPoint, raw: number | string): number | string {
  return point.numeric && typeof raw === 'number' ? applyScale(raw, point.scale, point.offset) : raw;
}

export function toReading(
  point: PlannedPoint,
  judged: { value: number | string | null; quality: Quality },
  origin: ReadingOrigin,
  receivedAt: number,
): NumericReading {
  return {
    kind: 'numeric',
    deviceId: origin.deviceId,
    ...(origin.bed !== undefined ? { bed: origin.bed } : {}),
    source: origin.source,
    mdc: point.mdc,
    raw: point.raw,
    value: judged.value,
    unit: point.unit,
    deviceTime: null,
    receivedAt,
    quality: judged.quality,
    ...(point.setting ? { setting: true as const } : {}),
  };
}
