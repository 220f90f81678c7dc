// FLOAT-Type of the Data Export protocol: 32 bits, signed 8-bit exponent (top byte), signed 24-bit
// mantissa; value = mantissa × 10^exponent. Special mantissas (exponent 0): NaN +(2^23−1), NRes
// −2^23 ("not at this resolution"), ±INFINITY ±(2^23−2).

export type FloatValue =
  | { kind: 'number'; value: number }
  | { kind: 'nan' }
  | { kind: 'nres' }
  | { kind: 'pos-inf' }
  | { kind: 'neg-inf' };

export const FLOAT_NAN = 0x007fffff;
export const FLOAT_NRES = 0x00800000;
export const FLOAT_POS_INF = 0x007ffffe;
export const FLOAT_NEG_INF = 0x00800002;

export function decodeFloat(raw: number): FloatValue {
  const u = raw >>> 0;
  const mant24 = u & 0xffffff;
  // Specials are defined by the mantissa; public implementations also check them with exponent 0 only.
  if (mant24 === 0x7fffff) return { kind: 'nan' };
  if (mant24 === 0x800000) return { kind: 'nres' };
  if (mant24 === 0x7ffffe) return { kind: 'pos-inf' };
  if (mant24 === 0x800002) return { kind: 'neg-inf' };
  const exp = (u >>> 24) << 24 >> 24; // sign-extend 8 bits
  const mant = (mant24 << 8) >> 8; // sign-extend 24 bits
  // Dividing by an exact power of ten rounds correctly (367 / 10 = 36.7, not 36.699999…).
  const value = exp >= 0 ? mant * 10 ** exp : mant / 10 ** -exp;
  return { kind: 'number', value };
}

/** Number → FLOAT with `decimals` digits after the point (for the simulator and tests). */
export function encodeFloat(value: number, decimals = 0): number {
  if (Number.isNaN(value)) return FLOAT_NAN;
  let exp = -decimals;
  let mant = Math.round(value * 10 ** decimals);
  while (Math.abs(mant) >= 0x7ffffd) {
    mant = Math.round(mant / 10);
    exp++;
  }
  return (((exp & 0xff) << 24) | (mant & 0xffffff)) >>> 0;
}
