// rv180: the MLLP framer's wait for the byte after an FS (673ed82). M1 the wait ran while reading was paused, and a
// tail late past it was taken for padding; M2 a complete message with a byte other than CR after its FS was lost or
// refused; M3 senders ending with FS alone were slowed to one message per 200 ms; point 4 a frame taken without the
// byte after its FS; L1 the refused-at-connect alarm text; L2 PCD-04 alarm metrics unmarked.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AlarmEvent, NumericReading } from '../../agent/model/reading.js';
import { mapMessage, type Hl7AlarmEvent } from './pcd01.js';
import { CR, FS, MllpFramer, VT, parseMessage, readHeader, str } from './protocol/index.js';
import { FS_END_WAIT_MS } from './server.js';
import { captureCtx, holdingCtx, mllpSetup, poller } from './test-support.js';

const t = mllpSetup();
const until = poller(5000, 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
afterEach(() => void vi.restoreAllMocks());

/** SpO2 (`v`) then HR 72, each segment ended by CR. */
const msg = (id: string, v = '97') =>
  `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6\rPID|||P1\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
  `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|${v}|262688^MDC_DIM_PERCENT^MDC|||||F\rOBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r`;
/** The same message cut by an FS inside SpO2's value (9 FS 7): head and tail. */
const cut = (id: string) => {
  const m = msg(id);
  const at = m.indexOf('|97|') + 2;
  return { head: Buffer.concat([Buffer.from([VT]), latin1(m.slice(0, at)), Buffer.from([FS])]), tail: Buffer.concat([latin1(m.slice(at)), Buffer.from([FS, CR])]) };
};
const latin1 = (s: string) => Buffer.from(s, 'latin1');
const LF = 0x0a;
const ackParts = (a: string) => {
  const m = parseMessage(a);
  const err = m.segments.find((s) => s.id === 'ERR');
  return { code: str(m.segments[1]!, 1), controlId: str(m.segments[1]!, 2), text: err ? str(err, 8) : '' };
};
const readings = (emitted: unknown[][]) => emitted.flat() as NumericReading[];
/** Spies on the framer's flush(): how many frames it delivered (the FS_END_WAIT_MS timer's, or at close). */
const flushedFrames = () => {
  const spy = vi.spyOn(MllpFramer.prototype, 'flush');
  return () => spy.mock.results.reduce((n, r) => n + (r.value as unknown[]).length, 0);
};

describe('rv180 framer: a frame whose payload ends with a segment terminator is delivered at its FS', () => {
  it('FS alone, FS NUL, FS FS CR after a complete message: the frame at once, what follows as before 673ed82', () => {
    const f = new MllpFramer(1000);
    expect(f.push(Buffer.from([VT, 0x41, CR, FS]))).toEqual([{ type: 'frame', payload: Buffer.from([0x41, CR]) }]);
    expect(f.holding).toBe(false);
    expect(f.push(Buffer.from([CR]))).toEqual([]); // the trailer, swallowed
    expect(f.push(Buffer.from([VT, 0x41, CR, FS, 0x00])).map((e) => e.type)).toEqual(['frame', 'missing-cr', 'outside']);
    expect(f.push(Buffer.from([VT, 0x41, LF, FS, FS, CR])).map((e) => e.type)).toEqual(['frame', 'missing-cr', 'outside']);
    expect(f.counters.outsideBytes).toBe(3);
  });
  it('a frame ending mid-segment is held; flush() delivers it unterminated, and data after that FS is a late tail', () => {
    const f = new MllpFramer(1000);
    expect(f.push(Buffer.from([VT, 0x41, FS]))).toEqual([]);
    expect(f.flush()).toEqual([{ type: 'frame', payload: Buffer.from('A'), unterminated: true }]);
    expect(f.push(Buffer.from([0x37, CR, FS, CR])).map((e) => e.type)).toEqual(['late-tail', 'outside']);
    // A CR after the flush is the trailer, a VT the next frame: no late tail.
    f.push(Buffer.from([VT, 0x41, FS]));
    f.flush();
    expect(f.push(Buffer.from([CR, VT, 0x42, FS]))).toEqual([]);
    expect(f.flush()).toEqual([{ type: 'frame', payload: Buffer.from('B'), unterminated: true }]);
    expect(f.push(Buffer.from([VT])).map((e) => e.type)).toEqual(['missing-cr']);
  });
});

describe('rv180 M2: a complete message followed by a byte other than CR after its FS is answered AA at once', () => {
  it('FS NUL, then the sender waits: AA without waiting for a flush, the NUL outside frames', async () => {
    const frames = flushedFrames();
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    c.sock.write(Buffer.concat([Buffer.from([VT]), latin1(msg('N1')), Buffer.from([FS, 0x00])]));
    await until(() => c.frames.length >= 1, 'the ACK');
    expect(ackParts(c.frames[0]!)).toMatchObject({ code: 'AA', controlId: 'N1' });
    expect(frames()).toBe(0);
    expect(readings(ctx.emitted).map((r) => r.value)).toEqual([97, 72]);
    expect(ctx.counts.get('frames_missing_cr')).toBe(1);
    expect(ctx.counts.get('bytes_outside_frames')).toBe(1);
  });
  it('FS FS CR (a doubled end byte): AA, the second FS and its CR outside frames', async () => {
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    c.sock.write(Buffer.concat([Buffer.from([VT]), latin1(msg('D1')), Buffer.from([FS, FS, CR])]));
    c.send(msg('D2'));
    await until(() => c.frames.length >= 2, 'two ACKs');
    expect(c.frames.map(ackParts)).toEqual([expect.objectContaining({ code: 'AA', controlId: 'D1' }), expect.objectContaining({ code: 'AA', controlId: 'D2' })]);
    expect(ctx.counts.get('frames_fs_inside')).toBeUndefined();
  });
});

describe('rv180 M3: a sender ending each message with FS alone is not slowed by the wait', () => {
  it('20 messages, each sent after the previous ACK: every ACK comes from the FS itself, never from the wait timer', async () => {
    const frames = flushedFrames();
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    for (let i = 0; i < 20; i++) {
      c.sock.write(Buffer.concat([Buffer.from([VT]), latin1(msg(`S${i}`)), Buffer.from([FS])]));
      await until(() => c.frames.length > i, `ACK ${i}`);
    }
    expect(c.frames.map((a) => ackParts(a).code)).toEqual(Array(20).fill('AA'));
    expect(frames()).toBe(0);
  });
});

describe('rv180 M1: the wait for the byte after an FS does not run while reading is paused', () => {
  it('paused (maxQueuedFrames 1, store slow), the tail read only after the wait: still AE, not the cut head AA', async () => {
    const ctx = holdingCtx();
    ctx.hold = true;
    const c = await t.connect(await t.start(ctx, { maxQueuedFrames: 1 }));
    const { head, tail } = cut('P2');
    // The frame before it in the same write fills the queue: reading pauses with the cut head held at its FS.
    c.sock.write(Buffer.concat([Buffer.concat([Buffer.from([VT]), latin1(msg('P1')), Buffer.from([FS, CR])]), head]));
    await sleep(50);
    c.sock.write(tail);
    await sleep(FS_END_WAIT_MS * 2);
    expect(c.frames).toEqual([]);
    ctx.hold = false;
    for (const r of ctx.held.splice(0)) r();
    await until(() => c.frames.length >= 2, 'two ACKs');
    expect(c.frames.map(ackParts)).toEqual([expect.objectContaining({ code: 'AA', controlId: 'P1' }), expect.objectContaining({ code: 'AE', controlId: 'P2' })]);
    expect(readings(ctx.emitted).map((r) => r.value)).toEqual([97, 72]);
    expect(ctx.counts.get('frames_fs_inside')).toBe(1);
  });
});

describe('rv180 point 4 / rv181: a frame taken without the byte after its FS, its last segment unterminated, is refused', () => {
  it('a sender that leaves out the last CR and ends with FS alone: AE after the wait naming why, nothing stored, counted', async () => {
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    c.sock.write(Buffer.concat([Buffer.from([VT]), latin1(msg('U1').replace(/\r$/, '')), Buffer.from([FS])]));
    await until(() => c.frames.length >= 1, 'the ACK');
    expect(ackParts(c.frames[0]!)).toMatchObject({ code: 'AE', controlId: 'U1' });
    expect(c.frames[0]!).toMatch(/without a segment terminator/);
    expect(readings(ctx.emitted)).toEqual([]);
    expect(ctx.counts.get('frames_unterminated')).toBe(1);
    expect(ctx.logs.filter((l) => l.level === 40 && l.counter === 'frames_unterminated')).toHaveLength(1);
  });
  it('a tail late past the wait: the cut head is refused (SpO2 97 is never stored as 9), and the tail is said (warn) and counted', async () => {
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    const { head, tail } = cut('L1');
    c.sock.write(head);
    await until(() => c.frames.length >= 1, 'the ACK');
    expect(ackParts(c.frames[0]!)).toMatchObject({ code: 'AE', controlId: 'L1' });
    c.sock.write(tail);
    await until(() => (ctx.counts.get('bytes_outside_frames') ?? 0) > 0, 'the tail read');
    expect(readings(ctx.emitted)).toEqual([]);
    expect(ctx.counts.get('frames_late_tail')).toBe(1);
    expect(ctx.logs.filter((l) => l.level === 40 && l.counter === 'frames_late_tail')).toEqual([
      expect.objectContaining({ msg: expect.stringMatching(/refused after .* ms .*likely inside the message/) }),
    ]);
  });
});

describe('rv181 M1: the event loop blocked past the wait while the tail was already there', () => {
  it('the tail is read before the held frame is taken for one with nothing after its FS: AE (FS inside), not the cut head', async () => {
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    const { head, tail } = cut('B1');
    c.sock.write(head);
    await new Promise((r) => setTimeout(r, 50)); // the head is read and held; its wait runs
    c.sock.write(tail);
    const until300 = Date.now() + 300; // a long synchronous store write, a GC pause: the wait's timer is due first
    while (Date.now() < until300) {
      /* blocked */
    }
    await until(() => c.frames.length >= 1, 'the ACK');
    expect(ackParts(c.frames[0]!)).toMatchObject({ code: 'AE', controlId: 'B1' });
    expect(ackParts(c.frames[0]!).text).toMatch(/FS \(0x1C\) inside the message/);
    expect(ctx.counts.get('frames_fs_inside')).toBe(1);
    expect(readings(ctx.emitted)).toEqual([]);
  });
});

describe('rv180 L1: the refused-at-connect alarm text stays true for its whole life', () => {
  it('it says refusals happened since when, not that all connections are open now', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, { maxConnections: 1, noSenderAfterS: 0 });
    const holder = await t.connect(port);
    const refused = await t.connect(port);
    await until(() => refused.closed, 'the refusal');
    const h = t.driver!.health();
    expect(h.selfFault).toMatch(
      /^connections were refused at connect over maxConnections \(1\) from \S+Z on, the last less than 10 min ago; a refused sender gets no ACK/,
    );
    expect(h.selfFault).not.toMatch(/are open/);
    // The slot freed, a sender served: the text is still true, and the same (the alarm is not raised anew).
    holder.sock.destroy();
    await until(() => t.driver!.health().detail?.includes('0 of maxConnections') === true, 'the slot freed');
    expect(t.driver!.health().selfFault).toBe(h.selfFault);
  });
});

describe('rv180 L2: a PCD-04 alarm metric value and unit are marked as a reading would be', () => {
  const alarm = (value: string, unit: string) =>
    'MSH|^~\\&|CENTRAL^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R40^ORU_R40|A1|P|2.6|||AL|NE\rPID|||P1\rPV1||I|ICU^1^1\r' +
    'OBR|1||A1^GW|196616^MDC_EVT_ALARM^MDC|||20240101115959+0000\r' +
    'OBX|1|ST|196670^MDC_EVT_LO^MDC|1.3.1.150456.1|Low SpO2|||L~PH~SP|||F\r' +
    `OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456.2|${value}|${unit}|90-100||||F\r` +
    'OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.3.1.150456.3|start||||||F\r';
  const map = (text: string) => {
    const m = parseMessage(text);
    return mapMessage(m, readHeader(m), { source: 'icu', receivedAt: Date.UTC(2024, 0, 1, 12) }).events[0] as Hl7AlarmEvent;
  };
  const PCT = '262688^MDC_DIM_PERCENT^MDC';
  it('extra components (84^90): the first, context.quality questionable (extra-components)', () => {
    const a = map(alarm('84^90', PCT));
    expect([a.value, a.context.quality]).toEqual([84, { state: 'questionable', reasons: ['extra-components'] }]);
  });
  it('a unit conflict: context.quality questionable (unit-conflict)', () => {
    const a = map(alarm('84', `kPa^kPa^UCUM^${PCT}`));
    expect([a.unit, a.context.quality]).toEqual([{ ucum: 'kPa' }, { state: 'questionable', reasons: ['unit-conflict'] }]);
  });
  it('a clean metric: no quality in context (as before)', () => {
    const a: AlarmEvent & { context: { quality?: unknown } } = map(alarm('84', PCT));
    expect(a.context.quality).toBeUndefined();
  });
});
