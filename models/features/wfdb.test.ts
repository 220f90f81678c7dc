import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alarmFromComments, decodeFormat16, parseHeader, WfdbError } from './wfdb.js';

const HEADER = [
  'a103l 3 250 3',
  'a103l.dat 16 7247/mV 16 0 -1997 26019 0 II',
  'a103l.dat 16 1.052e+04(5)/mV 16 0 9127 20586 0 V',
  'a103l.dat 16+0 1.253e+04/NU 16 0 6877 9982 0 PLETH',
  '#Asystole',
  '#False alarm',
].join('\r\n');

describe('WFDB header', () => {
  it('reads the record line, gains, baselines, units and names', () => {
    const h = parseHeader(HEADER);
    expect(h.recordName).toBe('a103l');
    expect(h.sampleRateHz).toBe(250);
    expect(h.samplesPerSignal).toBe(3);
    expect(h.signals.map((s) => [s.description, s.gain, s.baseline, s.units])).toEqual([
      ['II', 7247, 0, 'mV'],
      ['V', 10520, 5, 'mV'],
      ['PLETH', 12530, 0, 'NU'],
    ]);
    expect(alarmFromComments(h.comments)).toEqual({ alarmType: 'Asystole', trueAlarm: false });
  });

  it('says which line and field is wrong', () => {
    expect(() => parseHeader('r 2 250\nr.dat 16 100/mV 16 0 0 0 0 II')).toThrow(/expected 2 signal lines/);
    expect(() => parseHeader('r 1 250\nr.dat 16 abc/mV 16 0 0 0 0 II')).toThrow(/line 2 \(signal 0\): gain is not a number/);
    expect(() => parseHeader('r x 250')).toThrow(WfdbError);
  });

  it('refuses samples per frame other than 1 and a skew, naming the signal, rather than decoding nonsense', () => {
    const two = (fmt: string) => parseHeader(`r 2 250 4\nr.dat ${fmt} 100/mV 16 0 0 0 0 II\nr.dat 16 1/NU 16 0 0 0 0 PLETH`);
    expect(() => two('16x2')).toThrow(WfdbError);
    expect(() => two('16x2')).toThrow('header line 2 (signal 0): signal "II" has 2 samples per frame; only 1 is supported');
    expect(() => two('16:3')).toThrow('header line 2 (signal 0): signal "II" has skew 3; only 0 is supported');
    expect(() => two('16x4:1+24')).toThrow(/signal "II" has 4 samples per frame/);
    // The values that change nothing are accepted.
    expect(two('16x1:0+24').signals[0]).toMatchObject({ format: 16, byteOffset: 24 });
  });

  it('keeps each signal\'s units on the decoded channel', () => {
    const h = parseHeader('r 2 250 1\nr.dat 16 1/uV 16 0 0 0 0 II\nr.dat 16 1 16 0 0 0 0 V');
    expect(decodeFormat16(h, new Uint8Array(4)).map((c) => c.units)).toEqual(['uV', 'mV']); // WFDB's default is mV
  });

  it('decodes interleaved little-endian int16 into physical units, -32768 as NaN', () => {
    const h = parseHeader(HEADER);
    const raw = new Int16Array([7247, 10525, 0, -7247, 5, 12530, -32768, -10515, 1253]);
    const ch = decodeFormat16(h, new Uint8Array(raw.buffer));
    expect(Array.from(ch[0]!.samples)).toEqual([1, -1, NaN]);
    expect(Array.from(ch[1]!.samples, (v) => Math.round(v * 1e3) / 1e3)).toEqual([1, 0, -1]);
    expect(Array.from(ch[2]!.samples, (v) => Math.round(v * 1e3) / 1e3)).toEqual([0, 1, 0.1]);
    expect(() => decodeFormat16(h, new Uint8Array(10))).toThrow(/header says 3 samples, file holds 1/);
  });

  it('never throws anything but WfdbError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string(), fc.uint8Array({ maxLength: 64 }), (text, bytes) => {
        try {
          decodeFormat16(parseHeader(text), bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(WfdbError);
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 200 }), (n, bytes) => {
        const lines = [`r ${n} 250`, ...Array.from({ length: n }, (_, i) => `r.dat 16 200/mV 16 0 0 0 0 s${i}`)];
        const ch = decodeFormat16(parseHeader(lines.join('\n')), bytes);
        expect(ch).toHaveLength(n);
        expect(ch[0]!.samples.length).toBe(Math.floor(bytes.length / (2 * n)));
      }),
    );
  });
});
