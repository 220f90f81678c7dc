// Unit conversion for the few units the alarm rules compare against. A value in a unit we cannot convert is
// not compared at all (null), rather than compared as if it were in the rule's unit.

import { canonicalUcum } from '../model/mdc.js';

type Converter = (v: number) => number;

const CONVERSIONS: Record<string, Record<string, Converter>> = {
  Cel: { '[degF]': (f) => ((f - 32) * 5) / 9 },
  'mm[Hg]': { kPa: (k) => k * 7.500615758 },
};

/**
 * `value` (in UCUM unit `from`) expressed in UCUM unit `to`, or null when we do not know how.
 * An empty `from` is taken as already being in `to` (devices that do not send units), which the caller accepts
 * by listing the metric in a rule for that unit. Other spellings of one unit (an HL7 OBX-6 `mmHg^mmHg^UCUM`, a Modbus
 * map `unit: mmHg`, `{beat}/min`) are taken as their UCUM unit by the one table drivers use too (canonicalUcum), so
 * that the limit rules, NEWS2 and the Modbus map check take the same spellings (review rv114 M4, rv125 M2).
 */
export function convert(value: number, fromUnit: string, toUnit: string): number | null {
  const from = canonicalUcum(fromUnit);
  const to = canonicalUcum(toUnit);
  if (from === to || from === '') return value;
  const fn = CONVERSIONS[to]?.[from];
  return fn ? fn(value) : null;
}
