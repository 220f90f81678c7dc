// rv145 F1 over real MLLP: a patient name whose UTF-8 "ü" is sent one \X..\ escape per byte no longer refuses the
// message: both spellings are acknowledged AA and both HR readings reach the store.
import { expect, it } from 'vitest';
import type { DriverEvent, NumericReading } from '../../agent/model/reading.js';
import { ackCode, captureCtx, mllpSetup, poller } from './test-support.js';

const t = mllpSetup();
const until = poller(5000, 10);
const msg = (id: string, name: string): string =>
  `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6||||||UNICODE UTF-8\r` +
  `PID|||P-${id}||${name}^Hans\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
  `OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|32|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F\r`;

it('rv145 F1: a UTF-8 character split over two hex escapes in PID-5 is AA and its HR stored, as when joined', async () => {
  const ctx = captureCtx<{ stored: DriverEvent[][] }>({ stored: [] }, (c, ev) => {
    c.stored.push(ev);
    return Promise.resolve();
  });
  const port = await t.start(ctx, { noSenderAfterS: 0 });
  const c = await t.connect(port);
  c.send(msg('J1', 'M\\XC3BC\\ller')); // one escape for both bytes of ü
  c.send(msg('S1', 'M\\XC3\\\\XBC\\ller')); // one escape per byte (same bytes)
  await until(() => c.frames.length === 2, 'two ACKs');
  expect(c.frames.map(ackCode)).toEqual(['AA', 'AA']);
  expect(c.frames[1]).toMatch(/MSA\|AA\|S1/);
  const hr = ctx.stored.flat().filter((e): e is NumericReading => e.kind === 'numeric' && e.mdc?.code === 147842);
  expect(hr.map((r) => r.value)).toEqual([32, 32]);
});

it('rv145 F1: bytes not valid UTF-8 in PID-5 are kept as U+FFFD, counted and logged; the message is AA, its HR stored', async () => {
  const ctx = captureCtx<{ stored: DriverEvent[][] }>({ stored: [] }, (c, ev) => {
    c.stored.push(ev);
    return Promise.resolve();
  });
  const port = await t.start(ctx, { noSenderAfterS: 0 });
  const c = await t.connect(port);
  c.send(msg('B1', 'M\\XC3\\ller')); // a lone C3: the first byte of a two-byte character
  await until(() => c.frames.length === 1, 'one ACK');
  expect(c.frames.map(ackCode)).toEqual(['AA']);
  const hr = ctx.stored.flat().filter((e): e is NumericReading => e.kind === 'numeric' && e.mdc?.code === 147842);
  expect(hr.map((r) => r.value)).toEqual([32]);
  expect(ctx.counts.get('parser_escape_undecodable')).toBe(1);
  expect(ctx.logs.some((l) => l.warning === 'escape-undecodable' && /PID-5/.test(l.msg))).toBe(true);
});

it('rv145 F1: bytes not valid UTF-8 in a field the mapping reads (PID-3) still refuse the message', async () => {
  const ctx = captureCtx<{ stored: DriverEvent[][] }>({ stored: [] }, (c, ev) => {
    c.stored.push(ev);
    return Promise.resolve();
  });
  const port = await t.start(ctx, { noSenderAfterS: 0 });
  const c = await t.connect(port);
  c.send(msg('B2', 'Doe').replace('PID|||P-B2|', 'PID|||P\\XC3\\B2|'));
  await until(() => c.frames.length === 1, 'one ACK');
  expect(c.frames.map(ackCode)).toEqual(['AE']);
  expect(c.frames[0]).toMatch(/PID-3.*not valid UTF-8/);
  expect(ctx.stored).toEqual([]);
});
