// Plays a WFDB record (e.g. a PhysioNet 2015 alarm window) as a bedside monitor would stream it: one
// WaveformSegment per signal every `segmentMs` of record time, paced at `speed` × real time, then the record's
// alarm as a device AlarmEvent at the alarm time (default: the end of the record, where the windows-30s
// records put the alarm onset; the corpus's full/ records put it at 300 s: see README). For demos and for testing the
// edge model's live path end to end.
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { AlarmEvent, DriverEvent, WaveformSegment } from '../../agent/model/reading.js';
import { alarmFromComments, decodeFormat16, parseHeader } from '../../models/features/wfdb.js';
import type { WfdbChannel, WfdbHeader } from '../../models/features/wfdb.js';
import type { Driver, DriverContext, DriverHealth, DriverWarning } from '../types.js';
import { alarmCode, ALARM_TYPES, isKnownAlarmType, signalCode } from './codes.js';

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

/** Sampling frequencies a replay accepts: a header's 1e9 would send the whole record in one segment (review rv86 L4). */
const MIN_FS_HZ = 1;
const MAX_FS_HZ = 10_000;
/** Refused emits are logged at most this often (counted always); the driver reports degraded this long after one. */
const REFUSED_LOG_EVERY_MS = 10_000;

/** What checkRecord found: enough to decode the record without looking again. */
interface Checked {
  header: WfdbHeader;
  /** The signal file all signals share. */
  dat: string;
  /** Frames in the record (samples per signal). */
  frames: number;
}

/** PhysioNet 2015: the alarm sounds 300 s into every full record ("l" records go on 30 s after it). */
const PHYSIONET_2015_ONSET_S = 300;

/**
 * Refuses a record the driver cannot play when the driver is made, so that --check and the start name
 * `options.record` rather than the driver failing at every start (review rv86 M3): a header that cannot be read or
 * parsed, a sampling frequency outside 1–10000 Hz, a format other than 16, signals in more than one file or at more
 * than one byte offset, a signal file that is not there, of another size than the header's samples (or, without a
 * sample count, not whole frames or none), or an alarm type it does not know while the alarm is on. Reads the header
 * and the signal file's size only; the samples are decoded at start.
 */
export function checkRecord(opts: Pick<WfdbReplayOptions, 'record' | 'alarm'>): Checked {
  const hea = headerFile(opts.record);
  // A relative path is read from the working directory, which differs between a shell and the module.
  const from = isAbsolute(hea) ? '' : `, relative to the working directory ${process.cwd()}`;
  let text: string;
  try {
    text = readFileSync(hea, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`options.record: cannot read the record's header ${hea} (${why}${from}): give the record's path without extension, or its .hea file`);
  }
  let header: WfdbHeader;
  try {
    header = parseHeader(text);
  } catch (err) {
    throw new Error(`options.record: ${hea}: ${(err as Error).message}`);
  }
  const bad = (what: string) => new Error(`options.record: ${hea}: ${what}`);
  const fs = header.sampleRateHz;
  if (!(fs >= MIN_FS_HZ && fs <= MAX_FS_HZ)) throw bad(`sampling frequency ${fs} Hz is outside ${MIN_FS_HZ}–${MAX_FS_HZ} Hz`);
  const nsamp = header.samplesPerSignal; // a whole number ≥ 0: parseHeader refuses others, naming the line
  // The decoder (models/features/wfdb.ts, shared with training) refuses these too, but only at start.
  const first = header.signals[0]!; // parseHeader requires at least one signal
  const name = (i: number) => `signal ${i} (${JSON.stringify(header.signals[i]!.description || `sig${i}`)})`;
  for (const [i, s] of header.signals.entries()) {
    if (s.format !== 16) throw bad(`${name(i)} has format ${s.format}; only format 16 is supported (convert the record to format 16 first, e.g. with WFDB's xform or wfdb-python's wrsamp)`);
    if (s.fileName !== first.fileName || s.byteOffset !== first.byteOffset)
      throw bad(`${name(i)} is in ${s.fileName} at byte ${s.byteOffset}, signal 0 in ${first.fileName} at byte ${first.byteOffset}: all signals must share one file and byte offset`);
  }
  const dat = join(dirname(hea), first.fileName || `${basename(hea, '.hea')}.dat`);
  let size: number;
  try {
    const st = statSync(dat);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch {
    throw new Error(`options.record: the record's signal file ${dat}, named in its header, is not there`);
  }
  const nsig = header.signals.length;
  const frameBytes = 2 * nsig;
  if (size < first.byteOffset) throw new Error(`options.record: ${dat} holds ${size} bytes, less than its byte offset ${first.byteOffset}`);
  const usable = size - first.byteOffset;
  // A file of another size than the header says is not this header's, or is damaged: decoded anyway, its frames
  // would be read at the wrong width and played as ECG (review rv193 M1). Exactly the header's samples, or whole frames.
  let frames: number;
  if (nsamp !== null && nsamp > 0) {
    const need = first.byteOffset + nsamp * frameBytes;
    if (size !== need)
      throw new Error(
        `options.record: ${dat} holds ${size} bytes; the header's ${nsamp} samples of ${nsig} signals need ${need}${first.byteOffset ? ` (from byte ${first.byteOffset})` : ''}: ${size < need ? "the file is cut short, or is not this header's" : "the file holds more than the header says: it is not this header's, or the header's signal or sample count is wrong"}`,
      );
    frames = nsamp;
  } else {
    // No sample count: the file says how long the record is. A partial last frame means a file cut short or frames
    // of another width; with no whole frame there is nothing to play, and the alarm would be raised over no data.
    if (usable % frameBytes !== 0)
      throw new Error(
        `options.record: ${dat} holds ${usable} bytes of samples; the header gives no sample count, and that is not a whole number of ${frameBytes}-byte frames (${nsig} signals): ${usable % frameBytes} bytes left over: the file is cut short, or is not this header's`,
      );
    frames = usable / frameBytes;
    if (frames === 0) throw new Error(`options.record: ${dat} holds no whole frame (${usable} bytes of samples, ${frameBytes} per frame of ${nsig} signals): nothing to play`);
  }
  // An alarm type it has no words or code for would be raised as a HIGH alarm named by a raw comment: refused, unless
  // the alarm is off (a one-word comment that is not an alarm type at all, in a record from another database).
  const { alarmType } = alarmFromComments(header.comments);
  if (opts.alarm !== false && alarmType !== null && !isKnownAlarmType(alarmType))
    throw bad(
      `its header names the alarm type ${JSON.stringify(alarmType)}, which is not one of the PhysioNet 2015 types the replay can raise (${ALARM_TYPES.join(', ')}): correct the comment, or set options.alarm: false to play the waveforms without an alarm`,
    );
  return { header, dat, frames };
}

/**
 * What --check and the start say of a record that plays, but not as one might expect: no alarm type in its header
 * (no alarm is raised), `alarmAtS` beyond its end (the alarm is raised at the end), or a PhysioNet 2015 record longer
 * than 300 s without `alarmAtS` (its alarm onset is at 300 s, not at the end). None for a record checkRecord refuses:
 * create() says why.
 */
export function recordWarnings(opts: WfdbReplayOptions): DriverWarning[] {
  let checked: Checked;
  try {
    checked = checkRecord(opts);
  } catch {
    return [];
  }
  return [...sizeWarnings(checked), ...alarmWarnings(opts, checked)];
}

/**
 * A header without a sample count: the .dat is checked for whole frames only, so a signal line taken out of the header
 * plays the file as fewer, longer signals of nonsense (review rv195 L4); only the count lets the size prove it.
 */
function sizeWarnings({ header }: Checked): DriverWarning[] {
  if (header.samplesPerSignal !== null && header.samplesPerSignal > 0) return [];
  return [{ field: 'options.record', message: `the header gives no sample count: the .dat's size cannot confirm its ${header.signals.length} signal line(s); add the count (4th field of the record line) if the ECG looks wrong` }];
}

function alarmWarnings(opts: WfdbReplayOptions, { header, frames }: Checked): DriverWarning[] {
  if (opts.alarm === false) return []; // all three are about the alarm
  const lengthS = frames / header.sampleRateHz;
  const { alarmType } = alarmFromComments(header.comments);
  if (alarmType === null)
    return [
      {
        field: 'options.record',
        message: "the record's header names no alarm type (no comment such as #Asystole): the replay raises no alarm; set options.alarm: false if none is wanted",
      },
    ];
  if (opts.alarmAtS !== undefined && opts.alarmAtS > lengthS)
    return [{ field: 'options.alarmAtS', message: `${opts.alarmAtS} s is beyond the end of the record (${lengthS.toFixed(1)} s): the alarm is raised at its end` }];
  if (opts.alarmAtS === undefined && lengthS > PHYSIONET_2015_ONSET_S)
    return [
      {
        field: 'options.alarmAtS',
        message: `not set: the alarm is raised at the end of the record, ${lengthS.toFixed(1)} s; a PhysioNet 2015 full record has its alarm onset at ${PHYSIONET_2015_ONSET_S} s (its "l" records go on 30 s after it): set alarmAtS: ${PHYSIONET_2015_ONSET_S} to raise it there`,
      },
    ];
  return [];
}

export function loadRecord(opts: Pick<WfdbReplayOptions, 'record' | 'alarm'>): Loaded {
  const { header, dat, frames } = checkRecord(opts);
  const channels = decodeFormat16(header, readFileSync(dat));
  const { alarmType, trueAlarm } = alarmFromComments(header.comments);
  return { name: header.recordName, channels, alarmType, trueAlarm, frames, fs: header.sampleRateHz };
}

export class WfdbReplayDriver implements Driver {
  private rec: Loaded | null = null;
  private state: DriverHealth['state'] = 'starting';
  private detail = 'not started';
  private stopped = false;
  /** Played to its end: the device has no more to send (review rv86 L2). */
  private finished = false;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private lastDataAt: number | null = null;
  private refused = { total: 0, sinceLog: 0, lastLogAt: -Infinity, lastAt: null as number | null, last: '' };
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
    this.rec = loadRecord(this.opts); // throws with the file or header line at fault
    // Said at each start of the driver, not only by --check and the agent's start: a twin change restarts it alone.
    for (const w of recordWarnings(this.opts)) this.ctx.log.warn({ record: this.opts.record, field: w.field }, `${w.field}: ${w.message}`);
    this.state = 'running';
    this.detail = `playing ${this.rec.name} at ${this.speed}× (${(this.rec.frames / this.rec.fs).toFixed(1)} s)`;
    this.ctx.log.info({ record: this.rec.name, speed: this.speed, alarmType: this.rec.alarmType }, 'replaying WFDB record');
    // Refused emits are handled in send(); what lands here is a fault of the driver itself.
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
    const r = this.refused;
    // Degraded while refusals are recent, as the simulator does; with its device listed, the agent raises no driver
    // alarm for it (checkDriversThemselves): the store's own alarm says why.
    const degraded = this.state === 'running' && r.lastAt !== null && Date.now() - r.lastAt < REFUSED_LOG_EVERY_MS;
    // A finished replay stays 'running' (detail "finished …"): it did what it was asked, and the agent counts any
    // driver not running as degraded (rv95 M1). Its device is 'offline', beside the agent's "No data".
    const device =
      this.state === 'running'
        ? this.finished
          ? { state: 'offline', detail: 'finished' }
          : { state: 'online' }
        : this.state === 'starting'
          ? { state: 'connecting', detail: 'not started' }
          : this.state === 'failed'
            ? { state: 'error', detail: this.detail }
            : { state: 'offline', detail: this.finished ? 'finished' : 'stopped' };
    return {
      state: degraded ? 'degraded' : this.state,
      detail: degraded ? `${this.detail}; ${r.total} emits refused by the pipeline, last: ${r.last}` : this.detail,
      devices: { [this.deviceId]: { ...device, lastDataAt: this.lastDataAt } },
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
    // An alarmAtS beyond the record is raised at its end (warned: recordWarnings).
    const alarmAt = this.opts.alarm === false || rec.alarmType === null ? -1 : Math.min(frames, Math.round((this.opts.alarmAtS ?? frames / fs) * fs));
    const t0 = Date.now(); // device time of sample 0; wall time it "was measured"
    let i = 0;
    let alarmSent = false;
    while (!this.stopped) {
      // First, so that an alarm at 0 s comes before any sample; otherwise right after the chunk that ends at it.
      if (!alarmSent && alarmAt >= 0 && i >= alarmAt) {
        alarmSent = true;
        // Raised whether or not earlier segments were refused: the alarm is the point of the replay.
        if (await this.send([this.alarm(rec, t0 + (alarmAt * 1000) / fs)], 'alarm')) this.ctx.count('alarms_emitted');
      }
      if (i >= frames) break;
      // Chunks end at the alarm sample, so the alarm follows exactly the samples before it.
      const end = Math.min(frames, i + perSeg, alarmAt > i ? alarmAt : frames);
      // A monitor sends samples once it has measured them: at the end of the chunk, in replay time.
      await this.sleepUntil(t0 + (end * 1000) / fs / this.speed);
      if (this.stopped) break;
      const receivedAt = Date.now();
      await this.send(rec.channels.map((c) => this.segment(c, i, end, t0, receivedAt)), 'segment');
      this.lastDataAt = receivedAt;
      i = end; // a refused chunk is not sent again: the replay keeps its pace, as a monitor would
    }
    if (!this.stopped) {
      this.finished = true; // the state stays 'running': see health()
      this.detail = `finished ${rec.name}`;
      this.ctx.log.info({ record: rec.name, refusedEmits: this.refused.total }, 'WFDB replay finished; restart the driver to play it again');
    }
  }

  /**
   * Hands events to the pipeline. A refusal (the store full for a moment) is counted (emit_failures) and logged, and
   * playback goes on (review rv86 M1): one refused emit used to end the replay before its alarm.
   */
  private async send(events: DriverEvent[], what: 'segment' | 'alarm'): Promise<boolean> {
    try {
      await this.ctx.emit(events);
      return true;
    } catch (err) {
      this.ctx.count('emit_failures');
      const r = this.refused;
      const now = Date.now();
      r.total++;
      r.sinceLog++;
      r.lastAt = now;
      r.last = (err as Error).message;
      // The alarm's refusal is always logged (there is one); segments' at most once per period, with the count since.
      if (what === 'alarm' || now - r.lastLogAt >= REFUSED_LOG_EVERY_MS) {
        this.ctx.log.error(
          { err, deviceId: this.deviceId, record: this.opts.record, events: events.length, refusedSinceLastLog: r.sinceLog, refusedTotal: r.total },
          what === 'alarm' ? "the record's alarm was refused by the pipeline: not stored or forwarded" : 'replayed waveforms refused by the pipeline; they are lost, playback goes on',
        );
        r.lastLogAt = now;
        r.sinceLog = 0;
      }
      return false;
    }
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
