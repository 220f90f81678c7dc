// Property tests: arbitrary bytes never make the pure parts throw anything but MedibusParseError,
// and never hang; the framer finds every well-formed message however the stream is chunked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MedibusFramer, MedibusParseError, RealtimeDecoder, encodeCommand, encodeResponse,
  parseAlarms, parseDateTime, parseDeviceId, parseMeasured, parseRealtimeConfig, parseSettings, parseTextMessages,
} from './protocol/index.js';

const bytes = fc.uint8Array({ maxLength: 600 });

describe('fuzzing', () => {
  it('framer and realtime decoder never throw on arbitrary input, in arbitrary chunks', () => {
    fc.assert(
      fc.property(fc.array(bytes, { maxLength: 8 }), (chunks) => {
        const f = new MedibusFramer({ maxFrameBytes: 256 });
        const rt = new RealtimeDecoder();
        for (const c of chunks) for (const ev of f.push(c)) if (ev.type === 'realtime') rt.push(ev.bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('data parsers throw only MedibusParseError', () => {
    const parsers = [parseMeasured, parseSettings, parseAlarms, parseTextMessages, parseDeviceId, parseDateTime, parseRealtimeConfig];
    fc.assert(
      fc.property(bytes, (data) => {
        for (const p of parsers) {
          try {
            p(Buffer.from(data));
          } catch (err) {
            if (!(err instanceof MedibusParseError)) throw err;
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('every well-formed message is recovered from any chunking, with realtime and handshake bytes mixed in', () => {
    const printable = fc.string({ unit: fc.constantFrom(...'0123456789ABCDEF -.'.split('')), maxLength: 40 });
    const message = fc.record({ cmd: fc.boolean(), code: fc.integer({ min: 0x20, max: 0x7e }), data: printable });
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }), fc.uint8Array({ maxLength: 10 }), (msgs, cuts, extra) => {
        const parts: Buffer[] = [];
        for (const m of msgs) {
          const enc = m.cmd ? encodeCommand(m.code, m.data) : encodeResponse(m.code, m.data);
          // Realtime (≥0x80) and XON/XOFF bytes may appear anywhere; insert some mid-message.
          const mid = Math.floor(enc.length / 2);
          const noise = Buffer.from([...extra].map((x) => (x % 2 ? 0x80 | x : x % 4 ? 0x11 : 0x13)));
          parts.push(enc.subarray(0, mid), noise, enc.subarray(mid));
        }
        const stream = Buffer.concat(parts);
        const f = new MedibusFramer();
        const frames = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length] as number;
          for (const ev of f.push(stream.subarray(at, at + n))) if (ev.type === 'frame') frames.push(ev);
          at += n;
        }
        expect(frames.map((fr) => [fr.kind === 'command', fr.code, fr.data.toString('latin1')])).toEqual(msgs.map((m) => [m.cmd, m.code, m.data]));
      }),
      { numRuns: 300 },
    );
  });
});
