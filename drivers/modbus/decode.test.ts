import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc16, crcOk, withCrc } from './crc.js';
import { BYTE_ORDERS, decodeBit, decodeRegisters, float32Decimal, registerCount, VALUE_TYPES, type ByteOrder, type RegisterSpec } from './decode.js';
import { ModbusDecodeError } from './errors.js';

// Known encodings written out by hand: value → registers in each order.
const VECTORS: Array<{ spec: Omit<RegisterSpec, 'order'>; words: Record<ByteOrder, number[]>; value: number | string; close?: number }> = [
  { spec: { type: 'int16' }, words: { ABCD: [0xfffe], CDAB: [0xfffe], BADC: [0xfeff], DCBA: [0xfeff] }, value: -2 },
  { spec: { type: 'int16' }, words: { ABCD: [0xcfc7], CDAB: [0xcfc7], BADC: [0xc7cf], DCBA: [0xc7cf] }, value: -12345 },
  { spec: { type: 'uint16' }, words: { ABCD: [0xd431], CDAB: [0xd431], BADC: [0x31d4], DCBA: [0x31d4] }, value: 54321 },
  { spec: { type: 'int32' }, words: { ABCD: [0xf8a4, 0x32eb], CDAB: [0x32eb, 0xf8a4], BADC: [0xa4f8, 0xeb32], DCBA: [0xeb32, 0xa4f8] }, value: -123456789 },
  { spec: { type: 'int32' }, words: { ABCD: [0x0001, 0x0002], CDAB: [0x0002, 0x0001], BADC: [0x0100, 0x0200], DCBA: [0x0200, 0x0100] }, value: 65538 },
  { spec: { type: 'uint32' }, words: { ABCD: [0xb2d0, 0x5e00], CDAB: [0x5e00, 0xb2d0], BADC: [0xd0b2, 0x005e], DCBA: [0x005e, 0xd0b2] }, value: 3000000000 },
  { spec: { type: 'float32' }, words: { ABCD: [0x3f80, 0x0000], CDAB: [0x0000, 0x3f80], BADC: [0x803f, 0x0000], DCBA: [0x0000, 0x803f] }, value: 1 },
  { spec: { type: 'float32' }, words: { ABCD: [0xc020, 0x0000], CDAB: [0x0000, 0xc020], BADC: [0x20c0, 0x0000], DCBA: [0x0000, 0x20c0] }, value: -2.5 },
  { spec: { type: 'float32' }, words: { ABCD: [0x42f6, 0xe979], CDAB: [0xe979, 0x42f6], BADC: [0xf642, 0x79e9], DCBA: [0x79e9, 0xf642] }, value: 123.456 },
  {
    spec: { type: 'float64' },
    words: { ABCD: [0x4009, 0x21fb, 0x5444, 0x2d18], CDAB: [0x2d18, 0x5444, 0x21fb, 0x4009], BADC: [0x0940, 0xfb21, 0x4454, 0x182d], DCBA: [0x182d, 0x4454, 0xfb21, 0x0940] },
    value: Math.PI,
  },
  { spec: { type: 'float64' }, words: { ABCD: [0x3ff0, 0, 0, 0], CDAB: [0, 0, 0, 0x3ff0], BADC: [0xf03f, 0, 0, 0], DCBA: [0, 0, 0, 0xf03f] }, value: 1 },
  { spec: { type: 'bool' }, words: { ABCD: [0x0100], CDAB: [0x0100], BADC: [0x0001], DCBA: [0x0001] }, value: 1 },
  { spec: { type: 'bool' }, words: { ABCD: [0], CDAB: [0], BADC: [0], DCBA: [0] }, value: 0 },
  // 0xA635: bits 4..7 = 3
  { spec: { type: 'bitfield', bit: 4, bitLength: 4 }, words: { ABCD: [0xa635], CDAB: [0xa635], BADC: [0x35a6], DCBA: [0x35a6] }, value: 3 },
  { spec: { type: 'bitfield', bit: 13, bitLength: 1 }, words: { ABCD: [0xa635], CDAB: [0xa635], BADC: [0x35a6], DCBA: [0x35a6] }, value: 1 },
  { spec: { type: 'bitfield', bit: 0, bitLength: 16 }, words: { ABCD: [0xa635], CDAB: [0xa635], BADC: [0x35a6], DCBA: [0x35a6] }, value: 0xa635 },
  {
    spec: { type: 'string', length: 5 },
    words: {
      ABCD: [0x4943, 0x552d, 0x5645, 0x4e54, 0x3100],
      CDAB: [0x4943, 0x552d, 0x5645, 0x4e54, 0x3100],
      BADC: [0x4349, 0x2d55, 0x4556, 0x544e, 0x0031],
      DCBA: [0x4349, 0x2d55, 0x4556, 0x544e, 0x0031],
    },
    value: 'ICU-VENT1',
  },
  { spec: { type: 'string', length: 2 }, words: { ABCD: [0x4f4b, 0x2020], CDAB: [0x4f4b, 0x2020], BADC: [0x4b4f, 0x2020], DCBA: [0x4b4f, 0x2020] }, value: 'OK' },
];

describe('decodeRegisters known vectors', () => {
  for (const v of VECTORS) {
    for (const order of BYTE_ORDERS) {
      const spec = { ...v.spec, order } as RegisterSpec;
      it(`${JSON.stringify(v.spec)} ${order} → ${String(v.value)}`, () => {
        const got = decodeRegisters(v.words[order], spec);
        if (v.close !== undefined) expect(got as number).toBeCloseTo(v.value as number, v.close);
        else expect(got).toBe(v.value);
      });
    }
  }

  it('covers every value type', () => {
    const covered = new Set(VECTORS.map((v) => v.spec.type));
    expect([...covered].sort()).toEqual([...VALUE_TYPES].sort());
  });

  it('registerCount matches the type widths', () => {
    expect(registerCount({ type: 'int16', order: 'ABCD' })).toBe(1);
    expect(registerCount({ type: 'float32', order: 'ABCD' })).toBe(2);
    expect(registerCount({ type: 'float64', order: 'ABCD' })).toBe(4);
    expect(registerCount({ type: 'string', order: 'ABCD', length: 7 })).toBe(7);
  });

  it('float32 reads as the shortest decimal of the same float32, not its binary representation error', () => {
    const f32 = (hi: number, lo: number): number => decodeRegisters([hi, lo], { type: 'float32', order: 'ABCD' }) as number;
    expect(f32(0x4214, 0xcccd)).toBe(37.2); // 37.2f is 37.200000762939453
    expect(f32(0x461c, 0x3f9a)).toBe(9999.9); // 9999.900390625
    expect(f32(0x3dcc, 0xcccd)).toBe(0.1);
    // Exactly representable values keep every digit (a fixed 7-digit rounding would give 12345680).
    expect(f32(0x4b3c, 0x614e)).toBe(12345678);
    expect(Number.isNaN(f32(0x7fc0, 0))).toBe(true);
    expect(f32(0x7f80, 0)).toBe(Infinity);
  });

  it('replaces non-printable string bytes instead of passing control characters on', () => {
    expect(decodeRegisters([0x411b, 0x4200], { type: 'string', order: 'ABCD', length: 2 })).toBe('A?B');
  });

  it('says which value and what is wrong', () => {
    expect(() => decodeRegisters([1], { type: 'float32', order: 'ABCD' }, 'spo2 (holding 4)')).toThrow(/spo2 \(holding 4\): expected 2 register\(s\), got 1/);
    expect(() => decodeRegisters([70000], { type: 'uint16', order: 'ABCD' })).toThrow(ModbusDecodeError);
    expect(() => decodeBit([true], 3)).toThrow(/bit 3 outside the 1 bits/);
  });
});

describe('decodeRegisters fuzz', () => {
  const spec = fc.record({
    type: fc.constantFrom(...VALUE_TYPES),
    order: fc.constantFrom(...BYTE_ORDERS),
    length: fc.option(fc.integer({ min: -2, max: 130 }), { nil: undefined }),
    bit: fc.option(fc.integer({ min: -2, max: 20 }), { nil: undefined }),
    bitLength: fc.option(fc.integer({ min: -2, max: 20 }), { nil: undefined }),
  });
  it('never throws anything but ModbusDecodeError', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.double()), { maxLength: 140 }), spec, (words, s) => {
        try {
          const r = decodeRegisters(words, s as RegisterSpec);
          expect(['number', 'string']).toContain(typeof r);
        } catch (e) {
          expect(e).toBeInstanceOf(ModbusDecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('decodes any valid 16-bit words of the right count', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BYTE_ORDERS), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 }), (order, words) => {
        expect(Number.isNaN(decodeRegisters(words, { type: 'float64', order }) as number) || typeof decodeRegisters(words, { type: 'float64', order }) === 'number').toBe(true);
        const u = decodeRegisters(words.slice(0, 2), { type: 'uint32', order }) as number;
        expect(u).toBeGreaterThanOrEqual(0);
        expect(u).toBeLessThanOrEqual(0xffffffff);
      }),
    );
  });
});

describe('float32Decimal', () => {
  it('never changes the float32 value and uses at most 9 significant digits', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const d = float32Decimal(x);
        expect(Math.fround(d)).toBe(x);
        if (d !== 0) expect(Number(d.toPrecision(9))).toBe(d);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('crc16', () => {
  it('matches the textbook frame 01 03 00 00 00 0A → C5 CD', () => {
    const f = withCrc(Uint8Array.of(0x01, 0x03, 0x00, 0x00, 0x00, 0x0a));
    expect([...f.subarray(6)]).toEqual([0xc5, 0xcd]);
    expect(crcOk(f)).toBe(true);
    f[2] = 1;
    expect(crcOk(f)).toBe(false);
    expect(crc16(new Uint8Array())).toBe(0xffff);
  });
});
