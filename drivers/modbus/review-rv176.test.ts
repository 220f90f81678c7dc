// Review rv176, against real Modbus TCP peers on loopback (the project's simulator, or a raw peer) and, where alarms
// are the point, a real AlarmEngine fed the driver's events as the agent feeds them.
// M1: ticks missed while a device was offline are counted as skipped_polls of none of its reads, and no "cannot keep
// up" warning follows an outage. M2: a device in error that has an outage comes back in error, never online, and its
// "Device … fault" technical alarm stands throughout (not ended and raised again, unacknowledged). M3: a float32
// ±Infinity (over-range) with a validRange is the bound, as HL7's `>300`, and the limit alarm judges it. L1: the
// technical alarm's text carries no retry time.
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmEngine, DEFAULT_ENGINE_CONFIG } from '../../agent/alarms/engine.js';
import { DEFAULT_TECHNICAL_CONFIG } from '../../agent/alarms/technical.js';
import type { AlarmStateChange } from '../../agent/alarms/types.js';
import type { NumericReading } from '../../agent/model/reading.js';
import { modbusDriver } from './index.js';
import type { PointOptions } from './options.js';
import { RegisterBank, startTcpSimulator } from './simulator.js';
import { fakeContext, waitFor, type FakeContext } from '../serial/testing.js';
import type { Driver } from '../types.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The driver's events also go into a real AlarmEngine, ticked every 100 ms; every change it makes is kept. */
function engineFor(ctx: FakeContext, connectionAfterS: number): { engine: AlarmEngine; changes: AlarmStateChange[] } {
  const engine = new AlarmEngine({ ...DEFAULT_ENGINE_CONFIG, technical: { ...DEFAULT_TECHNICAL_CONFIG, connectionAfterS } });
  const changes: AlarmStateChange[] = [];
  const emit = ctx.emit;
  ctx.emit = async (evs) => {
    await emit(evs);
    for (const e of evs) changes.push(...engine.ingest(e));
  };
  const ticker = setInterval(() => changes.push(...engine.tick(Date.now())), 100);
  cleanup.push(() => clearInterval(ticker));
  return { engine, changes };
}

function start(options: Parameters<typeof modbusDriver.create>[0], ctx: FakeContext): Driver {
  const driver = modbusDriver.create(options, ctx);
  cleanup.push(() => driver.stop());
  return driver;
}

const fast = { offlineAfterFailures: 2, backoff: { initialMs: 100, maxMs: 400 } };
const state = (driver: Driver, id: string) => driver.health().devices?.[id]?.state;

describe('rv176 M1 + L1: a device with two reads through an outage', () => {
  const points: PointOptions[] = [
    { name: 'hr', table: 'holding', address: 0, type: 'int16', mdc: 'MDC_ECG_HEART_RATE', unit: '/min', pollIntervalMs: 200 },
    { name: 'spo2', table: 'holding', address: 200, type: 'int16', mdc: 'MDC_PULS_OXIM_SAT_O2', unit: '%', pollIntervalMs: 500 },
  ];
  const bank = () => {
    const b = new RegisterBank();
    b.setRegisters(1, 'holding', 0, [72]);
    b.setRegisters(1, 'holding', 200, [98]);
    return b;
  };
  const cannotKeepUp = (ctx: FakeContext) => ctx.logs.filter((l) => /cannot keep up/.test(String(l.msg)));

  it('the unit silent 2.5 s (timeouts), then back: no skipped_polls on either read, no "cannot keep up"; the alarm and the status carry no retry time', async () => {
    const b = bank();
    const sim = await startTcpSimulator(b);
    cleanup.push(() => sim.close());
    const ctx = fakeContext('rv176-m1');
    const { changes } = engineFor(ctx, 1);
    const driver = start({ ...fast, buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', port: sim.port, timeoutMs: 150, devices: [{ id: 'mon1', unitId: 1, bed: 'B1', points }] }] }, ctx);
    await driver.start();
    await waitFor('online, both values read', () => ['hr', 'spo2'].every((n) => ctx.readings('mon1').some((r) => r.raw?.text === n)));
    await sleep(1000);
    expect(ctx.counter('skipped_polls')).toBe(0); // the bus keeps up before the outage
    b.setSilent(1, true);
    await waitFor('offline', () => state(driver, 'mon1') === 'offline');
    await sleep(2500);
    // L1: the retry time is in the health detail only.
    expect(driver.health().devices?.mon1?.detail).toMatch(/next try in \d+ ms/);
    const offline = ctx.statuses('mon1').find((s) => s.state === 'offline');
    expect(offline?.detail).not.toMatch(/next try/);
    const raised = changes.find((c) => c.change === 'raised' && c.alarm.source === 'technical' && /disconnected/.test(c.alarm.condition.text));
    expect(raised?.alarm.condition.text).toMatch(/^Device mon1 disconnected: no response \(timeout\) on holding \d+\.\.\d+ \(\d+ failures in a row\)$/);
    const readingsBefore = ctx.readings('mon1').length;
    b.setSilent(1, false);
    await waitFor('online again', () => state(driver, 'mon1') === 'online', 10_000);
    await sleep(1500);
    const after = ctx.readings('mon1').slice(readingsBefore);
    expect(new Set(after.map((r) => r.raw?.text))).toEqual(new Set(['hr', 'spo2']));
    expect(ctx.counter('skipped_polls')).toBe(0);
    expect(cannotKeepUp(ctx)).toEqual([]);
  }, 30_000);

  it('the server gone 2.5 s (connection lost, cannot open), then back: no skipped_polls on either read, no "cannot keep up"', async () => {
    const b = bank();
    let sim = await startTcpSimulator(b);
    const port = sim.port;
    cleanup.push(() => sim.close());
    const ctx = fakeContext('rv176-m1-down');
    const driver = start({ ...fast, buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', port, timeoutMs: 150, devices: [{ id: 'mon1', unitId: 1, bed: 'B1', points }] }] }, ctx);
    await driver.start();
    await waitFor('online, both values read', () => ['hr', 'spo2'].every((n) => ctx.readings('mon1').some((r) => r.raw?.text === n)));
    await sleep(1000);
    expect(ctx.counter('skipped_polls')).toBe(0);
    await sim.close();
    await waitFor('offline', () => state(driver, 'mon1') === 'offline');
    await sleep(2500);
    const readingsBefore = ctx.readings('mon1').length;
    sim = await startTcpSimulator(b, { port });
    await waitFor('online again', () => state(driver, 'mon1') === 'online', 10_000);
    await sleep(1500);
    expect(new Set(ctx.readings('mon1').slice(readingsBefore).map((r) => r.raw?.text))).toEqual(new Set(['hr', 'spo2']));
    expect(ctx.counter('disconnects') + ctx.counter('connect_failures')).toBeGreaterThan(0);
    expect(ctx.counter('skipped_polls')).toBe(0);
    expect(cannotKeepUp(ctx)).toEqual([]);
  }, 30_000);
});

describe('rv176 M2: a device in error (a register it lacks) through an outage, with the alarm engine', () => {
  // hr at 0 is on the device; "typo" at 50 is not: exception 2, the device is in error.
  const points: PointOptions[] = [
    { name: 'hr', table: 'holding', address: 0, type: 'int16', mdc: 'MDC_ECG_HEART_RATE', unit: '/min' },
    { name: 'typo', table: 'holding', address: 50, type: 'int16' },
  ];

  for (const outage of ['unit silent (timeouts)', 'server gone (connection lost)'] as const) {
    it(`${outage}: error → offline → error, never online; the acknowledged "fault" alarm stands throughout, not ended and raised again`, async () => {
      const b = new RegisterBank();
      b.setRegisters(1, 'holding', 0, [72]);
      let sim = await startTcpSimulator(b);
      const port = sim.port;
      cleanup.push(() => sim.close());
      const ctx = fakeContext('rv176-m2');
      const { engine, changes } = engineFor(ctx, 1);
      const driver = start(
        { offlineAfterFailures: 3, backoff: { initialMs: 300, maxMs: 1000 }, buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', port, timeoutMs: 300, devices: [{ id: 'mon1', unitId: 1, bed: 'B1', pollIntervalMs: 500, points }] }] },
        ctx,
      );
      await driver.start();
      await waitFor('error', () => state(driver, 'mon1') === 'error');
      const isFault = (c: AlarmStateChange) => c.alarm.source === 'technical' && c.alarm.key.endsWith(':connection');
      await waitFor('the fault alarm raised', () => changes.some((c) => isFault(c) && c.change === 'raised'), 5000);
      const alarm = changes.find((c) => isFault(c) && c.change === 'raised')!.alarm;
      expect(alarm.condition.text).toMatch(/^Device mon1 fault: .*illegal data address.* on holding 50\.\.50/);
      const ack = engine.acknowledge(alarm.id, { user: 'nurse', role: 'nurse', from: 'test' }, Date.now());
      expect(ack.ok).toBe(true);
      changes.push(...ack.changes);

      if (outage === 'unit silent (timeouts)') b.setSilent(1, true);
      else await sim.close();
      await waitFor('offline', () => state(driver, 'mon1') === 'offline', 10_000);
      await sleep(2000); // long enough for the probes to go round both reads
      const readingsBefore = ctx.readings('mon1').length;
      if (outage === 'unit silent (timeouts)') b.setSilent(1, false);
      else sim = await startTcpSimulator(b, { port });
      await waitFor('data again', () => ctx.readings('mon1').length > readingsBefore, 10_000);
      await sleep(2500); // past connectionAfterS: an alarm ended at the return would be raised again by now

      const states = ctx.statuses('mon1').map((s) => s.state);
      expect(states.slice(states.indexOf('error'))).toEqual(['error', 'offline', 'error']);
      const faultChanges = changes.filter(isFault);
      expect(faultChanges.map((c) => c.change)).toEqual(['raised', 'acknowledged']);
      const now = engine.get(alarm.id);
      expect(now?.conditionPresent).toBe(true);
      expect(now?.state).toBe('acknowledged');
    }, 30_000);
  }
});

/** A raw Modbus TCP peer whose every holding register read is answered with `words`. */
async function floatPeer(words: number[]): Promise<number> {
  const open = new Set<Socket>();
  const server = createServer((s) => {
    open.add(s);
    s.on('error', () => undefined);
    s.on('close', () => open.delete(s));
    s.on('data', (req: Buffer) => {
      const pdu = Buffer.alloc(2 + 2 * words.length);
      pdu[0] = req[7]!;
      pdu[1] = 2 * words.length;
      words.forEach((w, i) => pdu.writeUInt16BE(w, 2 + 2 * i));
      const mbap = Buffer.alloc(7);
      req.copy(mbap, 0, 0, 2);
      mbap.writeUInt16BE(pdu.length + 1, 4);
      mbap[6] = req[6]!;
      s.write(Buffer.concat([mbap, pdu]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => {
    for (const s of open) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as { port: number }).port;
}

/** The first HR reading the driver makes of a device sending these float32 words. */
async function hrFrom(words: number[], validRange?: { min?: number; max?: number }): Promise<NumericReading> {
  const port = await floatPeer(words);
  const ctx = fakeContext('rv176-m3');
  const hr: PointOptions = { name: 'hr', table: 'holding', address: 0, type: 'float32', mdc: 'MDC_ECG_HEART_RATE', unit: '/min', ...(validRange ? { validRange } : {}) };
  const driver = start({ buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port, devices: [{ id: 'mon', unitId: 1, bed: 'B1', pollIntervalMs: 200, points: [hr] }] }] }, ctx);
  await driver.start();
  await waitFor('a reading', () => ctx.readings('mon').length > 0);
  await driver.stop();
  return ctx.readings('mon')[0]!;
}

/** That reading, received once a second for 40 s, into a real AlarmEngine (its default limits): the alarms raised. */
function alarmsOver40s(r: NumericReading): string[] {
  const engine = new AlarmEngine(DEFAULT_ENGINE_CONFIG);
  const t0 = 1_700_000_000_000;
  const raised: string[] = [];
  for (let s = 0; s <= 40; s++) {
    const t = t0 + s * 1000;
    for (const c of [...engine.ingest({ ...r, receivedAt: t }), ...engine.tick(t)]) {
      if (c.change === 'raised') raised.push(`${c.alarm.category} ${c.alarm.condition.text}`);
    }
  }
  return raised;
}

describe('rv176 M3: a float32 ±Infinity (over-range) from a real peer', () => {
  it('+Inf with validRange.max 300: the bound 300, questionable sn-comparator:> as HL7 ">300"; the HIGH limit alarm is raised, no "not valid"', async () => {
    const r = await hrFrom([0x7f80, 0x0000], { min: 0, max: 300 });
    expect(r).toMatchObject({ value: 300, quality: { state: 'questionable', reasons: ['sn-comparator:>'] } });
    const raised = alarmsOver40s(r);
    expect(raised).toContainEqual(expect.stringMatching(/^physiological HR HIGH >300 > 120/));
    expect(raised.filter((a) => /not valid/.test(a))).toEqual([]);
  }, 20_000);

  it('-Inf with validRange.min 0: the bound 0, questionable sn-comparator:<; the LOW limit alarm is raised', async () => {
    const r = await hrFrom([0xff80, 0x0000], { min: 0, max: 300 });
    expect(r).toMatchObject({ value: 0, quality: { state: 'questionable', reasons: ['sn-comparator:<'] } });
    expect(alarmsOver40s(r)).toContainEqual(expect.stringMatching(/^physiological HR LOW <0 < /));
  }, 20_000);

  it('+Inf without validRange: no bound to give, so invalid with the direction as its reason (over-range); no limit alarm', async () => {
    const r = await hrFrom([0x7f80, 0x0000]);
    expect(r).toMatchObject({ value: null, quality: { state: 'invalid', reasons: ['over-range'] } });
    const raised = alarmsOver40s(r);
    expect(raised.filter((a) => a.startsWith('physiological'))).toEqual([]);
    expect(raised).toContainEqual(expect.stringMatching(/not valid \(over-range\)/));
  }, 20_000);
});
