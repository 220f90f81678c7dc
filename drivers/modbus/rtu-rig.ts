// For tests: a real Modbus RTU line on a socat pseudo-terminal pair, the project's RTU simulator on one end and the
// driver (real serialport) on the other. One place for the set-up three RTU test files share.
import { modbusDriver } from './index.js';
import type { ModbusOptions } from './options.js';
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
