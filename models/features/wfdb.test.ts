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
    expect(() => decodeFormat16(h, new Uint8Array(10))).toThrow(/header says 3 samples of 3 signals, 18 bytes in format 16; the file holds 10 bytes/);
  });

  it('refuses a line after the signal lines the record line announces, naming it (review rv193 M1)', () => {
    // a103l with its record line saying 2 signals: the third signal line would otherwise be ignored and the
    // 3-signal file decoded as 2-signal frames, plausible-looking nonsense.
    const h = HEADER.replace('a103l 3 250 3', 'a103l 2 250 3');
    expect(() => parseHeader(h)).toThrow(WfdbError);
    expect(() => parseHeader(h)).toThrow(/^header line 4: the record line announces 2 signals, but this line follows their 2 signal lines: "a103l\.dat 16\+0 1\.253e\+04\/NU/);
  });

  it('refuses a signal file whose size is not what the header says, naming the file and both sizes (review rv193 M1)', () => {
    const h = parseHeader(HEADER); // 3 samples of 3 signals: 18 bytes
    expect(() => decodeFormat16(h, new Uint8Array(20))).toThrow(WfdbError);
    expect(() => decodeFormat16(h, new Uint8Array(20))).toThrow(
      'data (a103l.dat): the header says 3 samples of 3 signals, 18 bytes in format 16; the file holds 20 bytes',
    );
    expect(() => decodeFormat16(h, new Uint8Array(36))).toThrow(/the file holds 36 bytes/);
    expect(() => decodeFormat16(h, new Uint8Array(12))).toThrow(/the file holds 12 bytes/);
    // With a byte offset, the offset counts.
    const off = parseHeader('r 1 250 2\nr.dat 16+24 200/mV 16 0 0 0 0 II');
    expect(decodeFormat16(off, new Uint8Array(28))[0]!.samples.length).toBe(2);
    expect(() => decodeFormat16(off, new Uint8Array(30))).toThrow('data (r.dat): the header says 2 samples of 1 signal, 4 bytes in format 16 from byte 24 (28 in all); the file holds 30 bytes');
    // No sample count: the file must hold whole frames.
    const free = parseHeader('r 2 250\nr.dat 16 200/mV 16 0 0 0 0 II\nr.dat 16 200/mV 16 0 0 0 0 V');
    expect(decodeFormat16(free, new Uint8Array(8))[0]!.samples.length).toBe(2);
    expect(() => decodeFormat16(free, new Uint8Array(10))).toThrow(
      'data (r.dat): the header gives no sample count, and the file holds 10 bytes of samples, not a whole number of 4-byte frames (2 signals in format 16): 2 bytes left over',
    );
  });

  it('refuses gain 0, which WFDB reads as uncalibrated, rather than scaling by 200 as if in mV (review rv193 L5)', () => {
    expect(() => parseHeader('r 1 250 1\nr.dat 16 0/mV 16 0 0 0 0 II')).toThrow(
      'header line 2 (signal 0): signal "II" has gain 0, which WFDB reads as uncalibrated: its samples have no scale to mV',
    );
    // A missing gain is WFDB's default, 200 ADC units per mV.
    expect(parseHeader('r 1 250 1\nr.dat 16').signals[0]!.gain).toBe(200);
  });

  it('names a negative sample count as such, with its line (review rv193 L5)', () => {
    expect(() => parseHeader('r 1 250 -7500\nr.dat 16 200/mV 16 0 0 0 0 II')).toThrow('header line 1: samples per signal -7500 is negative');
    expect(() => parseHeader('r 1 250 7.5\nr.dat 16 200/mV 16 0 0 0 0 II')).toThrow('header line 1: samples per signal 7.5 is not a whole number');
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
        const header = parseHeader(lines.join('\n'));
        // Whole frames decode; a partial last frame is refused (review rv193 M1).
        if (bytes.length % (2 * n) !== 0) {
          expect(() => decodeFormat16(header, bytes)).toThrow(/not a whole number of/);
          return;
        }
        const ch = decodeFormat16(header, bytes);
        expect(ch).toHaveLength(n);
        expect(ch[0]!.samples.length).toBe(bytes.length / (2 * n));
      }),
    );
  });
});
