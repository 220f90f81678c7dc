// Minimal WFDB reader: a `.hea` header (single-segment records) and format-16 signal files
// (little-endian int16, interleaved frame by frame, one sample per signal per frame, no skew, optional byte offset
// as in "16+24").
// Pure: text/bytes in, typed record out; errors say which line and field is wrong.
import type { Channel } from './types.js';

export class WfdbError extends Error {
  constructor(
    message: string,
    readonly where: string,
  ) {
    super(`${where}: ${message}`);
    this.name = 'WfdbError';
  }
}

export interface WfdbSignalSpec {
  fileName: string;
  format: number;
  /** Byte offset of the first sample in the file ("16+24" → 24). */
  byteOffset: number;
  /** ADC units per physical unit. */
  gain: number;
  baseline: number;
  units: string;
  adcZero: number;
  description: string;
}

export interface WfdbHeader {
  recordName: string;
  sampleRateHz: number;
  /** Samples per signal; null when the header leaves it out. */
  samplesPerSignal: number | null;
  signals: WfdbSignalSpec[];
  /** Comment lines without the leading '#', trimmed. */
  comments: string[];
}

/** A decoded signal, with its physical units as the header gives them (mV, uV, mmHg, NU…). */
export interface WfdbChannel extends Channel {
  units: string;
}

/** WFDB uses this value in format 16 to mark an invalid sample. */
export const WFDB_INVALID_16 = -32768;
const DEFAULT_GAIN = 200;

function num(text: string | undefined, where: string, field: string): number {
  const v = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(v)) throw new WfdbError(`${field} is not a number: ${JSON.stringify(text)}`, where);
  return v;
}

export function parseHeader(text: string): WfdbHeader {
  const lines = text.split(/\r?\n/);
  const comments: string[] = [];
  const body: { line: string; no: number }[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#')) comments.push(line.slice(1).trim());
    else if (line !== '') body.push({ line: line.replace(/#.*$/, '').trim(), no: i + 1 });
  });
  const first = body[0];
  if (!first) throw new WfdbError('no record line', 'header');
  const rec = first.line.split(/\s+/);
  const where0 = `header line ${first.no}`;
  const recordName = rec[0] ?? '';
  if (recordName.includes('/')) throw new WfdbError('multi-segment records are not supported', where0);
  const nsig = num(rec[1], where0, 'number of signals');
  if (!Number.isInteger(nsig) || nsig < 1 || nsig > 64) throw new WfdbError(`bad number of signals ${nsig}`, where0);
  // "250/1000(0)" = sampling frequency / counter frequency (base counter): only the first part matters.
  const sampleRateHz = rec[2] === undefined ? 250 : num(rec[2].split('/')[0], where0, 'sampling frequency');
  if (sampleRateHz <= 0) throw new WfdbError('sampling frequency must be positive', where0);
  const samplesPerSignal = rec[3] === undefined ? null : num(rec[3], where0, 'samples per signal');
  if (samplesPerSignal !== null && samplesPerSignal < 0) throw new WfdbError(`samples per signal ${samplesPerSignal} is negative`, where0);
  if (samplesPerSignal !== null && !Number.isInteger(samplesPerSignal)) throw new WfdbError(`samples per signal ${samplesPerSignal} is not a whole number`, where0);
  const signals: WfdbSignalSpec[] = [];
  for (let s = 0; s < nsig; s++) {
    const entry = body[s + 1];
    if (!entry) throw new WfdbError(`expected ${nsig} signal lines, found ${s}`, 'header');
    const where = `header line ${entry.no} (signal ${s})`;
    const f = entry.line.split(/\s+/);
    const fmt = f[1] ?? '';
    const m = /^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$/.exec(fmt);
    if (!m) throw new WfdbError(`bad format field ${JSON.stringify(fmt)}`, where);
    const format = Number(m[1]);
    const byteOffset = m[4] === undefined ? 0 : Number(m[4]);
    // The decoder reads one sample per signal per frame, all signals aligned: anything else would decode as
    // plausible-looking nonsense, so it is refused.
    const name = JSON.stringify(f.slice(8).join(' ') || `signal ${s}`);
    if (m[2] !== undefined && Number(m[2]) !== 1)
      throw new WfdbError(`signal ${name} has ${m[2]} samples per frame; only 1 is supported`, where);
    if (m[3] !== undefined && Number(m[3]) !== 0) throw new WfdbError(`signal ${name} has skew ${m[3]}; only 0 is supported`, where);
    // gain field: "7247/mV", "1.052e+04(0)/mV", "200", or absent.
    let gain = DEFAULT_GAIN;
    let baseline: number | null = null;
    let units = 'mV';
    const g = f[2];
    if (g !== undefined) {
      const gm = /^([^(/]+)(?:\(([^)]*)\))?(?:\/(.*))?$/.exec(g);
      if (!gm) throw new WfdbError(`bad gain field ${JSON.stringify(g)}`, where);
      gain = num(gm[1], where, 'gain');
      // WFDB: a gain of 0 means uncalibrated. Scaling by the default 200 would pass raw ADC steps off as physical
      // values (mV to the edge model and the display), so it is refused; a missing gain is WFDB's default.
      if (gain === 0) throw new WfdbError(`signal ${name} has gain 0, which WFDB reads as uncalibrated: its samples have no scale to ${gm[3] || 'mV'}`, where);
      if (gm[2] !== undefined) baseline = num(gm[2], where, 'baseline');
      if (gm[3] !== undefined && gm[3] !== '') units = gm[3];
    }
    const adcZero = f[4] === undefined ? 0 : num(f[4], where, 'ADC zero');
    signals.push({
      fileName: f[0] ?? '',
      format,
      byteOffset,
      gain,
      baseline: baseline ?? adcZero,
      units,
      adcZero,
      description: f.slice(8).join(' '),
    });
  }
  // A line beyond the announced signals means the record line's count is wrong: the file would be decoded as frames
  // of the wrong width, plausible-looking nonsense (review rv193 M1).
  const extra = body[nsig + 1];
  if (extra)
    throw new WfdbError(
      `the record line announces ${nsig} signal${nsig === 1 ? '' : 's'}, but this line follows their ${nsig} signal line${nsig === 1 ? '' : 's'}: ${JSON.stringify(extra.line)}`,
      `header line ${extra.no}`,
    );
  return { recordName, sampleRateHz, samplesPerSignal, signals, comments };
}

/**
 * Why a signal file of `size` bytes does not hold what the header says, or null when it does: exactly the header's
 * samples (format 16: 2 bytes per sample, every signal in each frame), or, without a sample count, whole frames. A
 * file longer or shorter, or ending mid-frame, is not this header's (or is damaged): read anyway it would be played
 * or learnt as frames of the wrong width (review rv193 M1). Format-16, single-file records only (decodeFormat16's).
 */
function sizeMismatch(header: WfdbHeader, size: number): string | null {
  const first = header.signals[0];
  if (!first) return null;
  const nsig = header.signals.length;
  const frameBytes = 2 * nsig;
  const signals = `${nsig} signal${nsig === 1 ? '' : 's'}`;
  const n = header.samplesPerSignal;
  // WFDB reads a sample count of 0 as "not given".
  if (n !== null && n > 0) {
    const need = first.byteOffset + n * frameBytes;
    if (size === need) return null;
    const from = first.byteOffset > 0 ? ` from byte ${first.byteOffset} (${need} in all)` : '';
    return `the header says ${n} samples of ${signals}, ${n * frameBytes} bytes in format 16${from}; the file holds ${size} bytes`;
  }
  const usable = size - first.byteOffset;
  if (usable < 0) return `the file holds ${size} bytes, less than its byte offset ${first.byteOffset}`;
  const left = usable % frameBytes;
  if (left === 0) return null;
  return `the header gives no sample count, and the file holds ${usable} bytes of samples, not a whole number of ${frameBytes}-byte frames (${signals} in format 16): ${left} bytes left over`;
}

/**
 * Decodes the signal bytes of a record whose signals all share one format-16 file, refusing a file of another size
 * than the header says (sizeMismatch).
 * Returns physical values in the header's units (kept on each channel); WFDB's invalid marker becomes NaN.
 */
export function decodeFormat16(header: WfdbHeader, bytes: Uint8Array): WfdbChannel[] {
  const specs = header.signals;
  const first = specs[0];
  if (!first) throw new WfdbError('record has no signals', 'header');
  for (const [i, s] of specs.entries()) {
    if (s.format !== 16) throw new WfdbError(`format ${s.format} is not supported (only 16)`, `signal ${i}`);
    if (s.fileName !== first.fileName || s.byteOffset !== first.byteOffset)
      throw new WfdbError('all signals must share one file', `signal ${i}`);
  }
  const nsig = specs.length;
  const mismatch = sizeMismatch(header, bytes.length);
  if (mismatch) throw new WfdbError(mismatch, `data (${first.fileName})`);
  const frameBytes = 2 * nsig;
  const frames = (bytes.length - first.byteOffset) / frameBytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset + first.byteOffset, frames * frameBytes);
  return specs.map((s, c) => {
    const out = new Float32Array(frames);
    for (let i = 0; i < frames; i++) {
      const v = view.getInt16((i * nsig + c) * 2, true);
      out[i] = v === WFDB_INVALID_16 ? Number.NaN : (v - s.baseline) / s.gain;
    }
    return { name: s.description || `sig${c}`, sampleRateHz: header.sampleRateHz, samples: out, units: s.units };
  });
}

/** Alarm type and label from PhysioNet 2015 header comments ("#Asystole", "#True alarm"). */
export function alarmFromComments(comments: string[]): { alarmType: string | null; trueAlarm: boolean | null } {
  let alarmType: string | null = null;
  let trueAlarm: boolean | null = null;
  for (const c of comments) {
    if (/^true alarm$/i.test(c)) trueAlarm = true;
    else if (/^false alarm$/i.test(c)) trueAlarm = false;
    else if (alarmType === null && /^[A-Za-z_]+$/.test(c)) alarmType = c;
  }
  return { alarmType, trueAlarm };
}
