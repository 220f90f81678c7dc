// Shared by the IntelliVue tests: a pty pair at stable paths, the simulator (monitor) on one end,
// the driver (host) on the other, with the real serialport on both.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPortLink } from '../serial/serialport-link.js';
import { openPtyPair, type PtyPair } from '../serial/testing.js';
import { IntellivueSimulator, type SimulatorOptions } from './simulator.js';
import type { IntellivueOptions } from './options.js';

export interface Rig {
  dir: string;
  hostPath: string;
  devicePath: string;
  pty: PtyPair;
  sim: IntellivueSimulator;
  /** Pull the cable: kill socat (both pty ends vanish) and the simulator's port. */
  unplug(): Promise<void>;
  /** Plug back in: new socat at the same paths, a fresh simulator. */
  replug(): Promise<void>;
  close(): Promise<void>;
}

const LINE = { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1, flowControl: 'none' } as const;

export async function rig(simOpts: SimulatorOptions = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'intellivue-'));
  const hostPath = join(dir, 'host');
  const devicePath = join(dir, 'monitor');
  const startSim = async () => {
    const s = new IntellivueSimulator(new SerialPortLink({ path: devicePath, ...LINE }), { clockOffsetMs: 3000, ...simOpts });
    await s.start();
    return s;
  };
  const r: Rig = {
    dir,
    hostPath,
    devicePath,
    pty: await openPtyPair({ a: hostPath, b: devicePath }),
    sim: undefined as unknown as IntellivueSimulator, // set just below
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
