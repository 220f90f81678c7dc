// Wave segments whose parameters make no sense (rv112 L1) and scaled waves without a unit (rv112 L2), decoded through
// the real ObservationDecoder from a real poll reply: not passed on as valid data, and counted with a detail saying why.
import { describe, expect, it } from 'vitest';
import { DeviceClock } from './clock.js';
import { ObservationDecoder } from './observations.js';
import { ATTR, Writer, encodeFloat, encodePollResult, parseMessage } from './protocol/index.js';

function decode(attrs: Array<{ id: number; value: Buffer }>) {
  const msg = parseMessage(
    encodePollResult({
      invokeId: 1, extended: false, linked: null,
      reply: { pollNumber: 1, sequenceNo: null, relTime: 8000, absTime: null, objType: { partition: 1, code: 9 }, attrGroup: 0, contexts: [{ contextId: 0, observations: [{ handle: 1, attributes: attrs }] }] },
    }),
  );
  if (msg.kind !== 'poll-result') throw new Error('not a poll result');
  return new ObservationDecoder({ deviceId: 'mx', source: 'intellivue' }, new DeviceClock(0)).decode(msg.reply, 1_700_000_000_000);
}

const spec = (n: number, size = 16, bits = 12) => ({ id: ATTR.SA_SPECN, value: new Writer().u16(n).u8(size).u8(bits).u16(0x1000).toBuffer() });
const scale = { id: ATTR.SCALE_SPECN_I16, value: new Writer().u32(encodeFloat(-2.048, 3)).u32(encodeFloat(2.047, 3)).u16(0).u16(4095).toBuffer() };
const period = (ticks: number) => ({ id: ATTR.TIME_PD_SAMP, value: new Writer().u32(ticks).toBuffer() });
const mV = { id: ATTR.UNIT_CODE, value: new Writer().u16(0x10b2).toBuffer() };
const ECG_II = 0x0102;
const sa = (bytes: Buffer) => ({ id: ATTR.SA_VAL_OBS, value: new Writer().u16(ECG_II).u16(0).u16(bytes.length).raw(bytes).toBuffer() });
const u16s = (...v: number[]) => Buffer.concat(v.map((x) => new Writer().u16(x).toBuffer()));

describe('IntelliVue wave parameters (rv112 L1)', () => {
  it('a good ECG segment (16-bit, 500 Hz, mV) is emitted, with no problem', () => {
    const d = decode([spec(4), scale, period(16), mV, sa(u16s(0, 2048, 4095, 3000))]);
    expect(d.problems).toEqual([]);
    expect(d.waves.map((w) => [w.sampleRateHz, w.unit.ucum, w.samples])).toEqual([[500, 'mV', [-2.048, 0, 2.047, 0.952]]]);
  });

  it.each([
    ['a sample period no monitor has (0xFFFFFFFF ticks: 0.0000019 Hz)', [spec(4), scale, period(0xffffffff), mV, sa(u16s(2048, 2048, 2048, 2048))], /wave 2:258: sample period 4294967295 ticks \(0\.0000019 Hz\), outside 1–2000 Hz/],
    ['a sample period of 1 tick (8000 Hz)', [spec(4), scale, period(1), mV, sa(u16s(2048, 2048, 2048, 2048))], /wave 2:258: sample period 1 ticks \(8000 Hz\), outside 1–2000 Hz/],
    ['16-bit samples in an odd byte count', [spec(4), scale, period(16), mV, sa(Buffer.from([0x08, 0x00, 0x08, 0x00, 0x08, 0x00, 0x0f]))], /wave 2:258: 7 bytes of samples, not a whole number of 16-bit samples/],
    ['a sample size other than 8 or 16 bits', [spec(2, 32, 24), period(16), sa(Buffer.from([0, 1, 0, 0, 0, 2, 0, 0]))], /wave 2:258: sample size 32 bits \(only 8 and 16 are defined\)/],
  ])('%s: not emitted, counted (waves_bad_spec) with why', (_what, attrs, detail) => {
    const d = decode(attrs);
    expect(d.waves).toEqual([]);
    expect(d.problems).toHaveLength(1);
    expect(d.problems[0]!.counter).toBe('waves_bad_spec');
    expect(d.problems[0]!.detail).toMatch(detail);
    expect(d.problems[0]!.detail).toMatch(/samples not emitted$/);
  });
});

describe('IntelliVue scaled wave without a unit code (rv112 L2)', () => {
  it('keeps its absolute values but says its unit is unknown (not "1", the device-units marker), counted', () => {
    const d = decode([spec(4), scale, period(16), sa(u16s(0, 2048, 4095, 3000))]);
    expect(d.waves).toHaveLength(1);
    expect(d.waves[0]!.samples).toEqual([-2.048, 0, 2.047, 0.952]);
    expect(d.waves[0]!.unit).toEqual({ ucum: '{intellivue-dim:unknown}' });
    expect(d.problems.map((p) => p.counter)).toEqual(['waves_unit_unknown']);
    expect(d.problems[0]!.detail).toMatch(/wave 2:258: scaled to absolute values, but no unit code seen/);
  });

  it('an unscaled wave (no absolute scale, e.g. pleth) stays in device units, "1", with no problem', () => {
    const d = decode([spec(4), period(64), sa(u16s(0, 2048, 4095, 3000))]);
    expect(d.waves.map((w) => [w.unit.ucum, w.samples])).toEqual([['1', [0, 2048, 4095, 3000]]]);
    expect(d.problems).toEqual([]);
  });
});
