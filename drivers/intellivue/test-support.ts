// Shared by the IntelliVue tests: a pty pair at stable paths, the simulator (monitor) on one end,
// the driver (host) on the other, with the real serialport on both.
import { SerialPortLink } from '../serial/serialport-link.js';
import { deviceRig, type DeviceRig } from '../serial/testing.js';
import { IntellivueSimulator, type SimulatorOptions } from './simulator.js';
import type { IntellivueOptions } from './options.js';

export type Rig = DeviceRig<IntellivueSimulator>;

const LINE = { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1, flowControl: 'none' } as const;

export function rig(simOpts: SimulatorOptions = {}): Promise<Rig> {
  return deviceRig('intellivue', async (devicePath) => {
    const s = new IntellivueSimulator(new SerialPortLink({ path: devicePath, ...LINE }), { clockOffsetMs: 3000, ...simOpts });
    await s.start();
    return s;
  });
}

/** Fast timings so a test sees several poll cycles in well under a second. */
export function fastOptions(path: string, extra: Partial<IntellivueOptions> = {}): IntellivueOptions {
  return {
    id: 'mx800-1',
    bed: 'ICU-7',
    path,
    pollIntervalMs: 200,
    waves: { enabled: true, requestPeriodMs: 1000 },
    maxMtu: 600,
    associationTimeoutMs: 500,
    refusedRetryMs: 300,
    reassociateDelayMs: 100,
    quietReassociateMs: 800,
    silenceMs: 2000,
    backoff: { initialMs: 50, maxMs: 200 },
    monitorUtcOffsetMinutes: 0,
    ...extra,
  };
}
