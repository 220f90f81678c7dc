// rv126: real-world shapes the parser refused or misread: MSH-18 spellings, stray backslashes, 17-digit times, and
// the ERR-2 sequence of a second MSH in one frame. Parse-level, and through the real handler (parser + mapper).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { DriverEvent, NumericReading } from '../../../agent/model/reading.js';
import type { DriverContext } from '../../types.js';
import { MessageHandler } from '../handler.js';
import { handlerOptions } from '../test-support.js';
import { Hl7ParseError } from './errors.js';
import { parseDtm } from './dtm.js';
import { parseFrame, parseMessage, segmentIds, segmentSequence } from './parse.js';
import { str } from './access.js';

/** A PCD-01 message with SpO2 84 (ASCII bytes unless `pid5` / `nte` say otherwise), MSH-18 = `cs`. */
const pcd = (id: string, o: { cs?: string; pid5?: string; nte?: string; time?: string } = {}): string =>
  `MSH|^~\\&|MON|WARD|||${o.time ?? '20240101120000+0000'}||ORU^R01^ORU_R01|${id}|P|2.6|||AL|NE||${o.cs ?? 'UNICODE UTF-8'}\r` +
  `PID|||123^^^^MR||${o.pid5 ?? 'Doe^John'}\rPV1||I|ICU^1^A\rOBR|1|||x|||${o.time ?? '20240101120000+0000'}\r` +
  (o.nte !== undefined ? `NTE|1||${o.nte}\r` : '') +
  `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|84|262688^MDC_DIM_PERCENT^MDC|||||F\r`;

function setup() {
  const emitted: DriverEvent[] = [];
  const counts = new Map<string, number>();
  const logs: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const ctx: DriverContext = {
    name: 'h',
    log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
    emit: async (ev) => void emitted.push(...ev),
    count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
  };
  const handler = new MessageHandler(ctx, handlerOptions(100));
  return { handler, emitted, counts, logs };
}
/** MSA-1 and ERR-2 (segment^sequence^field) of an ACK. */
const answer = (ack: string) => {
  const m = parseMessage(ack);
  const err = m.segments.find((s) => s.id === 'ERR');
  return { code: str(m.segments[1]!, 1), ...(err ? { at: [str(err, 2, 1), str(err, 2, 2), str(err, 2, 3)] } : {}) };
};
const numeric = (ev: DriverEvent[]) => ev.filter((e): e is NumericReading => e.kind === 'numeric');

describe('rv126 M2: MSH-18 as interfaces spell it', () => {
  const aliases: Array<[string, string]> = [
    ['UTF-8', 'UNICODE UTF-8'],
    ['utf-8', 'UNICODE UTF-8'],
    ['UTF8', 'UNICODE UTF-8'],
    ['ISO-8859-1', '8859/1'],
    ['ISO_8859-1', '8859/1'],
    ['ISO8859-1', '8859/1'],
    ['8859-1', '8859/1'],
    ['iso-8859-1', '8859/1'],
    ['latin1', '8859/1'],
    ['ISO-8859-15', '8859/15'],
    ['ISO-8859-2', '8859/2'],
    ['US-ASCII', 'ASCII'],
  ];
  it('common spellings of a supported charset are read as it, with a charset-alias note', () => {
    for (const [cs, canonical] of aliases) {
      const m = parseMessage(Buffer.from(pcd('1', { cs })));
      expect([cs, m.charset, m.warnings.map((w) => w.kind)]).toEqual([cs, canonical, ['charset-alias']]);
      expect(m.warnings[0]!.detail).toContain(`'${cs}'`);
    }
  });
  it('an alias decodes as the charset it names: UTF-8 bytes as UTF-8, Latin-1 bytes as 8859/1, 8859-2 bytes as 8859/2', () => {
    expect(str(parseMessage(Buffer.from(pcd('1', { cs: 'UTF-8', pid5: 'Müller' }), 'utf8')).segments[1]!, 5)).toBe('Müller');
    expect(str(parseMessage(Buffer.from(pcd('1', { cs: 'ISO-8859-1', pid5: 'Müller' }), 'latin1')).segments[1]!, 5)).toBe('Müller');
    // 0xB3 is ł in 8859-2 (³ in Latin-1).
    const bytes = Buffer.from(pcd('1', { cs: 'iso8859-2', pid5: '\xb3odz' }), 'latin1');
    expect(str(parseMessage(bytes).segments[1]!, 5)).toBe('łodz');
  });
  it('an alias does not make bytes readable that are not: UTF-8 that is not valid UTF-8 is still refused naming MSH-18', () => {
    expect(() => parseMessage(Buffer.from(pcd('1', { cs: 'UTF-8', pid5: 'M\xfcller' }), 'latin1'))).toThrow(/MSH-18 says UTF-8 but the bytes are not valid UTF-8/);
  });
  it('table 0211 names (any case) are not noted', () => {
    for (const cs of ['UNICODE UTF-8', 'unicode utf-8', '8859/1', 'ASCII', 'ISO IR100', '8859/15']) {
      const m = parseMessage(Buffer.from(pcd('1', { cs })));
      expect([cs, m.warnings]).toEqual([cs, []]);
    }
  });
  it('a name this parser does not know, over ASCII-only bytes, is read as ASCII with a charset-unknown note', () => {
    for (const cs of ['WINDOWS-1252', 'ISO IR87', 'UNICODE UTF-16x', 'foo']) {
      const m = parseMessage(Buffer.from(pcd('1', { cs })));
      expect([cs, m.charset, m.warnings.map((w) => w.kind)]).toEqual([cs, 'ASCII', ['charset-unknown']]);
      expect(str(m.segments[1]!, 5)).toBe('Doe');
    }
  });
  it('an unknown name is still refused (103, naming MSH-18) when a byte is not ASCII, or is ESC (an ISO 2022 switch) or NUL', () => {
    for (const [text, why] of [
      ['M\xfcller', /unsupported character set 'WINDOWS-1252' in MSH-18/],
      ['\x1b$B0!\x1b(B', /unsupported character set 'WINDOWS-1252' in MSH-18/],
      ['a\x00b', /unsupported character set 'WINDOWS-1252' in MSH-18/],
    ] as const) {
      try {
        parseMessage(Buffer.from(pcd('1', { cs: 'WINDOWS-1252', pid5: text }), 'latin1'));
        throw new Error('should throw');
      } catch (e) {
        expect(e).toBeInstanceOf(Hl7ParseError);
        expect((e as Hl7ParseError).reason).toMatch(why);
        expect((e as Hl7ParseError).code).toBe(103);
        expect((e as Hl7ParseError).position).toMatchObject({ segmentId: 'MSH', field: 18 });
      }
    }
  });
  it('in a batch, an alias counts as declaring the charset an empty MSH-18 after it inherits', () => {
    const m = (id: string, cs: string, text: string) => `MSH|^~\\&|A||||||ORU^R01|${id}|P|2.6||||||${cs}\rOBX|1|ST|x||${text}\r`;
    const f = parseFrame(Buffer.from(`BHS|^~\\&\r${m('1', 'ISO-8859-2', '\xb3')}${m('2', '', '\xb3')}BTS|2\r`, 'latin1'), { collectMessageErrors: true });
    if (f.kind !== 'batch') throw new Error('batch expected');
    expect(f.batch.failed).toBeUndefined();
    expect(f.batch.batches[0]!.messages.map((x) => [x.charset, str(x.segments[1]!, 5)])).toEqual([
      ['8859/2', 'ł'],
      ['8859/2', 'ł'],
    ]);
  });
  it('through the handler: every spelling of the probe is accepted and its SpO2 stored; notes are counted and said once per sender', async () => {
    const { handler, emitted, counts, logs } = setup();
    const spellings = ['UNICODE UTF-8', 'UTF-8', 'utf-8', 'UTF8', 'ISO-8859-1', 'ISO_8859-1', 'ASCII', 'x-unknown'];
    for (const [i, cs] of spellings.entries()) {
      const [ack] = await handler.handle(Buffer.from(pcd(`C${i}`, { cs })), 'p');
      expect([cs, answer(ack!).code]).toEqual([cs, 'CA']);
    }
    expect(numeric(emitted).map((r) => r.value)).toEqual(spellings.map(() => 84));
    expect(counts.get('parser_charset_alias')).toBe(5);
    expect(counts.get('parser_charset_unknown')).toBe(1);
    expect(logs.filter((l) => l.warning === 'charset-alias')).toHaveLength(1);
  });
});

describe('rv126 M4: a stray escape character in free text', () => {
  it('an escape character with no closing one is kept literally, with an escape-unterminated note naming where', () => {
    const m = parseMessage(Buffer.from(pcd('1', { pid5: 'O\\Neil^Mary', nte: 'probe moved to L\\R ear' })));
    expect(str(m.segments[1]!, 5, 1)).toBe('O\\Neil');
    expect(str(m.segments[1]!, 5, 2)).toBe('Mary');
    expect(str(m.segments[4]!, 3)).toBe('probe moved to L\\R ear');
    expect(m.warnings.map((w) => w.kind)).toEqual(['escape-unterminated', 'escape-unterminated']);
    expect(m.warnings[0]!.detail).toMatch(/segment 2 \(PID\) PID-5\.1/);
    expect(m.warnings[1]!.detail).toMatch(/segment 5 \(NTE\) NTE-3/);
  });
  it('escapes before it are still decoded; a later pair still reads as an escape', () => {
    const m = parseMessage('MSH|^~\\&|A||||||ORU^R01|1|P|2.6\rNTE|1||a\\F\\b\\c\rNTE|2||x\\S\\y\\\r');
    expect(str(m.segments[1]!, 3)).toBe('a|b\\c');
    // `y\` at the end: the last escape character has no partner.
    expect(str(m.segments[2]!, 3)).toBe('x^y\\');
    expect(m.warnings.map((w) => w.kind)).toEqual(['escape-unterminated', 'escape-unterminated']);
  });
  it('through the handler: the NTE and PID-5 cases store the SpO2 reading and count the note', async () => {
    const { handler, emitted, counts, logs } = setup();
    const nte = await handler.handle(Buffer.from(pcd('B1', { nte: 'probe moved to L\\R ear' })), 'p');
    const name = await handler.handle(Buffer.from(pcd('B2', { pid5: 'O\\Neil^Mary' })), 'p');
    expect([answer(nte[0]!).code, answer(name[0]!).code]).toEqual(['CA', 'CA']);
    expect(numeric(emitted).map((r) => r.value)).toEqual([84, 84]);
    expect(counts.get('parser_escape_unterminated')).toBe(2);
    expect(logs.filter((l) => l.warning === 'escape-unterminated')).toHaveLength(1);
  });
});

describe('rv126 L2: DTM with the fraction but no decimal point', () => {
  it('14 digits followed by 1 to 4 more are read as the fraction of the second, with a note', () => {
    const t = parseDtm('20190929092149610');
    expect([t.ms, t.precision, t.offsetMinutes]).toEqual([Date.UTC(2019, 8, 29, 9, 21, 49, 610), 'fraction', null]);
    expect(t.note).toMatch(/no decimal point/);
    expect(parseDtm('20190929092149610+0800').ms).toBe(Date.UTC(2019, 8, 29, 1, 21, 49, 610));
    expect(parseDtm('201909290921495').ms).toBe(Date.UTC(2019, 8, 29, 9, 21, 49, 500));
    expect(parseDtm('201909290921496105').ms).toBe(Date.UTC(2019, 8, 29, 9, 21, 49, 611));
    // A standard DTM carries no note.
    expect(parseDtm('20190929092149.610').note).toBeUndefined();
  });
  it('other digit counts stay unreadable (nothing else reads them unambiguously)', () => {
    for (const t of ['2019092909214961051', '2019092909214', '20190929092149.']) expect(() => parseDtm(t)).toThrow(/not an HL7 date/);
    expect(() => parseDtm('20190929092160610')).toThrow(/time of day/);
  });
  it('through the handler: a Mindray-shaped message (17-digit OBR-7 and MSH-7) gives readings the device time', async () => {
    const { handler, emitted, counts } = setup();
    const msg =
      'MSH|^~\\&|MINDRAY_D-SERIES^00A037009A00690C^EUI-64||||20190929092150000||ORU^R01^ORU_R01|374|P|2.6|||AL|NE||UNICODE UTF-8\r' +
      'PID|||^^^Hospital^PI||^^^^^^L\rPV1||I\r' +
      'OBR|1||374^MINDRAY_D-SERIES^00A037009A00690C^EUI-64|182777000^monitoring of patient^SCT|||20190929092149610|20190929092150610\r' +
      'OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.7.4.147842|62|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r';
    await handler.handle(Buffer.from(msg), 'p');
    const [hr] = numeric(emitted);
    expect(hr?.deviceTime).toBe(Date.UTC(2019, 8, 29, 9, 21, 49, 610));
    expect(hr?.quality.reasons ?? []).not.toContain('time-invalid:obr-7');
    // Read by the lenient rule: said, as a mapping note (counted once a message).
    expect(counts.get('mapping_time_no_decimal_point')).toBe(1);
  });
});

describe('rv126 L2: two messages in one frame', () => {
  const base = (id: string) => pcd(id, { cs: 'ASCII' });
  it('ERR-2 names the second MSH of the frame (sequence 2), not the first', () => {
    const ids = segmentIds(base('T1') + base('T2'));
    expect(ids[5]).toBe('MSH');
    expect(segmentSequence(ids, 6)).toBe(2);
    expect(segmentSequence(ids, 7)).toBe(2); // its PID is the frame's second PID too
    // In a batch, each MSH starts its own message: still sequence 1.
    const batch = segmentIds(`BHS|^~\\&\r${base('T1')}${base('T2')}BTS|2\r`);
    expect(segmentSequence(batch, 7)).toBe(1);
    expect(segmentSequence(batch, 8)).toBe(1);
  });
  it('through the handler: the AE for a frame with two messages points ERR-2 at MSH^2', async () => {
    const { handler } = setup();
    const [ack] = await handler.handle(Buffer.from(base('T1') + base('T2')), 'p');
    expect(answer(ack!)).toEqual({ code: 'CE', at: ['MSH', '2', ''] });
  });
});
