// Plays a WFDB record (e.g. a PhysioNet 2015 alarm window) as a bedside monitor would stream it: one
// WaveformSegment per signal every `segmentMs` of record time, paced at `speed` × real time, then the record's
// alarm as a device AlarmEvent at the alarm time (default: the end of the record, where the windows-30s
// records put the alarm onset). For demos and for testing the edge model's live path end to end.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { AlarmEvent, WaveformSegment } from '../../agent/model/reading.js';
import { alarmFromComments, decodeFormat16, parseHeader } from '../../models/features/wfdb.js';
import type { WfdbChannel } from '../../models/features/wfdb.js';
import type { Driver, DriverContext, DriverHealth } from '../types.js';
import { alarmCode, signalCode } from './codes.js';

export interface WfdbReplayOptions {
  /** Record path without extension (or the .hea file). */
  record: string;
  /** 1 = real time; 10 = ten times faster. */
  speed?: number;
  segmentMs?: number;
  deviceId?: string;
  bed?: string;
  /** Seconds into the record at which the alarm is raised; default the end of the record. */
  alarmAtS?: number;
  /** Emit the alarm named in the header comments (default true). */
  alarm?: boolean;
}

interface Loaded {
  name: string;
  channels: WfdbChannel[];
  alarmType: string | null;
  trueAlarm: boolean | null;
  frames: number;
  fs: number;
}

/** The header file of a record given without extension (or as its .hea file). */
function headerFile(record: string): string {
  return record.endsWith('.hea') ? record : `${record}.hea`;
}

/**
 * The device id the driver claims, reports and sends under: `deviceId`, else `wfdb-<file name of the record>` (the
 * .hea file without extension), known before the header is read, so that the claim check sees the id really used.
 */
export function replayDeviceId(opts: Pick<WfdbReplayOptions, 'record' | 'deviceId'>): string {
  return opts.deviceId ?? `wfdb-${basename(headerFile(opts.record), '.hea')}`;
}

/**
 * Refuses a record that is not there (a typo, a folder not mounted) when the driver is made, so that --check and the
 * start name `options.record` rather than the driver failing once running. Reads the header only; the samples are
 * decoded at start.
 */
export function checkRecord(record: string): void {
  const hea = headerFile(record);
  // A relative path is read from the working directory, which differs between a shell and the module.
  const from = isAbsolute(hea) ? '' : `, relative to the working directory ${process.cwd()}`;
  let text: string;
  try {
    text = readFileSync(hea, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`options.record: cannot read the record's header ${hea} (${why}${from}): give the record's path without extension, or its .hea file`);
  }
  let header;
  try {
    header = parseHeader(text);
  } catch (err) {
    throw new Error(`options.record: ${hea}: ${(err as Error).message}`);
  }
  const dat = join(dirname(hea), header.signals[0]?.fileName ?? `${basename(hea, '.hea')}.dat`);
  if (!existsSync(dat)) throw new Error(`options.record: the record's signal file ${dat}, named in its header, is not there`);
}

export function loadRecord(record: string): Loaded {
  const hea = headerFile(record);
  const header = parseHeader(readFileSync(hea, 'utf8'));
  const dat = join(dirname(hea), header.signals[0]?.fileName ?? `${basename(hea, '.hea')}.dat`);
  const channels = decodeFormat16(header, readFileSync(dat));
  const { alarmType, trueAlarm } = alarmFromComments(header.comments);
  return { name: header.recordName, channels, alarmType, trueAlarm, frames: channels[0]?.samples.length ?? 0, fs: header.sampleRateHz };
}

export class WfdbReplayDriver implements Driver {
  private rec: Loaded | null = null;
  private state: DriverHealth['state'] = 'starting';
  private detail = 'not started';
  private stopped = false;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private lastDataAt: number | null = null;
  private readonly speed: number;
  private readonly segmentMs: number;
  /** One id for events, health and claims (replayDeviceId); the header's record name may differ from the file's. */
  readonly deviceId: string;

  constructor(
    private readonly opts: WfdbReplayOptions,
    private readonly ctx: DriverContext,
  ) {
    this.speed = opts.speed ?? 1;
    this.segmentMs = opts.segmentMs ?? 250;
    this.deviceId = replayDeviceId(opts);
  }

  async start(): Promise<void> {
    this.rec = loadRecord(this.opts.record); // throws with the file or header line at fault
    this.state = 'running';
    this.detail = `playing ${this.rec.name} at ${this.speed}× (${(this.rec.frames / this.rec.fs).toFixed(1)} s)`;
    this.ctx.log.info({ record: this.rec.name, speed: this.speed, alarmType: this.rec.alarmType }, 'replaying WFDB record');
    this.loop = this.play(this.rec).catch((err: unknown) => {
      this.state = 'failed';
      this.detail = (err as Error).message;
      this.ctx.log.error({ err }, 'WFDB replay failed');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    if (this.state !== 'failed') this.state = 'stopped';
  }

  health(): DriverHealth {
    return {
      state: this.state,
      detail: this.detail,
      devices: { [this.deviceId]: { state: this.state === 'running' ? 'online' : this.state, lastDataAt: this.lastDataAt } },
    };
  }

  private sleepUntil(at: number): Promise<void> {
    const ms = at - Date.now();
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise((res) => {
      this.wake = res;
      this.timer = setTimeout(res, ms);
    });
  }

  private async play(rec: Loaded): Promise<void> {
    const { fs, frames } = rec;
    const perSeg = Math.max(1, Math.round((this.segmentMs * fs) / 1000));
    const alarmAt = this.opts.alarm === false || rec.alarmType === null ? -1 : Math.min(frames, Math.round((this.opts.alarmAtS ?? frames / fs) * fs));
    const t0 = Date.now(); // device time of sample 0; wall time it "was measured"
    let i = 0;
    let alarmSent = false;
    while (!this.stopped && (i < frames || (!alarmSent && alarmAt >= 0))) {
      // Chunks end at the alarm sample, so the alarm follows exactly the samples before it.
      const end = Math.min(frames, i + perSeg, alarmAt > i ? alarmAt : frames);
      // A monitor sends samples once it has measured them: at the end of the chunk, in replay time.
      await this.sleepUntil(t0 + (end * 1000) / fs / this.speed);
      if (this.stopped) break;
      if (end > i) {
        const receivedAt = Date.now();
        await this.ctx.emit(rec.channels.map((c) => this.segment(c, i, end, t0, receivedAt)));
        this.lastDataAt = receivedAt;
        i = end;
      }
      if (!alarmSent && alarmAt >= 0 && i >= alarmAt) {
        alarmSent = true;
        await this.ctx.emit([this.alarm(rec, t0 + (alarmAt * 1000) / fs)]);
        this.ctx.count('alarms_emitted');
      }
    }
    if (!this.stopped) this.detail = `finished ${rec.name}`;
  }

  private segment(c: WfdbChannel, from: number, to: number, t0: number, receivedAt: number): WaveformSegment {
    const code = signalCode(c.name, c.units); // the header's units: a uV ECG is sent as uV, not as mV
    const samples = Array.from(c.samples.subarray(from, to));
    const invalid = samples.some((v) => Number.isNaN(v));
    return {
      kind: 'waveform',
      deviceId: this.deviceId,
      ...(this.opts.bed !== undefined && { bed: this.opts.bed }),
      source: this.ctx.name,
      mdc: code.mdc,
      raw: code.raw,
      unit: code.unit,
      startTime: Math.round(t0 + (from * 1000) / c.sampleRateHz),
      sampleRateHz: c.sampleRateHz,
      samples,
      receivedAt,
      // WFDB marks samples the monitor could not measure; NaN carries them, and the segment says so.
      quality: invalid ? { state: 'questionable', reasons: ['invalid-samples'] } : { state: 'valid' },
    };
  }

  private alarm(rec: Loaded, deviceTime: number): AlarmEvent {
    const a = alarmCode(rec.alarmType ?? 'unknown');
    return {
      kind: 'alarm',
      deviceId: this.deviceId,
      ...(this.opts.bed !== undefined && { bed: this.opts.bed }),
      source: this.ctx.name,
      alarmId: `${rec.name}:${rec.alarmType ?? 'alarm'}`,
      condition: a.condition,
      raw: a.raw,
      text: a.text,
      priority: 'high',
      category: 'physiological',
      phase: 'start',
      deviceTime: Math.round(deviceTime),
      receivedAt: Date.now(),
      // The expert label travels as context for evaluation; the agent never reads it.
      context: { record: rec.name, label: rec.trueAlarm === null ? null : rec.trueAlarm ? 'true' : 'false' },
    };
  }
}
