// A Medibus device simulator: a ventilator with changing values, alarms and realtime curves, speaking
// the device side of the protocol on a SerialLink (normally a real serial port or one end of a pty
// pair). Faults can be injected for tests: NAKs, corrupt checksums, silence, device-initiated commands.
//
//   npx tsx drivers/medibus/simulator.ts /dev/pts/7 [baud]     (run against a port by hand)
import { SerialPortLink } from '../serial/serialport-link.js';
import type { SerialLink } from '../serial/link.js';
import { CMD } from './protocol/constants.js';
import { encodeCommand, encodeNak, encodeResponse, hex2 } from './protocol/encode.js';
import { MedibusFramer } from './protocol/framer.js';
import { encodeSample, unscaleSample, type HalfOrder } from './protocol/realtime.js';

export interface SimAlarm {
  priority: number;
  code: number;
  text: string;
}

export interface SimulatorOptions {
  id?: string;
  name?: string;
  revision?: string;
  halfOrder?: HalfOrder;
  /** Realtime sample interval in µs (default 8000 µs = 125 Hz). */
  rtIntervalUs?: number;
}

interface RtCurve {
  code: number;
  min: number;
  max: number;
  maxBin: number;
}

const RT_CURVES: RtCurve[] = [
  { code: 0x00, min: -20, max: 80, maxBin: 0xfff }, // airway pressure, mbar
  { code: 0x01, min: -120, max: 120, maxBin: 0xfff }, // flow, L/min
  { code: 0x03, min: 0, max: 2000, maxBin: 0xfff }, // volume, mL
];

function pad(v: string, width: number): string {
  return v.length >= width ? v.slice(0, width) : v.padStart(width, ' ');
}

/** A value in a 4-character Medibus field, e.g. 450 → " 450", 12.5 → "12.5". */
export function field4(v: number, decimals = 0): string {
  return pad(v.toFixed(decimals), 4);
}

export class MedibusSimulator {
  private readonly framer = new MedibusFramer();
  private tick = 0;
  private rtTimer: NodeJS.Timeout | undefined;
  private rtStreams: RtCurve[] = [];
  private rtEnabled = false;
  private rtSample = 0;
  private naks = 0;
  private corrupt = 0;
  readonly alarms = new Map<1 | 2 | 3, SimAlarm[]>([[1, []], [2, []], [3, []]]);
  /** Every command code received, in order (for assertions). */
  readonly received: number[] = [];
  /** Responses the host sent to our device-initiated commands. */
  readonly hostResponses: number[] = [];
  /** When true the device ignores everything (a hung or switched-off device on a live line). */
  mute = false;
  /** When true the device answers no command while its realtime curves keep streaming (its slow channel hung). */
  slowChannelMute = false;
  badChecksumsSeen = 0;
  /** Milliseconds the device takes to answer a command, by command code (default: at once). */
  readonly answerDelayMs = new Map<number, number>();
  /** Commands received and not yet answered, and the most there ever were (the protocol allows one). */
  outstanding = 0;
  maxOutstanding = 0;
  private readonly answerTimers = new Set<NodeJS.Timeout>();

  constructor(
    readonly link: SerialLink,
    private readonly opts: SimulatorOptions = {},
  ) {
    link.onData((b) => this.receive(b));
  }

  async start(): Promise<void> {
    await this.link.open();
  }

  async stop(): Promise<void> {
    this.stopRealtime();
    for (const t of this.answerTimers) clearTimeout(t);
    this.answerTimers.clear();
    await this.link.close();
  }

  /** The next n commands are answered with NAK. */
  nakNext(n: number): void {
    this.naks = n;
  }

  /** The next n responses carry a wrong checksum. */
  corruptNext(n: number): void {
    this.corrupt = n;
  }

  setAlarms(page: 1 | 2 | 3, list: SimAlarm[]): void {
    this.alarms.set(page, list);
  }

  /** The device asks the host something (initialise, no-op, device id …). */
  sendCommand(code: number): Promise<void> {
    return this.link.write(encodeCommand(code));
  }

  /** Raw bytes onto the line (for garbage / handshake tests). */
  sendRaw(bytes: Uint8Array): Promise<void> {
    return this.link.write(bytes);
  }

  // ---- the "physiology" ----

  values(): { pip: number; peep: number; pmean: number; pplat: number; vt: number; mv: number; rr: number; fio2: number; etco2: number } {
    const t = this.tick;
    const rr = 14 + (t % 4);
    const vt = 450 + 10 * Math.round(3 * Math.sin(t / 3));
    return { pip: 22 + (t % 5), peep: 5, pmean: 11, pplat: 18, vt, mv: Math.round((vt * rr) / 100) / 10, rr, fio2: 40, etco2: 38 + (t % 3) };
  }

  private measuredCp1(): string {
    const v = this.values();
    return [
      `7D${field4(v.pip)}`, `78${field4(v.peep)}`, `73${field4(v.pmean)}`, `74${field4(v.pplat)}`, `88${field4(v.vt)}`,
      `B9${field4(v.mv, 1)}`, `D6${field4(v.rr)}`, `F0${field4(v.fio2)}`, `E6${field4(v.etco2)}`,
      `5C----`, // an agent concentration the device cannot measure now (unknown code, unavailable value)
    ].join('');
  }

  private measuredCp2(): string {
    const v = this.values();
    return `21${field4(v.vt - 5)}22${field4(v.vt + 5)}`;
  }

  private settings(): string {
    return `01${pad('40', 5)}0B${pad('5.0', 5)}09${pad('14', 5)}40${pad('450', 5)}`;
  }

  private textMessages(): string {
    const rec = (code: number, text: string) => `${hex2(code)}${String.fromCharCode(0x30 + text.length)}${text}\x03`;
    return rec(0x06, 'SIMV') + rec(0x20, 'Adults');
  }

  private alarmData(page: 1 | 2 | 3): string {
    return (this.alarms.get(page) ?? []).map((a) => `${String.fromCharCode(0x30 + a.priority)}${hex2(a.code)}${a.text.padEnd(12).slice(0, 12)}`).join('');
  }

  private rtConfig(): string {
    const interval = this.opts.rtIntervalUs ?? 8000;
    return RT_CURVES.map((c) => `${hex2(c.code)}${String(interval).padStart(8, '0')}${pad(String(c.min), 5)}${pad(String(c.max), 5)}${c.maxBin.toString(16).toUpperCase().padStart(3, '0')}`).join('');
  }

  private dateTime(): string {
    const d = new Date();
    const mon = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'][d.getUTCMonth()] as string;
    const p2 = (n: number) => String(n).padStart(2, '0');
    return `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}${p2(d.getUTCDate())}-${mon}-${p2(d.getUTCFullYear() % 100)}`;
  }

  // ---- protocol ----

  private receive(chunk: Buffer): void {
    for (const ev of this.framer.push(chunk)) {
      if (ev.type === 'realtime') this.realtimeControl(ev.bytes);
      else if (ev.type === 'bad-frame') {
        this.badChecksumsSeen++;
        if (!this.mute && !this.slowChannelMute && ev.kind === 'command') void this.write(encodeNak());
      } else if (ev.type === 'frame') {
        if (ev.kind === 'response') this.hostResponses.push(ev.code);
        else this.command(ev.code, ev.data);
      }
    }
  }

  private command(code: number, args: Buffer): void {
    this.received.push(code);
    if (this.mute || this.slowChannelMute) return;
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    if (this.naks > 0) {
      this.naks--;
      this.outstanding--;
      void this.write(encodeNak());
      return;
    }
    this.tick++;
    const answer = (data = '') => this.respond(code, data);
    switch (code) {
      case CMD.ICC:
        this.stopRealtime();
        return answer();
      case CMD.STOP:
        this.stopRealtime();
        return answer();
      case CMD.DEVICE_ID:
        return answer(`${(this.opts.id ?? '0161').padEnd(4).slice(0, 4)}'${this.opts.name ?? 'SimVent'}'${this.opts.revision ?? '01.00:06.00'}`);
      case CMD.DATA_CP1:
        return answer(this.measuredCp1());
      case CMD.DATA_CP2:
        return answer(this.measuredCp2());
      case CMD.LOW_LIMITS_CP1:
        return answer(`7D${field4(5)}B9${field4(3, 1)}`);
      case CMD.HIGH_LIMITS_CP1:
        return answer(`7D${field4(40)}B9${field4(15, 1)}`);
      case CMD.ALARMS_CP1:
        return answer(this.alarmData(1));
      case CMD.ALARMS_CP2:
        return answer(this.alarmData(2));
      case CMD.ALARMS_CP3:
        return answer(this.alarmData(3));
      case CMD.SETTINGS:
        return answer(this.settings());
      case CMD.TEXT_MESSAGES:
        return answer(this.textMessages());
      case CMD.DATE_TIME:
        return answer(this.dateTime());
      case CMD.RT_CONFIG:
        return answer(this.rtConfig());
      case CMD.RT_CONFIGURE: {
        const s = args.toString('latin1');
        this.rtStreams = [];
        for (let i = 0; i + 4 <= s.length; i += 4) {
          const curve = RT_CURVES.find((c) => c.code === parseInt(s.slice(i, i + 2), 16));
          if (curve) this.rtStreams.push(curve);
        }
        return answer();
      }
      default:
        return answer();
    }
  }

  private respond(code: number, data: string): void {
    const delay = this.answerDelayMs.get(code);
    if (delay) {
      const t = setTimeout(() => {
        this.answerTimers.delete(t);
        this.respondNow(code, data);
      }, delay);
      this.answerTimers.add(t);
      return;
    }
    this.respondNow(code, data);
  }

  private respondNow(code: number, data: string): void {
    this.outstanding = Math.max(0, this.outstanding - 1);
    const msg = encodeResponse(code, data);
    if (this.corrupt > 0) {
      this.corrupt--;
      const i = msg.length - 2; // last checksum character
      msg[i] = msg[i] === 0x30 ? 0x31 : 0x30;
    }
    void this.write(msg);
  }

  private write(bytes: Buffer): Promise<void> {
    return this.link.write(bytes).catch(() => undefined);
  }

  /** Host realtime control bytes: D0 C1 <mask> C0 C0 enables streams 1..4. */
  private realtimeControl(bytes: Buffer): void {
    for (let i = 0; i + 1 < bytes.length; i++) {
      if (bytes[i] !== 0xc1) continue;
      const mask = (bytes[i + 1] as number) & 0x0f;
      this.rtStreams = this.rtStreams.filter((_, n) => mask & (1 << n));
      if (mask && this.rtStreams.length) this.startRealtime();
      else this.stopRealtime();
    }
  }

  private startRealtime(): void {
    if (this.rtEnabled) return;
    this.rtEnabled = true;
    this.rtTimer = setInterval(() => this.realtimeBurst(), 40);
  }

  private stopRealtime(): void {
    this.rtEnabled = false;
    if (this.rtTimer) clearInterval(this.rtTimer);
    this.rtTimer = undefined;
  }

  /** 5 sample sets per 40 ms burst; a breath every 4 s (1.3 s inspiration). */
  private realtimeBurst(): void {
    if (this.mute || !this.link.isOpen) return;
    const out: number[] = [];
    const order = this.opts.halfOrder ?? 'low-first';
    for (let k = 0; k < 5; k++) {
      const n = this.rtSample++;
      const phaseT = (n % 500) / 125; // seconds into the breath
      out.push(0xd0 | ((1 << this.rtStreams.length) - 1));
      if (n % 500 === 0) out.push(0xc6, 0xc0);
      if (n % 500 === 163) out.push(0xc6, 0xc1);
      for (const c of this.rtStreams) {
        const insp = phaseT < 1.3;
        const v = c.code === 0x00 ? (insp ? 22 : 5) : c.code === 0x01 ? (insp ? 40 : -30 * Math.exp(-(phaseT - 1.3) * 2)) : insp ? 350 * (phaseT / 1.3) : 350 * Math.exp(-(phaseT - 1.3) * 3);
        out.push(...encodeSample(unscaleSample(v, c), order));
      }
    }
    void this.write(Buffer.from(out));
  }
}

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: tsx drivers/medibus/simulator.ts <serial path> [baud]');
    process.exit(2);
  }
  const link = new SerialPortLink({ path, baudRate: Number(process.argv[3] ?? 19200), dataBits: 8, parity: 'even', stopBits: 1, flowControl: 'none' });
  const sim = new MedibusSimulator(link);
  await sim.start();
  console.error(`Medibus simulator on ${link.describe}`);
  setInterval(() => sim.setAlarms(1, Math.random() < 0.3 ? [{ priority: 25, code: 0x10, text: 'PAW HIGH' }] : []), 5000);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) void main();
