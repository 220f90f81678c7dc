// Pure register decoding: 16-bit register words (as modbus-serial returns them) in, typed value out.
// Byte/word order names follow the common Modbus convention for a 32-bit value whose bytes are A B C D,
// A most significant:
//   ABCD  big-endian, registers [AB][CD]            (no swap)
//   CDAB  word-swapped, registers [CD][AB]          (low word first)
//   BADC  byte-swapped, registers [BA][DC]          (bytes swapped inside each register)
//   DCBA  little-endian, registers [DC][BA]         (both)
// The same two switches apply to every width: "byte swap" swaps the two bytes of each register,
// "word swap" reverses the order of the registers (for 64-bit values all four). 16-bit types and
// strings only honour the byte swap.
import { ModbusDecodeError } from './errors.js';

export type ValueType =
  | 'bool'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'float32'
  | 'float64'
  | 'bitfield'
  | 'string';
export type ByteOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';

export const VALUE_TYPES: readonly ValueType[] = [
  'bool',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'float32',
  'float64',
  'bitfield',
  'string',
];
export const BYTE_ORDERS: readonly ByteOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

/** How to decode one value held in registers (holding / input tables). */
export interface RegisterSpec {
  type: ValueType;
  order: ByteOrder;
  /** string: number of registers (2 characters each). */
  length?: number;
  /** bitfield: lowest bit (0 = least significant bit of the register) and width in bits. */
  bit?: number;
  bitLength?: number;
}

/** Registers one value occupies. */
export function registerCount(spec: RegisterSpec): number {
  switch (spec.type) {
    case 'bool':
    case 'int16':
    case 'uint16':
    case 'bitfield':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'float64':
      return 4;
    case 'string':
      return spec.length ?? 1;
  }
}

/** The register words as bytes, reordered to big-endian (ABCD) per the spec's order. */
export function orderedBytes(words: ArrayLike<number>, order: ByteOrder, wordSwapApplies: boolean): Uint8Array {
  const byteSwap = order === 'BADC' || order === 'DCBA';
  const wordSwap = wordSwapApplies && (order === 'CDAB' || order === 'DCBA');
  const n = words.length;
  const out = new Uint8Array(n * 2);
  for (let i = 0; i < n; i++) {
    const w = words[wordSwap ? n - 1 - i : i] as number;
    const hi = (w >> 8) & 0xff;
    const lo = w & 0xff;
    out[i * 2] = byteSwap ? lo : hi;
    out[i * 2 + 1] = byteSwap ? hi : lo;
  }
  return out;
}

function checkWords(words: ArrayLike<number>, want: number, field: string): void {
  if (words.length !== want) {
    throw new ModbusDecodeError(field, `expected ${want} register(s), got ${words.length}`);
  }
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w > 0xffff) {
      throw new ModbusDecodeError(field, `register ${i} is not a 16-bit value: ${String(w)}`);
    }
  }
}

/**
 * Decode one value from exactly `registerCount(spec)` register words.
 * Numbers for numeric types (bool → 0/1), a string for `string`. Throws ModbusDecodeError only.
 */
export function decodeRegisters(words: ArrayLike<number>, spec: RegisterSpec, field = 'value'): number | string {
  checkWords(words, registerCount(spec), field);
  const isWide = spec.type === 'int32' || spec.type === 'uint32' || spec.type === 'float32' || spec.type === 'float64';
  const bytes = orderedBytes(words, spec.order, isWide);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (spec.type) {
    case 'bool':
      return view.getUint16(0) !== 0 ? 1 : 0;
    case 'int16':
      return view.getInt16(0);
    case 'uint16':
      return view.getUint16(0);
    case 'int32':
      return view.getInt32(0);
    case 'uint32':
      return view.getUint32(0);
    case 'float32':
      return float32Decimal(view.getFloat32(0));
    case 'float64':
      return view.getFloat64(0);
    case 'bitfield': {
      const bit = spec.bit ?? 0;
      const len = spec.bitLength ?? 1;
      if (!Number.isInteger(bit) || !Number.isInteger(len) || bit < 0 || len < 1 || bit + len > 16) {
        throw new ModbusDecodeError(field, `bit field ${bit}+${len} does not fit in 16 bits`);
      }
      return (view.getUint16(0) >>> bit) & ((1 << len) - 1);
    }
    case 'string':
      return decodeAscii(bytes);
  }
}

/** Device strings are ASCII, NUL-padded or space-padded. Stops at the first NUL, trims trailing spaces. */
function decodeAscii(bytes: Uint8Array): string {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  let s = '';
  for (let i = 0; i < end; i++) {
    const b = bytes[i] as number;
    // Non-printable bytes become '?' so a garbled register cannot inject control characters into logs.
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '?';
  }
  return s.trimEnd();
}

/** A coil / discrete input as a number (1/0) so it fits NumericReading.value. */
export function decodeBit(bits: ArrayLike<boolean>, index: number, field = 'value'): number {
  if (!Number.isInteger(index) || index < 0 || index >= bits.length) {
    throw new ModbusDecodeError(field, `bit ${index} outside the ${bits.length} bits read`);
  }
  return bits[index] ? 1 : 0;
}

/**
 * A float32 as the shortest decimal that is still the same float32: 37.2f reads 37.2, not 37.20000076…
 * (the extra digits are float32 representation error, not data). Up to 9 digits, so unlike a fixed
 * 7-digit rounding it never changes the value itself (e.g. the exactly representable 12345678).
 */
export function float32Decimal(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let digits = 1; digits < 9; digits++) {
    const d = Number(x.toPrecision(digits));
    if (Math.fround(d) === x) return d;
  }
  return Number(x.toPrecision(9));
}

/**
 * raw × scale + offset, for numeric results only. Rounded to 12 significant digits when scaled so that
 * 372 × 0.1 reads 37.2, not 37.200000000000003 (registers carry far fewer digits than that).
 */
export function applyScale(raw: number, scale: number, offset: number): number {
  if (scale === 1 && offset === 0) return raw;
  const v = raw * scale + offset;
  return Number.isFinite(v) ? Number(v.toPrecision(12)) : v;
}
