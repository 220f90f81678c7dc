// Vectors and round trips for the pure protocol layer: FCS and transparency, FLOAT, time, messages.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ATTR, IntellivueFramer, IntellivueParseError, MOC, NOM_PART_OBJ, RORLS,
  decodeAbsoluteTime, decodeAlarmList, decodeFloat, decodeNuObsValueCmp, encodeAbsoluteTime, encodeAssociationRequest, encodeFloat, encodeFrame,
  encodeMessageFrame, encodePollRequest, encodePollResult, fcs16, parseMessage, parseTransportHeader, relativeDeltaTicks,
} from './protocol/index.js';
import { judge } from './quality.js';
import { lookupPhysio, lookupUnit } from './codes.js';
import { MDC } from '../../agent/model/mdc.js';
import { buildPlan } from './options.js';
import { configSchema } from './schema.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase().replace(/(..)(?=.)/g, '$1 ');

describe('transport framing', () => {
  it('matches the vectors from the issue (FCS low byte first, transparency)', () => {
    expect(hex(encodeFrame(Buffer.from([0x3a, 0x71])))).toBe('C0 3A 71 9B 26 C1');
    expect(hex(encodeFrame(Buffer.from([0x3a, 0x91])))).toBe('C0 3A 91 95 7D E1 C1');
    expect(fcs16(Buffer.from('123456789'))).toBe(0x906e); // CRC-16/X-25 check value
  });

  it('deframes the vectors back, escapes C0/C1/7D in data, and reports aborted, corrupt and interrupted frames', () => {
    const f = new IntellivueFramer();
    expect(f.push(Buffer.from([0xc0, 0x3a, 0x91, 0x95, 0x7d, 0xe1, 0xc1]))).toEqual([{ type: 'frame', body: Buffer.from([0x3a, 0x91]) }]);
    const data = Buffer.from([0xc0, 0xc1, 0x7d, 0x11]);
    const framed = encodeFrame(data);
    expect(hex(framed.subarray(1, 7))).toBe('7D E0 7D E1 7D 5D');
    expect(f.push(framed)).toEqual([{ type: 'frame', body: data }]);
    const evs = f.push(Buffer.from([0xc0, 0x3a, 0x7d, 0xc1, 0xc0, 0x3a, 0x71, 0x9b, 0x27, 0xc1, 0xc0, 0x01, 0x02, 0xc0, 0x3a, 0x71, 0x9b, 0x26, 0xc1, 0x55]));
    expect(evs.map((e) => (e.type === 'bad-frame' ? e.reason : e.type))).toEqual(['aborted', 'fcs', 'interrupted', 'frame', 'noise']);
    const bad = evs[1];
    expect(bad?.type === 'bad-frame' && bad.detail).toMatch(/FCS at offset 2: got 0x279b, computed 0x269b/);
  });

  it('accounts every byte after an over-long start as the frame (its first maxFrameBytes) or noise, escapes included', () => {
    const f = new IntellivueFramer({ maxFrameBytes: 64 });
    // 0x7D 0x5D is an escaped 0x7D: two bytes on the line for one in the frame.
    const body = Buffer.concat(Array.from({ length: 10_000 }, () => Buffer.from([0x41, 0x7d, 0x5d, 0x42])));
    const evs = [...f.push(Buffer.from([0xc0])), ...f.push(body.subarray(0, 65)), ...f.push(body.subarray(65, 3001)), ...f.push(body.subarray(3001)), ...f.push(Buffer.from([0xc1])), ...f.push(encodeFrame(Buffer.from([0x3a, 0x71])))];
    const tooLong = evs.filter((e) => e.type === 'bad-frame' && e.reason === 'too-long');
    expect(tooLong).toHaveLength(1);
    const raw = tooLong[0]?.type === 'bad-frame' ? tooLong[0].raw : Buffer.alloc(0);
    const onLine = raw.length + raw.filter((x) => x === 0x7d).length; // each 0x7D in the frame came escaped
    const noise = evs.reduce((n, e) => n + (e.type === 'noise' ? e.bytes.length : 0), 0);
    expect(onLine + noise).toBe(body.length);
    expect(evs.at(-1)).toEqual({ type: 'frame', body: Buffer.from([0x3a, 0x71]) });
  });

  it('checks the transport header (protocol id 0x11, type 0x01, length)', () => {
    const frame = encodeMessageFrame(Buffer.from([0xe1, 0x00]));
    const [ev] = new IntellivueFramer().push(frame);
    expect(ev?.type === 'frame' && parseTransportHeader(ev.body)).toEqual(Buffer.from([0xe1, 0x00]));
    expect(() => parseTransportHeader(Buffer.from([0x11, 0x01, 0x00, 0x05, 0x00]))).toThrow(/length at offset 2: header says 5/);
    expect(() => parseTransportHeader(Buffer.from([0x12, 0x01, 0x00, 0x00]))).toThrow(IntellivueParseError);
  });
});

describe('FLOAT-Type', () => {
  it.each([
    [0x00000048, 72],
    [0xff00016f, 36.7],
    [0xfe002ee4, 120.04],
    [0x02000005, 500],
    [0x00ffffff, -1],
    [0xffffffff, -0.1],
    [0xfd7ffffd, 8388.605],
  ])('0x%s → %s', (raw, value) => {
    expect(decodeFloat(raw)).toEqual({ kind: 'number', value });
  });

  it('special values: NaN, NRes, ±INF', () => {
    expect(decodeFloat(0x007fffff)).toEqual({ kind: 'nan' });
    expect(decodeFloat(0x00800000)).toEqual({ kind: 'nres' });
    expect(decodeFloat(0x007ffffe)).toEqual({ kind: 'pos-inf' });
    expect(decodeFloat(0x00800002)).toEqual({ kind: 'neg-inf' });
  });

  it('encodes and decodes back', () => {
    for (const [v, d] of [[36.7, 1], [-12.25, 2], [0, 0], [99999999, 0], [2.047, 3]] as const) {
      const back = decodeFloat(encodeFloat(v, d));
      expect(back.kind === 'number' && Math.abs(back.value - v) <= Math.abs(v) * 1e-6).toBe(true);
    }
    expect(encodeFloat(36.7, 1)).toBe(0xff00016f);
  });
});

describe('measurement state and values → quality', () => {
  it('maps the state bits', () => {
    const n = { kind: 'number', value: 80 } as const;
    expect(judge(0, n)).toEqual({ value: 80, quality: { state: 'valid' } });
    expect(judge(0x8000, n)).toEqual({ value: null, quality: { state: 'invalid', reasons: ['device-flag:invalid'] } });
    expect(judge(0x2000, { kind: 'nan' })).toEqual({ value: null, quality: { state: 'unavailable', reasons: ['device-flag:unavailable', 'value:NaN'] } });
    expect(judge(0x4000, n)).toEqual({ value: 80, quality: { state: 'questionable', reasons: ['device-flag:questionable'] } });
    expect(judge(0x0400, n)).toEqual({ value: 80, quality: { state: 'invalid', reasons: ['demo-data'] } });
    expect(judge(0, { kind: 'pos-inf' })).toEqual({ value: null, quality: { state: 'invalid', reasons: ['out-of-range:+INF'] } });
  });
});

describe('time', () => {
  it('decodes BCD absolute time and the unspecified value', () => {
    expect(decodeAbsoluteTime(Buffer.from([0x20, 0x24, 0x03, 0x15, 0x13, 0x45, 0x59, 0x00]))).toEqual({ year: 2024, month: 3, day: 15, hour: 13, minute: 45, second: 59 });
    expect(decodeAbsoluteTime(Buffer.alloc(8, 0xff))).toBeNull();
    expect(() => decodeAbsoluteTime(Buffer.from([0x20, 0x2a, 1, 1, 0, 0, 0, 0]))).toThrow(/year at offset 1: not BCD/);
    const t = { year: 2031, month: 12, day: 31, hour: 23, minute: 59, second: 7 };
    expect(decodeAbsoluteTime(encodeAbsoluteTime(t))).toEqual(t);
  });

  it('relative time deltas survive the u32 wrap', () => {
    expect(relativeDeltaTicks(0xfffffff0, 0x10)).toBe(0x20);
    expect(relativeDeltaTicks(0x10, 0xfffffff0)).toBe(-0x20);
  });
});

describe('messages', () => {
  it('builds the association request of the programming guide (session 0x0D, user info with poll profile)', () => {
    const aarq = encodeAssociationRequest({ minPollPeriodTicks: 8000, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0x88000000, systemType: 0x80000000, startupMode: 0x20000000 });
    expect(aarq[0]).toBe(0x0d);
    expect(aarq[1]).toBe(aarq.length - 2);
    const m = parseMessage(aarq);
    expect(m).toMatchObject({ kind: 'association', spdu: 'request', userInfo: { pollProfile: { minPollPeriodTicks: 8000, maxMtuRx: 1000, extOptions: 0x88000000 } } });
  });

  it('round-trips a poll request and a linked poll result with numerics and alarms', () => {
    const req = parseMessage(encodePollRequest({ invokeId: 7, pollNumber: 3, objType: { partition: NOM_PART_OBJ, code: MOC.VMO_METRIC_NU }, attrGroup: 0, extended: true, extAttributes: [{ id: ATTR.TIME_PD_POLL, value: Buffer.from([0, 0, 0x1f, 0x40]) }] }));
    expect(req).toMatchObject({ kind: 'poll-request', invokeId: 7, extended: true, pollNumber: 3, objType: { code: 6 }, extAttributes: [{ id: 0xf13e }] });
    const nu = (id: number, v: number) => Buffer.from([id >> 8, id & 255, 0, 0, 0x0f, 0x20, 0, 0, 0, v]);
    const cmp = Buffer.concat([Buffer.from([0, 3, 0, 30]), nu(18949, 120), nu(18950, 80), nu(18951, 93)]);
    const text = Buffer.from('HR High', 'utf16le').swap16();
    const alarm = Buffer.concat([Buffer.from([0, 1, 0, 30 + text.length]), Buffer.from([0x41, 0x82, 0, 40, 0x02, 0, 0, 0, 0, 6, 0, 0, 0, 0x10, 0x02, 0x04, 0, 12 + text.length]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, text.length]), text]);
    const enc = encodePollResult({
      invokeId: 7,
      extended: true,
      linked: { state: RORLS.NOT_FIRST_NOT_LAST, count: 2 },
      reply: {
        pollNumber: 3, sequenceNo: 9, relTime: 123456, absTime: { year: 2024, month: 1, day: 2, hour: 3, minute: 4, second: 5 }, objType: { partition: 1, code: 6 }, attrGroup: 0,
        contexts: [{ contextId: 0, observations: [{ handle: 20, attributes: [{ id: ATTR.NU_CMPD_VAL_OBS, value: cmp }] }, { handle: 1, attributes: [{ id: ATTR.AL_MON_P_AL_LIST, value: alarm }] }] }],
      },
    });
    const m = parseMessage(enc);
    if (m.kind !== 'poll-result') throw new Error(`expected a poll result, got ${m.kind}`);
    expect(m).toMatchObject({ invokeId: 7, extended: true, linked: { state: 2, count: 2 }, reply: { pollNumber: 3, sequenceNo: 9, relTime: 123456, absTime: { year: 2024, second: 5 } } });
    const [o1, o2] = m.reply.contexts[0]?.observations ?? [];
    expect(decodeNuObsValueCmp(o1!.attributes[0]!).map((v) => [v.physioId, v.value])).toEqual([[18949, { kind: 'number', value: 120 }], [18950, { kind: 'number', value: 80 }], [18951, { kind: 'number', value: 93 }]]);
    expect(decodeAlarmList(o2!.attributes[0]!)).toMatchObject([{ source: 0x4182, code: 40, type: 0x0200, infoId: 516, text: 'HR High' }]);
  });

  it('a poll result whose abs_time_stamp is not a time is read without it, saying why (review rv66 L1)', () => {
    const enc = encodePollResult({
      invokeId: 3,
      extended: false,
      linked: null,
      reply: {
        pollNumber: 1, sequenceNo: null, relTime: 8000, absTime: null, objType: { partition: NOM_PART_OBJ, code: MOC.VMO_AL_MON }, attrGroup: 0,
        contexts: [{ contextId: 0, observations: [{ handle: 1, attributes: [{ id: ATTR.AL_MON_P_AL_LIST, value: Buffer.from([0, 0, 0, 0]) }] }] }],
      },
    });
    Buffer.alloc(8, 0).copy(enc, 30); // month 0, day 0: out of range
    const m = parseMessage(enc);
    if (m.kind !== 'poll-result') throw new Error(`expected a poll result, got ${m.kind}`);
    expect(m.reply.absTime).toBeNull();
    expect(m.reply.absTimeProblem).toMatch(/^abs_time_stamp at offset 30: .*out of range/);
    expect(m.reply.contexts[0]?.observations[0]?.attributes[0]?.id).toBe(ATTR.AL_MON_P_AL_LIST);
  });

  it('says where a truncated message is wrong', () => {
    const enc = encodePollRequest({ invokeId: 1, pollNumber: 1, objType: { partition: 1, code: 6 }, attrGroup: 0, extended: false });
    expect(() => parseMessage(enc.subarray(0, enc.length - 3))).toThrow(/ROapdus: length at offset 6: says \d+ byte/);
    expect(() => parseMessage(Buffer.from([0x42]))).toThrow(/session header at offset 0: unknown type 0x42/);
  });
});

describe('code tables', () => {
  it('maps partition/code pairs mechanically, with the agent term objects where they agree, and keeps unknown codes raw', () => {
    expect(lookupPhysio(16770)).toMatchObject({ mdc: MDC.ECG_HEART_RATE, raw: { system: 'intellivue', code: '2:16770' } });
    expect(lookupPhysio(19384).mdc).toBe(MDC.PULS_OXIM_SAT_O2);
    expect(lookupPhysio(18949).mdc).toBe(MDC.PRESS_BLD_NONINV_SYS);
    expect(lookupPhysio(18965).mdc).toEqual({ code: 2 * 65536 + 18965, refid: 'MDC_PRESS_BLD_ART_ABP_SYS' });
    expect(lookupPhysio(18466).mdc).toEqual(MDC.PULS_OXIM_PULS_RATE);
    expect(lookupPhysio(0x5c00)).toEqual({ mdc: null, raw: { system: 'intellivue', code: '2:23552' }, label: null });
    expect(lookupUnit(0x0f20)).toEqual({ ucum: 'mm[Hg]', mdc: { code: 266016, refid: 'MDC_DIM_MMHG' } });
    expect(lookupUnit(0x17a0).mdc?.code).toBe(268192);
    expect(lookupUnit(0x1234)).toEqual({ ucum: '{intellivue-dim:4660}' });
  });
});

describe('README example config', () => {
  it('is valid, and reads the monitor clock in the gateway zone (daylight saving included), not a fixed offset', () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const block = /## Example config\s+```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    const options = (parse(block ?? '') as { drivers: Array<{ type: string; options: Record<string, unknown> }> }).drivers[0]!.options;
    expect(new Ajv({ allErrors: true }).compile(configSchema)(options)).toBe(true);
    // A fixed offset is an hour off for half the year where clocks change; the README example is what gets copied.
    expect(buildPlan(options as unknown as Parameters<typeof buildPlan>[0]).utcOffsetMinutes).toBeNull();
  });
});
