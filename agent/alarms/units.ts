// Unit conversion for the few units the alarm rules compare against. A value in a unit we cannot convert is
// not compared at all (null), rather than compared as if it were in the rule's unit.

type Converter = (v: number) => number;

const CONVERSIONS: Record<string, Record<string, Converter>> = {
  Cel: { '[degF]': (f) => ((f - 32) * 5) / 9 },
  'mm[Hg]': { kPa: (k) => k * 7.500615758 },
};

/** Units that mean the same for our purposes (UCUM rate spellings used by devices). */
const SAME: Record<string, readonly string[]> = {
  '/min': ['/min', '{beats}/min', '{breaths}/min', '{beat}/min', '{breath}/min'],
  '%': ['%'],
};

/**
 * `value` (in UCUM unit `from`) expressed in UCUM unit `to`, or null when we do not know how.
 * An empty `from` is taken as already being in `to` (devices that do not send units), which the caller accepts
 * by listing the metric in a rule for that unit.
 */
export function convert(value: number, from: string, to: string): number | null {
  if (from === to || from === '') return value;
  if (SAME[to]?.includes(from)) return value;
  const fn = CONVERSIONS[to]?.[from];
  return fn ? fn(value) : null;
}
