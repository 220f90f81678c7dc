// A sender whose every message is refused (review rv126 M2): it creates no device, so no device "no data" alarm can
// fire; the listener's health must say so (degraded, selfFault) until a message of it is stored or it stops sending.
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MessageHandler, REFUSED_FORGET_MS } from './handler.js';
import { frame } from './protocol/index.js';
import { captureCtx, handlerOptions, mllpSetup, paddedMsg, poller, type MllpTestClient } from './test-support.js';

const t = mllpSetup();
const until = poller(5000, 10);
afterEach(() => {
  vi.useRealTimers();
});

/** A message declaring a charset the listener does not know, with a byte that is not ASCII: refused (103). */
const unknownCharset = (id: string): string =>
  `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6||||||X-MAC-ROMAN\r` +
  `PID|||P-${id}||Müller\rOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`;

/** Sends each message and waits for its ACK. */
async function sendAll(c: MllpTestClient, messages: string[]): Promise<void> {
  for (const m of messages) {
    const n = c.frames.length + 1;
    c.send(m);
    await until(() => c.frames.length >= n, 'the ACK');
  }
}

/** An MLLP client from another loopback address (127.0.0.x): another sender host. */
function connectFrom(localAddress: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('a sender whose every message is refused', () => {
  it('3 refused in a row: degraded naming the host, the count and the reason, selfFault set; a stored message of it ends it', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, {});
    const c = await t.connect(port);
    await sendAll(c, [unknownCharset('R1'), unknownCharset('R2'), unknownCharset('R3')]);
    expect(ctx.counts.get('messages_malformed')).toBe(3);
    const h = t.driver!.health();
    expect(h.state).toBe('degraded');
    expect(h.detail).toMatch(
      /^every message from 127\.0\.0\.1 is refused \(3 in a row, last \d+ s ago: unsupported character set 'X-MAC-ROMAN' in MSH-18; byte 0xc3 is not ASCII.*, HL7 error 103\); its readings reach neither the display nor the alarms: see the listener's warn log/,
    );
    expect(h.selfFault).toMatch(/^every message from 127\.0\.0\.1 is refused \(first: unsupported character set 'X-MAC-ROMAN' in MSH-18.*, HL7 error 103\); its readings reach neither the display nor the alarms/);
    // No count or time in it: the alarm raised from it stays true while the refusals go on.
    await sendAll(c, [unknownCharset('R4')]);
    expect(t.driver!.health().detail).toMatch(/\(4 in a row, /);
    expect(t.driver!.health().selfFault).toBe(h.selfFault);

    await sendAll(c, [paddedMsg('G1')]);
    expect(ctx.counts.get('messages_accepted')).toBe(1);
    const after = t.driver!.health();
    expect(after.state).toBe('running');
    expect(after.selfFault).toBeUndefined();
    expect(after.detail).toMatch(/^1 connection\(s\)/);
    // The count starts again from the stored message: 2 more refusals are not 3 in a row.
    await sendAll(c, [unknownCharset('R5'), unknownCharset('R6')]);
    expect(t.driver!.health().state).toBe('running');
  });

  it('2 refused only: still running, no selfFault', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, {});
    const c = await t.connect(port);
    await sendAll(c, [unknownCharset('R1'), unknownCharset('R2')]);
    expect(ctx.counts.get('messages_malformed')).toBe(2);
    const h = t.driver!.health();
    expect(h.state).toBe('running');
    expect(h.selfFault).toBeUndefined();
  });

  it('an ACK received is not a refusal', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, {});
    const c = await t.connect(port);
    const ack = (id: string) => `MSH|^~\\&|MON|WARD|||20240101120000+0000||ACK^R01^ACK|${id}|P|2.6\rMSA|AA|X${id}\r`;
    for (const id of ['A1', 'A2', 'A3', 'A4']) c.send(ack(id));
    await until(() => ctx.counts.get('acks_received') === 4, 'the ACKs counted');
    expect(t.driver!.health().state).toBe('running');
  });

  it('refusals of other kinds count too: unsupported processing id (202), oversize frames (207)', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, { maxFrameBytes: 1024 });
    const c = await t.connect(port);
    await sendAll(c, ['D1', 'D2', 'D3'].map((id) => paddedMsg(id).replace(`|${id}|P|`, `|${id}|D|`)));
    expect(t.driver!.health().detail).toMatch(/^every message from 127\.0\.0\.1 is refused \(3 in a row, last \d+ s ago: processing id 'D' is not accepted .*, HL7 error 202\)/);
    await sendAll(c, [paddedMsg('G1')]);
    expect(t.driver!.health().state).toBe('running');
    await sendAll(c, ['O1', 'O2', 'O3'].map((id) => paddedMsg(id, 4096)));
    expect(ctx.counts.get('frames_oversize')).toBe(3);
    expect(t.driver!.health().detail).toMatch(/\(3 in a row, last \d+ s ago: message larger than 1024 bytes \(maxFrameBytes\), HL7 error 207\)/);
  });

  it('a sender without MLLP framing (raw HL7 over TCP): each message it begins is a refusal, so the listener is degraded naming it (rv134 M4)', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, {});
    const raw = (id: string) => `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6\rPID|||P1\rOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`;
    const s = await connectFrom('127.0.0.1', port);
    try {
      s.write(raw('U1') + raw('U2'));
      await until(() => (ctx.counts.get('bytes_outside_frames') ?? 0) >= 2 * raw('U1').length, 'two messages read');
      // Two: not yet 3 in a row.
      expect(t.driver!.health().state).toBe('running');
      // A third, a byte at a time: counted once, not per byte.
      for (const b of Buffer.from(raw('U3'))) s.write(Buffer.from([b]));
      await until(() => (ctx.counts.get('bytes_outside_frames') ?? 0) >= 3 * raw('U1').length, 'the third read');
      const h = t.driver!.health();
      expect(h.state).toBe('degraded');
      expect(h.detail).toMatch(/^every message from 127\.0\.0\.1 is refused \(3 in a row, last \d+ s ago: sent without MLLP framing \(no VT 0x0B start block\)\); its readings reach neither/);
      expect(h.selfFault).toBe(
        "every message from 127.0.0.1 is refused (first: sent without MLLP framing (no VT 0x0B start block)); its readings reach neither the display nor the alarms: see the listener's health and warn log",
      );
      // The same host sending framed then: its stored message ends it.
      const c = await t.connect(port);
      await sendAll(c, [paddedMsg('G1')]);
      expect(t.driver!.health().state).toBe('running');
    } finally {
      s.destroy();
    }
  });

  const unended = (id: string) => `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6\rPID|||P1\rOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`;
  const notEnded = /^every message from 127\.0\.0\.1 is refused \(first: MLLP frame not ended \(no FS 0x1C end block\)\); its readings reach neither the display nor the alarms/;

  for (const [name, end] of [['CR LF in place of FS CR', '\r\n'], ['0x1D in place of FS', '\x1d\r']] as const) {
    it(`a sender that opens frames with VT but never ends them (${name}): each frame dropped at the next VT is a refusal (rv137 M1)`, async () => {
      const ctx = captureCtx({});
      const port = await t.start(ctx, {});
      const s = await connectFrom('127.0.0.1', port);
      try {
        s.write(`\x0b${unended('A1')}${end}\x0b${unended('A2')}${end}\x0b${unended('A3')}${end}`);
        await until(() => (ctx.counts.get('frames_abandoned') ?? 0) >= 2, 'two frames abandoned');
        // Two dropped (the third is still open): not yet 3 in a row.
        expect(t.driver!.health().state).toBe('running');
        // The next VT drops the third; frames that are not messages (no header) dropped after it are no refusal.
        s.write('\x0bjunk');
        await until(() => (ctx.counts.get('frames_abandoned') ?? 0) >= 3, 'the third abandoned');
        s.write('\x0bnoise\x0b');
        await until(() => (ctx.counts.get('frames_abandoned') ?? 0) >= 5, 'the non-messages abandoned');
        expect(t.driver!.health().detail).toMatch(/^every message from 127\.0\.0\.1 is refused \(3 in a row, last \d+ s ago: MLLP frame not ended \(no FS 0x1C end block\)\); its readings reach neither/);
        const h = t.driver!.health();
        expect(ctx.counts.get('messages_accepted') ?? 0).toBe(0);
        expect(h.state).toBe('degraded');
        expect(h.selfFault).toMatch(notEnded);
        // The same host sending a framed message then: its stored message ends it.
        const c = await t.connect(port);
        await sendAll(c, [paddedMsg('G1')]);
        expect(t.driver!.health().state).toBe('running');
        expect(t.driver!.health().selfFault).toBeUndefined();
      } finally {
        s.destroy();
      }
    });
  }

  it('a sender that waits for its ACK, one unended frame per connection: each frame dropped by the read timeout is a refusal (rv137 M1)', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, { readTimeoutMs: 300 });
    const once = async (data: string): Promise<void> => {
      const s = await connectFrom('127.0.0.1', port);
      s.on('error', () => {});
      const closed = new Promise((r) => s.once('close', r));
      s.write(data);
      await closed;
    };
    await once(`\x0b${unended('B1')}\r\n`);
    // A frame that is not a message, dropped the same way: no refusal.
    await once('\x0bjunk');
    await once(`\x0b${unended('B2')}\r\n`);
    expect(ctx.counts.get('read_timeouts')).toBe(3);
    expect(t.driver!.health().state).toBe('running');
    await once(`\x0b${unended('B3')}\r\n`);
    const h = t.driver!.health();
    expect(ctx.counts.get('messages_accepted') ?? 0).toBe(0);
    expect(h.state).toBe('degraded');
    expect(h.detail).toMatch(/^every message from 127\.0\.0\.1 is refused \(3 in a row, last \d+ s ago: MLLP frame not ended \(no FS 0x1C end block\)\)/);
    expect(h.selfFault).toMatch(notEnded);
    const c = await t.connect(port);
    await sendAll(c, [paddedMsg('G1')]);
    expect(t.driver!.health().state).toBe('running');
    expect(t.driver!.health().selfFault).toBeUndefined();
  });

  it('a sender refused every 15 min stays one fault (rv134 M2); one that stops sending clears 2 h after its last refusal; with no sender connected as well, both are said and selfFault is the refusal', async () => {
    // debug: the listener's "disconnected" line tells when it has counted the close.
    const ctx = captureCtx({}, undefined, 'debug');
    const port = await t.start(ctx, { noSenderAfterS: 300 });
    const c = await t.connect(port);
    let now = Date.now();
    vi.useFakeTimers({ toFake: ['Date'], now });
    const step = (ms: number) => vi.setSystemTime((now += ms));
    const faults: Array<string | undefined> = [];
    for (let i = 1; i <= 5; i++) {
      await sendAll(c, [unknownCharset(`R${i}`)]);
      if (i >= 3) faults.push(t.driver!.health().selfFault);
      // 11 min after a refusal, before the next: a spot-check or charting feed is still refused.
      step(11 * 60_000);
      if (i >= 3) faults.push(t.driver!.health().selfFault);
      step(4 * 60_000);
    }
    const selfFault = faults[0];
    expect(selfFault).toMatch(/^every message from 127\.0\.0\.1 is refused/);
    expect(faults).toEqual(faults.map(() => selfFault));
    c.sock.end();
    await until(() => ctx.logs.some((l) => l.msg === 'MLLP sender disconnected'), 'the listener saw the close');
    // 21 min after the last refusal, and over 5 min without a sender connected.
    step(6 * 60_000);
    const both = t.driver!.health();
    expect(both.state).toBe('degraded');
    expect(both.detail).toMatch(/^every message from 127\.0\.0\.1 is refused \(5 in a row, last 1260 s ago: .*; and no sender connected to 127\.0\.0\.1:\d+ for \d+ s: check the sender's destination port/);
    expect(both.selfFault).toBe(selfFault);
    step(REFUSED_FORGET_MS - 21 * 60_000 - 1000);
    expect(t.driver!.health().selfFault).toBe(selfFault);
    step(2000);
    const quiet = t.driver!.health();
    expect(quiet.state).toBe('degraded');
    expect(quiet.detail).toMatch(/^no sender connected to 127\.0\.0\.1:\d+ for \d+ s/);
    expect(quiet.selfFault).toBeUndefined();
  });

  it('several hosts: up to 3 named, with the count of the others in detail only: selfFault stays the same as more hosts are refused (rv134 M3)', async () => {
    const ctx = captureCtx({});
    const port = await t.start(ctx, {});
    const socks: net.Socket[] = [];
    const faults: Array<string | undefined> = [];
    try {
      for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) {
        const s = await connectFrom(host, port);
        socks.push(s);
        let acks = 0;
        s.on('data', (d) => (acks += d.filter((b) => b === 0x1c).length));
        for (const id of ['R1', 'R2', 'R3']) {
          const n = acks + 1;
          s.write(frame(unknownCharset(`${host}-${id}`)));
          await until(() => acks >= n, 'the ACK');
        }
        faults.push(t.driver!.health().selfFault);
      }
    } finally {
      for (const s of socks) s.destroy();
    }
    const h = t.driver!.health();
    expect(h.state).toBe('degraded');
    expect(h.detail).toMatch(
      /^every message from 127\.0\.0\.2 \(3 in a row, last \d+ s ago: unsupported character set .*\), 127\.0\.0\.3 \(3 in a row, .*\), 127\.0\.0\.4 \(3 in a row, .*\) and 2 other senders is refused; their readings reach neither the display nor the alarms: see the listener's warn log$/,
    );
    expect(h.selfFault).toMatch(/^every message from 127\.0\.0\.2, 127\.0\.0\.3, 127\.0\.0\.4 and other senders is refused \(127\.0\.0\.2 first: unsupported character set/);
    // No count in it: a 5th host does not end the alarm and raise a new one.
    expect(faults[3]).toBe(h.selfFault);
    expect(faults[4]).toBe(h.selfFault);
  });
});

describe('the handler\'s memory of refused hosts', () => {
  const badVersion = (id: string) => Buffer.from(`MSH|^~\\&|MON|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|3.0\r`, 'latin1');

  it('is bounded: at most 1000 hosts, the least recently refused forgotten first; a host is listed until it is not refused for REFUSED_FORGET_MS (2 h), then forgotten', async () => {
    const t0 = Date.now();
    vi.useFakeTimers({ toFake: ['Date'], now: t0 });
    const h = new MessageHandler(captureCtx({}), handlerOptions(100));
    const refuse = async (i: number, ids: string[], port = 4000) => {
      for (const id of ids) await h.handle(badVersion(`${i}-${id}`), `10.0.${i >> 8}.${i & 255}:${port}`);
    };
    for (let i = 0; i <= 1000; i++) await refuse(i, ['1', '2', '3']);
    const listed = h.refusedSenders(t0);
    expect(listed).toHaveLength(1000);
    expect(listed.some((r) => r.host === '10.0.0.0')).toBe(false);
    expect(listed[0]).toMatchObject({ host: '10.0.0.1', inARow: 3, lastReason: 'version 3.0 is not HL7 v2, HL7 error 203' });
    // 5 min later 10.0.0.1 is refused again (from another port: the same host). All are still listed at 11 min (rv134
    // M2: a sender refused every 15 min is not cleared between its messages); 2 h after t0, 10.0.0.1 alone.
    vi.setSystemTime(t0 + 5 * 60_000);
    await refuse(1, ['4'], 4001);
    expect(h.refusedSenders(t0 + 11 * 60_000)).toHaveLength(1000);
    expect(REFUSED_FORGET_MS).toBe(2 * 3_600_000);
    expect(h.refusedSenders(t0 + REFUSED_FORGET_MS + 1)).toMatchObject([{ host: '10.0.0.1', inARow: 4 }]);
    // REFUSED_FORGET_MS after its last refusal it is forgotten: a refusal then starts a new count.
    const later = t0 + 5 * 60_000 + REFUSED_FORGET_MS + 1;
    expect(h.refusedSenders(later)).toEqual([]);
    vi.setSystemTime(later);
    await refuse(1, ['5', '6', '7'], 4002);
    expect(h.refusedSenders(later)).toMatchObject([{ host: '10.0.0.1', inARow: 3, since: later }]);
  });
});
