// Shared by the Medibus tests: a pty pair at stable paths, the simulator on one end, the driver on the other.
import { SerialPortLink } from '../serial/serialport-link.js';
import { deviceRig, type DeviceRig } from '../serial/testing.js';
import { MedibusSimulator, type SimulatorOptions } from './simulator.js';
import type { MedibusOptions } from './options.js';

export type Rig = DeviceRig<MedibusSimulator>;

const LINE = { baudRate: 19200, dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' } as const;

export function rig(simOpts: SimulatorOptions = {}): Promise<Rig> {
  return deviceRig('medibus', async (devicePath) => {
    const s = new MedibusSimulator(new SerialPortLink({ path: devicePath, ...LINE }), simOpts);
    await s.start();
    return s;
  });
}

/** Fast timings so a test sees several cycles in well under a second. */
export function fastOptions(path: string, extra: Partial<MedibusOptions> = {}): MedibusOptions {
  return {
    id: 'vent-1',
    bed: 'ICU-3',
    path,
    baudRate: 19200,
    parity: 'even',
    requests: ['measured1', 'measured2', 'alarms1', 'settings', 'text', 'lowLimits1', 'dateTime'],
    pollIntervalMs: 100,
    responseTimeoutMs: 300,
    retries: 1,
    keepAliveMs: 1000,
    quietReinitMs: 1500,
    silenceMs: 1000,
    backoff: { initialMs: 50, maxMs: 200 },
    alarmRepeatMs: 60000,
    ...extra,
  };
}
