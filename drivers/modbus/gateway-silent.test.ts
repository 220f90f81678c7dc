// Real Modbus TCP on loopback: a unit behind a gateway that never answers (and the gateway sends no exception 0x0B
// for it) must not make the driver drop the connection its live neighbour uses, however seldom that one is polled.
import { afterEach, expect, it } from 'vitest';
import { modbusDriver } from './index.js';
import { RegisterBank, startTcpSimulator } from './simulator.js';
import { fakeContext, waitFor } from '../serial/testing.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

it('a dead unit with two reads beside a live unit polled every 2 s: no reconnects, the live values keep arriving', async () => {
  const bank = new RegisterBank();
  bank.setRegisters(1, 'holding', 0, [72]); // unit 9 has no memory: the simulator ignores its requests
  const s = await startTcpSimulator(bank);
  cleanup.push(() => s.close());
  const ctx = fakeContext('modbus-gateway');
  const d = modbusDriver.create(
    {
      offlineAfterFailures: 3,
      backoff: { initialMs: 100, maxMs: 400 },
      buses: [
        {
          id: 'gw',
          transport: 'tcp',
          host: '127.0.0.1',
          port: s.port,
          timeoutMs: 100,
          devices: [
            { id: 'live', unitId: 1, pollIntervalMs: 2000, points: [{ name: 'hr', table: 'holding', address: 0 }] },
            { id: 'dead', unitId: 9, pollIntervalMs: 1000, points: [{ name: 'a', table: 'holding', address: 0 }, { name: 'b', table: 'input', address: 0 }] },
          ],
        },
      ],
    },
    ctx,
  );
  cleanup.push(() => d.stop());
  await d.start();
  await waitFor('dead offline', () => ctx.statuses('dead').some((e) => e.state === 'offline'));
  const before = ctx.counter('reconnects');
  const readings = ctx.readings('live').length;
  await new Promise((r) => setTimeout(r, 7000));
  const after = ctx.counter('reconnects');
  expect(after).toBe(before);
  // It never answered on this connection: its silence says nothing of the stream, not even on its way to offline.
  expect(after).toBe(0);
  expect(ctx.logs.filter((l) => String(l.msg).includes('out of step'))).toHaveLength(0);
  expect(ctx.readings('live').length).toBeGreaterThanOrEqual(readings + 3);
  expect(ctx.statuses('live').every((e) => e.state !== 'offline')).toBe(true);
}, 20_000);
