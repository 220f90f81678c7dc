// Shared by the modbus tests and bench: a fake DriverContext that records everything, a bounded
// wait, and a socat pty pair.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { pino } from 'pino';
import type { DeviceStatusEvent, DriverEvent, NumericReading } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';

export interface FakeContext extends DriverContext {
  events: DriverEvent[];
  counters: Map<string, number>;
  logs: Array<Record<string, unknown>>;
  readings(deviceId?: string): NumericReading[];
  statuses(deviceId?: string): DeviceStatusEvent[];
}

export function fakeContext(name = 'modbus-test'): FakeContext {
  const events: DriverEvent[] = [];
  const counters = new Map<string, number>();
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return {
    name,
    log,
    events,
    counters,
    logs,
    emit: async (evs) => {
      events.push(...evs);
    },
    count: (counter, by = 1) => {
      counters.set(counter, (counters.get(counter) ?? 0) + by);
    },
    readings: (deviceId) => events.filter((e): e is NumericReading => e.kind === 'numeric' && (deviceId === undefined || e.deviceId === deviceId)),
    statuses: (deviceId) => events.filter((e): e is DeviceStatusEvent => e.kind === 'device-status' && (deviceId === undefined || e.deviceId === deviceId)),
  };
}

/** Wait until `check` is true, polling; fails with `what` after `ms` (a bound, not a timing assertion). */
export async function waitFor(what: string, check: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface PtyPair {
  a: string;
  b: string;
  close(): Promise<void>;
}

export const SOCAT_MISSING =
  'socat is not installed: the RTU tests need it to make a pseudo-terminal pair. Run the project set-up (the CI script installs socat), e.g. `apt-get install socat`.';

export function socatAvailable(): boolean {
  const r = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

/** A linked pty pair from `socat -d -d pty,raw,echo=0 pty,raw,echo=0`; names parsed from its stderr. */
export function openPtyPair(): Promise<PtyPair> {
  if (!socatAvailable()) return Promise.reject(new Error(SOCAT_MISSING));
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => {
      proc.kill();
      reject(new Error(`socat did not report two ptys: ${err}`));
    }, 5000);
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const names = [...err.matchAll(/PTY is (\S+)/g)].map((m) => m[1] as string);
      if (names.length >= 2 && err.includes('starting data transfer loop')) {
        clearTimeout(timer);
        resolve({
          a: names[0] as string,
          b: names[1] as string,
          close: () =>
            new Promise<void>((res) => {
              if (proc.exitCode !== null) return res();
              proc.once('exit', () => res());
              proc.kill();
            }),
        });
      }
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
