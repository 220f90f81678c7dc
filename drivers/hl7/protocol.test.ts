// Pure protocol parts: framer, escapes, timestamps, errors, encoder, and fast-check properties.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CR,
  DEFAULT_DELIMITERS,
  FS,
  Hl7ParseError,
  MllpFramer,
  OVERSIZE_HEAD_BYTES,
  OUTSIDE_HEAD_BYTES,
  VT,
  buildAck,
  encodeSegments,
  frame,
  parseBatch,
  parseDtm,
  parseFrame,
  wallTimeToUtc,
  zoneOffsetMinutes,
  parseMessage,
  readHeader,
  segment,
  segmentIds,
  sniffHeader,
  str,
  type Delimiters,
  type Field,
  type Segment,
} from './protocol/index.js';

const MSG = 'MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0100||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE||UNICODE UTF-8\rPID|||P1\rOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r';

describe('MLLP framer', () => {
  it('yields several frames from one chunk and ignores bytes between them (counted)', () => {
    const f = new MllpFramer(1000);
    const buf = Buffer.concat([Buffer.from('junk'), frame('A'), Buffer.from('\r\n'), frame('BB'), frame('CCC')]);
    const ev = f.push(buf);
    expect(ev.map((e) => (e.type === 'frame' ? e.payload.toString() : e.type === 'outside' ? `outside:${e.bytes}:${e.head.toString('latin1')}` : e.type))).toEqual([
      'outside:4:junk',
      'A',
      'outside:2:\r\n', // frame() ends in FS CR, so this CR LF is beyond the trailer
      'BB',
      'CCC',
    ]);
    expect(f.counters.outsideBytes).toBe(6);
  });
  it('an outside event carries the first OUTSIDE_HEAD_BYTES of its run, one event per run in a chunk', () => {
    const f = new MllpFramer(1000);
    const ev = f.push(Buffer.concat([Buffer.from('x'.repeat(100)), frame('A'), Buffer.from('MSH|')]));
    const outside = ev.filter((e) => e.type === 'outside');
    expect(outside.map((e) => [e.bytes, e.head.toString('latin1')])).toEqual([
      [100, 'x'.repeat(OUTSIDE_HEAD_BYTES)],
      [4, 'MSH|'],
    ]);
  });
  it('an outside event counts the HL7 messages begun in it (MSH at a line start), however the stream is cut (rv134 M4)', () => {
    const raw = (id: string) => `MSH|^~\\&|MON|WARD|||20240101||ORU^R01|${id}|P|2.6\rPID|||P1\rOBX|1|NM|X||97\r`;
    const starts = (chunks: Buffer[]): number => {
      const f = new MllpFramer(1000);
      let n = 0;
      for (const c of chunks) for (const e of f.push(c)) if (e.type === 'outside') n += e.messageStarts;
      return n;
    };
    const stream = Buffer.from(`${raw('U1')}${raw('U2')}\n${raw('U3')}`, 'latin1');
    expect(starts([stream])).toBe(3);
    // Byte by byte: "MSH" cut between chunks is still one start.
    expect(starts([...stream].map((b) => Buffer.from([b])))).toBe(3);
    // Not at a line start, or not MSH: no message begun.
    expect(starts([Buffer.from('xMSH|\rPID|MSH\rMS\rGET / HTTP/1.1\r\n')])).toBe(0);
    // After a frame (its trailer FS CR, or FS alone), a header outside the next frame is one; inside a frame none.
    // After FS alone, a frame whose last segment is complete has ended (review rv180 M2); after one ending mid-segment,
    // the bytes are outside once a frame start shows that FS was an end (data after an FS may be the rest of a message
    // the FS cut, review rv178 M1).
    expect(starts([Buffer.concat([frame(raw('F1')), Buffer.from(raw('U4')), Buffer.from([VT]), Buffer.from('A\r'), Buffer.from([FS]), Buffer.from(raw('U5'))])])).toBe(2);
    expect(starts([Buffer.concat([frame(raw('F1')), Buffer.from(raw('U4')), Buffer.from([VT]), Buffer.from('A'), Buffer.from([FS]), Buffer.from(raw('U5')), Buffer.from([VT])])])).toBe(2);
  });
  it('joins a frame split byte by byte', () => {
    const f = new MllpFramer(1000);
    const out: string[] = [];
    for (const b of frame(MSG)) for (const e of f.push(Buffer.from([b]))) if (e.type === 'frame') out.push(e.payload.toString());
    expect(out).toEqual([MSG]);
  });
  it('drops an oversize frame and resyncs at the next VT', () => {
    const f = new MllpFramer(10);
    const ev = f.push(Buffer.concat([frame('x'.repeat(50)), frame('ok')]));
    expect(ev.map((e) => e.type)).toEqual(['oversize', 'frame']);
    expect(ev[1]!.type === 'frame' && ev[1]!.payload.toString()).toBe('ok');
    expect(f.buffered).toBe(0);
  });
  it('abandons an unfinished frame when a new VT arrives', () => {
    const f = new MllpFramer(100);
    const ev = f.push(Buffer.concat([Buffer.from([VT]), Buffer.from('half'), frame('whole')]));
    expect(ev.map((e) => e.type)).toEqual(['abandoned', 'frame']);
  });
  it('an abandoned frame, and the frame a reset drops, tell whether they began with an HL7 header, however cut (rv137 M1)', () => {
    const abandoned = (chunks: Buffer[]) => {
      const f = new MllpFramer(1000);
      return chunks.flatMap((c) => f.push(c)).filter((e) => e.type === 'abandoned');
    };
    const vt = Buffer.from([VT]);
    // A message ended with CR LF in place of FS CR: dropped at the next VT, a message lost.
    expect(abandoned([vt, Buffer.from('MSH|^~\\&|A\r\n'), vt])).toEqual([{ type: 'abandoned', bytes: 12, message: true }]);
    // The header cut between chunks, and "MS" held with the "H" in the chunk of the next VT.
    expect(abandoned([vt, Buffer.from('M'), Buffer.from('S'), Buffer.from('H|x'), vt]).map((e) => e.type === 'abandoned' && e.message)).toEqual([true]);
    expect(abandoned([Buffer.from([VT, 0x4d, 0x53]), Buffer.from([0x48, 0x7c, VT])]).map((e) => e.type === 'abandoned' && e.message)).toEqual([true]);
    expect(abandoned([Buffer.concat([vt, Buffer.from('BHS|'), vt, Buffer.from('FHS|'), vt])]).map((e) => e.type === 'abandoned' && e.message)).toEqual([true, true]);
    // As the parser reads a message: a byte order mark and blank lines may come first.
    expect(abandoned([vt, Buffer.from('\ufeff\r\nMSH|'), vt]).map((e) => e.type === 'abandoned' && e.message)).toEqual([true]);
    // Not a header: no message.
    for (const body of ['half', 'MS', '', 'xMSH|', 'msh|', 'PID|']) {
      expect(abandoned([vt, Buffer.from(body), vt]).map((e) => e.type === 'abandoned' && e.message)).toEqual([false]);
    }
    const f = new MllpFramer(1000);
    f.push(Buffer.concat([vt, Buffer.from('MS')]));
    expect(f.messageHeld).toBe(false);
    f.push(Buffer.from('H|'));
    expect(f.messageHeld).toBe(true);
    f.reset();
    expect(f.messageHeld).toBe(false);
    f.push(frame('MSH|done'));
    expect(f.messageHeld).toBe(false);
  });
  it('accepts FS without CR but flags it', () => {
    const f = new MllpFramer(100);
    const ev = f.push(Buffer.from([VT, 0x41, FS, VT, 0x42, FS, 0x0d]));
    expect(ev).toEqual([{ type: 'frame', payload: Buffer.from('A') }, { type: 'missing-cr' }, { type: 'frame', payload: Buffer.from('B') }]);
  });
  it('a frame ending with a segment terminator is taken at its FS (rv180 M3); one ending mid-segment waits for the byte after it (rv178 M1), or for flush(); a CR after either is swallowed, not stray', () => {
    const f = new MllpFramer(100);
    expect(f.push(Buffer.from([VT, 0x41, CR, FS]))).toEqual([{ type: 'frame', payload: Buffer.from('A\r') }]);
    expect(f.push(Buffer.from([CR]))).toEqual([]);
    expect(f.push(Buffer.from([VT, 0x41, FS]))).toEqual([]);
    expect(f.inFrame).toBe(false);
    // The listener flushes when nothing follows for a moment (a sender that leaves out the last CR and ends with FS
    // alone waits for its ACK): its last segment may be cut, so the frame says so.
    expect(f.flush()).toEqual([{ type: 'frame', payload: Buffer.from('A'), unterminated: true }]);
    expect(f.push(Buffer.from([CR]))).toEqual([]);
    expect(f.counters.outsideBytes).toBe(0);
    // Only the one CR belongs to the trailer; a second is outside any frame.
    f.push(Buffer.from([CR]));
    expect(f.counters.outsideBytes).toBe(1);
  });
  it('an oversize event carries the first bytes of the frame (to answer it) and counts frame starts', () => {
    const f = new MllpFramer(1024);
    const big = `MSH|^~\\&|MON|WARD|||20240101||ORU^R01|BIG-1|P|2.6\r${'x'.repeat(5000)}`;
    const ev = f.push(frame(big));
    expect(ev).toHaveLength(1);
    const o = ev[0]!;
    expect(o.type === 'oversize' && o.head.toString('latin1')).toBe(big.slice(0, OVERSIZE_HEAD_BYTES));
    expect(f.counters.started).toBe(1);
  });
  it('property: arbitrary bytes in arbitrary chunks never throw and never hold more than the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (chunks, max) => {
        const f = new MllpFramer(max);
        for (const c of chunks) {
          for (const e of f.push(c)) if (e.type === 'frame') expect(e.payload.length).toBeLessThanOrEqual(max);
          expect(f.buffered).toBeLessThanOrEqual(max);
        }
      }),
      { numRuns: 500 },
    );
  });
  it('property: framed payloads come back intact however the stream is cut', () => {
    const payload = fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a.filter((b) => b !== VT && b !== FS)));
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => frame(p)));
        const f = new MllpFramer(1000);
        const got: Buffer[] = [];
        let i = 0;
        let k = 0;
        while (i < stream.length) {
          const n = cuts[k++ % cuts.length]!;
          for (const e of f.push(stream.subarray(i, i + n))) if (e.type === 'frame') got.push(e.payload);
          i += n;
        }
        expect(got.map((b) => b.toString('hex'))).toEqual(payloads.map((b) => b.toString('hex')));
      }),
      { numRuns: 300 },
    );
  });
});

describe('parser', () => {
  it('reads fields, components, repetitions, subcomponents', () => {
    const m = parseMessage('MSH|^~\\&|A||||||ADT^A01|1|P|2.5\rPID|1|a^b&c~d|\r');
    const pid = m.segments[1]!;
    expect(pid.fields[2]).toEqual([[['a'], ['b', 'c']], [['d']]]);
    expect(str(pid, 2, 2, 2)).toBe('c');
    expect(str(pid, 2, 1, 1, 2)).toBe('d');
  });
  it('tolerates CRLF and LF-only senders and says so', () => {
    expect(parseMessage(MSG.replaceAll('\r', '\r\n')).warnings.map((w) => w.kind)).toContain('crlf-terminators');
    const lf = parseMessage(MSG.replaceAll('\r', '\n'));
    expect(lf.segments.map((s) => s.id)).toEqual(['MSH', 'PID', 'OBX']);
    expect(lf.warnings.map((w) => w.kind)).toContain('lf-terminators');
  });
  it('errors carry segment, field, component and reason', () => {
    try {
      parseMessage('MSH|^~\\&|A||||||ORU^R01|1|P|2.6\rOBX|1|ST|x||bad\\Xzz\\value\r');
      throw new Error('should throw');
    } catch (e) {
      expect(e).toBeInstanceOf(Hl7ParseError);
      const p = (e as Hl7ParseError).position;
      expect(p).toMatchObject({ segmentIndex: 2, segmentId: 'OBX', field: 5, component: 1 });
      expect((e as Hl7ParseError).message).toMatch(/segment 2 \(OBX\) OBX-5\.1\.1: bad hex escape/);
    }
    expect(() => parseMessage('MSH|^~\\&\rob|x\r')).toThrow(/'ob\|' is not a segment id/);
    // A lone escape character is kept literally, with a warning (rv126 M4), not an error.
    expect(parseMessage('MSH|^~\\&\rPID|a\\b\r').warnings.map((w) => w.kind)).toEqual(['escape-unterminated']);
    expect(() => parseMessage('PID|1\r')).toThrow(/must start with MSH/);
    expect(() => parseMessage('MSH|^^\\&|\r')).toThrow(/MSH-2/);
  });
  it('MSH-18: UTF-8 and 8859/1 decode; ASCII with high bytes, and unknown charsets over bytes that are not plain ASCII, are errors', () => {
    const utf = Buffer.from('MSH|^~\\&|A||||||ORU^R01|1|P|2.6||||||UNICODE UTF-8\rPID|||Müller\r', 'utf8');
    expect(str(parseMessage(utf).segments[1]!, 3)).toBe('Müller');
    const latin = Buffer.from('MSH|^~\\&|A||||||ORU^R01|1|P|2.6||||||8859/1\rPID|||Müller\r', 'latin1');
    expect(str(parseMessage(latin).segments[1]!, 3)).toBe('Müller');
    const ascii = Buffer.from('MSH|^~\\&|A||||||ORU^R01|1|P|2.6||||||ASCII\rPID|||Müller\r', 'latin1');
    expect(() => parseMessage(ascii)).toThrow(/ASCII but byte 0xfc/);
    // JIS X 0208 behind ISO 2022 escapes (ESC $ B … ESC ( B): 7-bit bytes that are not ASCII text.
    const sjis = Buffer.from('MSH|^~\\&|A||||||ORU^R01|1|P|2.6||||||ISO IR87\rPID|||\x1b$B4A;z\x1b(B\r', 'latin1');
    expect(() => parseMessage(sjis)).toThrow(/unsupported character set 'ISO IR87'/);
  });
  it('a \\X..\\ escape that is not valid in the message charset (UTF-8) is an error naming segment, field and component', () => {
    const utf8 = (obx5: string) => parseMessage(Buffer.from(`MSH|^~\\&|A||||||ORU^R01|1|P|2.6||||||UNICODE UTF-8\rOBX|1|ST|x||ok^${obx5}\r`, 'latin1'));
    expect(str(utf8('M\\XC3BC\\ller').segments[1]!, 5, 2)).toBe('Müller');
    try {
      utf8('M\\XFC\\ller');
      throw new Error('should throw');
    } catch (e) {
      expect(e).toBeInstanceOf(Hl7ParseError);
      expect((e as Hl7ParseError).position).toMatchObject({ segmentIndex: 2, segmentId: 'OBX', field: 5, component: 2 });
      expect((e as Hl7ParseError).message).toBe('segment 2 (OBX) OBX-5.2.1: hex escape \\XFC\\: its bytes are not valid UTF-8');
    }
  });
  it('a batch is read message by message, each in its own MSH-18; a charset error stays with its message', () => {
    const m = (id: string, charset: string, text: string, enc: BufferEncoding) =>
      Buffer.from(`MSH|^~\\&|A||||||ORU^R01|${id}|P|2.6||||||${charset}\rPID|||${text}\r`, enc);
    const bytes = Buffer.concat([Buffer.from('BHS|^~\\&\r'), m('1', '8859/1', 'Müller', 'latin1'), m('2', 'UNICODE UTF-8', 'Müller', 'utf8'), m('3', 'UNICODE UTF-8', 'Müller', 'latin1'), Buffer.from('BTS|3\r')]);
    const f = parseFrame(bytes, { collectMessageErrors: true });
    if (f.kind !== 'batch') throw new Error('batch expected');
    const msgs = f.batch.batches[0]!.messages;
    expect(msgs.map((x) => x.charset)).toEqual(['8859/1', 'UNICODE UTF-8', '8859/1']);
    expect(msgs.slice(0, 2).map((x) => str(x.segments[1]!, 3))).toEqual(['Müller', 'Müller']);
    // The third is kept as its raw bytes (Latin-1 view), so its MSH can still address the refusal.
    expect(f.batch.failed?.get(msgs[0]!)).toBeUndefined();
    expect(f.batch.failed?.get(msgs[1]!)).toBeUndefined();
    const err = f.batch.failed?.get(msgs[2]!);
    expect(err?.position).toMatchObject({ segmentIndex: 6, segmentId: 'MSH', field: 18 });
    expect(str(msgs[2]!.segments[0]!, 10)).toBe('3');
    // Without collectMessageErrors the batch is refused as a whole, naming that MSH.
    expect(() => parseFrame(bytes)).toThrow(/segment 6 \(MSH\) MSH-18: MSH-18 says UTF-8 but the bytes are not valid UTF-8/);
  });
  it('a UTF-8 byte order mark is skipped with a warning of its own; with a non-UTF-8 MSH-18 it is an MSH-18 error', () => {
    const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
    const withBom = (charset: string, enc: BufferEncoding) => Buffer.concat([BOM, Buffer.from(`MSH|^~\\&|A||||||ORU^R01|1|P|2.6||||||${charset}\rPID|||Müller\r`, enc)]);
    const utf = parseMessage(withBom('UNICODE UTF-8', 'utf8'));
    expect([utf.charset, str(utf.segments[1]!, 3)]).toEqual(['UNICODE UTF-8', 'Müller']);
    expect(utf.warnings.map((w) => w.kind)).toEqual(['bom']);
    // Empty MSH-18: read as ever (valid UTF-8 is UTF-8), the mark noted as well.
    expect(parseMessage(withBom('', 'utf8')).warnings.map((w) => w.kind)).toEqual(['bom', 'charset-assumed']);
    for (const [charset, enc] of [['8859/1', 'latin1'], ['ASCII', 'utf8']] as const) {
      try {
        parseMessage(withBom(charset, enc));
        throw new Error('should throw');
      } catch (e) {
        expect(e).toBeInstanceOf(Hl7ParseError);
        expect((e as Hl7ParseError).position).toMatchObject({ segmentIndex: 1, segmentId: 'MSH', field: 18 });
        expect((e as Hl7ParseError).reason).toBe(`MSH-18 says ${charset} but the message starts with a UTF-8 byte order mark (EF BB BF)`);
      }
    }
  });
  describe('rv110: MSH-18 in a batch and byte order marks', () => {
    /** A message with one OBX-5 `text` (bytes as given), declaring `charset` in MSH-18. */
    const m = (id: string, charset: string, text: Buffer | string) =>
      Buffer.concat([Buffer.from(`MSH|^~\\&|A||||||ORU^R01|${id}|P|2.6||||||${charset}\rOBX|1|ST|x||`, 'latin1'), Buffer.from(text), Buffer.from('\r')]);
    const batch = (...parts: Buffer[]) => Buffer.concat([Buffer.from('BHS|^~\\&\r'), ...parts, Buffer.from(`BTS|${parts.filter((p) => p.includes('MSH|')).length}\r`)]);
    const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
    const PL = Buffer.from([0xb3, 0xf3, 0x64, 0xbc]); // "łódź" in 8859/2
    const messagesOf = (bytes: Buffer) => {
      const f = parseFrame(bytes, { collectMessageErrors: true });
      if (f.kind !== 'batch') throw new Error('batch expected');
      return { msgs: f.batch.batches.flatMap((b) => b.messages), failed: f.batch.failed };
    };

    it('M1: a batch message with an empty MSH-18 is read in the MSH-18 of the nearest earlier message that declares one, flagged', () => {
      const { msgs, failed } = messagesOf(batch(m('1', '8859/2', PL), m('2', '', PL), m('3', 'UNICODE UTF-8', 'é'), m('4', '', 'é')));
      expect(failed).toBeUndefined();
      expect(msgs.map((x) => [x.charset, str(x.segments[1]!, 5)])).toEqual([
        ['8859/2', 'łódź'],
        ['8859/2', 'łódź'],
        ['UNICODE UTF-8', 'é'],
        ['UNICODE UTF-8', 'é'],
      ]);
      expect(msgs.map((x) => x.warnings.map((w) => w.kind))).toEqual([[], ['charset-assumed'], [], ['charset-assumed']]);
      expect(msgs[1]!.warnings[0]!.detail).toMatch(/MSH-18 empty; non-ASCII bytes read as 8859\/2, the MSH-18 of an earlier message of the batch/);
      // Latin-1 bytes that happen to be valid UTF-8 (C3 A9) stay Latin-1 after an 8859/1 message: no guess.
      const l1 = messagesOf(batch(m('1', '8859/1', Buffer.from([0xc3, 0xa9])), m('2', '', Buffer.from([0xc3, 0xa9]))));
      expect(l1.msgs.map((x) => str(x.segments[1]!, 5))).toEqual(['Ã©', 'Ã©']);
      // An empty MSH-18 with ASCII bytes only is ASCII, whatever came before, and not flagged.
      const ascii = messagesOf(batch(m('1', '8859/2', PL), m('2', '', 'x')));
      expect([ascii.msgs[1]!.charset, ascii.msgs[1]!.warnings]).toEqual(['ASCII', []]);
    });
    it('M1: bytes not valid in the inherited charset refuse that message naming its MSH-18', () => {
      const { msgs, failed } = messagesOf(batch(m('1', 'UNICODE UTF-8', 'é'), m('2', '', Buffer.from([0xe9]))));
      expect(failed?.get(msgs[0]!)).toBeUndefined();
      const err = failed?.get(msgs[1]!);
      expect(err?.position).toMatchObject({ segmentIndex: 4, segmentId: 'MSH', field: 18 });
      expect(err?.reason).toBe('MSH-18 is empty and an earlier message of the batch declares UNICODE UTF-8, but the bytes are not valid UTF-8');
    });
    it('M1: with no earlier declaration but a later one, an empty MSH-18 is ASCII (HL7): non-ASCII bytes refused naming MSH-18', () => {
      const { msgs, failed } = messagesOf(batch(m('1', '', PL), m('2', '8859/2', PL)));
      expect(str(msgs[1]!.segments[1]!, 5)).toBe('łódź');
      expect(failed?.get(msgs[1]!)).toBeUndefined();
      const err = failed?.get(msgs[0]!);
      expect(err?.position).toMatchObject({ segmentIndex: 2, segmentId: 'MSH', field: 18 });
      expect(err?.reason).toMatch(/^MSH-18 is empty \(ASCII\) but byte 0xb3 is not ASCII; another message of the batch declares its charset, so this one is not guessed/);
      // The sender's byte: the offset is in the frame.
      expect(batch(m('1', '', PL), m('2', '8859/2', PL))[err!.position.offset!]).toBe(0xb3);
    });
    it('M1: no message of the frame declares a charset: the UTF-8 / Latin-1 guess, as for a single message', () => {
      const { msgs, failed } = messagesOf(batch(m('1', '', PL), m('2', '', 'é')));
      expect(failed).toBeUndefined();
      expect(msgs.map((x) => [x.charset, str(x.segments[1]!, 5)])).toEqual([
        ['8859/1', '³ód¼'],
        ['UNICODE UTF-8', 'é'],
      ]);
    });
    describe('rv111: the empty MSH-18 rules stay inside one BHS batch and count supported charsets only', () => {
      const file = (...batches: Buffer[]) => Buffer.concat([Buffer.from('FHS|^~\\&\r'), ...batches, Buffer.from(`FTS|${batches.length}\r`)]);
      const read = (bytes: Buffer) => {
        const { msgs, failed } = messagesOf(bytes);
        return msgs.map((x) => (failed?.get(x) ? `AE ${failed.get(x)!.reason}` : `${x.charset} ${str(x.segments[1]!, 5)}`));
      };
      it('M2 B1: an 8859/2 message in one batch does not make the empty MSH-18 of the next batch 8859/2', () => {
        expect(read(file(batch(m('1', '8859/2', PL)), batch(m('2', '', 'é'), m('3', '', 'é'))))).toEqual(['8859/2 łódź', 'UNICODE UTF-8 é', 'UNICODE UTF-8 é']);
      });
      it('M2 B2: a declaration in a later batch does not make an empty MSH-18 ASCII', () => {
        expect(read(file(batch(m('1', '', 'é')), batch(m('2', 'UNICODE UTF-8', 'é'))))).toEqual(['UNICODE UTF-8 é', 'UNICODE UTF-8 é']);
      });
      it('M2 B3: an inherited 8859 charset over bytes that are valid UTF-8 says so in its warning', () => {
        const { msgs } = messagesOf(batch(m('1', '8859/1', 'x'), m('2', '', 'é')));
        expect(str(msgs[1]!.segments[1]!, 5)).toBe('Ã©');
        expect(msgs[1]!.warnings[0]!.detail).toMatch(/the bytes are also valid UTF-8/);
        // Bytes that are not valid UTF-8: no such note.
        expect(messagesOf(batch(m('1', '8859/2', PL), m('2', '', PL))).msgs[1]!.warnings[0]!.detail).not.toMatch(/UTF-8/);
      });
      it('L1 A3: an HL7 null "" in MSH-18 is empty: that message and an empty one after it are guessed', () => {
        expect(read(batch(m('1', '""', 'é'), m('2', '', 'é')))).toEqual(['UNICODE UTF-8 é', 'UNICODE UTF-8 é']);
      });
      it('L1 A4: an unsupported name refuses its own message only; it does not make an empty MSH-18 ASCII', () => {
        expect(read(batch(m('1', '', 'é'), m('2', 'X-UNKNOWN', 'é')))).toEqual([
          'UNICODE UTF-8 é',
          "AE unsupported character set 'X-UNKNOWN' in MSH-18; byte 0xc3 is not ASCII, and an unknown charset cannot read it",
        ]);
      });
    });
    it('fx268: a batch of many messages is read in time linear in its messages, with MSH-18 empty or declared on the first only', () => {
      // Each message looked back through every earlier one for a declared MSH-18, then through the whole batch: a
      // 1.1 MB batch of 8000 small messages took 7 s on the event loop, 20000 of them (2.8 MB; maxFrameBytes may be
      // 8 MiB) about 45 s, past this test's timeout. Read once per batch, they take about a second.
      const n = 20_000;
      for (const first of ['', 'UNICODE UTF-8']) {
        const parts = Array.from({ length: n }, (_, i) => m(String(i + 1), i === 0 ? first : '', i === n - 1 ? 'é' : 'x'));
        const { msgs, failed } = messagesOf(batch(...parts));
        expect(failed).toBeUndefined();
        expect(msgs).toHaveLength(n);
        // The rules are unchanged: guessed with no declaration, inherited from the first message with one.
        expect([msgs[n - 1]!.charset, str(msgs[n - 1]!.segments[1]!, 5)]).toEqual(['UNICODE UTF-8', 'é']);
        expect(msgs[n - 1]!.warnings.map((w) => w.detail)).toEqual([
          first === '' ? 'MSH-18 empty; non-ASCII bytes read as UNICODE UTF-8' : 'MSH-18 empty; non-ASCII bytes read as UNICODE UTF-8, the MSH-18 of an earlier message of the batch',
        ]);
      }
    }, 20_000);
    it('L1: an all-ASCII message saying ASCII or ISO IR6 behind a byte order mark is taken; with a high byte it is still refused', () => {
      for (const cs of ['ASCII', 'ISO IR6']) {
        const msg = parseMessage(Buffer.concat([BOM, m('1', cs, 'x')]));
        expect([msg.charset, msg.warnings.map((w) => w.kind)]).toEqual(['ASCII', ['bom']]);
      }
      expect(() => parseMessage(Buffer.concat([BOM, m('1', 'ASCII', 'é')]))).toThrow(/MSH-18 says ASCII but the message starts with a UTF-8 byte order mark/);
    });
    it('L1: the byte order mark at the frame start governs the first message only', () => {
      const { msgs, failed } = messagesOf(Buffer.concat([BOM, batch(m('1', 'UNICODE UTF-8', 'é'), m('2', '8859/1', Buffer.from([0xe9])))]));
      expect(failed).toBeUndefined();
      expect(msgs.map((x) => [x.charset, str(x.segments[1]!, 5)])).toEqual([
        ['UNICODE UTF-8', 'é'],
        ['8859/1', 'é'],
      ]);
      // Behind the mark: still refused when it says 8859/1.
      const first = messagesOf(Buffer.concat([BOM, batch(m('1', '8859/1', Buffer.from([0xe9])), m('2', 'UNICODE UTF-8', 'é'))]));
      expect(first.failed?.get(first.msgs[0]!)?.reason).toMatch(/MSH-18 says 8859\/1 but the message starts with a UTF-8 byte order mark/);
      expect(first.failed?.get(first.msgs[1]!)).toBeUndefined();
    });
    it('L2: a byte order mark before a later MSH (concatenated files) is skipped and noted; the batch holds both messages', () => {
      const bytes = batch(m('1', 'UNICODE UTF-8', 'x'), BOM, m('2', 'UNICODE UTF-8', 'é'));
      const { msgs, failed } = messagesOf(bytes);
      expect(failed).toBeUndefined();
      expect(msgs.map((x) => [str(x.segments[0]!, 10), str(x.segments[1]!, 5)])).toEqual([
        ['1', 'x'],
        ['2', 'é'],
      ]);
      expect(msgs[1]!.warnings.map((w) => w.kind)).toEqual(['bom']);
      // The mark belongs to the message behind it: one saying 8859/1 is refused, the first one is not.
      const latin = messagesOf(batch(m('1', '8859/1', Buffer.from([0xe9])), BOM, m('2', '8859/1', Buffer.from([0xe9]))));
      expect(latin.failed?.get(latin.msgs[0]!)).toBeUndefined();
      expect(latin.failed?.get(latin.msgs[1]!)?.position).toMatchObject({ segmentIndex: 4, segmentId: 'MSH', field: 18 });
      // Before BHS as well (a second file of batches), and segmentIds sees the headers.
      const two = Buffer.concat([batch(m('1', 'UNICODE UTF-8', 'x')), BOM, batch(m('2', 'UNICODE UTF-8', 'é'))]);
      expect(messagesOf(two).msgs.map((x) => str(x.segments[1]!, 5))).toEqual(['x', 'é']);
      expect(segmentIds(two.toString('latin1'))).toEqual(['BHS', 'MSH', 'OBX', 'BTS', 'BHS', 'MSH', 'OBX', 'BTS']);
      // Before any other segment it is an error that names the mark.
      expect(() => parseMessage(Buffer.concat([m('1', 'UNICODE UTF-8', 'x'), BOM, Buffer.from('NTE|1\r')]))).toThrow(/UTF-8 byte order mark \(EF BB BF\) before segment 3/);
    });
  });
  it('sniffHeader skips leading blank lines and a byte order mark, as the parser does', () => {
    for (const lead of ['', '\r\n', '\r\r', '\n', ' \r\n', '\xef\xbb\xbf', '\xef\xbb\xbf\r\n', '\ufeff']) {
      expect(sniffHeader(`${lead}MSH|^~\\&|MON|WARD|||20240101||ORU^R01|C9|P|2.6\rPID|||x\r`)?.controlId, JSON.stringify(lead)).toBe('C9');
    }
    expect(sniffHeader('\r\nPID|||x\rMSH|^~\\&|MON|WARD|||20240101||ORU^R01|C9|P|2.6\r')).toBeNull();
  });
  it('property: a batch of messages in 8859/1 and UTF-8 reads every message in its own charset', () => {
    const text = fc.array(fc.constantFrom('a', 'Z', ' ', 'é', 'ü', 'ß', '°', 'Ä'), { minLength: 1, maxLength: 8 }).map((a) => a.join(''));
    const one = fc.record({ utf8: fc.boolean(), text, crlf: fc.boolean() });
    fc.assert(
      fc.property(fc.array(one, { minLength: 1, maxLength: 5 }), (list) => {
        const parts = list.map((x, i) => {
          const t = `MSH|^~\\&|A||||||ORU^R01|${i}|P|2.6||||||${x.utf8 ? 'UNICODE UTF-8' : '8859/1'}\rPID|||${x.text}\r`;
          return Buffer.from(x.crlf ? t.replaceAll('\r', '\r\n') : t, x.utf8 ? 'utf8' : 'latin1');
        });
        const f = parseFrame(Buffer.concat([Buffer.from('BHS|^~\\&\r'), ...parts, Buffer.from(`BTS|${list.length}\r`)]), { collectMessageErrors: true });
        if (f.kind !== 'batch') throw new Error('batch expected');
        expect(f.batch.failed).toBeUndefined();
        const msgs = f.batch.batches[0]!.messages;
        expect(msgs.map((m) => str(m.segments[1]!, 3))).toEqual(list.map((x) => x.text));
        expect(msgs.map((m) => m.charset)).toEqual(list.map((x) => (x.utf8 ? 'UNICODE UTF-8' : '8859/1')));
      }),
      { numRuns: 300 },
    );
  });
  it('\\.br\\ becomes a line break', () => {
    expect(str(parseMessage('MSH|^~\\&|A\rNTE|1||one\\.br\\two\r').segments[1]!, 3)).toBe('one\ntwo');
  });
  it('readHeader gives MSH fields and enhanced-mode ack types', () => {
    const h = readHeader(parseMessage(MSG));
    expect(h).toMatchObject({ messageCode: 'ORU', triggerEvent: 'R01', controlId: 'C1', version: '2.6', acceptAckType: 'AL', applicationAckType: 'NE' });
  });
  it('property: arbitrary bytes throw nothing but Hl7ParseError', () => {
    const hl7ish = fc.array(fc.constantFrom('MSH|^~\\&|', 'PID|', 'OBX|', '|', '^', '~', '\\', '&', '\r', '\n', '""', 'X', '\\X41\\', 'BHS|^~\\&', 'BTS|1', 'FHS|^~\\&', 'é', '\u0000'), { maxLength: 40 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), hl7ish.map((s) => Buffer.from(s, 'utf8'))), (bytes) => {
        try {
          const f = parseFrame(bytes);
          if (f.kind === 'message') readHeader(f.message);
        } catch (e) {
          if (!(e instanceof Hl7ParseError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('timestamps', () => {
  it('parses precision and offsets to epoch ms', () => {
    expect(parseDtm('20120111150457-0600')).toEqual({ ms: Date.UTC(2012, 0, 11, 21, 4, 57), precision: 'second', offsetMinutes: -360 });
    expect(parseDtm('20250823000600.0000+0300').ms).toBe(Date.UTC(2025, 7, 22, 21, 6, 0));
    expect(parseDtm('20250823000600.5').ms).toBe(Date.UTC(2025, 7, 23, 0, 6, 0, 500));
    expect(parseDtm('202508').precision).toBe('month');
    expect(parseDtm('20240101', 60).ms).toBe(Date.UTC(2023, 11, 31, 23, 0));
  });
  it('local times of an IANA zone to UTC across daylight saving (Europe/Berlin: +1 h in winter, +2 h in summer)', () => {
    const wall = (y: number, mo: number, d: number, h: number, mi = 0) => Date.UTC(y, mo - 1, d, h, mi);
    expect(zoneOffsetMinutes('Europe/Berlin', Date.UTC(2026, 0, 15, 12))).toBe(60);
    expect(zoneOffsetMinutes('Europe/Berlin', Date.UTC(2026, 6, 15, 12))).toBe(120);
    expect(wallTimeToUtc(wall(2026, 1, 15, 12), 'Europe/Berlin')).toBe(Date.UTC(2026, 0, 15, 11));
    expect(wallTimeToUtc(wall(2026, 7, 15, 12), 'Europe/Berlin')).toBe(Date.UTC(2026, 6, 15, 10));
    // 29 March 2026, 02:30 does not exist there (02:00 → 03:00): read with the winter offset.
    expect(wallTimeToUtc(wall(2026, 3, 29, 2, 30), 'Europe/Berlin')).toBe(Date.UTC(2026, 2, 29, 1, 30));
    expect(wallTimeToUtc(wall(2026, 3, 29, 3, 30), 'Europe/Berlin')).toBe(Date.UTC(2026, 2, 29, 1, 30));
    // 25 October 2026, 02:30 happens twice (03:00 → 02:00): the first one (summer time).
    expect(wallTimeToUtc(wall(2026, 10, 25, 2, 30), 'Europe/Berlin')).toBe(Date.UTC(2026, 9, 25, 0, 30));
    expect(wallTimeToUtc(wall(2026, 10, 25, 3, 30), 'Europe/Berlin')).toBe(Date.UTC(2026, 9, 25, 2, 30));
    // Southern hemisphere and a half-hour zone.
    expect(wallTimeToUtc(wall(2026, 1, 15, 12), 'Australia/Adelaide')).toBe(Date.UTC(2026, 0, 15, 1, 30));
    expect(wallTimeToUtc(wall(2026, 7, 15, 12), 'Australia/Adelaide')).toBe(Date.UTC(2026, 6, 15, 2, 30));
    // Far east of UTC, where a wall time read as UTC is more than 12 h off the instant: New Zealand (+13 in summer;
    // 5 April 2026 03:00 → 02:00) and Chatham (+13:45 / +12:45, same day, 03:45 → 02:45).
    expect(wallTimeToUtc(wall(2026, 4, 5, 2, 30), 'Pacific/Auckland')).toBe(Date.UTC(2026, 3, 4, 13, 30)); // first 02:30 (+13)
    expect(wallTimeToUtc(wall(2026, 4, 5, 1, 30), 'Pacific/Auckland')).toBe(Date.UTC(2026, 3, 4, 12, 30));
    expect(wallTimeToUtc(wall(2026, 4, 5, 3, 30), 'Pacific/Auckland')).toBe(Date.UTC(2026, 3, 4, 15, 30));
    expect(wallTimeToUtc(wall(2026, 4, 5, 2, 0), 'Pacific/Chatham')).toBe(Date.UTC(2026, 3, 4, 12, 15)); // once only, +13:45
    // Every quarter hour of the days around each change of 2026, in zones far east and west and at odd offsets: the
    // wall time an instant shows there converts back to that instant, or (a repeated hour) to the earlier instant
    // that shows it too.
    const DAY = 86_400_000;
    for (const zone of ['Pacific/Chatham', 'Pacific/Auckland', 'America/St_Johns', 'Australia/Lord_Howe', 'Europe/Berlin']) {
      for (let d = Date.UTC(2026, 0, 1); d < Date.UTC(2027, 0, 1); d += DAY) {
        if (zoneOffsetMinutes(zone, d) === zoneOffsetMinutes(zone, d + DAY)) continue;
        for (let u = d - DAY; u < d + 2 * DAY; u += 15 * 60_000) {
          const shown = u + zoneOffsetMinutes(zone, u) * 60_000;
          const back = wallTimeToUtc(shown, zone);
          if (back !== u) {
            expect(back, `${zone} ${new Date(u).toISOString()}`).toBeLessThan(u);
            expect(back + zoneOffsetMinutes(zone, back) * 60_000).toBe(shown);
          }
        }
      }
    }
  });
  it('rejects impossible dates with a reason', () => {
    expect(() => parseDtm('196203520')).toThrow(/not an HL7 date/);
    expect(() => parseDtm('20230229')).toThrow(/day 29 out of range/);
    expect(() => parseDtm('20230101250000')).toThrow(/time of day/);
  });
});

describe('encoder and ACK', () => {
  it('escapes delimiters, CR and LF', () => {
    const s = encodeSegments([segment('NTE', ['1', '', 'a|b^c~d&e\\f\r\ng'])]);
    expect(s).toBe('NTE|1||a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f\\X0D\\\\X0A\\g\r');
    expect(str(parseMessage('MSH|^~\\&\r' + s).segments[1]!, 3)).toBe('a|b^c~d&e\\f\r\ng');
  });
  it('builds an AE with ERR naming the position', () => {
    const h = readHeader(parseMessage(MSG));
    const ack = buildAck({
      original: h,
      code: 'AE',
      error: { code: 102, reason: 'bad value', position: { segmentId: 'OBX', field: 5, component: 1 }, segmentSequence: 1 },
      application: 'GW',
      controlId: 'A1',
      now: Date.UTC(2024, 0, 1),
    });
    const m = parseMessage(ack);
    expect(m.segments.map((s) => s.id)).toEqual(['MSH', 'MSA', 'ERR']);
    expect(str(m.segments[0]!, 5)).toBe('MON');
    expect(str(m.segments[0]!, 9, 2)).toBe('R01');
    expect(str(m.segments[1]!, 1)).toBe('AE');
    expect(str(m.segments[1]!, 2)).toBe('C1');
    const err = m.segments[2]!;
    expect([str(err, 2, 1), str(err, 2, 2), str(err, 2, 3), str(err, 2, 5)]).toEqual(['OBX', '1', '5', '1']);
    expect([str(err, 3, 1), str(err, 3, 3), str(err, 4)]).toEqual(['102', 'HL70357', 'E']);
  });
  it('property: anything the encoder writes parses back to the same content', () => {
    const ch = fc.constantFrom('a', 'Z', '0', ' ', '|', '^', '~', '\\', '&', '#', '\r', '\n', 'é', '€', '.', '"');
    const text = fc.array(ch, { maxLength: 8 }).map((a) => a.join('')).filter((s) => s !== '""');
    const leaf = fc.oneof({ weight: 9, arbitrary: text }, { weight: 1, arbitrary: fc.constant(null) });
    const nonEmpty = <T>(a: fc.Arbitrary<T>, max: number) => fc.array(a, { minLength: 1, maxLength: max });
    const fieldArb: fc.Arbitrary<Field> = nonEmpty(nonEmpty(nonEmpty(leaf, 3), 3), 2);
    const segId = fc.constantFrom('PID', 'OBX', 'OBR', 'ZZ1', 'NTE');
    const segArb = fc.record({ id: segId, fields: fc.array(fieldArb, { minLength: 1, maxLength: 6 }) });
    const delims = fc.constantFrom<Delimiters>(DEFAULT_DELIMITERS, { ...DEFAULT_DELIMITERS, truncation: '#' }, { field: '$', component: '%', repetition: '~', escape: '\\', subcomponent: '&' });
    fc.assert(
      fc.property(delims, fc.array(segArb, { maxLength: 5 }), (d, body) => {
        const msh = segment('MSH', ['APP', 'FAC', '', '', '20240101', '', ['ORU', 'R01'], 'ID1', 'P', '2.6', '', '', '', '', '', 'UNICODE UTF-8'], d);
        const segs: Segment[] = [msh, ...body.map((b) => ({ id: b.id, fields: [[[[b.id]]], ...b.fields] as Field[] }))];
        const bytes = Buffer.from(encodeSegments(segs, d), 'utf8');
        const back = parseMessage(bytes);
        expect(back.delimiters).toEqual(d);
        expect(back.segments).toEqual(segs);
      }),
      { numRuns: 500 },
    );
  });
  it('batch: FHS/BHS with counts checked', () => {
    const b = parseBatch(`FHS|^~\\&\rBHS|^~\\&\r${MSG}${MSG}BTS|2\rFTS|1\r`);
    expect(b.batches[0]!.messages).toHaveLength(2);
    expect(() => parseBatch(`BHS|^~\\&\r${MSG}BTS|3\r`)).toThrow(/BTS-1 says 3 messages, batch holds 1/);
  });
});
