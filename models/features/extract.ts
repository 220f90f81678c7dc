// The feature vector of one alarm window: per-channel quality, rhythm, spectral and morphology
// features, cross-channel agreement, fused "does any signal support the alarm" features and the
// alarm-type one-hot. This is the only feature code: training (models/extract-features.ts) and the
// live agent (agent/inference) both call extractFeatures.
import { detectPulses, detectQrs, matchF1, rhythm, type RhythmStats } from './beats.js';
import { CRIT_KEYS, criteriaFeatures, ECG_SQI_KEYS, PULSE_SQI_KEYS, type PulseInput } from './criteria.js';
import { bandpass, mean, median, quantile, quantiles } from './dsp.js';
import { morphology } from './morphology.js';
import { quality } from './quality.js';
import { spectralAtEnd, vfScan } from './spectral.js';
import { ALARM_TYPES, type AlarmType, type Channel, type ChannelRole } from './types.js';

/** Version of the feature definitions; a model records the version it was trained on. */
export const FEATURE_VERSION = 'f3';
/** Analysis rate: channels at other rates are resampled linearly. */
export const FS = 250;
/** Window length analysed: the last 30 s before the alarm. */
export const WINDOW_S = 30;
/** Value given to a feature that cannot be computed (absent channel, too few beats). */
export const MISSING = -10;

const RHYTHM_KEYS = ['beats', 'hrMedian', 'hrMin4', 'hrMax4', 'hrMax16', 'maxGap', 'rrCv', 'rrIrregular'] as const;
const ECG_KEYS = [
  'flat', 'sat', 'invalid', 'flatAll', ...RHYTHM_KEYS.map((k) => `r16_${k}`), 'r8_maxGap', 'r8_beats', 'hrAll',
  'heightCv', 'rangeRatio', 'bandLow', 'bandVf', 'bandMid', 'bandHigh', 'peakHz', 'concentration', 'vfMax', 'concMax',
  'vfConcMax', 'corrMedian', 'lowCorrFrac', 'lowCorrRun', 'lowCorrRunHr', 'widthRatio', 'ampRatio', 'widthLate', 'busy', 'busyMax', 'support',
] as const;
const PULSE_KEYS = [
  'flat', 'sat', 'invalid', ...RHYTHM_KEYS.map((k) => `r16_${k}`), 'r8_maxGap', 'hrAll', 'ampRatio', 'ampMinRatio',
  'meanLate', 'meanRatio', 'ampEarly', 'ampLate', 'usable', 'support',
] as const;
const FUSED_KEYS = [
  'nBeatChannels', 'maxGap_min', 'maxGap_max', 'hrMin4_min', 'hrMin4_max', 'hrMax4_min', 'hrMax4_max', 'hrMax16_min',
  'hrMax16_max', 'hrMedian_min', 'hrMedian_max', 'hrMedian_spread', 'ecgMatch', 'vfConcMax_max', 'vfMax_min',
  'lowCorrRun_max', 'lowCorrRun_min', 'pulseAmpMin', 'support_frac', 'support_count', 'ecgPulseHrDiff',
] as const;

/** Feature names in vector order. */
export const FEATURE_NAMES: readonly string[] = [
  ...['ecg1', 'ecg2'].flatMap((p) => ECG_KEYS.map((k) => `${p}_${k}`)),
  ...['ppg', 'abp'].flatMap((p) => PULSE_KEYS.map((k) => `${p}_${k}`)),
  ...FUSED_KEYS.map((k) => `all_${k}`),
  ...['ecg1', 'ecg2'].flatMap((p) => ECG_SQI_KEYS.map((k) => `${p}_${k}`)),
  ...['ppg', 'abp'].flatMap((p) => PULSE_SQI_KEYS.map((k) => `${p}_${k}`)),
  ...CRIT_KEYS.map((k) => `x_${k}`),
  ...ALARM_TYPES.map((t) => `type_${t}`),
];

export function channelRole(name: string): ChannelRole {
  const n = name.trim().toUpperCase();
  if (/^(PLETH|PPG|SPO2|PLETH\d*)$/.test(n)) return 'ppg';
  if (/^(ABP|ART|AOP|IBP\d*|P\d|ART\d*)$/.test(n)) return 'abp';
  if (/^(RESP|IMP|CO2|RR)$/.test(n)) return 'resp';
  return 'ecg';
}

/** The last `seconds` of a channel at FS Hz (linear resampling when the rate differs). */
export function lastSecondsAtFs(ch: Channel, seconds: number): Float32Array {
  const x = ch.samples;
  const fs = ch.sampleRateHz;
  if (fs === FS) return x.subarray(Math.max(0, x.length - seconds * FS));
  const dur = Math.min(seconds, x.length / fs);
  const n = Math.floor(dur * FS);
  const out = new Float32Array(n);
  const start = x.length - dur * fs;
  for (let i = 0; i < n; i++) {
    const p = start + (i * fs) / FS;
    const a = Math.max(0, Math.floor(p));
    const b = Math.min(x.length - 1, a + 1);
    const f = p - a;
    out[i] = x[a]! * (1 - f) + x[b]! * f;
  }
  return out;
}

type Row = Record<string, number>;

function putRhythm(row: Row, prefix: string, r: RhythmStats): void {
  for (const k of RHYTHM_KEYS) row[`${prefix}_${k}`] = r[k];
}

/** Per-channel rate fallbacks: too few beats for a k-beat window means the rate is at most beats/span. */
function rhythmWithFallback(times: number[], from: number, end: number): RhythmStats {
  const r = rhythm(times, from, end);
  const slow = (60 * r.beats) / (end - from);
  return {
    ...r,
    hrMin4: Number.isFinite(r.hrMin4) ? r.hrMin4 : slow,
    hrMax4: Number.isFinite(r.hrMax4) ? r.hrMax4 : slow,
    hrMax16: Number.isFinite(r.hrMax16) ? r.hrMax16 : slow,
  };
}

/** Robust amplitude (5th–95th percentile range) of 2 s blocks in [from, to). */
function blockAmplitudes(y: Float64Array, from: number, to: number): number[] {
  const out: number[] = [];
  const blk = 2 * FS;
  for (let a = Math.max(0, Math.round(from * FS)); a + blk <= Math.min(y.length, Math.round(to * FS)); a += FS) {
    const seg = y.subarray(a, a + blk);
    const [p95, p05] = quantiles(seg, [0.95, 0.05]);
    out.push(p95! - p05!);
  }
  return out;
}

/**
 * Fraction of samples in [from, to) s whose magnitude exceeds 25 % of the span's 99th percentile: narrow
 * QRS complexes on a quiet baseline score low, wide ventricular complexes and fibrillation score high.
 */
function busyFraction(y: Float64Array, from: number, to: number): number {
  const seg = y.subarray(Math.max(0, Math.round(from * FS)), Math.min(y.length, Math.round(to * FS)));
  if (seg.length === 0) return Number.NaN;
  const abs = Array.from(seg, Math.abs);
  const thr = 0.25 * quantile(abs, 0.99);
  if (!(thr > 0)) return 0;
  return abs.filter((v) => v > thr).length / abs.length;
}

interface BeatChannel {
  kind: 'ecg' | 'pulse';
  times: number[];
  r16: RhythmStats;
  /** Whether the channel is trustworthy enough to count in the fused features. */
  usable: boolean;
  support: boolean;
  /** Pulse channels: the 0.5–8 Hz band-passed signal. */
  filtered?: Float64Array;
}

function ecgSupports(type: AlarmType, row: Row, p: string): boolean {
  switch (type) {
    case 'Asystole':
      return row[`${p}_r16_maxGap`]! >= 3.5;
    case 'Bradycardia':
      return row[`${p}_r16_hrMin4`]! < 45;
    case 'Tachycardia':
      return row[`${p}_r16_hrMax16`]! > 130;
    case 'Ventricular_Tachycardia':
      return row[`${p}_lowCorrRun`]! >= 4 && row[`${p}_lowCorrRunHr`]! > 90;
    case 'Ventricular_Flutter_Fib':
      return row[`${p}_vfConcMax`]! > 0.3;
  }
}

function pulseSupports(type: AlarmType, row: Row, p: string): boolean {
  switch (type) {
    case 'Asystole':
      return row[`${p}_r16_maxGap`]! >= 3.5;
    case 'Bradycardia':
      return row[`${p}_r16_hrMin4`]! < 45;
    case 'Tachycardia':
      return row[`${p}_r16_hrMax16`]! > 130;
    case 'Ventricular_Tachycardia':
    case 'Ventricular_Flutter_Fib':
      return row[`${p}_r16_maxGap`]! > 3 || row[`${p}_ampMinRatio`]! < 0.5;
  }
}

function ecgFeatures(row: Row, p: string, x: Float32Array, type: AlarmType, dur: number): BeatChannel {
  const q16 = quality(x, FS, dur - 16, dur);
  const qAll = quality(x, FS, 0, dur);
  row[`${p}_flat`] = q16.flatFrac;
  row[`${p}_sat`] = q16.satFrac;
  row[`${p}_invalid`] = q16.invalidFrac;
  row[`${p}_flatAll`] = qAll.flatFrac;
  const qrs = detectQrs(x, FS);
  const r16 = rhythmWithFallback(qrs.times, dur - 16, dur);
  putRhythm(row, `${p}_r16`, r16);
  const r8 = rhythm(qrs.times, dur - 8, dur);
  row[`${p}_r8_maxGap`] = r8.maxGap;
  row[`${p}_r8_beats`] = r8.beats;
  row[`${p}_hrAll`] = rhythm(qrs.times, 0, dur).hrMedian;
  const h = qrs.heights.filter((_, i) => qrs.times[i]! >= dur - 16);
  const hm = mean(h);
  row[`${p}_heightCv`] = h.length > 1 ? Math.sqrt(mean(h.map((v) => (v - hm) ** 2))) / hm : Number.NaN;
  const early = quality(x, FS, 0, dur - 12).range;
  row[`${p}_rangeRatio`] = early > 0 ? quality(x, FS, dur - 8, dur).range / early : Number.NaN;
  const wide = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) wide[i] = Number.isFinite(x[i]!) ? x[i]! : 0;
  const sp = spectralAtEnd(wide, FS, dur);
  row[`${p}_bandLow`] = sp.bandLow;
  row[`${p}_bandVf`] = sp.bandVf;
  row[`${p}_bandMid`] = sp.bandMid;
  row[`${p}_bandHigh`] = sp.bandHigh;
  row[`${p}_peakHz`] = sp.peakHz;
  row[`${p}_concentration`] = sp.concentration;
  const vf = vfScan(wide, FS, dur - 14, dur);
  row[`${p}_vfMax`] = vf.vfMax;
  row[`${p}_concMax`] = vf.concMax;
  row[`${p}_vfConcMax`] = vf.vfConcMax;
  const broad = bandpass(wide, FS, 1, 30);
  const m = morphology(broad, FS, qrs.times, dur - 12);
  row[`${p}_widthLate`] = m.widthLate;
  row[`${p}_busy`] = busyFraction(broad, dur - 4, dur);
  let busyMax = 0;
  for (let e = dur - 8; e <= dur; e += 1) busyMax = Math.max(busyMax, busyFraction(broad, e - 4, e));
  row[`${p}_busyMax`] = busyMax;
  row[`${p}_corrMedian`] = m.corrMedian;
  row[`${p}_lowCorrFrac`] = m.lowCorrFrac;
  row[`${p}_lowCorrRun`] = m.lowCorrRun;
  row[`${p}_lowCorrRunHr`] = m.lowCorrRunHr;
  row[`${p}_widthRatio`] = m.widthRatio;
  row[`${p}_ampRatio`] = m.ampRatio;
  const support = ecgSupports(type, row, p);
  row[`${p}_support`] = support ? 1 : 0;
  return { kind: 'ecg', times: qrs.times, r16, usable: q16.flatFrac < 0.5, support };
}

function pulseFeatures(row: Row, p: 'ppg' | 'abp', x: Float32Array, type: AlarmType, dur: number): BeatChannel {
  const q16 = quality(x, FS, dur - 16, dur);
  row[`${p}_flat`] = q16.flatFrac;
  row[`${p}_sat`] = q16.satFrac;
  row[`${p}_invalid`] = q16.invalidFrac;
  const pulses = detectPulses(x, FS);
  const r16 = rhythmWithFallback(pulses.times, dur - 16, dur);
  putRhythm(row, `${p}_r16`, r16);
  row[`${p}_r8_maxGap`] = rhythm(pulses.times, dur - 8, dur).maxGap;
  row[`${p}_hrAll`] = rhythm(pulses.times, 0, dur).hrMedian;
  const early = median(blockAmplitudes(pulses.filtered, 0, dur - 12));
  const late = blockAmplitudes(pulses.filtered, dur - 10, dur);
  row[`${p}_ampRatio`] = early > 0 ? median(late.slice(-4)) / early : Number.NaN;
  row[`${p}_ampMinRatio`] = early > 0 && late.length ? Math.min(...late) / early : Number.NaN;
  row[`${p}_ampEarly`] = early;
  row[`${p}_ampLate`] = median(late.slice(-4));
  // A pulse channel counts as evidence only if it carried a plausible pulse before the alarm: PLETH in
  // normalised units (the monitors in the corpus scale it to ~0.1–10), ABP pulse pressure in mmHg.
  const minAmp = p === 'ppg' ? 0.05 : 10;
  const hrAll = row[`${p}_hrAll`]!;
  const usable = q16.flatFrac < 0.5 && early > minAmp && hrAll > 20 && hrAll < 200;
  row[`${p}_usable`] = usable ? 1 : 0;
  // Mean level (mmHg for ABP): a perfusing rhythm keeps it; VT/VF without output lets it fall.
  const lvl = (a: number, b: number): number => mean(Array.from(x.subarray(Math.max(0, Math.round(a * FS)), Math.round(b * FS))).filter(Number.isFinite));
  const meanEarly = lvl(0, dur - 12);
  row[`${p}_meanLate`] = lvl(dur - 6, dur);
  row[`${p}_meanRatio`] = meanEarly !== 0 ? row[`${p}_meanLate`]! / meanEarly : Number.NaN;
  const support = pulseSupports(type, row, p);
  row[`${p}_support`] = support ? 1 : 0;
  return { kind: 'pulse', times: pulses.times, r16, usable, support, filtered: pulses.filtered };
}

function minMax(values: number[]): [number, number] {
  const v = values.filter(Number.isFinite);
  return v.length ? [Math.min(...v), Math.max(...v)] : [Number.NaN, Number.NaN];
}

/**
 * Limb leads in the order they take the ECG roles (ecg1, ecg2): lead II first, then I, III, aVR, aVL, aVF. Every other
 * ECG name (V, V1–V6, MCL, the generic "ECG" the live agent gives a chest lead of unstated position, a name not known)
 * ranks after them, all alike.
 */
const LIMB_LEADS = ['II', 'I', 'III', 'AVR', 'AVL', 'AVF'] as const;

/**
 * Canonical rank of a channel (lower first): ECG leads by LIMB_LEADS then chest/unspecified leads, then PLETH, ABP,
 * respiration. Channels of equal rank keep the order they are given in. The one definition of which leads the features
 * read as ecg1 / ecg2, so that a recorded window (header order, e.g. III,V or I,II) and its live replay (lead names as
 * the agent gives them, e.g. "ECG" for V and MCL) give the same roles (f3; f2 took the first two leads as given).
 */
export function channelRank(name: string): number {
  const role = channelRole(name);
  if (role === 'ecg') {
    const i = (LIMB_LEADS as readonly string[]).indexOf(name.trim().toUpperCase());
    return i >= 0 ? i : LIMB_LEADS.length;
  }
  return LIMB_LEADS.length + (role === 'ppg' ? 1 : role === 'abp' ? 2 : 3);
}

/** The channels in canonical order (channelRank; a stable sort: equal ranks keep their order). */
export function canonicalChannels<T extends { name: string }>(channels: readonly T[]): T[] {
  return channels
    .map((c, i) => ({ c, i, r: channelRank(c.name) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.c);
}

/**
 * The channels the features read: the first two ECG leads in canonical order (channelRank: II, I, III, aVR, aVL, aVF,
 * then the others in the order given), the first pleth and the first ABP (others are ignored). The order of the input
 * does not matter beyond that of leads of equal rank.
 */
export function featureChannels(channels: readonly Channel[]): { ecgs: Channel[]; ppg: Channel | undefined; abp: Channel | undefined } {
  const ordered = canonicalChannels(channels);
  return {
    ecgs: ordered.filter((c) => channelRole(c.name) === 'ecg').slice(0, 2),
    ppg: ordered.find((c) => channelRole(c.name) === 'ppg'),
    abp: ordered.find((c) => channelRole(c.name) === 'abp'),
  };
}

/**
 * Feature vector (FEATURE_NAMES order) of the window that ends at the alarm.
 * Uses the last 30 s of each channel; every channel ends at the alarm (a shorter one is read as missing its
 * beginning); NaN samples count as invalid. Pure and deterministic.
 */
export function extractFeatures(alarmType: AlarmType, channels: readonly Channel[]): Float32Array {
  const row: Row = {};
  const { ecgs, ppg, abp } = featureChannels(channels);
  const beatChannels: BeatChannel[] = [];
  const ecgTimes: number[][] = [];
  const windows = new Map<Channel, Float32Array>();
  let len = 0;
  for (const c of [...ecgs, ppg, abp]) {
    if (!c) continue;
    const w = lastSecondsAtFs(c, WINDOW_S);
    windows.set(c, w);
    len = Math.max(len, w.length);
  }
  // Every channel ends at the alarm: a shorter one (a probe attached later, a ring started afresh) is padded with
  // invalid samples at the front, so that its last seconds are read as the window's last seconds. Channels of equal
  // length (every corpus window) are left as they are.
  for (const [c, w] of windows) {
    if (w.length === len) continue;
    const padded = new Float32Array(len).fill(Number.NaN);
    padded.set(w, len - w.length);
    windows.set(c, padded);
  }
  const dur = len / FS;
  ecgs.forEach((c, i) => {
    const x = windows.get(c)!;
    const p = `ecg${i + 1}`;
    const b = ecgFeatures(row, p, x, alarmType, dur);
    beatChannels.push(b);
    ecgTimes.push(b.times.filter((t) => t >= dur - 16));
  });
  const pulseIn: Record<'ppg' | 'abp', PulseInput | undefined> = { ppg: undefined, abp: undefined };
  for (const [p, c] of [['ppg', ppg], ['abp', abp]] as const) {
    if (!c) continue;
    const b = pulseFeatures(row, p, windows.get(c)!, alarmType, dur);
    beatChannels.push(b);
    pulseIn[p] = { x: windows.get(c)!, filtered: b.filtered!, times: b.times, usable: b.usable };
  }
  criteriaFeatures(
    row,
    alarmType,
    ecgs.map((c, i) => ({ x: windows.get(c)!, qrs: beatChannels[i]!.times, flat: row[`ecg${i + 1}_flat`]! })),
    pulseIn,
    FS,
    dur,
  );

  // Fused features over channels that are not mostly flat.
  const usable = beatChannels.filter((b) => b.usable);
  const pick = (k: keyof RhythmStats): [number, number] => minMax(usable.map((b) => b.r16[k]));
  row.all_nBeatChannels = usable.length;
  [row.all_maxGap_min, row.all_maxGap_max] = pick('maxGap');
  [row.all_hrMin4_min, row.all_hrMin4_max] = pick('hrMin4');
  [row.all_hrMax4_min, row.all_hrMax4_max] = pick('hrMax4');
  [row.all_hrMax16_min, row.all_hrMax16_max] = pick('hrMax16');
  [row.all_hrMedian_min, row.all_hrMedian_max] = pick('hrMedian');
  row.all_hrMedian_spread = row.all_hrMedian_max - row.all_hrMedian_min;
  row.all_ecgMatch = ecgTimes.length === 2 ? matchF1(ecgTimes[0]!, ecgTimes[1]!, 0.15) : Number.NaN;
  const ecgRows = ['ecg1', 'ecg2'].slice(0, ecgs.length);
  row.all_vfConcMax_max = minMax(ecgRows.map((p) => row[`${p}_vfConcMax`]!))[1];
  row.all_vfMax_min = minMax(ecgRows.map((p) => row[`${p}_vfMax`]!))[0];
  [row.all_lowCorrRun_min, row.all_lowCorrRun_max] = minMax(ecgRows.map((p) => row[`${p}_lowCorrRun`]!));
  row.all_pulseAmpMin = minMax([ppg ? row.ppg_ampMinRatio! : Number.NaN, abp ? row.abp_ampMinRatio! : Number.NaN])[0];
  const supportCount = usable.filter((b) => b.support).length;
  row.all_support_count = supportCount;
  row.all_support_frac = usable.length ? supportCount / usable.length : Number.NaN;
  const ecgHr = ecgs.length ? row.ecg1_r16_hrMedian! : Number.NaN;
  const pulseHr = ppg ? row.ppg_r16_hrMedian! : abp ? row.abp_r16_hrMedian! : Number.NaN;
  row.all_ecgPulseHrDiff = Math.abs(ecgHr - pulseHr);
  for (const t of ALARM_TYPES) row[`type_${t}`] = t === alarmType ? 1 : 0;

  const out = new Float32Array(FEATURE_NAMES.length);
  FEATURE_NAMES.forEach((name, i) => {
    const v = row[name];
    // Clamp so every value stays finite in float32 (e.g. a ratio over a near-zero early amplitude).
    out[i] = v !== undefined && Number.isFinite(v) ? Math.max(-1e6, Math.min(1e6, v)) : MISSING;
  });
  return out;
}
