import { describe, expect, it } from 'vitest';
import {
  CMD, MedibusFramer, MedibusParseError, RealtimeDecoder, checksumByte, encodeCommand, encodeNak, encodeResponse, encodeSample,
  parseAlarmPage, parseAlarms, parseDateTime, parseDeviceId, parseMeasured, parseRealtimeConfig, parseSettings, parseTextMessages, scaleSample,
} from './protocol/index.js';
import { AlarmTracker, mapPriority } from './alarms.js';
import { lookup } from './codes.js';
import { buildPlan, MedibusConfigError } from './options.js';
import { configSchema } from './schema.js';
import { MedibusSession, type SessionOutput } from './session.js';
import { WaveformBuffer } from './waveforms.js';
import { Ajv } from 'ajv';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('checksum and encoding vectors', () => {
  it('initialise command is ESC Q "6C" CR (0x1B + 0x51 = 0x6C)', () => {
    expect(encodeCommand(CMD.ICC)).toEqual(Buffer.from([0x1b, 0x51, 0x36, 0x43, 0x0d]));
  });
  it('request measured data cp1 is ESC $ "3F" CR', () => {
    expect(encodeCommand(CMD.DATA_CP1).toString('latin1')).toBe('\x1b$3F\r');
  });
  it('response checksum covers SOH, echo and data, 8-bit, uppercase hex', () => {
    // 0x01 + 0x24 + '7' 'D' ' ' ' ' '2' '2' = 0x01+0x24+0x37+0x44+0x20+0x20+0x32+0x32 = 0x144 → "44"
    expect(encodeResponse(CMD.DATA_CP1, '7D  22').toString('latin1')).toBe('\x01$7D  2244\r');
    const big = encodeResponse(0x2a, 'zzzzzzzz');
    expect(big.subarray(-3, -1).toString()).toMatch(/^[0-9A-F]{2}$/);
    expect(checksumByte(Buffer.from([0xff, 0x02]))).toBe(0x01);
  });
  it('NAK is a response: SOH NAK "16" CR', () => {
    expect(encodeNak()).toEqual(Buffer.from([0x01, 0x15, 0x31, 0x36, 0x0d]));
  });
});

describe('framer', () => {
  it('re-assembles a response split over chunks and drops XON/XOFF', () => {
    const f = new MedibusFramer();
    const msg = encodeResponse(CMD.DATA_CP1, '7D  22');
    const evs = [...f.push(msg.subarray(0, 3)), ...f.push(Buffer.from([0x11])), ...f.push(msg.subarray(3)), ...f.push(Buffer.from([0x13]))];
    const frames = evs.filter((e) => e.type === 'frame');
    expect(frames).toEqual([{ type: 'frame', kind: 'response', code: 0x24, data: b('7D  22') }]);
    expect(evs.filter((e) => e.type === 'handshake')).toHaveLength(2);
  });
  it('reports a bad checksum with where and what', () => {
    const f = new MedibusFramer();
    const msg = encodeResponse(CMD.DATA_CP1, '7D  22');
    msg[msg.length - 2] = 0x30;
    const [ev] = f.push(msg);
    expect(ev).toMatchObject({ type: 'bad-frame', reason: 'checksum', kind: 'response' });
    expect(ev?.type === 'bad-frame' && ev.detail).toContain('offset 8');
  });
  it('separates realtime bytes even inside a message', () => {
    const f = new MedibusFramer();
    const msg = encodeResponse(CMD.DATA_CP1, '7D  22');
    const mixed = Buffer.concat([msg.subarray(0, 4), Buffer.from([0xd1, 0x85, 0x81]), msg.subarray(4)]);
    const evs = f.push(mixed);
    expect(evs.find((e) => e.type === 'realtime')).toEqual({ type: 'realtime', bytes: Buffer.from([0xd1, 0x85, 0x81]) });
    expect(evs.find((e) => e.type === 'frame')).toMatchObject({ code: 0x24, data: b('7D  22') });
  });
  it('completes a device command embedded in a response, then the response', () => {
    const f = new MedibusFramer();
    const resp = encodeResponse(CMD.DATA_CP1, '7D  22');
    const cmd = encodeCommand(CMD.NOP);
    const evs = f.push(Buffer.concat([resp.subarray(0, 5), cmd, resp.subarray(5)]));
    expect(evs.filter((e) => e.type === 'frame').map((e) => e.type === 'frame' && e.kind)).toEqual(['command', 'response']);
  });
  it('a response whose byte turned into ESC is one damaged response, not a device command to NAK (rv115 M1)', () => {
    const f = new MedibusFramer();
    const resp = encodeResponse(CMD.DATA_CP1, '7D  2288 450');
    const hit = Buffer.from(resp);
    hit[6] = 0x1b; // the "command" from here on fails its checksum
    const evs = f.push(Buffer.concat([hit, resp]));
    expect(evs.map((e) => (e.type === 'bad-frame' ? `bad ${e.kind} ${e.reason}` : e.type === 'frame' ? `${e.kind} ${e.code}` : e.type))).toEqual(['bad response checksum', `response ${CMD.DATA_CP1}`]);
    expect(evs[0]).toMatchObject({ raw: hit.subarray(0, -1) });
    // A command that checks, inside a response, is still the device's command, and the response resumes.
    const cmd = encodeCommand(CMD.NOP);
    expect(f.push(Buffer.concat([resp.subarray(0, 5), cmd, resp.subarray(5)])).map((e) => e.type === 'frame' && e.kind)).toEqual(['command', 'response']);
  });
  it('reports garbage outside messages as noise and too-short frames', () => {
    const f = new MedibusFramer();
    const evs = f.push(Buffer.from('abc\x1bQ\r', 'latin1'));
    expect(evs[0]).toEqual({ type: 'noise', bytes: b('abc') });
    expect(evs[1]).toMatchObject({ type: 'bad-frame', reason: 'too-short' });
  });
  it('a lone start byte (line noise) before a real message is noise, not an interrupted message', () => {
    const f = new MedibusFramer();
    const resp = encodeResponse(CMD.DATA_CP1, '7D  22');
    expect(f.push(Buffer.concat([b('\x01'), resp]))).toEqual([{ type: 'noise', bytes: b('\x01') }, { type: 'frame', kind: 'response', code: CMD.DATA_CP1, data: b('7D  22') }]);
    expect(f.push(Buffer.concat([b('\x1b'), resp])).map((e) => e.type)).toEqual(['noise', 'frame']);
    // With its code byte it was a message cut short, as before.
    expect(f.push(Buffer.concat([b('\x01$'), resp]))[0]).toMatchObject({ type: 'bad-frame', reason: 'interrupted', raw: b('\x01$') });
  });
  it('drops an over-long frame and resynchronises on the next start byte', () => {
    const f = new MedibusFramer({ maxFrameBytes: 16 });
    const evs = f.push(Buffer.concat([b('\x01$'), Buffer.alloc(40, 0x41), b('\r'), encodeCommand(CMD.NOP)]));
    expect(evs.map((e) => e.type)).toEqual(['bad-frame', 'noise', 'frame']);
  });
  it('accounts every byte after an over-long start as the frame (its first maxFrameBytes) or noise, over any chunking', () => {
    const f = new MedibusFramer({ maxFrameBytes: 64 });
    const body = Buffer.alloc(100_000, 0x41);
    const evs = [...f.push(b('\x01$')), ...f.push(body.subarray(0, 7)), ...f.push(body.subarray(7, 5000)), ...f.push(body.subarray(5000)), ...f.push(b('\r')), ...f.push(encodeCommand(CMD.NOP))];
    const tooLong = evs.filter((e) => e.type === 'bad-frame' && e.reason === 'too-long');
    expect(tooLong).toHaveLength(1);
    const framed = tooLong[0]?.type === 'bad-frame' ? tooLong[0].raw.length : 0;
    const noise = evs.reduce((n, e) => n + (e.type === 'noise' ? e.bytes.length : 0), 0);
    expect(framed + noise).toBe(2 + body.length); // start and code byte, the body; the CR ends it
    expect(evs.at(-1)).toMatchObject({ type: 'frame', kind: 'command', code: CMD.NOP });
  });
});

describe('data parsers', () => {
  it('measured data: 2 hex code + 4 value characters per record; unavailable values are null', () => {
    expect(parseMeasured(b('7D  2288 450B9 7.2DB-1.5E6----'))).toEqual([
      { code: 0x7d, raw: '  22', value: 22 },
      { code: 0x88, raw: ' 450', value: 450 },
      { code: 0xb9, raw: ' 7.2', value: 7.2 },
      { code: 0xdb, raw: '-1.5', value: -1.5 },
      { code: 0xe6, raw: '----', value: null },
    ]);
  });
  it('measured data with a trailing partial record says where', () => {
    expect(() => parseMeasured(b('7D  2288'))).toThrow(MedibusParseError);
    expect(() => parseMeasured(b('7D  2288'))).toThrow(/offset 6/);
    expect(() => parseMeasured(b('ZZ  22'))).toThrow(/code at offset 0/);
  });
  it('settings: 2 + 5 characters', () => {
    expect(parseSettings(b('0B  5.040  450'))).toEqual([
      { code: 0x0b, raw: '  5.0', value: 5 },
      { code: 0x40, raw: '  450', value: 450 },
    ]);
  });
  it('alarms: priority character, code, 12-character phrase', () => {
    expect(parseAlarms(b('I10PAW HIGH    319MIN VOL LOW '))).toEqual([
      { priority: 25, priorityChar: 'I', code: 0x10, text: 'PAW HIGH' },
      { priority: 3, priorityChar: '3', code: 0x19, text: 'MIN VOL LOW' },
    ]);
    expect(() => parseAlarms(b('I10PAW'))).toThrow(/alarms/);
  });
  it('alarm page: a record that does not read is set aside with where, its bytes and (if readable) its code; the rest are kept (rv67 H1)', () => {
    const page = parseAlarmPage(b('I10PAW HIGH    5 1SOME ADVISOR\x1910MIN VOL LOW 5ZZOTHER       '));
    expect(page.records).toEqual([{ priority: 25, priorityChar: 'I', code: 0x10, text: 'PAW HIGH' }]);
    expect(page.rejected).toEqual([
      { offset: 15, code: null, codeChars: ' 1', record: '5 1SOME ADVISOR', reason: 'code at offset 16: expected two hex characters, got " 1"' },
      { offset: 30, code: 0x10, codeChars: '10', record: '\x1910MIN VOL LOW ', reason: "priority at offset 30: expected '1'..'O' (1..31), got byte 0x19" },
      { offset: 45, code: null, codeChars: 'ZZ', record: '5ZZOTHER       ', reason: 'code at offset 46: expected two hex characters, got "ZZ"' },
    ]);
    // Not a whole number of records: which bytes belong to which record cannot be told.
    expect(() => parseAlarmPage(b('I10PAW HIGH   '))).toThrow(MedibusParseError);
    // The strict form (fuzz target) still refuses the page.
    expect(() => parseAlarms(b('I10PAW HIGH    5 1SOME ADVISOR'))).toThrow(/code at offset 16/);
  });
  it('alarm page: a priority outside 1..31 (\'0\', \'P\'..\'~\') is not taken as read: the record is set aside with its code (rv115 M3)', () => {
    const rec = (p: string, code: string, text: string) => p + code + text.padEnd(12);
    const page = parseAlarmPage(b(rec('0', '0A', 'APNEA') + rec('P', '0B', 'PAW HIGH') + rec('~', '0C', 'FIO2 LOW') + rec('O', '0D', 'VT LOW') + rec('1', '0E', 'MV LOW')));
    expect(page.records.map((r) => [r.code, r.priority])).toEqual([[0x0d, 31], [0x0e, 1]]);
    expect(page.rejected.map((r) => [r.code, r.reason])).toEqual([
      [0x0a, "priority at offset 0: expected '1'..'O' (1..31), got '0' (0)"],
      [0x0b, "priority at offset 15: expected '1'..'O' (1..31), got 'P' (32)"],
      [0x0c, "priority at offset 30: expected '1'..'O' (1..31), got '~' (78)"],
    ]);
  });
  it('text messages: code, length character, text, ETX', () => {
    expect(parseTextMessages(b('064SIMV\x03206Adults\x03'))).toEqual([
      { code: 0x06, text: 'SIMV' },
      { code: 0x20, text: 'Adults' },
    ]);
    expect(() => parseTextMessages(b('064SIMVX'))).toThrow(/text messages/);
  });
  it('device identification and date/time (English and German months)', () => {
    expect(parseDeviceId(b("0161'Evita 4'01.03:06.00"))).toEqual({ id: '0161', name: 'Evita 4', revision: '01.03:06.00' });
    expect(parseDateTime(b('13:45:0702-OKT-24'))).toMatchObject({ year: 2024, month: 10, day: 2, hour: 13, minute: 45, second: 7 });
    expect(parseDateTime(b('23:59:5931-DEC-99'))).toMatchObject({ year: 2099, month: 12 });
    expect(() => parseDateTime(b('25:00:0001-JAN-20'))).toThrow(MedibusParseError);
  });
  it('realtime configuration: code, interval µs, min, max, maxbin (hex)', () => {
    expect(parseRealtimeConfig(b('0000008000  -20   80FFF'))).toEqual([{ code: 0, intervalUs: 8000, min: -20, max: 80, maxBin: 0xfff }]);
  });
});

describe('realtime decoder', () => {
  it('decodes sample sets, breath phases and scales by the configuration', () => {
    const d = new RealtimeDecoder('low-first');
    const bytes = [0xd3, 0xc6, 0xc0, ...encodeSample(100), ...encodeSample(4095)];
    const evs = d.push(Buffer.from(bytes));
    expect(evs[0]).toEqual({ type: 'phase', phase: 'inspiration' });
    expect(evs[1]).toEqual({ type: 'samples', values: new Map([[0, 100], [1, 4095]]) });
    expect(scaleSample(4095, { min: -20, max: 80, maxBin: 4095 })).toBe(80);
  });
  it('honours the half order and the 5..8 stream extension', () => {
    const d = new RealtimeDecoder('high-first');
    const evs = d.push(Buffer.from([0xd1, 0xc4, 0xc1, ...encodeSample(300, 'high-first'), ...encodeSample(7, 'high-first')]));
    expect(evs).toEqual([{ type: 'samples', values: new Map([[0, 300], [4, 7]]) }]);
  });
  it('says corrupt whenever it drops values: more than announced, a half value cut short, a sync command without its argument (rv67 L3)', () => {
    const kinds = (evs: ReturnType<RealtimeDecoder['push']>) => evs.map((e) => (e.type === 'samples' ? [...e.values] : e.type));
    // D1 announces one stream; three values follow: the two extra are dropped, once said.
    expect(kinds(new RealtimeDecoder().push(Buffer.from([0xd1, ...encodeSample(100), ...encodeSample(200), ...encodeSample(300), 0xd1, ...encodeSample(4)])))).toEqual([[[0, 100]], 'corrupt', [[0, 4]]]);
    // Half a value, then a sync byte.
    expect(kinds(new RealtimeDecoder().push(Buffer.from([0xd1, encodeSample(100)[0], 0xd1, ...encodeSample(7)])))).toEqual(['corrupt', [[0, 7]]]);
    // A sync byte announcing two streams and one value before the next: the set is dropped whole (rv115 M4).
    expect(kinds(new RealtimeDecoder().push(Buffer.from([0xd3, ...encodeSample(1), 0xd1, ...encodeSample(7)])))).toEqual(['corrupt', [[0, 7]]]);
    // C6 whose argument was lost: the sync byte after it is a sync byte, not an argument; no set is lost.
    const lost = new RealtimeDecoder().push(Buffer.from([0xd3, ...encodeSample(1), ...encodeSample(2), 0xc6, 0xd3, ...encodeSample(100), ...encodeSample(200), 0xd3, ...encodeSample(5), ...encodeSample(6)]));
    expect(kinds(lost)).toEqual([[[0, 1], [1, 2]], 'corrupt', [[0, 100], [1, 200]], [[0, 5], [1, 6]]]);
    // …nor is a data byte.
    expect(kinds(new RealtimeDecoder().push(Buffer.from([0xd1, 0xc6, ...encodeSample(9)])))).toEqual(['corrupt', [[0, 9]]]);
    // A whole, clean stream gives no corrupt event; neither do bytes before the first sync byte (joined mid-stream).
    const clean = new RealtimeDecoder().push(Buffer.from([...encodeSample(3), 0xd3, 0xc6, 0xc1, ...encodeSample(1), ...encodeSample(2), 0xd0, 0xd3, ...encodeSample(5), ...encodeSample(6)]));
    expect(kinds(clean)).toEqual(['phase', [[0, 1], [1, 2]], [[0, 5], [1, 6]]]);
  });
  it('a data byte lost inside a set drops the whole set, said as a lost set: no mis-paired value is handed on (rv115 M4)', () => {
    const set = (vals: number[]) => [0xd0 | ((1 << vals.length) - 1), ...vals.flatMap((v) => encodeSample(v))];
    const damaged = set([100, 2000, 50]);
    damaged.splice(4, 1); // the high half of the flow value is lost: the halves after it pair across values
    const evs = new RealtimeDecoder().push(Buffer.from([...set([100, 2000, 50]), ...damaged, ...set([101, 2001, 51])]));
    expect(evs).toEqual([
      { type: 'samples', values: new Map([[0, 100], [1, 2000], [2, 50]]) },
      { type: 'corrupt', detail: 'sample set cut short: 2 of 3 values and half a value; the set is dropped', setLost: true },
      { type: 'samples', values: new Map([[0, 101], [1, 2001], [2, 51]]) },
    ]);
    // Values beyond those announced (a sync byte lost) are a lost set too; a sync command without its argument is not.
    const more = new RealtimeDecoder().push(Buffer.from([0xd1, ...encodeSample(1), ...encodeSample(2), 0xd1, ...encodeSample(3), 0xc6, 0xd1, ...encodeSample(4)]));
    expect(more.filter((e) => e.type === 'corrupt').map((e) => e.type === 'corrupt' && e.setLost)).toEqual([true, false]);
  });
  it('waveform buffer: a lost set ends each curve\'s run there; a line that loses set after set gives a bounded number of segments (rv115 M4)', () => {
    const w = new WaveformBuffer({ deviceId: 'v1', source: 's' });
    const cfg = [{ code: 0, intervalUs: 8000, min: 0, max: 4095, maxBin: 4095 }];
    w.add(0, 1, 1000);
    w.add(0, 2, 1008);
    expect(w.gap(1020)).toBe(0);
    w.add(0, 3, 1100);
    const { segments } = w.flush(cfg, 1200);
    expect(segments.map((s) => [s.startTime, s.samples])).toEqual([[1004, [1, 2]], [1192, [3]]]);
    let dropped = 0;
    for (let i = 0; i < 20; i++) {
      w.add(0, i, 2000 + i);
      dropped += w.gap(2000 + i);
    }
    const more = w.flush(cfg, 3000);
    expect(more.segments).toHaveLength(8);
    expect(dropped).toBe(12);
    expect(w.held).toBe(0);
  });
  it('a session forgets half a sample and half a message when the link closes', () => {
    const out: SessionOutput[] = [];
    const counts = new Map<string, number>();
    const session = new MedibusSession(buildPlan({ id: 'v1', path: '/dev/null', listenOnly: true }), {
      write: async () => undefined,
      output: (o) => void out.push(o),
      count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
      log: () => undefined,
    });
    session.linkOpened();
    session.receive(Buffer.from([0xd1, encodeSample(100)[0], 0x01, 0x24])); // a set begun, a response begun: unplugged
    session.linkClosed();
    session.linkOpened();
    // The device was mid-set when we came back: its data bytes cannot be placed until the next sync byte.
    session.receive(Buffer.from([...encodeSample(5), 0xd1, ...encodeSample(7), ...encodeResponse(CMD.DATA_CP1, '7D  22')]));
    const samples = out.flatMap((o) => (o.type === 'realtime' ? o.events.filter((e) => e.type === 'samples') : []));
    expect(samples).toEqual([{ type: 'samples', values: new Map([[0, 7]]) }]);
    expect(out.filter((o) => o.type === 'measured')).toHaveLength(1);
    expect(counts.get('frames_interrupted')).toBeUndefined();
  });
  it('data not understood at every cycle is counted each time, warned about once, then summarised', () => {
    let now = Date.UTC(2026, 0, 1);
    const counts = new Map<string, number>();
    const warns: string[] = [];
    const session = new MedibusSession(buildPlan({ id: 'v1', path: '/dev/null', listenOnly: true }), {
      write: async () => undefined,
      output: () => undefined,
      count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
      log: (level, msg) => void (level === 'warn' && warns.push(msg)),
      now: () => now,
    });
    session.linkOpened();
    const bad = encodeResponse(CMD.DATA_CP1, '7D  2'); // 5 bytes: not a whole 6-byte record
    for (let i = 0; i < 30; i++) session.receive(bad);
    expect(counts.get('parse_errors')).toBe(30);
    expect(warns).toEqual(['medibus data not understood (repeats are counted as parse_errors and summarised)']);
    now += 10 * 60_000;
    session.receive(bad);
    session.receive(bad);
    expect(counts.get('parse_errors')).toBe(32);
    expect(warns).toHaveLength(2);
    expect(warns[1]).toMatch(/^medibus data not understood: 30 more since the last line, 31 since 2026-01-01T00:00:00.000Z/);
  });
});

describe('code table, alarms and options', () => {
  it('maps known codes to MDC and keeps unknown ones raw', () => {
    for (const profile of ['classic', 'medibus-x'] as const) {
      expect(lookup('cp1', 0x7d, profile).mdc?.refid).toBe('MDC_PRESS_AWAY_INSP_PEAK');
      expect(lookup('cp1', 0x78, profile).mdc?.refid).toBe('MDC_VENT_PRESS_AWAY_END_EXP_POS');
      expect(lookup('cp1', 0x5c, profile)).toMatchObject({ mdc: null, raw: { system: 'medibus', code: 'cp1:5C' } });
    }
  });
  it('code page 1 codes whose meaning differs between classic Medibus and Medibus.X carry no Medibus.X term on a classic device (rv67 M1)', () => {
    const show = (code: number, profile: 'classic' | 'medibus-x') => {
      const l = lookup('cp1', code, profile);
      return [l.raw.text, l.unit.ucum, l.mdc?.refid ?? null];
    };
    expect(show(0x06, 'classic')).toEqual(['Compliance', 'mL/mbar', null]);
    expect(show(0x8b, 'classic')).toEqual(['VTasb', 'mL', null]);
    expect(show(0xdc, 'classic')).toEqual([undefined, '', null]);
    expect(show(0x03, 'classic')).toEqual([undefined, '', null]);
    expect(show(0x06, 'medibus-x')).toEqual(['MVi', 'L/min', 'MDC_VENT_VOL_MINUTE_INSP']);
    expect(show(0x8b, 'medibus-x')).toEqual(['VTi', 'mL', 'MDC_VOL_AWAY_TIDAL_INSP']);
    expect(show(0xdc, 'medibus-x')).toEqual(['HR', '/min', 'MDC_ECG_HEART_RATE']);
    expect(show(0x03, 'medibus-x')).toEqual(['MVe', 'L/min', 'MDC_VENT_VOL_MINUTE_EXP']);
    // The profile follows the preset (V500: Medibus.X; the others and generic: classic); the option overrides it.
    const profile = (o: Partial<Parameters<typeof buildPlan>[0]>) => buildPlan({ id: 'v1', path: '/dev/x', ...o }).codeProfile;
    expect([profile({ model: 'v500' }), profile({ model: 'v500-38400' })]).toEqual(['medibus-x', 'medibus-x']);
    expect([profile({}), profile({ model: 'generic' }), profile({ model: 'evita4' }), profile({ model: 'evita-xl' }), profile({ model: 'apollo' })]).toEqual(['classic', 'classic', 'classic', 'classic', 'classic']);
    expect([profile({ model: 'evita4', codeProfile: 'medibus-x' }), profile({ model: 'v500', codeProfile: 'classic' })]).toEqual(['medibus-x', 'classic']);
    const validate = new Ajv({ allErrors: true }).compile(configSchema);
    expect(validate({ id: 'v1', path: '/dev/x', codeProfile: 'medibus-x' })).toBe(true);
    expect(validate({ id: 'v1', path: '/dev/x', codeProfile: 'x' })).toBe(false);
  });
  it('maps priorities by configured bands and tracks start/continue/end', () => {
    expect([mapPriority(31, { high: 21, medium: 11 }), mapPriority(15, { high: 21, medium: 11 }), mapPriority(2, { high: 21, medium: 11 })]).toEqual(['high', 'medium', 'low']);
    const t = new AlarmTracker({ deviceId: 'v1', source: 's' }, { high: 21, medium: 11 }, 60000);
    const a = { priority: 25, priorityChar: 'I', code: 0x10, text: 'PAW HIGH' };
    expect(t.update(1, [a], 0).map((e) => [e.phase, e.priority])).toEqual([['start', 'high']]);
    expect(t.update(1, [a], 1000)).toEqual([]);
    expect(t.update(1, [a], 61000).map((e) => e.phase)).toEqual(['continue']);
    expect(t.update(2, [], 61000)).toEqual([]); // another page does not end page-1 alarms
    expect(t.update(1, [], 62000).map((e) => e.phase)).toEqual(['end']);
  });
  it('builds a plan from a model preset, overrides win, bad config names every problem', () => {
    const p = buildPlan({ id: 'v1', path: '/dev/ttyUSB0', model: 'apollo' });
    expect(p.line).toMatchObject({ baudRate: 9600, parity: 'even', dataBits: 8, stopBits: 1 });
    expect(buildPlan({ id: 'v1', path: '/dev/x', model: 'v500', baudRate: 38400 }).line.baudRate).toBe(38400);
    expect(buildPlan({ id: 'v1', replay: { file: 'x.raw' } }).listenOnly).toBe(true);
    try {
      buildPlan({ id: '', requests: ['nope' as never] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(MedibusConfigError);
      expect((err as MedibusConfigError).problems.length).toBe(3);
    }
  });
  it('refuses options that make no sense, each under options.<field> (empty requests, backoff, keep-alive vs quiet re-initialisation)', () => {
    const fields = (o: Parameters<typeof buildPlan>[0]) => {
      try {
        buildPlan(o);
      } catch (err) {
        expect(err).toBeInstanceOf(MedibusConfigError);
        return (err as MedibusConfigError).problems.map((p) => p.field);
      }
      return [];
    };
    const ok = { id: 'v1', path: '/dev/ttyUSB0' };
    expect(fields({ ...ok, requests: [] })).toEqual(['options.requests']);
    expect(fields({ ...ok, backoff: { initialMs: 60000, maxMs: 1000 } })).toEqual(['options.backoff.maxMs']);
    expect(fields({ ...ok, backoff: { initialMs: 60000 } })).toEqual([]); // the cap follows a longer first delay
    expect(fields({ ...ok, keepAliveMs: 30000, quietReinitMs: 5000 })).toEqual(['options.keepAliveMs']);
    expect(fields({ ...ok, quietReinitMs: 1500 })).toEqual(['options.quietReinitMs', 'options.quietReinitMs']); // ≤ 3000 timeout, ≤ 2000 keep-alive
    expect(fields({ ...ok, responseTimeoutMs: 15000 })).toEqual(['options.responseTimeoutMs']);
    expect(() => buildPlan({ ...ok, responseTimeoutMs: 15000 })).toThrow('invalid medibus config: options.responseTimeoutMs: must be shorter than quietReinitMs (10000 ms by default), got 15000');
    expect(new Ajv({ allErrors: true }).compile(configSchema)({ ...ok, requests: [] })).toBe(false);
    // Listen-only and replay never send or re-initialise: their timers are not checked against each other.
    expect(fields({ ...ok, listenOnly: true, quietReinitMs: 1500, responseTimeoutMs: 1000 })).toEqual([]);
    expect(fields({ id: 'v1', replay: { file: '/tmp/capture.bin' }, quietReinitMs: 1500 })).toEqual([]);
  });
  it('the JSON Schema accepts the README examples and rejects unknown options', () => {
    const validate = new Ajv({ allErrors: true }).compile(configSchema);
    // The YAML blocks of README.md as written there (rv67 L6): the full driver entry, and the replay fragment.
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1] as string) as Record<string, unknown>);
    expect(blocks).toHaveLength(2);
    const entry = (blocks[0] as { drivers: Array<{ type: string; options: Record<string, unknown> }> }).drivers[0];
    expect(entry?.type).toBe('medibus');
    const example = entry?.options as Record<string, unknown>;
    expect(example).toMatchObject({ model: 'v500', pollIntervalMs: 1000, captureFile: expect.any(String) });
    expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(() => buildPlan(example as unknown as Parameters<typeof buildPlan>[0])).not.toThrow();
    const replay = (blocks[1] as { options: Record<string, unknown> }).options;
    expect(replay).toHaveProperty('replay');
    expect(validate(replay), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...example, writeSetting: true })).toBe(false);
    expect(validate({ ...example, requests: ['setPeep'] })).toBe(false);
  });
});
