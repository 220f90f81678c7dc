// What a sender gets while the store refuses (review rv126 M6), over real MLLP. Senders differ on negative ACKs (GE's
// B40/B105/B125 drop a message answered AR and disconnect; HL7 leaves resending after AR to the implementer), while
// every sender that wants its data delivered resends a message that got no ACK: by default the listener does not
// answer a message it could not store and closes the connection, and the resend is stored once.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { DriverEvent, NumericReading } from '../../agent/model/reading.js';
import { hl7MllpFactory, type Hl7MllpOptions } from './index.js';
import { parseMessage, str } from './protocol/index.js';
import { captureCtx, mllpSetup, poller, type CaptureCtx } from './test-support.js';

/** `ack`: MSH-15 and MSH-16 as 'AL|NE'. */
const msg = (id: string, ack = ''): string => {
  const [acceptAck = '', appAck = ''] = ack.split('|');
  return (
    `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6|||${acceptAck}|${appAck}\r` +
    `PID|||P-${id}\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
    `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`
  );
};
const batch = (ids: string[]): string =>
  `BHS|^~\\&|MON|WARD|||20240101120000+0000||||B1\r` + ids.map((id) => msg(id)).join('') + `BTS|${ids.length}\r`;

interface Ctx extends CaptureCtx {
  /** Events committed (the store took them). */
  stored: DriverEvent[][];
  /** Patient ids of every emit tried, taken or not. */
  tried: string[];
  /** Patient ids the store refuses; `all` refuses every one. */
  refuse: Set<string> | 'all' | null;
}
function fakeCtx(): Ctx {
  const extra: Pick<Ctx, 'stored' | 'tried' | 'refuse'> = { stored: [], tried: [], refuse: null };
  return captureCtx(extra, (c, events) => {
    const patient = (events[0] as NumericReading).patientId ?? '';
    c.tried.push(patient);
    if (c.refuse === 'all' || c.refuse?.has(patient)) return Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    c.stored.push(events);
    return Promise.resolve();
  });
}

const t = mllpSetup();
const start = (ctx: Ctx, opts: Partial<Hl7MllpOptions> = {}): Promise<number> => t.start(ctx, { noSenderAfterS: 0, ...opts });
const until = poller(5000, 10);
const ackOf = (a: string): string => {
  const m = parseMessage(a);
  const msa = m.segments.find((s) => s.id === 'MSA')!;
  return `${str(msa, 1)}:${str(msa, 2)}`;
};
const patients = (ctx: Ctx): string[] => ctx.stored.flat().map((e) => (e as NumericReading).patientId ?? '');

describe('store refusing, storeFailureAck: close', () => {
  it('a message the store refuses gets no ACK and the connection is closed (earlier ACKs delivered, later messages left for the resend); the resend after the store recovers is stored once', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx, { storeFailureAck: 'close' });
    const c = await t.connect(port);
    c.send(msg('E1'));
    await until(() => c.frames.length === 1, 'the ACK of E1');
    ctx.refuse = 'all';
    c.send(msg('E2'));
    c.send(msg('E3'));
    await until(() => c.closed, 'the listener to close the connection');
    expect(c.frames.map(ackOf)).toEqual(['AA:E1']);
    // E3 was not tried: it is resent with E2 (it got no ACK either).
    expect(ctx.tried).toEqual(['P-E1', 'P-E2']);
    expect(ctx.counts.get('emit_failures')).toBe(1);
    expect(ctx.counts.get('store_failure_closes')).toBe(1);
    expect(ctx.counts.get('acks_ar')).toBeUndefined();
    const refused = ctx.logs.filter((l) => /HL7 events not committed/.test(l.msg));
    expect(refused).toEqual([expect.objectContaining({ level: 50, controlId: 'E2', counter: 'emit_failures' })]);
    expect(refused[0]!.msg).toMatch(/no ACK: the connection is closed so that the sender resends/);

    // The sender reconnects and resends while the store still refuses: closed again, nothing stored.
    const c2 = await t.connect(port);
    c2.send(msg('E2'));
    await until(() => c2.closed, 'the second close');
    expect(c2.frames).toEqual([]);

    // The store takes data again: the resends are stored, and a further resend of one is a duplicate.
    ctx.refuse = null;
    const c3 = await t.connect(port);
    c3.send(msg('E2'));
    c3.send(msg('E3'));
    c3.send(msg('E2'));
    await until(() => c3.frames.length === 3, 'three ACKs');
    expect(c3.frames.map(ackOf)).toEqual(['AA:E2', 'AA:E3', 'AA:E2']);
    expect(patients(ctx)).toEqual(['P-E1', 'P-E2', 'P-E3']);
    expect(ctx.counts.get('duplicates')).toBe(1);
    expect(ctx.counts.get('store_failure_closes')).toBe(2);
    expect(c3.closed).toBe(false);
  });

  it('an IHE PCD sender (MSH-15 AL, MSH-16 NE) gets no CE either: closed, and its resend is stored', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx, { storeFailureAck: 'close' });
    ctx.refuse = 'all';
    const c = await t.connect(port);
    c.send(msg('P1', 'AL|NE'));
    await until(() => c.closed, 'the close');
    expect(c.frames).toEqual([]);
    ctx.refuse = null;
    const c2 = await t.connect(port);
    c2.send(msg('P1', 'AL|NE'));
    await until(() => c2.frames.length === 1, 'the CA');
    expect(c2.frames.map(ackOf)).toEqual(['CA:P1']);
    expect(patients(ctx)).toEqual(['P-P1']);
  });

  it('a batch with one message the store refuses gets no reply; its resend stores that one and takes the others as duplicates', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx, { storeFailureAck: 'close' });
    ctx.refuse = new Set(['P-B2']);
    const c = await t.connect(port);
    c.send(batch(['B1', 'B2', 'B3']));
    await until(() => c.closed, 'the close');
    expect(c.frames).toEqual([]);
    expect(patients(ctx).sort()).toEqual(['P-B1', 'P-B3']);
    ctx.refuse = null;
    const c2 = await t.connect(port);
    c2.send(batch(['B1', 'B2', 'B3']));
    await until(() => c2.frames.length === 1, 'the batch reply');
    expect(c2.frames[0]!.split('\r').filter((l) => l.startsWith('MSA|')).map((l) => l.split('|').slice(1, 3).join(':'))).toEqual(['AA:B1', 'AA:B2', 'AA:B3']);
    expect(patients(ctx).sort()).toEqual(['P-B1', 'P-B2', 'P-B3']);
    expect(ctx.counts.get('duplicates')).toBe(2);
  });
});

describe('store refusing, default (AR): the live feed goes on (review rv128 H1)', () => {
  it('each newer message of a sender is still tried (it reaches the display and the alarms), each answered AR, on one connection', async () => {
    const ctx = fakeCtx();
    const c = await t.connect(await start(ctx));
    ctx.refuse = 'all';
    for (const id of ['L1', 'L2', 'L3']) {
      c.send(msg(id));
      await until(() => c.frames.length === Number(id.slice(1)), `the ACK of ${id}`);
    }
    expect(c.frames.map((f) => ackOf(f).split(':')[0])).toEqual(['AR', 'AR', 'AR']);
    expect(ctx.tried).toEqual(['P-L1', 'P-L2', 'P-L3']);
    expect(c.closed).toBe(false);
  });
});

describe('storeFailureAck set in the file', () => {
  it('AR and AE are kept: the sender gets that code with ERR 207 and the connection stays open', async () => {
    for (const code of ['AR', 'AE'] as const) {
      const ctx = fakeCtx();
      ctx.refuse = 'all';
      const c = await t.connect(await start(ctx, { storeFailureAck: code }));
      c.send(msg('X1'));
      c.send(msg('X2'));
      await until(() => c.frames.length === 2, 'two NAKs');
      expect(c.frames.map(ackOf)).toEqual([`${code}:X1`, `${code}:X2`]);
      const err = parseMessage(c.frames[0]!).segments.find((s) => s.id === 'ERR')!;
      expect(str(err, 3, 1)).toBe('207');
      expect(c.closed).toBe(false);
      expect(ctx.counts.get('store_failure_closes')).toBeUndefined();
      await t.driver!.stop();
      t.driver = undefined;
    }
  });

  it('schema: the default is AR; a file that says close keeps close', () => {
    const validate = new Ajv({ useDefaults: true }).compile(hl7MllpFactory.configSchema);
    const dflt: Record<string, unknown> = { port: 2575 };
    expect(validate(dflt)).toBe(true);
    expect(dflt.storeFailureAck).toBe('AR');
    const explicit: Record<string, unknown> = { port: 2575, storeFailureAck: 'close' };
    expect(validate(explicit)).toBe(true);
    expect(explicit.storeFailureAck).toBe('close');
    expect(validate({ port: 2575, storeFailureAck: 'AA' })).toBe(false);
  });
});
