// Real Modbus RTU over a pseudo-terminal pair (socat) with the real serialport on both ends:
// the driver on one pty, the project's RTU simulator on the other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRtuRig, type RtuRig } from './rtu-rig.js';
import { KNOWN_POINTS, knownPointOptions, loadKnownValues, RegisterBank } from './simulator.js';
import { fakeContext, waitFor } from '../serial/testing.js';

let rig: RtuRig | undefined;
const bank = new RegisterBank();
const ctx = fakeContext('rtu-test');

beforeAll(async () => {
  loadKnownValues(bank, 1);
  bank.setRegisters(2, 'holding', 0, [95]);
  bank.setRegisters(2, 'input', 0, [0x42c5, 0x0000]);
  rig = await startRtuRig(bank, ctx, { baudRate: 19200, parity: 'even' }, (path) => ({
    offlineAfterFailures: 2,
    backoff: { initialMs: 100, maxMs: 400 },
    buses: [
      {
        id: 'line1',
        transport: 'rtu',
        path,
        baudRate: 19200,
        parity: 'even',
        timeoutMs: 200,
        devices: [
          { id: 'vent-1', unitId: 1, pollIntervalMs: 50, points: knownPointOptions() },
          {
            id: 'spo2-2',
            unitId: 2,
            pollIntervalMs: 50,
            points: [
              { name: 'spo2', table: 'holding', address: 0, type: 'uint16', mdc: 'MDC_PULS_OXIM_SAT_O2', unit: 'PERCENT' },
              { name: 'temp', table: 'input', address: 0, type: 'float32', order: 'ABCD', unit: 'Cel' },
            ],
          },
        ],
      },
    ],
  }));
}, 15_000);

afterAll(() => rig?.close());

describe('modbus RTU over a pty pair', () => {
  it('polls two unit ids on one line, every type and order decoded', async () => {
    await waitFor('both units online', () => ctx.statuses('vent-1').some((e) => e.state === 'online') && ctx.statuses('spo2-2').some((e) => e.state === 'online'));
    await waitFor('every known point read', () => KNOWN_POINTS.every((k) => ctx.readings('vent-1').some((r) => r.raw?.text === k.name)));
    await waitFor('both values of unit 2 read', () => ['spo2', 'temp'].every((n) => ctx.readings('spo2-2').some((r) => r.raw?.text === n)));
    for (const k of KNOWN_POINTS) {
      const r = ctx.readings('vent-1').find((x) => x.raw?.text === k.name);
      if (typeof k.expected === 'number' && !Number.isInteger(k.expected)) expect(r?.value as number, k.name).toBeCloseTo(k.expected, k.digits ?? 12);
      else expect(r?.value, k.name).toBe(k.expected);
    }
    const spo2 = ctx.readings('spo2-2').find((r) => r.raw?.text === 'spo2');
    expect(spo2).toMatchObject({ value: 95, raw: { system: 'modbus', code: '2/holding/0' }, unit: { ucum: '%' } });
    expect(spo2?.mdc?.refid).toBe('MDC_PULS_OXIM_SAT_O2');
    expect(ctx.readings('spo2-2').find((r) => r.raw?.text === 'temp')?.value).toBe(98.5);
  });

  it('a CRC error is counted and logged without taking the device offline', async () => {
    const before = ctx.counters.get('crc_errors') ?? 0;
    bank.corruptNext(2, 1);
    await waitFor('crc error counted', () => (ctx.counters.get('crc_errors') ?? 0) > before);
    expect(ctx.logs.some((l) => l.fault === 'crc' && l.bus === 'line1' && l.unit === 2)).toBe(true);
    const n = ctx.readings('spo2-2').length;
    await waitFor('spo2-2 still delivering', () => ctx.readings('spo2-2').length > n + 2);
    expect(ctx.statuses('spo2-2').some((e) => e.state === 'offline')).toBe(false);
  });

  it('a unit that stops answering goes offline, is probed with backoff, the other unit keeps being polled', async () => {
    bank.setSilent(2, true);
    await waitFor('spo2-2 offline', () => ctx.statuses('spo2-2').at(-1)?.state === 'offline');
    expect(ctx.statuses('spo2-2').at(-1)?.detail).toMatch(/timeout/);
    expect(ctx.logs.some((l) => l.fault === 'timeout' && l.bus === 'line1' && l.unit === 2 && typeof l.register === 'string')).toBe(true);
    const vent = ctx.readings('vent-1').length;
    const probes = bank.requests.get(2) ?? 0;
    await waitFor('vent-1 still polled on the same line', () => ctx.readings('vent-1').length > vent + 3 * KNOWN_POINTS.length);
    expect((bank.requests.get(2) ?? 0) - probes).toBeLessThan(10);
    expect(ctx.statuses('vent-1').at(-1)?.state).toBe('online');
  });

  it('the unit comes back online', async () => {
    bank.setSilent(2, false);
    await waitFor('spo2-2 online again', () => ctx.statuses('spo2-2').at(-1)?.state === 'online');
    const n = ctx.readings('spo2-2').length;
    await waitFor('readings resume', () => ctx.readings('spo2-2').length > n);
  });

  it('an exception response over RTU is counted and sets the device state to error', async () => {
    bank.setException(2, 'input', 0, 2);
    await waitFor('spo2-2 in error', () => ctx.statuses('spo2-2').at(-1)?.state === 'error');
    expect(ctx.statuses('spo2-2').at(-1)?.detail).toMatch(/illegal data address .* on input 0\.\.1/);
    expect(ctx.counters.get('exception_illegal_address')).toBeGreaterThanOrEqual(1);
    const n = ctx.readings('spo2-2').filter((r) => r.raw?.text === 'spo2').length;
    await waitFor('spo2 register still read', () => ctx.readings('spo2-2').filter((r) => r.raw?.text === 'spo2').length > n);
    bank.setException(2, 'input', 0, 0);
    await waitFor('recovered', () => ctx.statuses('spo2-2').at(-1)?.state === 'online', 5000);
  });
});
