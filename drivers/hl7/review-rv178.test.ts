// rv178: the MLLP listener and PCD-01/PCD-04 mapping. M1 an FS inside a message (the cut-off head was ACKed AA with
// changed values), M2 OBX-5 components and subcomponents dropped silently, M3 senders refused at connect invisible,
// L1 duplicate key without the address of an unnamed sender, L2 watchdogs under a reused MSH-10, L3 a sample period
// in UCUM ms read as Hz, L4 OBX-6 conflicts and cmH2O, L5 ERR "segment N" counted per message inside a batch.
import { describe, expect, it } from 'vitest';
import type { AlarmEvent, DeviceStatusEvent, DriverEvent, NumericReading, WaveformSegment } from '../../agent/model/reading.js';
import { MessageHandler } from './handler.js';
import { mapMessage, type MapResult } from './pcd01.js';
import { CR, FS, MllpFramer, VT, parseFrame, parseMessage, readHeader, str } from './protocol/index.js';
import { captureCtx, handlerOptions, holdingCtx, mllpSetup, poller } from './test-support.js';

const t = mllpSetup();
const until = poller(5000, 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The p3 probe's message: SpO2 (`v`) then HR 72, no MSH-15/16 (original mode). */
const msg = (id: string, v = '97') =>
  `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6\rPID|||P1\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
  `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|${v}|262688^MDC_DIM_PERCENT^MDC|||||F\rOBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r`;
/** MSA-1, MSA-2 and ERR-8 (the text) of an ACK. */
const ackParts = (a: string) => {
  const m = parseMessage(a);
  const err = m.segments.find((s) => s.id === 'ERR');
  return { code: str(m.segments[1]!, 1), controlId: str(m.segments[1]!, 2), text: err ? str(err, 8) : '' };
};
const latin1 = (s: string) => Buffer.from(s, 'latin1');
const LF = 0x0a;

describe('rv178 M1: an FS (0x1C) not followed by CR ends no message that is then accepted', () => {
  it('the framer decides with the byte after the FS: CR ends the frame, VT or LF too (CR missing), data means the FS was inside it', () => {
    const f = new MllpFramer(1000);
    // FS then data, then the real end block: one frame, with the offset of the FS inside it.
    expect(f.push(Buffer.from([VT, 0x41, FS, 0x37, 0x42, FS, CR]))).toEqual([{ type: 'frame', payload: Buffer.from([0x41, FS, 0x37, 0x42]), innerFs: 1 }]);
    expect(f.counters.frames).toBe(1);
    expect(f.counters.outsideBytes).toBe(0);
    // FS then VT: the CR is missing and the next frame starts (as before).
    expect(f.push(Buffer.from([VT, 0x41, FS, VT, 0x42, FS, CR]))).toEqual([{ type: 'frame', payload: Buffer.from('A') }, { type: 'missing-cr' }, { type: 'frame', payload: Buffer.from('B') }]);
    // FS then LF: taken as the end (CR missing); the LF is outside any frame.
    expect(f.push(Buffer.from([VT, 0x41, FS, LF])).map((e) => e.type)).toEqual(['frame', 'missing-cr', 'outside']);
    // FS then bytes with no FS among them, then a frame start: that FS was the end after all, the bytes are outside
    // any frame (a sender padding after FS keeps its messages, as before).
    expect(f.push(Buffer.from([VT, 0x41, FS, 0x00, 0x20, VT, 0x42, FS, CR]))).toEqual([
      { type: 'frame', payload: Buffer.from('A') },
      { type: 'missing-cr' },
      { type: 'outside', bytes: 2, head: Buffer.from([0x00, 0x20]), messageStarts: 0 },
      { type: 'frame', payload: Buffer.from('B') },
    ]);
  });

  it('a frame ending mid-segment whose FS is the last byte so far is held until the next byte, or until flush() (the sender sent FS alone and waits)', () => {
    const f = new MllpFramer(1000);
    expect(f.push(Buffer.from([VT, 0x41, FS]))).toEqual([]);
    expect(f.holding).toBe(true);
    expect(f.inFrame).toBe(false);
    expect(f.push(Buffer.from([CR]))).toEqual([{ type: 'frame', payload: Buffer.from('A') }]);
    expect(f.holding).toBe(false);
    // Cut right after the FS, the data comes in the next chunk: still inside.
    f.push(Buffer.from([VT, 0x41, FS]));
    expect(f.push(Buffer.from([0x37, FS, CR]))).toEqual([{ type: 'frame', payload: Buffer.from([0x41, FS, 0x37]), innerFs: 1 }]);
    // No byte follows: flush() delivers it as it is, marked unterminated (rv180); a CR coming later is the trailer.
    f.push(Buffer.from([VT, 0x41, FS]));
    expect(f.flush()).toEqual([{ type: 'frame', payload: Buffer.from('A'), unterminated: true }]);
    expect(f.flush()).toEqual([]);
    expect(f.push(Buffer.from([CR]))).toEqual([]);
    expect(f.counters.outsideBytes).toBe(0);
  });

  it('over TCP: an FS inside OBX-5 gets AE naming the segment and field, counted and logged; nothing of it is stored, the next message is', async () => {
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    c.sock.write(Buffer.concat([Buffer.from([VT]), latin1(msg('F1', '9\x1c7')), Buffer.from([FS, CR])]));
    c.send(msg('F2'));
    await until(() => c.frames.length >= 2, 'two ACKs');
    const [a, b] = c.frames.map(ackParts);
    expect(a).toMatchObject({ code: 'AE', controlId: 'F1' });
    expect(a!.text).toMatch(/^segment 5 \(OBX\) OBX-5 offset \d+: MLLP end block byte FS \(0x1C\) inside the message, followed by 0x37, not CR/);
    expect(b).toMatchObject({ code: 'AA', controlId: 'F2' });
    // Only F2's two readings; F1's 9 (for 97) and its lost HR are not stored.
    expect(ctx.emitted.flat().map((e) => (e as NumericReading).value)).toEqual([97, 72]);
    expect(ctx.counts.get('frames_fs_inside')).toBe(1);
    expect(ctx.counts.get('messages_malformed')).toBe(1);
    expect(ctx.counts.get('frames_missing_cr')).toBeUndefined();
    expect(ctx.counts.get('bytes_outside_frames')).toBeUndefined();
    expect(ctx.logs.filter((l) => l.level === 40 && l.counter === 'frames_fs_inside')).toEqual([
      expect.objectContaining({ controlId: 'F1', at: expect.stringMatching(/^segment 5 \(OBX\) OBX-5/), next: '0x37' }),
    ]);
  });

  it('over TCP: a message cut mid-value by FS (its tail after it) is refused AE, not accepted with HR 7', async () => {
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    const m = msg('TR1').replace(/\r$/, '');
    const cut = m.lastIndexOf('|72|') + 2;
    c.sock.write(Buffer.concat([Buffer.from([VT]), latin1(m.slice(0, cut)), Buffer.from([FS]), latin1(`${m.slice(cut)}\r`), Buffer.from([FS, CR])]));
    const [ack] = await until(() => c.frames.length >= 1, 'the ACK').then(() => c.frames.map(ackParts));
    expect(ack).toMatchObject({ code: 'AE', controlId: 'TR1' });
    expect(ack!.text).toMatch(/^segment 6 \(OBX\) OBX-5 /);
    await sleep(50);
    expect(ctx.emitted).toEqual([]);
  });

  it('over TCP: FS then a byte, again and again, does not restart the frame\'s read time (a slowloris by FS is closed after readTimeoutMs)', async () => {
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, { readTimeoutMs: 500 }));
    c.sock.setNoDelay(true);
    const start = Date.now();
    let closedAfter = Number.POSITIVE_INFINITY;
    c.sock.on('close', () => (closedAfter = Date.now() - start));
    c.sock.write(Buffer.concat([Buffer.from([VT]), latin1(msg('SL').replace(/\r$/, ''))]));
    // The FS ends a chunk (the frame is held), the byte comes in the next one; for 2.4 s, well past readTimeoutMs.
    for (let i = 0; i < 16 && !c.closed; i++) {
      await sleep(130);
      if (!c.closed) c.sock.write(Buffer.from([FS]));
      await sleep(20);
      if (!c.closed) c.sock.write(Buffer.from([0x78]));
    }
    await until(() => c.closed, 'the read timeout', 1000);
    expect(closedAfter).toBeLessThan(1500);
    expect(ctx.counts.get('read_timeouts')).toBe(1);
    expect(c.frames).toEqual([]);
  });

  it('over TCP: FS alone, the CR after a pause, is one message accepted (the frame waits for the byte after its FS, or a short time)', async () => {
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, {}));
    c.sock.write(Buffer.concat([Buffer.from([VT]), latin1(msg('P1')), Buffer.from([FS])]));
    await sleep(20);
    c.sock.write(Buffer.from([CR]));
    await until(() => c.frames.length >= 1, 'the ACK');
    expect(ackParts(c.frames[0]!)).toMatchObject({ code: 'AA', controlId: 'P1' });
    await sleep(400);
    expect(c.frames).toHaveLength(1);
    expect(ctx.counts.get('frames_fs_inside')).toBeUndefined();
    expect(ctx.counts.get('bytes_outside_frames')).toBeUndefined();
  });
});

/** Maps a message (pure). */
const map = (text: string): MapResult => {
  const m = parseMessage(text);
  return mapMessage(m, readHeader(m), { source: 'icu', receivedAt: Date.UTC(2024, 0, 1, 12) });
};
const HEAD = 'MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|C1|P|2.6\rPID|||P1\rPV1||I|ICU^1^A\rOBR|1|||x|||20240101115959+0000\r';
const row = (type: string, code: string, value: string, unit = '', status = 'F') => `OBX|1|${type}|${code}|1.1.1.1|${value}|${unit}|||||${status}\r`;
const one = (r: MapResult) => r.events[0] as NumericReading;
const SPO2 = '150456^MDC_PULS_OXIM_SAT_O2^MDC';
const PCT = '262688^MDC_DIM_PERCENT^MDC';

describe('rv178 M2: OBX-5 components and subcomponents are never dropped in silence', () => {
  it('an NM with extra components or subcomponents (97^98, 97&5) keeps the first, questionable (extra-components), as 97~98 is (repeated-value)', () => {
    expect([one(map(HEAD + row('NM', SPO2, '97^98', PCT))).value, one(map(HEAD + row('NM', SPO2, '97^98', PCT))).quality]).toEqual([97, { state: 'questionable', reasons: ['extra-components'] }]);
    expect(one(map(HEAD + row('NM', SPO2, '97&5', PCT))).quality).toEqual({ state: 'questionable', reasons: ['extra-components'] });
    // Empty trailing parts are no extra value.
    expect(one(map(HEAD + row('NM', SPO2, '97^', PCT))).quality).toEqual({ state: 'valid' });
    expect(one(map(HEAD + row('NM', SPO2, '97~98', PCT))).quality).toEqual({ state: 'questionable', reasons: ['repeated-value'] });
  });

  it('a known metric sent as ST with a subcomponent (97&x) is text, not 97: invalid (not-a-number), as 97^x is', () => {
    const r = one(map(HEAD + row('ST', SPO2, '97&x', PCT)));
    expect(r.value).toBe('97&x');
    expect(r.quality).toEqual({ state: 'invalid', reasons: ['value-type:ST', 'not-a-number'] });
  });

  it('ST / TX text with an unescaped & keeps the whole text (subcomponents joined with &, as components with ^)', () => {
    expect(one(map(HEAD + row('ST', '0^NOTE^99LOCAL', 'Leads off & noisy'))).value).toBe('Leads off & noisy');
    expect(one(map(HEAD + row('TX', '0^NOTE^99LOCAL', 'a&b^c&d~e'))).value).toBe('a&b^c&d\ne');
  });

  it('a PCD-04 alarm text with an unescaped & is kept whole (ST and CWE text)', () => {
    const r40 = (type: string, value: string) =>
      'MSH|^~\\&|CENTRAL^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R40^ORU_R40|A1|P|2.6|||AL|NE\rPID|||P1\rPV1||I|ICU^1^1\r' +
      'OBR|1||A1^GW|196616^MDC_EVT_ALARM^MDC|||20240101115959+0000\r' +
      `OBX|1|${type}|196648^MDC_EVT_LEAD_DISCONN^MDC|1.1.1.1|${value}|||PH~ST||F\rOBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.3|start||||||F\r`;
    expect((map(r40('ST', 'Leads off & noisy')).events[0] as AlarmEvent).text).toBe('Leads off & noisy');
    expect((map(r40('CWE', '196648^Leads off & noisy^MDC')).events[0] as AlarmEvent).text).toBe('Leads off & noisy');
  });
});

describe('rv178 M3: senders refused at connect, and connections that never send, are visible', () => {
  it('connections refused over maxConnections degrade the listener with a gateway alarm text (selfFault), naming the silent connections', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, { maxConnections: 2, noSenderAfterS: 0 });
    await t.connect(port);
    await t.connect(port);
    await until(() => (t.driver!.health().detail ?? '').startsWith('2 connection(s)'), 'two connections');
    expect(t.driver!.health().detail).toMatch(/^2 connection\(s\) \(2 of them have sent no frame since they connected\)/);
    for (let i = 0; i < 3; i++) {
      const c = await t.connect(port);
      c.send(msg(`R${i}`));
      await until(() => c.closed, 'the refusal');
      expect(c.frames).toEqual([]);
    }
    const h = t.driver!.health();
    expect(h.state).toBe('degraded');
    expect(h.detail).toMatch(
      /^3 connection\(s\) refused at connect since \S+Z \(last 0 s ago, from 127\.0\.0\.1\): 2 of maxConnections \(2\) are open, 2 of them have sent no frame since they connected \(such a connection is closed after 120 s: firstFrameTimeoutMs\); a refused sender gets no ACK/,
    );
    // Past tense, with the run's start: true for the alarm's whole life (rv180 L1).
    expect(h.selfFault).toMatch(
      /^connections were refused at connect over maxConnections \(2\) from \S+Z on, the last less than 10 min ago; a refused sender gets no ACK and its readings reach neither the display nor the alarms: see the listener's health and warn log$/,
    );
    expect(ctx.counts.get('connections_refused')).toBe(3);
    // The same text while refusals go on: the alarm is not raised anew.
    const c = await t.connect(port);
    await until(() => c.closed, 'the fourth refusal');
    expect(t.driver!.health().selfFault).toBe(h.selfFault);
  });

  it('a connection that sends nothing is closed after firstFrameTimeoutMs (shorter than idleTimeoutMs); one that sent a frame is kept', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, { firstFrameTimeoutMs: 300, idleTimeoutMs: 10_000 });
    const silent = await t.connect(port);
    const sender = await t.connect(port);
    sender.send(msg('K1'));
    await until(() => silent.closed, 'the silent connection closed', 3000);
    expect(ctx.counts.get('idle_timeouts')).toBe(1);
    expect(ctx.logs.filter((l) => /no MLLP frame since it connected/.test(l.msg))).toEqual([expect.objectContaining({ idleMs: 300 })]);
    await sleep(500);
    expect(sender.closed).toBe(false);
    expect(sender.frames).toHaveLength(1);
  });
});

/** A handler with the listener tests' options, and what it emitted. */
const handlerRig = () => {
  const emitted: DriverEvent[][] = [];
  const ctx = captureCtx({}, async (_c, ev) => void emitted.push(ev));
  return { ctx, emitted, handler: new MessageHandler(ctx, handlerOptions(100)) };
};

describe('rv178 L1: the duplicate key holds the address of a sender that names itself nowhere, as its device id does', () => {
  it('two monitors at two addresses, MSH-3/4 empty, the same MSH-10 and content: both stored, each its own device', async () => {
    const { handler, emitted } = handlerRig();
    const anon = 'MSH|^~\\&|||||20240101120000+0000||ORU^R01^ORU_R01|1|P|2.6\rPV1||I|ICU^1^A\rOBR|1|||x|||20240101115959+0000\r' + row('NM', SPO2, '97', PCT);
    const a = await handler.handle(latin1(anon), '127.0.0.2:5000');
    const b = await handler.handle(latin1(anon), '127.0.0.3:5000');
    expect([a, b].map((x) => ackParts(x[0]!).code)).toEqual(['AA', 'AA']);
    expect(emitted.map((e) => e[0]!.deviceId)).toEqual(['peer:127.0.0.2', 'peer:127.0.0.3']);
    // A resend from the same address is still a duplicate.
    await handler.handle(latin1(anon), '127.0.0.2:6000');
    expect(emitted).toHaveLength(2);
  });
});

describe('rv178 L2: PCD-04 watchdogs under a reused MSH-10 keep the feed alive', () => {
  it('three MDC_EVT_ACTIVE messages with MSH-10 0 and no OBR-7/OBX-14: three device-status events, no duplicate', async () => {
    const { handler, emitted, ctx } = handlerRig();
    const wd = (msh7: string) =>
      `MSH|^~\\&|0000000000000001^EUI-64|IHE_AR|||${msh7}||ORU^R40^ORU_R40|0|P|2.6|||AL|NE\rPID|||8888^^^^AN\rPV1||I|CU1^^Bed001\r` +
      'OBR|1||830^GW^0000000000000001^EUI-64|196616^MDC_EVT_ALARM^MDC\r' +
      'OBX|1|ST|196614^MDC_EVT_ACTIVE^MDC|1.0.0.1|continue||||||F\rOBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.0.0.3|start||||||F\r';
    for (const t7 of ['20240101120000+0100', '20240101120010+0100', '20240101120010+0100']) await handler.handle(latin1(wd(t7)), '127.0.0.1:5000');
    expect(emitted.map((e) => (e[0] as DeviceStatusEvent).kind)).toEqual(['device-status', 'device-status', 'device-status']);
    expect(ctx.counts.get('device_status')).toBe(3);
    expect(ctx.counts.get('duplicates')).toBeUndefined();
  });
});

describe('rv178 L3: a waveform sample period is converted to a rate whatever its unit is spelt', () => {
  const wave = (rate: string, unit: string) =>
    HEAD +
    'OBX|1|NA|150452^MDC_PULS_OXIM_PLETH^MDC|1.3.1.1|1^2^3^4|262656^MDC_DIM_DIMLESS^MDC|||||F|||20240101115959.000+0000\r' +
    `OBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.3.1.1.1|${rate}|${unit}|||||F\r`;
  const w = (rate: string, unit: string) => map(wave(rate, unit)).events[0] as WaveformSegment;
  it('ms (MDC number, UCUM, refid only) and s are periods; /s and Hz are rates', () => {
    for (const unit of ['264338^MDC_DIM_MILLI_SEC^MDC', 'ms^ms^UCUM', '^MDC_DIM_MILLI_SEC^MDC', 'ms']) {
      expect([unit, w('2', unit).sampleRateHz, w('2', unit).quality]).toEqual([unit, 500, { state: 'valid' }]);
    }
    expect(w('0.004', 's^s^UCUM').sampleRateHz).toBe(250);
    expect(w('250', '264608^MDC_DIM_PER_SEC^MDC').sampleRateHz).toBe(250);
    expect(w('250', 'Hz^Hz^UCUM').sampleRateHz).toBe(250);
  });
  it('a unit that is neither a rate nor a period is questionable, naming it', () => {
    const x = w('250', PCT);
    expect(x.sampleRateHz).toBe(250);
    expect(x.quality).toEqual({ state: 'questionable', reasons: ['sample-rate-unit:%'] });
  });
});

describe('rv178 L4: OBX-6 conflicts are marked and counted; cmH2O is cm[H2O]', () => {
  it('a UCUM unit and an MDC unit that disagree: the first triplet is the unit, questionable (unit-conflict), counted unit_mismatch', () => {
    const r = map(HEAD + row('NM', '150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '16', 'kPa^kPa^UCUM^266016^MDC_DIM_MMHG^MDC'));
    expect(one(r).unit).toEqual({ ucum: 'kPa' });
    expect(one(r).quality).toEqual({ state: 'questionable', reasons: ['unit-conflict'] });
    expect(r.notices).toEqual([expect.objectContaining({ counter: 'unit_mismatch', by: 1, text: expect.stringMatching(/kPa.*MDC_DIM_MMHG/) })]);
    // Agreeing spellings are no conflict.
    const ok = map(HEAD + row('NM', '147842^MDC_ECG_HEART_RATE^MDC', '60', '{beat}/min^{beat}/min^UCUM^264864^MDC_DIM_BEAT_PER_MIN^MDC'));
    expect([one(ok).quality, ok.notices]).toEqual([{ state: 'valid' }, []]);
  });
  it('an MDC unit refid that contradicts its number: the number wins, questionable, counted as OBX-3 conflicts are', () => {
    const r = map(HEAD + row('NM', '150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '120', '266016^MDC_DIM_KILO_PASCAL^MDC'));
    expect(one(r).unit.ucum).toBe('mm[Hg]');
    expect(one(r).quality).toEqual({ state: 'questionable', reasons: ['unit-conflict'] });
    expect(r.notices.map((n) => n.counter)).toEqual(['unit_mismatch']);
  });
  it('cmH2O, cm H2O and cmH20 are UCUM cm[H2O], the sender spelling kept in context', () => {
    for (const u of ['cmH2O^cmH2O^UCUM', 'cm H2O', 'cmH20']) {
      const r = one(map(HEAD + row('NM', '151976^MDC_VENT_PRESS_AWAY_END_EXP_POS^MDC', '5', u))) as NumericReading & { context: { unitAsSent?: string } };
      expect([u, r.unit.ucum, r.context.unitAsSent]).toEqual([u, 'cm[H2O]', u.split('^')[0]]);
    }
  });
});

describe('rv178 L5: ERR "segment N" counts segments in the frame for every error of a batch', () => {
  const m = (id: string, obx2: string, version = '2.6') =>
    `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|${version}\rPID|||P1\rPV1||I|ICU^1^A\rOBR|1|||x^y^SCT|||20240101115959+0000\r` +
    `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r${obx2}`;
  const badHex = 'OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|7\\XZZ\\|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r';
  const deep = 'OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2.1.1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r';
  const ok = 'OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.2|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r';
  const batch = (...ms: string[]) => `BHS|^~\\&|MON|WARD|||20240101120000+0000|||||B1\r${ms.join('')}BTS|${ms.length}\r`;
  /** ERR-2 (segment id, sequence, field) and ERR-8 of each ACK of a batch reply. */
  const errs = (reply: string) => {
    const f = parseFrame(reply);
    const acks = f.kind === 'message' ? [f.message] : f.batch.batches.flatMap((b) => b.messages);
    return acks
      .map((a) => a.segments.find((s) => s.id === 'ERR'))
      .filter((e) => e !== undefined)
      .map((e) => [str(e, 2, 1), str(e, 2, 2), str(e, 2, 3), str(e, 8).replace(/:.*/, '')]);
  };
  it('a parse error, a mapping (shape) error and a header error of the 2nd message all name its place in the frame', async () => {
    const { handler } = handlerRig();
    const [parse] = await handler.handle(latin1(batch(m('B1', ok), m('B2', badHex))), '127.0.0.1:5000');
    const [shape] = await handler.handle(latin1(batch(m('B3', ok), m('B4', deep))), '127.0.0.1:5000');
    const [header] = await handler.handle(latin1(batch(m('B5', ok), m('B6', ok, '3.0'))), '127.0.0.1:5000');
    expect(errs(parse!)).toEqual([['OBX', '2', '5', 'segment 13 (OBX) OBX-5.1.1']]);
    expect(errs(shape!)).toEqual([['OBX', '2', '4', 'segment 13 (OBX) OBX-4']]);
    expect(errs(header!)).toEqual([['MSH', '1', '12', 'segment 8 (MSH) MSH-12']]);
    // A single message counts in the message, which is the frame.
    const [single] = await handler.handle(latin1(m('S1', deep)), '127.0.0.1:5000');
    expect(errs(single!)).toEqual([['OBX', '2', '4', 'segment 6 (OBX) OBX-4']]);
  });
});
