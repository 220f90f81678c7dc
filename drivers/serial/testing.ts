// Test support shared by serial drivers (and the Modbus tests): a socat pseudo-terminal pair (optionally at stable symlink
// paths, so a "replug" keeps the name like /dev/serial/by-id does), a fake DriverContext that
// collects events, and a bounded wait.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AlarmEvent, DeviceStatusEvent, DriverEvent, NumericReading, WaveformSegment } from '../../agent/model/reading.js';
import { AlarmEngine, DEFAULT_ENGINE_CONFIG } from '../../agent/alarms/engine.js';
import { DEFAULT_TECHNICAL_CONFIG } from '../../agent/alarms/technical.js';
import type { Alarm } from '../../agent/alarms/types.js';
import type { DriverContext } from '../types.js';

export interface FakeContext extends DriverContext {
  events: DriverEvent[];
  counters: Map<string, number>;
  logs: Array<Record<string, unknown>>;
  /** Optionally of one device only. */
  readings(deviceId?: string): NumericReading[];
  waveforms(): WaveformSegment[];
  alarms(): AlarmEvent[];
  statuses(deviceId?: string): DeviceStatusEvent[];
  counter(name: string): number;
}

export function fakeContext(name = 'serial-test'): FakeContext {
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
    waveforms: () => events.filter((e): e is WaveformSegment => e.kind === 'waveform'),
    alarms: () => events.filter((e): e is AlarmEvent => e.kind === 'alarm'),
    statuses: (deviceId) =>
      events.filter((e): e is DeviceStatusEvent => e.kind === 'device-status' && (deviceId === undefined || e.deviceId === deviceId)),
    counter: (n) => counters.get(n) ?? 0,
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

export const SOCAT_MISSING =
  'socat is not installed: serial tests need it to make a pseudo-terminal pair (`apt-get install socat`; CI installs it via scripts/system-deps.sh).';

export function socatAvailable(): boolean {
  const r = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

export interface PtyPair {
  /** Names to open: the symlinks when links were asked for, else the pty device names from socat. */
  a: string;
  b: string;
  /** Kill socat: both ends disappear, like pulling a USB adapter. */
  close(): Promise<void>;
}

/**
 * `socat -d -d pty,raw,echo=0 pty,raw,echo=0`; pty names are read from socat's stderr.
 * With `links`, socat also creates symlinks at those paths (stable across restarts).
 */
export function openPtyPair(links?: { a: string; b: string }): Promise<PtyPair> {
  if (!socatAvailable()) return Promise.reject(new Error(SOCAT_MISSING));
  const end = (l?: string) => (l ? `pty,raw,echo=0,link=${l}` : 'pty,raw,echo=0');
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = spawn('socat', ['-d', '-d', end(links?.a), end(links?.b)], { stdio: ['ignore', 'ignore', 'pipe'] });
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
          a: links?.a ?? (names[0] as string),
          b: links?.b ?? (names[1] as string),
          close: () =>
            new Promise<void>((res) => {
              if (proc.exitCode !== null || proc.signalCode !== null) return res();
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

/** A host port and a device simulator joined by a socat pty pair at stable paths, with cable pull and replug. */
export interface DeviceRig<Sim> {
  dir: string;
  hostPath: string;
  devicePath: string;
  pty: PtyPair;
  sim: Sim;
  /** Pull the cable: kill socat (both pty ends vanish) and the simulator's port. */
  unplug(): Promise<void>;
  /** Plug back in: new socat at the same paths, a fresh simulator. */
  replug(): Promise<void>;
  close(): Promise<void>;
}

/** Builds a DeviceRig; `startSim` opens and starts a simulator on the device end of the pair. */
export async function deviceRig<Sim extends { stop(): Promise<void> }>(
  name: string,
  startSim: (devicePath: string) => Promise<Sim>,
): Promise<DeviceRig<Sim>> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const hostPath = join(dir, 'host');
  const devicePath = join(dir, 'device');
  const pty = await openPtyPair({ a: hostPath, b: devicePath });
  const r: DeviceRig<Sim> = {
    dir,
    hostPath,
    devicePath,
    pty,
    sim: await startSim(devicePath),
    async unplug() {
      await r.sim.stop();
      await r.pty.close();
    },
    async replug() {
      r.pty = await openPtyPair({ a: hostPath, b: devicePath });
      r.sim = await startSim(devicePath);
    },
    async close() {
      await r.sim.stop().catch(() => undefined);
      await r.pty.close();
    },
  };
  return r;
}

/**
 * The driver's events also go into a real AlarmEngine (fresh: the device was never heard of), ticked every 100 ms as
 * the agent ticks it; `technical()` lists its technical alarms. Call stop() when done (the ticker).
 */
export function feedEngine(ctx: FakeContext, silentAfterS: number): { engine: AlarmEngine; technical: () => Alarm[]; stop: () => void } {
  const engine = new AlarmEngine({ ...DEFAULT_ENGINE_CONFIG, technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS } });
  const emit = ctx.emit;
  ctx.emit = async (evs) => {
    await emit(evs);
    for (const e of evs) engine.ingest(e);
  };
  const ticker = setInterval(() => engine.tick(Date.now()), 100);
  return { engine, technical: () => engine.list().filter((a) => a.source === 'technical'), stop: () => clearInterval(ticker) };
}
