// Property tests: arbitrary bytes never make the pure parts throw anything but IntellivueParseError,
// and never hang; the framer finds every well-formed frame however the stream is chunked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  IntellivueFramer, IntellivueParseError, decodeAlarmList, decodeFloat, decodeNuObsValue, decodeNuObsValueCmp, decodeSaObsValueCmp, decodeSaSpec,
  decodeScaleRangeSpec, encodeFrame, encodePollResult, parseMessage, parseTransportHeader, type Ava,
} from './protocol/index.js';
import { DeviceClock } from './clock.js';
import { ObservationDecoder } from './observations.js';

const bytes = fc.uint8Array({ maxLength: 600 });
const onlyParseErrors = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof IntellivueParseError)) throw err;
  }
};

describe('fuzzing', () => {
  it('the framer never throws on arbitrary input in arbitrary chunks, and stays bounded', () => {
    fc.assert(
      fc.property(fc.array(bytes, { maxLength: 8 }), (chunks) => {
        const f = new IntellivueFramer({ maxFrameBytes: 256 });
        for (const c of chunks) for (const ev of f.push(c)) if (ev.type === 'frame') expect(ev.body.length).toBeLessThanOrEqual(256);
      }),
      { numRuns: 500 },
    );
  });

  it('message and attribute parsers throw only IntellivueParseError', () => {
    const decoders = [decodeNuObsValue, decodeNuObsValueCmp, decodeSaObsValueCmp, decodeSaSpec, decodeScaleRangeSpec, decodeAlarmList];
    fc.assert(
      fc.property(bytes, fc.boolean(), (data, dataExport) => {
        const b = Buffer.from(data);
        if (dataExport && b.length > 0) b[0] = 0xe1;
        onlyParseErrors(() => parseTransportHeader(b));
        onlyParseErrors(() => parseMessage(b));
        const ava: Ava = { id: 0, value: b, offset: 0 };
        for (const d of decoders) onlyParseErrors(() => d(ava));
        decodeFloat(b.length >= 4 ? b.readUInt32BE(0) : 0);
      }),
      { numRuns: 1000 },
    );
  });

  it('poll results with arbitrary attribute values decode without throwing (bad attributes become problems)', () => {
    const attr = fc.record({ id: fc.constantFrom(0x0950, 0x094b, 0x096e, 0x0967, 0x096d, 0x096f, 0x098d, 0x0996, 0x0902, 0x0904, 0x0990, 0x1234), value: fc.uint8Array({ maxLength: 40 }) });
    const obs = fc.record({ handle: fc.integer({ min: 0, max: 0xffff }), attributes: fc.array(attr, { maxLength: 6 }) });
    fc.assert(
      fc.property(fc.array(obs, { maxLength: 5 }), fc.constantFrom(6, 9, 54), (observations, code) => {
        const msg = parseMessage(
          encodePollResult({
            invokeId: 1, extended: false, linked: null,
            reply: { pollNumber: 1, sequenceNo: null, relTime: 1000, absTime: null, objType: { partition: 1, code }, attrGroup: 0, contexts: [{ contextId: 0, observations }] },
          }),
        );
        if (msg.kind !== 'poll-result') throw new Error('expected a poll result');
        const d = new ObservationDecoder({ deviceId: 'x', source: 'fuzz' }, new DeviceClock(0)).decode(msg.reply, 0);
        expect(d.problems.every((p) => typeof p.detail === 'string')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('every well-formed frame is recovered from any chunking, with line noise between frames', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 13 }), { minLength: 1 }), fc.uint8Array({ maxLength: 6 }), (bodies, cuts, noise) => {
        // Noise outside frames must not contain BOF (it would open a frame) — anything else goes.
        const gap = Buffer.from([...noise].map((b) => (b === 0xc0 ? 0x00 : b)));
        const stream = Buffer.concat(bodies.flatMap((b) => [gap, encodeFrame(b)]));
        const f = new IntellivueFramer();
        const got: Buffer[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length] as number;
          for (const ev of f.push(stream.subarray(at, at + n))) if (ev.type === 'frame') got.push(ev.body);
          at += n;
        }
        expect(got.map((b) => b.toString('hex'))).toEqual(bodies.map((b) => Buffer.from(b).toString('hex')));
      }),
      { numRuns: 300 },
    );
  });
});
