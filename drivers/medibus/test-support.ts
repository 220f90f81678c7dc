// Shared by the Medibus tests: a pty pair at stable paths, the simulator on one end, the driver on the other; and a
// scripted device on an in-memory cable (serial/testing.ts), for tests that need byte-exact control of what it sends.
import { SerialPortLink } from '../serial/serialport-link.js';
import { deviceRig, type DeviceRig, type MemoryLink } from '../serial/testing.js';
import { MedibusSimulator, type SimulatorOptions } from './simulator.js';
import type { MedibusOptions } from './options.js';
import { MedibusFramer, encodeResponse } from './protocol/index.js';

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

/**
 * The defaults, a tenth as long: a whole cycle unanswered (6 requests × 3 tries × 300 ms = 5.4 s) and the alarm-page
 * bound (3.8 s) come well after the quiet line (1 s) and the silence (1.5 s), as 54 s and 38 s after 10 s and 15 s.
 */
export const tenthOptions = (path: string): MedibusOptions => ({
  id: 'vent-1',
  bed: 'ICU-3',
  path,
  baudRate: 19200,
  parity: 'even',
  pollIntervalMs: 100,
  responseTimeoutMs: 300,
  retries: 2,
  keepAliveMs: 200,
  quietReinitMs: 1000,
  silenceMs: 1500,
  backoff: { initialMs: 50, maxMs: 200 },
  realtime: { enabled: true, segmentMs: 200 },
});

/**
 * A device scripted per command: `answer(code, args)` gives the data of the response, or null to stay silent.
 * Records the commands it received and how many were outstanding at once.
 */
export class ScriptedDevice {
  readonly received: number[] = [];
  maxOutstanding = 0;
  private outstanding = 0;
  /** Milliseconds to hold the answer to a command back. */
  readonly answerDelayMs = new Map<number, number>();
  private readonly framer = new MedibusFramer();

  constructor(
    readonly link: MemoryLink,
    public answer: (code: number, args: string) => string | null,
  ) {
    link.onData((bytes) => {
      for (const ev of this.framer.push(bytes)) {
        if (ev.type !== 'frame' || ev.kind !== 'command') continue;
        this.received.push(ev.code);
        const data = this.answer(ev.code, ev.data.toString('latin1'));
        if (data === null) continue;
        this.outstanding++;
        this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
        const reply = () => {
          this.outstanding--;
          void link.write(encodeResponse(ev.code, data));
        };
        const delay = this.answerDelayMs.get(ev.code);
        if (delay) setTimeout(reply, delay);
        else reply();
      }
    });
  }

  send(bytes: Buffer | number[]): void {
    void this.link.write(Buffer.from(bytes));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
