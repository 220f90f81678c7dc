// rv145 F1: adjacent \X..\ escapes (nothing between them) are one byte run, decoded together in the message charset,
// so an encoder that escapes a UTF-8 character byte by byte is read as that character.
import { describe, expect, it } from 'vitest';
import { decodeBytes } from './charset.js';
import { Hl7ParseError } from './errors.js';
import { decodeLeaf } from './escape.js';
import { parseFrame, parseMessage } from './parse.js';
import type { Delimiters, Hl7Warning } from './types.js';

const d: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };
const pos = { segmentIndex: 2, segmentId: 'PID', field: 5, component: 1, subcomponent: 1 };
const utf8 = decodeBytes(Buffer.from('x'), 'UNICODE UTF-8').hex;
const msg = (cs: string, pid5: string): string =>
  `MSH|^~\\&|MON|WARD|||20240101120000+0000||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE||${cs}\r` +
  `PID|||P1||${pid5}\rOBR|1|||x\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|32|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r`;
const pid5 = (cs: string, v: string, bytes?: Buffer): unknown =>
  parseMessage(bytes ?? Buffer.from(msg(cs, v), 'utf8')).segments[1]?.fields[5]?.[0]?.[0]?.[0];

describe('rv145 F1: adjacent hex escapes', () => {
  it('decodes one UTF-8 character split over two escapes as that character', () => {
    const w: Hl7Warning[] = [];
    expect(decodeLeaf('M\\XC3\\\\XBC\\ller', d, utf8, pos, w)).toBe('Müller');
    expect(w).toEqual([]);
  });

  it('decodes a run of three escapes, with text before and after', () => {
    // "€" is E2 82 AC: one byte per escape.
    expect(decodeLeaf('a\\XE2\\\\X82\\\\XAC\\b', d, utf8, pos, [])).toBe('a€b');
  });

  it('keeps runs apart when anything stands between them', () => {
    // A lone C3 is not UTF-8: text between two escapes ends the run.
    expect(() => decodeLeaf('\\XC3\\x\\XBC\\', d, utf8, pos, [])).toThrow(Hl7ParseError);
    // Another escape between them ends the run too.
    expect(() => decodeLeaf('\\XC3\\\\S\\\\XBC\\', d, utf8, pos, [])).toThrow(Hl7ParseError);
  });

  it('still refuses a run that is not valid UTF-8, naming the escapes of the run', () => {
    expect(() => decodeLeaf('\\XC3\\\\XC3\\', d, utf8, pos, [])).toThrow(/\\XC3\\\\XC3\\.*not valid UTF-8/);
  });

  it('a long run (one escape of 300,000 bytes, then another) is decoded whole', () => {
    const v = decodeLeaf(`\\X${'41'.repeat(300_000)}\\\\X42\\`, d, utf8, pos, []);
    expect([v?.length, v?.slice(-2)]).toEqual([300_001, 'AB']);
  });

  it('still refuses a malformed escape inside a run', () => {
    expect(() => decodeLeaf('\\XC3\\\\XB\\', d, utf8, pos, [])).toThrow(/bad hex escape/);
  });

  it('parses PID-5 with a split ü under UNICODE UTF-8 as with a joined one', () => {
    expect(pid5('UNICODE UTF-8', 'M\\XC3\\\\XBC\\ller')).toBe('Müller');
    expect(pid5('UNICODE UTF-8', 'M\\XC3BC\\ller')).toBe('Müller');
  });

  it('empty MSH-18, ASCII bytes: a hex run that is valid UTF-8 is read as UTF-8, as raw bytes are', () => {
    expect(pid5('', 'N\\XC3\\\\XA9\\e')).toBe('Née');
    expect(pid5('', 'N\\XC3A9\\e')).toBe('Née');
  });

  it('empty MSH-18, ASCII bytes: a hex run that is not valid UTF-8 is read as Latin-1', () => {
    expect(pid5('', 'N\\XE9\\e')).toBe('Née');
  });

  it('empty MSH-18, raw bytes valid UTF-8: a hex run that is not is read as Latin-1, not refused', () => {
    expect(pid5('', 'Ü\\XE9\\')).toBe('Üé');
  });

  it('empty MSH-18, raw bytes read as Latin-1: hex runs stay Latin-1', () => {
    expect(pid5('', '', Buffer.from(msg('', '\xe9\\XC3A9\\'), 'latin1'))).toBe('éÃ©');
  });

  it('declared 8859/1 still reads hex as Latin-1', () => {
    expect(pid5('8859/1', 'N\\XC3\\\\XA9\\e')).toBe('NÃ©e');
  });
});

describe('rv145 F1: undecodable hex bytes in a field no one reads', () => {
  const lenient = (id: string, field: number): boolean => id === 'PID' && field === 5;
  // A lone C3 (the first byte of a two-byte UTF-8 character) is not UTF-8.
  const text = msg('UNICODE UTF-8', 'M\\XC3\\ller');

  it('in a lenient field: U+FFFD, with an escape-undecodable warning naming the place', () => {
    const f = parseFrame(Buffer.from(text, 'utf8'), { replaceUndecodableIn: lenient });
    if (f.kind !== 'message') throw new Error('not a message');
    expect(f.message.segments[1]?.fields[5]?.[0]?.[0]?.[0]).toBe('M\uFFFDller');
    expect(f.message.warnings).toEqual([
      { kind: 'escape-undecodable', detail: expect.stringMatching(/^segment 2 \(PID\) PID-5\.1\.1: hex escape \\XC3\\: its bytes are not valid UTF-8; kept as U\+FFFD/) },
    ]);
  });

  it('without the option, or in another field, still refused', () => {
    expect(() => parseFrame(Buffer.from(text, 'utf8'))).toThrow(/not valid UTF-8/);
    const inPid3 = msg('UNICODE UTF-8', 'x').replace('PID|||P1|', 'PID|||P\\XC3\\1|');
    expect(() => parseFrame(Buffer.from(inPid3, 'utf8'), { replaceUndecodableIn: lenient })).toThrow(/PID-3.*not valid UTF-8/);
  });
});
