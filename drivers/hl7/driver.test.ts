// The hl7-mllp driver over real TCP on loopback, with a fake DriverContext whose emit we control.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DriverEvent, NumericReading } from '../../agent/model/reading.js';
import { createHl7MllpDriver, DEVICE_FORGET_MS, DEVICE_SILENT_MS, hl7MllpFactory, MAX_DEVICES_LISTED, type Hl7MllpDriver, type Hl7MllpOptions } from './index.js';
import { MllpFramer, frame, parseMessage, str } from './protocol/index.js';
import { captureCtx, type CaptureCtx } from './test-support.js';

/** `ack`: MSH-15 and MSH-16 as 'AL|NE'. The charset is in MSH-18 with or without them. */
const msg = (id: string, opts: { ack?: string; type?: string; spo2?: string } = {}): string => {
  const [acceptAck = '', appAck = ''] = (opts.ack ?? '').split('|');
  return (
    `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||${opts.type ?? 'ORU^R01^ORU_R01'}|${id}|P|2.6|||${acceptAck}|${appAck}||UNICODE UTF-8\r` +
    `PID|||P-${id}\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
    `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|${opts.spo2 ?? '97'}|262688^MDC_DIM_PERCENT^MDC|||||F\r`
  );
};

interface FakeCtx extends CaptureCtx {
  emitted: DriverEvent[][];
  /** What the next emit calls do. */
  mode: 'resolve' | 'reject' | 'hold';
  held: Array<() => void>;
}

function fakeCtx(): FakeCtx {
  const extra: Pick<FakeCtx, 'emitted' | 'mode' | 'held'> = { emitted: [], mode: 'resolve', held: [] };
  return captureCtx(extra, (c, events) => {
    if (c.mode === 'reject') return Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    c.emitted.push(events);
    if (c.mode === 'hold') return new Promise<void>((r) => c.held.push(r));
    return Promise.resolve();
  });
}

class Client {
  readonly frames: string[] = [];
  closed = false;
  /** The listener ended its side (FIN). */
  ended = false;
  private readonly waiters: Array<() => void> = [];
  private constructor(readonly sock: net.Socket) {
    const f = new MllpFramer(1 << 20);
    sock.on('data', (d) => {
      for (const e of f.push(d)) if (e.type === 'frame') this.frames.push(e.payload.toString('utf8'));
      this.wake();
    });
    sock.on('end', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => {});
  }
  /** `allowHalfOpen`: the client may end its side (FIN) and keep reading, as `nc -N` or shutdown(SHUT_WR) do. */
  static connect(port: number, allowHalfOpen = false): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen }, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  /** A TLS client (the server's certificate is not checked: the listener is under test, not the client). */
  static connectTls(port: number, opts: { cert?: Buffer; key?: Buffer; allowHalfOpen?: boolean }): Promise<Client> {
    return new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
      // Resolved at once: a refused handshake shows as `closed`, which the test waits for.
      resolve(new Client(s));
    });
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  async until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  async acks(n: number): Promise<string[]> {
    await this.until(() => this.frames.length >= n, `${n} ACK frame(s)`);
    return this.frames.slice(0, n);
  }
  send(b: Buffer | string): void {
    this.sock.write(typeof b === 'string' ? frame(b) : b);
  }
  end(): void {
    this.sock.destroy();
  }
}

const ackCode = (a: string): string => str(parseMessage(a).segments[1]!, 1);
const ackOf = (a: string): string => str(parseMessage(a).segments[1]!, 2);

let driver: Hl7MllpDriver | undefined;
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.end();
  await driver?.stop();
  driver = undefined;
});

async function start(ctx: FakeCtx, opts: Partial<Hl7MllpOptions> = {}): Promise<number> {
  driver = createHl7MllpDriver({ host: '127.0.0.1', port: 0, ...opts }, ctx);
  await driver.start();
  return driver.address()!.port;
}
async function client(port: number, allowHalfOpen = false): Promise<Client> {
  const c = await Client.connect(port, allowHalfOpen);
  clients.push(c);
  return c;
}

describe('hl7-mllp driver over TCP', () => {
  it('(test helper) msg() puts the charset in MSH-18, with and without MSH-15/16', () => {
    for (const ack of [undefined, 'AL|NE']) {
      const mshSeg = parseMessage(msg('H', ack ? { ack } : {})).segments[0]!;
      expect([str(mshSeg, 15), str(mshSeg, 16), str(mshSeg, 17), str(mshSeg, 18)]).toEqual([...(ack ? ['AL', 'NE'] : ['', '']), '', 'UNICODE UTF-8']);
    }
  });

  it('stopped before its listener was listening: the start ends (refused), and nothing is left listening', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const d = createHl7MllpDriver({ host: '127.0.0.1', port }, fakeCtx());
    const starting = d.start().then(() => 'started', (e: Error) => `refused: ${e.message}`);
    await d.stop();
    const settled = await Promise.race([starting, new Promise((r) => setTimeout(() => r('pending'), 3000))]);
    expect(settled).toBe('refused: MLLP listener closed before it was listening');
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    expect(open).toBe(false);
  });

  it('ACKs AA only after emit resolved, with the mapped reading', async () => {
    const ctx = fakeCtx();
    ctx.mode = 'hold';
    const c = await client(await start(ctx));
    c.send(msg('M1'));
    await c.until(() => ctx.held.length === 1, 'emit call');
    await new Promise((r) => setTimeout(r, 100));
    expect(c.frames).toHaveLength(0); // not committed yet → no ACK
    ctx.held[0]!();
    const [ack] = await c.acks(1);
    expect(ackCode(ack!)).toBe('AA');
    expect(ackOf(ack!)).toBe('M1');
    const r = ctx.emitted[0]![0] as NumericReading;
    expect(r).toMatchObject({ kind: 'numeric', value: 97, unit: { ucum: '%' }, deviceId: '0011223344556677', bed: 'ICU/1/A', patientId: 'P-M1', source: 'icu-mllp' });
    expect(r.deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 59, 59));
    expect(driver!.health().devices?.['0011223344556677']?.state).toBe('online');
  });

  it('health lists a device silent after a minute without data and forgets it after a day; at most MAX_DEVICES_LISTED, the least recently heard going first', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    const eui = (i: number) => `AB${(i + 1).toString(16).toUpperCase().padStart(14, '0')}`;
    const n = MAX_DEVICES_LISTED + 2;
    for (let i = 0; i < n; i++) c.send(msg(`D${i}`).replace('0011223344556677', eui(i)));
    await c.until(() => c.frames.length >= n, `${n} ACKs`, 30_000);
    const listed = () => Object.keys(driver!.health().devices ?? {});
    expect(listed()).toHaveLength(MAX_DEVICES_LISTED);
    expect(listed()).not.toContain(eui(0));
    expect(listed()).not.toContain(eui(1));
    expect(driver!.health().devices?.[eui(n - 1)]?.state).toBe('online');
    const t0 = Date.now();
    const clock = vi.spyOn(Date, 'now');
    try {
      clock.mockReturnValue(t0 + DEVICE_SILENT_MS + 1000);
      expect(driver!.health().devices?.[eui(n - 1)]).toMatchObject({ state: 'silent' });
      clock.mockReturnValue(t0 + DEVICE_FORGET_MS + 1000);
      expect(listed()).toEqual([]);
    } finally {
      clock.mockRestore();
    }
  }, 40_000);

  it('handles frames split byte by byte and several frames in one chunk, in order', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    for (const b of frame(msg('S1'))) c.sock.write(Buffer.from([b]));
    c.sock.write(Buffer.concat([frame(msg('S2')), frame(msg('S3'))]));
    const acks = await c.acks(3);
    expect(acks.map(ackOf)).toEqual(['S1', 'S2', 'S3']);
    expect(acks.map(ackCode)).toEqual(['AA', 'AA', 'AA']);
  });

  it('drops an oversize frame (counted), answers it with AE naming its control id, and keeps serving the connection', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx, { maxFrameBytes: 2048 }));
    c.send(msg('BIG') + `NTE|1||${'x'.repeat(5000)}\r`);
    c.send(msg('SMALL'));
    const acks = await c.acks(2);
    expect(acks.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['AE:BIG', 'AA:SMALL']);
    expect(acks[0]).toMatch(/\rERR\|[^\r]*larger than 2048 bytes/);
    expect(ctx.counts.get('frames_oversize')).toBe(1);
    expect(ctx.emitted.flat().some((e) => e.kind === 'numeric' && e.patientId === 'P-BIG')).toBe(false);
    expect(ctx.logs.filter((l) => /larger than maxFrameBytes/.test(l.msg))).toEqual([
      expect.objectContaining({ level: 40, msg: 'MLLP frame larger than maxFrameBytes dropped; waiting for next frame start', limit: 2048 }),
      expect.objectContaining({ level: 40, msg: 'HL7 message larger than maxFrameBytes rejected (counted in frames_oversize)', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), controlId: 'BIG', limit: 2048 }),
    ]);
  });

  it('an oversize message in enhanced mode (AL/NE) gets one CE; one whose MSH cannot be read gets nothing (counted)', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx, { maxFrameBytes: 2048 }));
    c.send(msg('BIG2', { ack: 'AL|NE' }) + `NTE|1||${'x'.repeat(5000)}\r`);
    c.send(`NOT-A-HEADER ${'x'.repeat(5000)}`);
    c.send(msg('AFTER'));
    const acks = await c.acks(2);
    expect(acks.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['CE:BIG2', 'AA:AFTER']);
    expect(ctx.counts.get('frames_oversize')).toBe(2);
    expect(ctx.counts.get('frames_oversize_unanswered')).toBe(1);
    expect(ctx.logs.filter((l) => /^HL7 message larger than maxFrameBytes/.test(l.msg)).map((l) => [l.msg, l.controlId])).toEqual([
      ['HL7 message larger than maxFrameBytes rejected (counted in frames_oversize)', 'BIG2'],
      ['HL7 message larger than maxFrameBytes has no readable MSH-10; no ACK possible', undefined],
    ]);
  });

  it('a sender that ends its frame with FS only (no CR) and waits gets its ACK', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx, { readTimeoutMs: 300 }));
    c.sock.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(msg('NOCR')), Buffer.from([0x1c])]));
    expect(ackOf((await c.acks(1))[0]!)).toBe('NOCR');
    expect(c.closed).toBe(false);
    expect(ctx.counts.get('read_timeouts')).toBeUndefined();
  });

  it('the read timeout runs per frame: a stream whose frames always straddle chunks is served in full', async () => {
    const ctx = fakeCtx();
    const readTimeoutMs = 500;
    const c = await client(await start(ctx, { readTimeoutMs }));
    const n = 12;
    const stream = Buffer.concat(Array.from({ length: n }, (_, i) => frame(msg(`ST${i}`))));
    // Chunks of 0.9 frame every 80 ms: each frame is complete within ~160 ms, yet after every chunk some frame
    // is unfinished, so a timer that started with the first frame would fire after readTimeoutMs.
    const step = Math.floor(frame(msg('ST0')).length * 0.9);
    const t0 = Date.now();
    for (let off = 0; off < stream.length && !c.closed; off += step) {
      c.sock.write(stream.subarray(off, off + step));
      await new Promise((r) => setTimeout(r, 80));
    }
    expect(Date.now() - t0).toBeGreaterThan(readTimeoutMs); // the stream outlasted one read timeout
    const acks = await c.acks(n);
    expect(acks.map(ackCode)).toEqual(Array(n).fill('AA'));
    expect(c.closed).toBe(false);
    expect(ctx.counts.get('read_timeouts')).toBeUndefined();
  });

  it('the read timeout does not run while the listener holds reading (store slow, maxQueuedFrames reached)', async () => {
    const ctx = fakeCtx();
    ctx.mode = 'hold'; // the store is slow: commits take longer than readTimeoutMs
    const readTimeoutMs = 300;
    const c = await client(await start(ctx, { readTimeoutMs, maxQueuedFrames: 2 }));
    const f3 = frame(msg('H3'));
    // Two frames fill the queue (reading is held) while a third has begun; the sender finishes it at once.
    c.sock.write(Buffer.concat([frame(msg('H1')), frame(msg('H2')), f3.subarray(0, 40)]));
    await c.until(() => ctx.held.length === 1, 'first commit under way');
    c.sock.write(f3.subarray(40));
    // The store stays slow for several read timeouts (a precondition, not a measurement).
    const t0 = Date.now();
    await c.until(() => Date.now() - t0 > 3 * readTimeoutMs || c.closed, 'the slow store spell');
    expect(c.closed).toBe(false);
    // The store recovers: every frame is taken and acknowledged, the third one included.
    await c.until(() => {
      for (const r of ctx.held.splice(0)) r();
      return c.frames.length === 3 || c.closed;
    }, 'three ACKs');
    expect(c.frames.map(ackOf)).toEqual(['H1', 'H2', 'H3']);
    expect(c.frames.map(ackCode)).toEqual(['AA', 'AA', 'AA']);
    expect(ctx.counts.get('read_timeouts')).toBeUndefined();
  });

  it('a sender that disconnects mid-frame gets nothing stored; others are unaffected', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx);
    const bad = await client(port);
    const good = await client(port);
    bad.sock.write(frame(msg('HALF')).subarray(0, 60));
    await new Promise((r) => setTimeout(r, 50));
    bad.end();
    good.send(msg('G1'));
    expect(ackCode((await good.acks(1))[0]!)).toBe('AA');
    await good.until(() => (ctx.counts.get('frames_incomplete_on_close') ?? 0) === 1, 'incomplete count');
    expect(ctx.emitted.flat().every((e) => e.kind !== 'numeric' || e.patientId !== 'P-HALF')).toBe(true);
  });

  it('a garbage-talking sender does not block another sender', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx, { maxFrameBytes: 4096 });
    const noisy = await client(port);
    const good = await client(port);
    const noise = Buffer.alloc(64 * 1024, 0x41);
    noisy.sock.write(noise);
    noisy.sock.write(Buffer.concat([Buffer.from([0x0b]), noise])); // a frame that overflows
    good.send(msg('G2'));
    expect(ackCode((await good.acks(1))[0]!)).toBe('AA');
    await good.until(() => (ctx.counts.get('bytes_outside_frames') ?? 0) >= noise.length, 'outside bytes counted');
    await good.until(() => (ctx.counts.get('frames_oversize') ?? 0) === 1, 'oversize counted');
  });

  it('a sender without MLLP framing (raw HL7 over TCP) is counted and logged, once a minute per address', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx);
    for (const id of ['RAW1', 'RAW2']) {
      const raw = await client(port);
      raw.sock.write(msg(id));
      await raw.until(() => (ctx.counts.get('connections_unframed') ?? 0) >= 1 + Number(id === 'RAW2'), 'unframed connection counted');
    }
    expect(ctx.logs.filter((l) => /without MLLP framing/.test(l.msg))).toHaveLength(1);
    // A framed sender is not taken for one, even when its first frame arrives a byte at a time.
    const framed = await client(port);
    for (const b of frame(msg('F1'))) framed.sock.write(Buffer.from([b]));
    expect(ackCode((await framed.acks(1))[0]!)).toBe('AA');
    expect(ctx.counts.get('connections_unframed')).toBe(2);
  });

  it('duplicate MSH-10 is ACKed again without emitting twice', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    c.send(msg('D1'));
    await c.acks(1);
    // A resend carries a new MSH-7; still the same message.
    c.send(msg('D1').replace('20240101120000+0000', '20240101120005+0000'));
    const acks = await c.acks(2);
    expect(acks.map(ackCode)).toEqual(['AA', 'AA']);
    expect(ctx.emitted).toHaveLength(1);
    expect(ctx.counts.get('duplicates')).toBe(1);
    // Same id, different content: stored (nothing lost) and flagged.
    c.send(msg('D1', { spo2: '88' }));
    await c.acks(3);
    expect(ctx.emitted).toHaveLength(2);
    expect(ctx.counts.get('control_id_reused')).toBe(1);
  });

  it('the same control id with other content on another connection, while the first is still being stored, is stored too (not taken for a resend)', async () => {
    const ctx = fakeCtx();
    ctx.mode = 'hold';
    const port = await start(ctx);
    const a = await client(port);
    const b = await client(port);
    a.send(msg('R1'));
    await a.until(() => ctx.held.length === 1, 'first emit');
    b.send(msg('R1', { spo2: '84' })); // another message under the same id (a second connection with its own counter)
    b.send(msg('R1')); // and a resend of the first: answered once that commit is in, never stored twice
    ctx.mode = 'resolve';
    await new Promise((r) => setTimeout(r, 100));
    ctx.held.splice(0).forEach((r) => r());
    expect((await a.acks(1)).map(ackCode)).toEqual(['AA']);
    expect((await b.acks(2)).map(ackCode)).toEqual(['AA', 'AA']);
    expect(ctx.emitted.map((e) => (e[0] as NumericReading).value)).toEqual([97, 84]);
    expect(ctx.counts.get('control_id_reused')).toBe(1);
    expect(ctx.counts.get('duplicates')).toBe(1);
  });

  it('a batch holding one control id twice: the same content once stored, other content stored and flagged', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    c.send(`BHS|^~\\&|MON\r${msg('B1')}${msg('B1')}${msg('B1', { spo2: '84' })}BTS|3\r`);
    const [reply] = await c.acks(1);
    expect(reply!.split('\r').filter((x) => x.startsWith('MSA')).map((x) => x.split('|').slice(1, 3).join(':'))).toEqual(['AA:B1', 'AA:B1', 'AA:B1']);
    expect(ctx.emitted.flat().map((e) => (e as NumericReading).value)).toEqual([97, 84]);
    expect(ctx.counts.get('duplicates')).toBe(1);
    expect(ctx.counts.get('control_id_reused')).toBe(1);
  });

  it('a batch holding one message twice while the store refuses (storeFailureAck AR): both copies are refused (resend), neither is ACKed as already stored', async () => {
    const ctx = fakeCtx();
    ctx.mode = 'reject';
    const c = await client(await start(ctx, { storeFailureAck: 'AR' }));
    c.send(`BHS|^~\\&|MON\r${msg('B1')}${msg('B1')}BTS|2\r`);
    const [reply] = await c.acks(1);
    expect(reply!.split('\r').filter((x) => x.startsWith('MSA')).map((x) => x.split('|').slice(1, 3).join(':'))).toEqual(['AR:B1', 'AR:B1']);
    expect(ctx.counts.get('duplicates')).toBeUndefined();
  });

  it('MSH-7 as the only time of the readings is content: the same value under a reused control id later is a new reading', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    // No OBR-7 and no OBX-14: the reading is timed by MSH-7 (a thermometer whose control ids restarted).
    const at = (time: string) => msg('T1').replace('|||20240101115959+0000\r', '\r').replace('20240101120000+0000', time);
    c.send(at('20240101120000+0000'));
    c.send(at('20240101121000+0000')); // ten minutes later, same value, same control id
    c.send(at('20240101121000+0000')); // a resend of that one
    expect((await c.acks(3)).map(ackCode)).toEqual(['AA', 'AA', 'AA']);
    expect(ctx.emitted.map((e) => (e[0] as NumericReading).deviceTime)).toEqual([Date.UTC(2024, 0, 1, 12, 0, 0), Date.UTC(2024, 0, 1, 12, 10, 0)]);
    expect(ctx.counts.get('duplicates')).toBe(1);
    expect(ctx.counts.get('control_id_reused')).toBe(1);
  });

  it('storeFailureAck AR: emit rejected → AR with ERR 207, and the resend lands once; one log line for the run, naming the sender', async () => {
    const ctx = fakeCtx();
    ctx.mode = 'reject';
    const c = await client(await start(ctx, { storeFailureAck: 'AR' }));
    for (const id of ['E1', 'E2', 'E3']) c.send(msg(id));
    const naks = await c.acks(3);
    expect(naks.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['AR:E1', 'AR:E2', 'AR:E3']);
    const err = parseMessage(naks[0]!).segments[2]!;
    expect(str(err, 3, 1)).toBe('207');
    // A full disk refuses every message: one line, not one per message (the log goes to that disk).
    const refused = ctx.logs.filter((l) => /HL7 events not committed/.test(l.msg));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({
      level: 50,
      sender: 'MON^0011223344556677^EUI-64|WARD',
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      controlId: 'E1',
      err: expect.stringMatching(/SQLITE_FULL/),
      counter: 'emit_failures',
    });
    ctx.mode = 'resolve';
    c.send(msg('E1'));
    expect(ackCode((await c.acks(4))[3]!)).toBe('AA');
    expect(ctx.emitted).toHaveLength(1);
    expect(ctx.counts.get('emit_failures')).toBe(3);
    expect(ctx.logs.filter((l) => /HL7 events/.test(l.msg)).map((l) => l.msg)).toEqual([
      refused[0]!.msg,
      'HL7 events are committed again after 3 messages refused',
    ]);
  });

  it('storeFailureAck AE is honoured', async () => {
    const ctx = fakeCtx();
    ctx.mode = 'reject';
    const c = await client(await start(ctx, { storeFailureAck: 'AE' }));
    c.send(msg('E2'));
    expect(ackCode((await c.acks(1))[0]!)).toBe('AE');
  });

  it('malformed messages get AE with ERR position; unsupported types get AR 200', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    c.send(msg('P1').replace('|97|', '|9\\Xz\\7|'));
    c.send(msg('').replace('||P|2.6', '||P|2.6')); // MSH-10 empty
    c.send(msg('A1', { type: 'ADT^A01' }));
    const acks = await c.acks(3);
    const [bad, noId, adt] = acks.map((a) => parseMessage(a));
    expect(str(bad!.segments[1]!, 1)).toBe('AE');
    expect(str(bad!.segments[1]!, 2)).toBe('P1');
    expect([str(bad!.segments[2]!, 2, 1), str(bad!.segments[2]!, 2, 3), str(bad!.segments[2]!, 3, 1)]).toEqual(['OBX', '5', '102']);
    expect(str(noId!.segments[1]!, 1)).toBe('AE');
    expect([str(noId!.segments[2]!, 2, 1), str(noId!.segments[2]!, 2, 3), str(noId!.segments[2]!, 3, 1)]).toEqual(['MSH', '10', '101']);
    expect(str(adt!.segments[1]!, 1)).toBe('AR');
    expect(str(adt!.segments[2]!, 3, 1)).toBe('200');
    expect(ctx.emitted).toHaveLength(0);
    expect(ctx.counts.get('messages_malformed')).toBe(2);
  });

  it('enhanced mode: AL/NE → CA only; AL/AL → CA then AA; NE/AL → AA', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    c.send(msg('X1', { ack: 'AL|NE' }));
    c.send(msg('X2', { ack: 'AL|AL' }));
    c.send(msg('X3', { ack: 'NE|AL' }));
    const acks = await c.acks(4);
    expect(acks.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['CA:X1', 'CA:X2', 'AA:X2', 'AA:X3']);
  });

  it('an ACK sent to the listener is not answered (HL7: acknowledgements are not acknowledged): counted, logged once a minute per sender', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    const ack = (id: string, ackMode = '') => `MSH|^~\\&|PEER|WARD|||20240101120000+0000||ACK^R01^ACK|${id}|P|2.6|||${ackMode}\rMSA|AA|M7\r`;
    c.send(ack('K1'));
    c.send(ack('K2', 'AL|AL'));
    c.send(msg('N1'));
    // Frames are answered in order on a connection: once N1's ACK is here, the two ACKs before it were handled.
    await c.acks(1);
    expect(c.frames.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['AA:N1']);
    expect(ctx.counts.get('acks_received')).toBe(2);
    expect(ctx.counts.get('messages_unsupported')).toBeUndefined();
    expect(ctx.counts.get('acks_ar')).toBeUndefined();
    expect(ctx.emitted).toHaveLength(1);
    expect(ctx.logs.filter((l) => /HL7 ACK received/.test(l.msg))).toEqual([expect.objectContaining({ sender: 'PEER|WARD', controlId: 'K1', counter: 'acks_received' })]);
  });

  it('a message that cannot be read, whose MSH-10 holds an escape, gets MSA-2 = that control id (escaped once), as one that can be read', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    c.send(msg('Q\\S\\7'));
    c.send(msg('Q\\S\\8').replace('|97|', '|9\\Xz\\7|'));
    const acks = await c.acks(2);
    expect(acks.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['AA:Q^7', 'AE:Q^8']);
  });

  it('ACKs are ASCII (they declare no MSH-18): a long refusal is cut with "...", and what it quotes beyond ASCII is "?"', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    c.send(msg('U1').replace('|97|', '|9\\XZé\\7|'));
    const [ack] = await c.acks(1);
    expect(ack).toMatch(/^[\x00-\x7f]*$/);
    const m = parseMessage(ack!);
    expect(ackCode(ack!)).toBe('AE');
    expect(str(m.segments[1]!, 3)).toMatch(/^segment 5 \(OBX\) OBX-5\.1\.1: bad hex escape \\XZ\?\\ .*\.\.\.$/);
    expect(str(m.segments[1]!, 3)).toHaveLength(80);
    expect(str(m.segments[2]!, 8)).toContain('bad hex escape \\XZ?\\ (needs an even number of hex digits)');
  });

  it('closes idle connections and unfinished frames (read timeout)', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx, { idleTimeoutMs: 200, readTimeoutMs: 200 });
    const idle = await client(port);
    await idle.until(() => idle.closed, 'idle close');
    expect(ctx.counts.get('idle_timeouts')).toBe(1);
    const slow = await client(port);
    slow.sock.write(frame(msg('SLOW')).subarray(0, 40));
    const keepTalking = setInterval(() => slow.sock.write('x'), 50); // bytes keep coming, frame never ends
    await slow.until(() => slow.closed, 'read-timeout close');
    clearInterval(keepTalking);
    expect(ctx.counts.get('read_timeouts')).toBe(1);
  });

  it('a sender that never reads its ACKs: reading stops once they pile up, then the connection is closed (counted, logged)', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx, { readTimeoutMs: 300 }));
    c.sock.pause(); // never reads
    // A tiny frame (no MSH-9) draws an AE with an ERR segment about 11 times its size: 6 MB sent would be over
    // 60 MB of ACKs, far more than the kernel's socket buffers hold.
    const tiny = frame('MSH|^~\\&|||||||X1|P|2.6\r');
    const n = Math.ceil((6 << 20) / tiny.length);
    c.sock.write(Buffer.concat(Array.from({ length: n }, () => tiny)));
    await c.until(() => c.closed && ctx.counts.get('acks_unread') === 1, 'connection closed for unread ACKs', 20_000);
    // Reading stopped: far from every frame sent was taken.
    expect(ctx.counts.get('messages_received') ?? 0).toBeLessThan(n / 2);
    expect(ctx.logs.filter((l) => /does not read its ACKs/.test(l.msg))).toHaveLength(1);
    // The refusals of that flood were logged once, not once per message.
    expect(ctx.logs.filter((l) => /HL7 message rejected/.test(l.msg))).toHaveLength(1);
  });

  it('defaultTimeZone: times without an offset are that zone\'s local times, summer and winter, marked assumed', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx, { defaultTimeZone: 'Europe/Berlin', defaultUtcOffsetMinutes: 60 }));
    const local = (id: string, time: string) =>
      msg(id).replace('20240101120000+0000', time).replace('20240101115959+0000', time);
    c.send(local('W1', '20260115120000'));
    c.send(local('S1', '20260715120000'));
    await c.acks(2);
    const [winter, summer] = ctx.emitted.map((e) => e[0] as NumericReading);
    expect(winter!.deviceTime).toBe(Date.UTC(2026, 0, 15, 11));
    expect(summer!.deviceTime).toBe(Date.UTC(2026, 6, 15, 10)); // +2 h: a fixed offset of +1 h would be an hour off
    expect(summer!.quality.reasons).toContain('time-zone-assumed');
    // A time with its own offset is the sender's statement: the zone does not apply.
    c.send(msg('O1'));
    await c.acks(3);
    expect((ctx.emitted[2]![0] as NumericReading).deviceTime).toBe(Date.UTC(2024, 0, 1, 11, 59, 59));
  });

  it('an unknown defaultTimeZone is refused at creation, naming the option', () => {
    expect(() => createHl7MllpDriver({ port: 0, defaultTimeZone: 'Europe/Berln' }, fakeCtx())).toThrow(
      /^invalid hl7-mllp config: options\.defaultTimeZone: "Europe\/Berln" is not a time zone/,
    );
  });

  it('refuses connections above maxConnections', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx, { maxConnections: 1 });
    const a = await client(port);
    await a.until(() => (ctx.counts.get('connections') ?? 0) === 1, 'first accepted');
    const b = await client(port);
    await b.until(() => b.closed, 'second refused');
    a.send(msg('OK1'));
    expect(ackCode((await a.acks(1))[0]!)).toBe('AA');
    expect(ctx.counts.get('connections_refused')).toBe(1);
  });

  it('TLS: clients that never finish the handshake hold a slot (more are refused) and are closed after readTimeoutMs', async () => {
    const ctx = fakeCtx();
    // The hub stand-in's TEST ONLY certificate (test/hub-standin/certs).
    const cert = (f: string) => fileURLToPath(new URL(`../../test/hub-standin/certs/${f}`, import.meta.url));
    const port = await start(ctx, { maxConnections: 2, readTimeoutMs: 1000, tls: { certFile: cert('server.pem'), keyFile: cert('server-key.pem') } });
    // Plain TCP clients that say nothing: to the listener, TLS handshakes that never end.
    const silent: Client[] = [];
    for (let i = 0; i < 5; i++) silent.push(await client(port));
    const c = silent[0]!;
    await c.until(() => silent.every((x) => x.closed), 'every silent client closed', 15_000);
    const refused = ctx.counts.get('connections_refused') ?? 0;
    expect(refused).toBeGreaterThan(0);
    expect(refused + (ctx.counts.get('tls_handshake_errors') ?? 0)).toBe(5);
    expect(ctx.counts.get('connections')).toBeUndefined(); // none got as far as a sender
    expect(ctx.logs.some((l) => /refused: too many connections/.test(l.msg))).toBe(true);
    expect(ctx.logs.some((l) => /TLS handshake failed/.test(l.msg))).toBe(true);
  });

  /** A store that takes `ms` to commit (one fsync'd group commit). */
  const slowStore = (ctx: FakeCtx, ms: number): void => {
    const emit = ctx.emit.bind(ctx);
    ctx.emit = async (events, opts) => {
      await new Promise((r) => setTimeout(r, ms));
      return emit(events, opts);
    };
  };

  it('a sender that half-closes after its messages (FIN, still reading) gets their ACKs after the commit, then we end our side', async () => {
    const ctx = fakeCtx();
    slowStore(ctx, 50);
    const c = await client(await start(ctx), true);
    c.sock.write(frame(msg('HC1')));
    c.sock.end(frame(msg('HC2')));
    const acks = await c.acks(2);
    expect(acks.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['AA:HC1', 'AA:HC2']);
    await c.until(() => c.ended, 'the listener ends its side once the ACKs are out');
    await c.until(() => ctx.counts.get('acks_aa') === 2, 'ACKs counted as sent');
    expect(ctx.counts.get('acks_undelivered')).toBeUndefined();
    expect(ctx.emitted).toHaveLength(2);
  });

  it('TLS: a sender that half-closes after its message gets its ACK', async () => {
    const ctx = fakeCtx();
    slowStore(ctx, 50);
    const cert = (f: string) => fileURLToPath(new URL(`../../test/hub-standin/certs/${f}`, import.meta.url));
    const port = await start(ctx, { tls: { certFile: cert('server.pem'), keyFile: cert('server-key.pem') } });
    const c = await Client.connectTls(port, { allowHalfOpen: true });
    clients.push(c);
    c.sock.end(frame(msg('HT1')));
    expect(ackOf((await c.acks(1))[0]!)).toBe('HT1');
    await c.until(() => c.ended, 'the listener ends its side');
  });

  // A sender that closes with a FIN looks exactly like one that half-closes (which must get its ACK): its ACK is
  // written, and if it is lost, only the sender can tell. A reset, or our own close, is seen.
  it('a connection reset before its ACK is written: stored, counted as acks_undelivered (not as sent), logged once a minute per address', async () => {
    const ctx = fakeCtx();
    slowStore(ctx, 50);
    const port = await start(ctx);
    for (const id of ['GONE1', 'GONE2']) {
      const c = await client(port);
      c.send(msg(id));
      await new Promise((r) => setTimeout(r, 10)); // its ACK timeout is shorter than our commit
      c.sock.resetAndDestroy();
      await c.until(() => (ctx.counts.get('acks_undelivered') ?? 0) === Number(id.slice(-1)), `${id}: undelivered ACK counted`);
    }
    expect(ctx.emitted).toHaveLength(2); // the messages are committed; only their ACKs are lost
    expect(ctx.counts.get('acks_aa')).toBeUndefined();
    const lines = ctx.logs.filter((l) => /ACK not delivered/.test(l.msg));
    expect(lines).toEqual([expect.objectContaining({ acks: ['AA:GONE1'], counter: 'acks_undelivered', peer: expect.stringMatching(/^127\.0\.0\.1:/) })]);
  });

  it('framing trouble later in a connection is logged (once a minute per address and kind) with the first bytes, as well as counted', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx);
    const c = await client(port);
    // A framed message, then one sent without its VT, then framed again.
    c.sock.write(Buffer.concat([frame(msg('F1')), Buffer.from(msg('F2')), frame(msg('F3'))]));
    expect((await c.acks(2)).map(ackOf)).toEqual(['F1', 'F3']);
    const unframed = ctx.logs.filter((l) => /without MLLP framing/.test(l.msg));
    expect(unframed).toEqual([expect.objectContaining({ starts: expect.stringMatching(/^MSH\|/), bytes: msg('F2').length })]);
    // FS without CR; then an LF after a frame's FS CR (a trailer FS CR LF), twice: one line each.
    const ends = [Buffer.from([0x0b, ...Buffer.from(msg('F4')), 0x1c]), frame(msg('F5')), Buffer.from('\n'), frame(msg('F6')), Buffer.from('\n')];
    c.sock.write(Buffer.concat(ends));
    await c.acks(5);
    await c.until(() => (ctx.counts.get('bytes_outside_frames') ?? 0) === msg('F2').length + 2, 'outside bytes counted');
    expect(ctx.counts.get('frames_missing_cr')).toBe(1);
    expect(ctx.logs.filter((l) => /FS without CR/.test(l.msg))).toEqual([expect.objectContaining({ counter: 'frames_missing_cr' })]);
    expect(ctx.logs.filter((l) => /outside MLLP frames/.test(l.msg))).toEqual([expect.objectContaining({ bytes: 1, starts: '\\x0a', counter: 'bytes_outside_frames' })]);
    expect(ctx.counts.get('connections_unframed')).toBeUndefined(); // the connection started framed
  });

  it('connects and disconnects are not info lines (one each per message for senders that connect per message); counted', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx);
    for (const id of ['C1', 'C2', 'C3']) {
      const c = await client(port);
      c.send(msg(id));
      await c.acks(1);
      c.end();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(ctx.counts.get('connections')).toBe(3);
    expect(ctx.logs.filter((l) => /MLLP sender (connected|disconnected)/.test(l.msg))).toEqual([]);
  });

  it('answers a batch frame with a batch of ACKs', async () => {
    const ctx = fakeCtx();
    const c = await client(await start(ctx));
    c.send(`BHS|^~\\&|MON\r${msg('B1')}${msg('B2')}BTS|2\r`);
    const [reply] = await c.acks(1);
    const ids = reply!.split('\r').filter((s) => s.startsWith('MSA')).map((s) => s.split('|').slice(1, 3).join(':'));
    expect(ids).toEqual(['AA:B1', 'AA:B2']);
    // One emit per message (each with its own idempotency key), committed together by the pipeline.
    expect(ctx.emitted).toHaveLength(2);
    expect(ctx.emitted.flat()).toHaveLength(2);
  });
});

describe('hl7-mllp over TLS: allowedClients with caFile', () => {
  // TEST ONLY certificates: the hub stand-in's CA and server certificate, and test/fault/certs' clients.
  const file = (f: string) => fileURLToPath(new URL(`../../test/${f}`, import.meta.url));
  const client = (name: 'allowed' | 'other' | 'rogue') => ({ cert: readFileSync(file(`fault/certs/client-${name}.pem`)), key: readFileSync(file(`fault/certs/client-${name}-key.pem`)) });
  const fingerprint = (name: string) => new X509Certificate(readFileSync(file(`fault/certs/client-${name}.pem`))).fingerprint256;
  const tlsOpts = (allowedClients: { cn?: string[]; fingerprint256?: string[] }) => ({
    tls: { certFile: file('hub-standin/certs/server.pem'), keyFile: file('hub-standin/certs/server-key.pem'), caFile: file('hub-standin/certs/ca.pem'), allowedClients },
  });
  /** Sends one message; 'ack:<code>' or 'closed'. */
  const attempt = async (port: number, who: { cert?: Buffer; key?: Buffer }, id: string): Promise<string> => {
    const c = await Client.connectTls(port, who);
    clients.push(c);
    c.send(msg(id));
    await c.until(() => c.frames.length > 0 || c.closed, `${id}: an ACK or the close`);
    return c.frames[0] ? `ack:${ackCode(c.frames[0])}` : 'closed';
  };

  it('a pinned certificate admits without chaining to caFile; a CN still needs the chain; others are closed, counted and logged', async () => {
    const ctx = fakeCtx();
    // client-rogue: signed by another CA, pinned by its fingerprint; client-allowed: from caFile, admitted by CN.
    const port = await start(ctx, tlsOpts({ cn: ['central-station-1'], fingerprint256: [fingerprint('rogue')] }));
    expect(await attempt(port, client('rogue'), 'PIN1')).toBe('ack:AA');
    expect(await attempt(port, client('allowed'), 'CN1')).toBe('ack:AA');
    // From caFile but neither named nor pinned; no certificate at all.
    expect(await attempt(port, client('other'), 'NO1')).toBe('closed');
    expect(await attempt(port, {}, 'NO2')).toBe('closed');
    expect(ctx.emitted.flat().map((e) => (e as NumericReading).patientId)).toEqual(['P-PIN1', 'P-CN1']);
    expect(ctx.counts.get('tls_clients_rejected')).toBe(2);
    expect(ctx.logs.filter((l) => /not in allow-list/.test(l.msg))).toHaveLength(1);
    expect(ctx.logs.filter((l) => /presented no certificate/.test(l.msg))).toHaveLength(1);
  });

  it('with pins set (so the chain is judged after the handshake), the allowed CN on a certificate from another CA is closed', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx, tlsOpts({ cn: ['central-station-1'], fingerprint256: [fingerprint('other')] }));
    // client-rogue: CN central-station-1, but signed by a CA that is not caFile, and not pinned.
    expect(await attempt(port, client('rogue'), 'ROGUE')).toBe('closed');
    expect(await attempt(port, client('other'), 'PIN2')).toBe('ack:AA');
    expect(ctx.emitted.flat().map((e) => (e as NumericReading).patientId)).toEqual(['P-PIN2']);
    expect(ctx.counts.get('tls_clients_rejected')).toBe(1);
    expect(ctx.logs.find((l) => /not in allow-list/.test(l.msg))).toMatchObject({ cn: 'central-station-1', chainToCa: expect.not.stringMatching(/^verified$/) });
  });
});

describe('hl7-mllp config schema', () => {
  const validate = new Ajv({ useDefaults: true }).compile(hl7MllpFactory.configSchema);
  it('accepts a normal config and fills defaults', () => {
    const cfg: Record<string, unknown> = { port: 2575, tls: { certFile: 'c.pem', keyFile: 'k.pem', allowedClients: { cn: ['piic-gw'] } } };
    expect(validate(cfg)).toBe(true);
    expect(cfg.maxFrameBytes).toBe(1048576);
    expect(hl7MllpFactory.type).toBe('hl7-mllp');
  });
  it('rejects bad options', () => {
    expect(validate({})).toBe(false);
    expect(validate({ port: 70000 })).toBe(false);
    expect(validate({ port: 1, storeFailureAck: 'AA' })).toBe(false);
    expect(validate({ port: 1, tls: { certFile: 'c' } })).toBe(false);
    expect(validate({ port: 1, bogus: true })).toBe(false);
  });
});
