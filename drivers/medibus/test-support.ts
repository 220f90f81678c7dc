// Shared by the Medibus tests: a pty pair at stable paths, the simulator on one end, the driver on the other.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPortLink } from '../serial/serialport-link.js';
import { openPtyPair, type PtyPair } from '../serial/testing.js';
import { MedibusSimulator, type SimulatorOptions } from './simulator.js';
import type { MedibusOptions } from './options.js';

export interface Rig {
  dir: string;
  hostPath: string;
  devicePath: string;
  pty: PtyPair;
  sim: MedibusSimulator;
  /** Pull the cable: kill socat (both pty ends vanish) and the simulator's port. */
  unplug(): Promise<void>;
  /** Plug back in: new socat at the same paths, a fresh simulator. */
  replug(): Promise<void>;
  close(): Promise<void>;
}

const LINE = { baudRate: 19200, dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' } as const;

export async function rig(simOpts: SimulatorOptions = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'medibus-'));
  const hostPath = join(dir, 'host');
  const devicePath = join(dir, 'device');
  const startSim = async () => {
    const s = new MedibusSimulator(new SerialPortLink({ path: devicePath, ...LINE }), simOpts);
    await s.start();
    return s;
  };
  const r: Rig = {
    dir,
    hostPath,
    devicePath,
    pty: await openPtyPair({ a: hostPath, b: devicePath }),
    sim: undefined as unknown as MedibusSimulator, // set just below
    async unplug() {
      await r.sim.stop();
      await r.pty.close();
    },
    async replug() {
      r.pty = await openPtyPair({ a: hostPath, b: devicePath });
      r.sim = await startSim();
    },
    async close() {
      await r.sim.stop().catch(() => undefined);
      await r.pty.close();
    },
  };
  r.sim = await startSim();
  return r;
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
