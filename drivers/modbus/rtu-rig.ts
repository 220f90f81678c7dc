// For tests: a real Modbus RTU line on a socat pseudo-terminal pair, the project's RTU simulator on one end and the
// driver (real serialport) on the other. One place for the set-up the RTU test files share; startRawRtuLine puts a
// raw peer in the simulator's place.
import { SerialPort } from 'serialport';
import { modbusDriver } from './index.js';
import type { DeviceOptions, ModbusOptions } from './options.js';
import { startRtuSimulator, type RegisterBank, type RunningSimulator } from './simulator.js';
import { openPtyPair, socatAvailable, SOCAT_MISSING, type PtyPair } from '../serial/testing.js';
import type { Driver, DriverContext } from '../types.js';

export interface RtuRig {
  pty: PtyPair;
  simulator: RunningSimulator;
  driver: Driver;
  close(): Promise<void>;
}

/** `options(path)`: the driver's options, given the path of the driver's end of the line. Started before it returns. */
export async function startRtuRig(
  bank: RegisterBank,
  ctx: DriverContext,
  line: { baudRate: number; parity?: 'none' | 'even' | 'odd' },
  options: (path: string) => ModbusOptions,
): Promise<RtuRig> {
  if (!socatAvailable()) throw new Error(SOCAT_MISSING);
  const pty = await openPtyPair();
  const simulator = await startRtuSimulator(bank, { path: pty.b, ...line });
  const driver = modbusDriver.create(options(pty.a), ctx);
  await driver.start();
  return {
    pty,
    simulator,
    driver,
    async close() {
      await driver.stop();
      await simulator.close();
      await pty.close();
    },
  };
}

/**
 * For tests of what a line does to the bytes (CRC errors, echoes, other units answering): the driver on one end of a
 * socat pty pair, a raw peer on the other that is handed each 8-byte request (every read the driver sends is 8 bytes)
 * and writes what it likes to `line`. One device `dev` (unit 1, polled every 50 ms, timeoutMs 150, offline after 2
 * failures). Started before it returns; `close` stops the driver, then the peer and the pair.
 */
export async function startRawRtuLine(
  ctx: DriverContext,
  points: DeviceOptions['points'],
  onRequest: (req: Buffer, line: SerialPort) => void,
): Promise<{ driver: Driver; close(): Promise<void> }> {
  if (!socatAvailable()) throw new Error(SOCAT_MISSING);
  const pty = await openPtyPair();
  const line = new SerialPort({ path: pty.b, baudRate: 19200 });
  await new Promise((resolve, reject) => line.once('open', resolve).once('error', reject));
  let pending = Buffer.alloc(0);
  line.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 8) {
      const req = Buffer.from(pending.subarray(0, 8));
      pending = pending.subarray(8);
      onRequest(req, line);
    }
  });
  const driver = modbusDriver.create(
    {
      offlineAfterFailures: 2,
      backoff: { initialMs: 100, maxMs: 400 },
      buses: [{ id: 'l', transport: 'rtu', path: pty.a, baudRate: 19200, timeoutMs: 150, devices: [{ id: 'dev', unitId: 1, pollIntervalMs: 50, points }] }],
    },
    ctx,
  );
  await driver.start();
  return {
    driver,
    async close() {
      await driver.stop();
      await new Promise((r) => line.close(r));
      await pty.close();
    },
  };
}
