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
  if (typeof value === 'number' && !Number.isFinite(value)) {
    // ±Infinity is how some devices signal over-range: a number, just not one to show; NaN is no number at all.
    return { value: null, quality: { state: 'invalid', reasons: [Number.isNaN(value) ? 'not-a-number' : 'infinite'] } };
  }
  const r = point.validRange;
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
