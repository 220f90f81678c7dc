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
 * Common non-UCUM spellings devices send (an HL7 OBX-6 `mmHg^mmHg^UCUM`, a Modbus map `unit: mmHg`), taken as the
 * UCUM unit they mean. Here, so that the limit rules, NEWS2 and the Modbus map check take the same spellings (review
 * rv114 M4: a systolic of 70 "mmHg" scored NEWS2 3 and raised no NIBP SYS LOW).
 */
const ALIASES: Record<string, string> = { mmHg: 'mm[Hg]', degC: 'Cel', degF: '[degF]' };

/**
 * `value` (in UCUM unit `from`) expressed in UCUM unit `to`, or null when we do not know how.
 * An empty `from` is taken as already being in `to` (devices that do not send units), which the caller accepts
 * by listing the metric in a rule for that unit. The spellings in ALIASES are taken as their UCUM unit.
 */
export function convert(value: number, fromUnit: string, toUnit: string): number | null {
  const from = ALIASES[fromUnit] ?? fromUnit;
  const to = ALIASES[toUnit] ?? toUnit;
  if (from === to || from === '') return value;
  if (SAME[to]?.includes(from)) return value;
  const fn = CONVERSIONS[to]?.[from];
  return fn ? fn(value) : null;
}
