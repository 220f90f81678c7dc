// Test support shared by serial drivers (and the Modbus tests): a socat pseudo-terminal pair (optionally at stable symlink
// paths, so a "replug" keeps the name like /dev/serial/by-id does), a link in memory (one end, or a cable of two), a fake
// DriverContext that collects events, and a bounded wait.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AlarmEvent, DeviceStatusEvent, DriverEvent, NumericReading, WaveformSegment } from '../../agent/model/reading.js';
import { AlarmEngine, DEFAULT_ENGINE_CONFIG } from '../../agent/alarms/engine.js';
import { DEFAULT_TECHNICAL_CONFIG } from '../../agent/alarms/technical.js';
import type { Alarm } from '../../agent/alarms/types.js';
import type { DriverContext } from '../types.js';
import { LinkClosedError, ListenOnlyError, type SerialLink } from './link.js';

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
      // The pty links' folder too: left behind, every test run added one to the temp folder.
      rmSync(dir, { recursive: true, force: true });
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

/**
 * A serial link in memory, for tests that need byte-exact control without socat (and without its timing). Bytes reach
 * it through `arrive` (from its peer, or fed by the test) and only while it is open; what it writes goes to `writeHook`
 * at once and to its peer on the next turn of the event loop. It follows SerialLink: open() takes effect at once,
 * writes are refused when listen-only or closed, and the close listeners hear each closing once, with an error only
 * when it was a hang-up.
 */
export class MemoryLink implements SerialLink {
  private readonly dataListeners: Array<(b: Buffer) => void> = [];
  private readonly closeListeners: Array<(err?: Error) => void> = [];
  private opened = false;
  /** Where writes arrive (see memoryCable). */
  peer: MemoryLink | undefined;
  /** When set, every write fails with it (a port that opens but rejects writes). */
  writeError: Error | undefined;
  /** Sees every written chunk as write() is called, before the peer does. */
  writeHook: ((bytes: Buffer) => void) | undefined;

  constructor(
    readonly describe = 'mem',
    readonly listenOnly = false,
  ) {}

  get isOpen(): boolean {
    return this.opened;
  }
  async open(): Promise<void> {
    this.opened = true;
  }
  async close(): Promise<void> {
    this.closed();
  }
  async write(bytes: Uint8Array): Promise<void> {
    if (this.listenOnly) throw new ListenOnlyError(this.describe);
    if (!this.opened) throw new LinkClosedError(this.describe);
    if (this.writeError) throw this.writeError;
    const copy = Buffer.from(bytes);
    this.writeHook?.(copy);
    const peer = this.peer;
    if (peer) setImmediate(() => peer.arrive(copy));
  }
  onData(listener: (b: Buffer) => void): void {
    this.dataListeners.push(listener);
  }
  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }
  /** Bytes reaching this end (from the peer, or fed by the test); dropped while closed. */
  arrive(bytes: Buffer): void {
    if (!this.opened) return;
    for (const l of this.dataListeners) l(bytes);
  }
  /** The far side goes away (a cable pulled, an adapter unplugged): closed, and the close listeners hear `err`. */
  hangUp(err: Error = new Error(`${this.describe} hung up`)): void {
    this.closed(err);
  }
  private closed(err?: Error): void {
    if (!this.opened) return;
    this.opened = false;
    for (const l of this.closeListeners) l(err);
  }
}

/** Host and device ends of one in-memory cable. */
export function memoryCable(): { host: MemoryLink; device: MemoryLink } {
  const host = new MemoryLink('mem:host');
  const device = new MemoryLink('mem:device');
  host.peer = device;
  device.peer = host;
  return { host, device };
}
