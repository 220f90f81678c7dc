// Switched-off units on an RTU line (pumps at night) must not starve a live unit on the same line: each request to
// a silent unit holds the line for 2 × timeoutMs, so however many there are, the live unit's due reads wait for
// one of them at most. Real serialport on both ends of a socat pty pair; the project's RTU simulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceOptions, Table } from './options.js';
import { startRtuRig, type RtuRig } from './rtu-rig.js';
import { RegisterBank, type SimAnswer } from './simulator.js';
import { fakeContext, waitFor } from '../serial/testing.js';

/** Records the unit id of every request on the line, in order. */
class LineLog extends RegisterBank {
  readonly order: number[] = [];
  override read(unitId: number, table: Table, address: number, count: number): SimAnswer {
    this.order.push(unitId);
    return super.read(unitId, table, address, count);
  }
}

let rig: RtuRig | undefined;
const bank = new LineLog();
const ctx = fakeContext('rtu-share');
const LIVE = 1;
const SILENT = [10, 11, 12]; // never set in the bank: they never answer

beforeAll(async () => {
  bank.setRegisters(LIVE, 'holding', 0, [72]);
  const unit = (id: string, unitId: number, pollIntervalMs: number): DeviceOptions => ({ id, unitId, pollIntervalMs, points: [{ name: 'v', table: 'holding', address: 0 }] });
  rig = await startRtuRig(bank, ctx, { baudRate: 19200 }, (path) => ({
      offlineAfterFailures: 2,
      // Three silent units cost 3 × 2 × 100 ms per round, more than the 400 ms backoff cap: probes are always overdue.
      backoff: { initialMs: 100, maxMs: 400 },
      buses: [{ id: 'ward', transport: 'rtu', path, baudRate: 19200, timeoutMs: 100, devices: [unit('monitor', LIVE, 50), ...SILENT.map((u) => unit(`pump-${u}`, u, 1000))] }],
  }));
}, 15_000);

afterAll(() => rig?.close());

describe('modbus RTU line with switched-off units', () => {
  it('a live unit is read between any two requests to silent units, from the start and once they are offline', async () => {
    const silentRequests = () => bank.order.filter((u) => u !== LIVE).length;
    await waitFor('the silent units offline', () => SILENT.every((u) => ctx.statuses(`pump-${u}`).at(-1)?.state === 'offline'));
    const before = silentRequests();
    const from = bank.order.length;
    await waitFor('as many probes again as silent units', () => silentRequests() >= before + SILENT.length, 10_000);
    const line = bank.order.slice(bank.order.indexOf(LIVE));
    const backToBack = line.flatMap((u, i) => (i > 0 && u !== LIVE && line[i - 1] !== LIVE ? [i] : []));
    expect(backToBack, line.join(' ')).toEqual([]);
    expect(ctx.statuses('monitor').map((e) => e.state)).toEqual(['connecting', 'online']);
    // Every silent unit is still probed (none is starved by the others either).
    const probed = new Set(bank.order.slice(from).filter((u) => u !== LIVE));
    expect([...probed].sort()).toEqual(SILENT);
  });
});
