// Decoded Medibus records → NumericReadings. Values the device marks as unavailable (blank, "---")
// are emitted with value null and quality 'unavailable', never dropped; any other field that is not a number is
// emitted with value null and quality 'invalid'. Numbers go out as the device sends them: no plausibility bounds.
import type { NumericReading, Origin, Quality, RawCode } from '../../agent/model/reading.js';
import { isNotAvailable, type TextRecord, type ValueRecord } from './protocol/data.js';
import { hexCode, lookup, type CodeKind, type CodeProfile } from './codes.js';

export function valueReadings(origin: Origin, kind: CodeKind, records: ValueRecord[], now: number, deviceTime: number | null, profile: CodeProfile): NumericReading[] {
  return records.map((r) => {
    const { mdc, unit, raw } = lookup(kind, r.code, profile);
    const reading: NumericReading = {
      ...origin,
      kind: 'numeric',
      mdc,
      value: r.value,
      unit,
      deviceTime,
      receivedAt: now,
      quality: quality(r),
    };
    // Keep the device's own code always when unmapped; when mapped too, so the source is traceable.
    reading.raw = raw;
    if (kind === 'set') reading.setting = true; // what the clinician set (29H), not a measurement
    return reading;
  });
}

/**
 * Blank or dashes: the device has no value now. Anything else that is not a number ("12#4"), in a message whose
 * checksum passed, is a value that cannot be read: invalid, not "not available" (review rv173 L4).
 */
function quality(r: ValueRecord): Quality {
  if (r.value !== null) return { state: 'valid' };
  return { state: isNotAvailable(r.raw) ? 'unavailable' : 'invalid', reasons: [`device-value:${JSON.stringify(r.raw)}`] };
}

/** Alarm limits: the device's code, marked as a limit; mdc null because limits are not measurements; set by a person. */
export function limitReadings(origin: Origin, page: 1 | 2, bound: 'low' | 'high', records: ValueRecord[], now: number, profile: CodeProfile): NumericReading[] {
  return records.map((r) => {
    const { unit, raw } = lookup(page === 1 ? 'cp1' : 'cp2', r.code, profile);
    const rawCode: RawCode = { system: 'medibus', code: `${bound}-limit:cp${page}:${hexCode(r.code)}`, text: `${raw.text ?? raw.code} ${bound} alarm limit` };
    return {
      ...origin,
      kind: 'numeric',
      mdc: null,
      raw: rawCode,
      value: r.value,
      unit,
      deviceTime: null,
      receivedAt: now,
      quality: quality(r),
      setting: true,
    };
  });
}

/** Text messages (ventilation mode, patient category…) as string observations: chosen on the device, so settings. */
export function textReadings(origin: Origin, records: TextRecord[], now: number): NumericReading[] {
  return records.map((r) => ({
    ...origin,
    kind: 'numeric',
    mdc: null,
    raw: { system: 'medibus', code: `text:${hexCode(r.code)}`, text: r.text },
    value: r.text,
    unit: { ucum: '' },
    deviceTime: null,
    receivedAt: now,
    quality: { state: 'valid' },
    setting: true,
  }));
}
