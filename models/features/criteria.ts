// Signal-quality indices, a second (low-band) QRS detector for wide complexes, pulse presence near the
// alarm, and the alarm type's own criterion checked on every channel and fused by channel quality
// (in the spirit of the PhysioNet/CinC 2015 entries: an asystole/bradycardia alarm is false when a
// good-quality ECG lead or pulsatile channel shows regular beats at a normal rate near the alarm).
// Pure functions of the windows and the beats found by beats.ts; deterministic.
import { finite, matchF1, pickPeaks, rhythm } from './beats.js';
import { bandpass, mean, median, movingAverage, powerSpectrum, quantile } from './dsp.js';
import type { AlarmType } from './types.js';

type Row = Record<string, number>;

export interface EcgInput {
  x: Float32Array;
  /** Beats of the 5–18 Hz energy detector. */
  qrs: number[];
  /** Fraction of flat 0.5 s blocks in the last 16 s. */
  flat: number;
}

export interface PulseInput {
  x: Float32Array;
  /** The 0.5–8 Hz band-passed pulse signal. */
  filtered: Float64Array;
  times: number[];
  /** The channel carried a plausible pulse earlier in the window. */
  usable: boolean;
}

/**
 * Low-band detector for wide / low-frequency complexes: 1–10 Hz band, squared slope integrated over
 * 200 ms, 300 ms refractory. A narrow QRS and a wide ventricular complex both give one peak.
 */
export function detectWide(x: Float32Array, fs: number): { times: number[]; broad: Float64Array } {
  const y = bandpass(finite(x), fs, 1, 10);
  const n = y.length;
  const d = new Float64Array(n);
  for (let i = 1; i < n; i++) d[i] = (y[i]! - y[i - 1]!) ** 2;
  const e = movingAverage(d, Math.round(0.2 * fs));
  const peaks = pickPeaks(e, fs, 0.3, 0.3);
  const w = Math.round(0.1 * fs);
  const times: number[] = [];
  const amps: number[] = [];
  for (const t of peaks.times) {
    const c = Math.round(t * fs);
    let lo = Infinity;
    let hi = -Infinity;
    let best = c;
    for (let i = Math.max(0, c - w); i <= Math.min(n - 1, c + w); i++) {
      lo = Math.min(lo, y[i]!);
      hi = Math.max(hi, y[i]!);
      if (Math.abs(y[i]!) > Math.abs(y[best]!)) best = i;
    }
    times.push(best / fs);
    amps.push(hi - lo);
  }
  const typical = amps.length ? quantile(amps, 0.75) : 0;
  const keep = amps.map((a) => a >= 0.3 * typical && a >= 0.05);
  return { times: times.filter((_, i) => keep[i]), broad: y };
}

/** F1 agreement of two beat lists within `tol` s, over beats in [from, to]. */
export function agreement(a0: number[], b0: number[], from: number, to: number, tol = 0.15): number {
  return matchF1(
    a0.filter((t) => t >= from && t <= to),
    b0.filter((t) => t >= from && t <= to),
    tol,
  );
}

/** Excess kurtosis of x[a, b): a clean ECG is peaky (large), noise and fibrillation are not. */
function kurtosis(y: Float64Array, a: number, b: number): number {
  const seg = y.subarray(Math.max(0, a), Math.min(y.length, b));
  if (seg.length < 10) return Number.NaN;
  const m = mean(seg);
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < seg.length; i++) {
    const d = seg[i]! - m;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= seg.length;
  m4 /= seg.length;
  return m2 > 0 ? m4 / (m2 * m2) - 3 : Number.NaN;
}

/** Power shares of the last ~8 s: QRS band 5–15 Hz over 5–40 Hz (pSQI), and 1–40 Hz over 0–40 Hz (basSQI). */
function spectralSqi(y: Float64Array, fs: number): { pSqi: number; basSqi: number } {
  const N = 2048;
  const seg = new Float64Array(N);
  const a = Math.max(0, y.length - N);
  seg.set(y.subarray(a));
  const p = powerSpectrum(seg);
  const df = fs / N;
  let qrs = 0;
  let wide = 0;
  let all = 0;
  let above1 = 0;
  for (let k = 1; k < p.length; k++) {
    const f = k * df;
    if (f > 40) break;
    const v = p[k]!;
    all += v;
    if (f >= 1) above1 += v;
    if (f >= 5) {
      wide += v;
      if (f <= 15) qrs += v;
    }
  }
  return { pSqi: wide > 0 ? qrs / wide : Number.NaN, basSqi: all > 0 ? above1 / all : Number.NaN };
}

/** Power of y[a, a+1024) in 0–1 Hz and 1–40 Hz and the 5–15 / 5–40 Hz share. */
function bandPowers(y: Float64Array, fs: number, a: number): { lf: number; hf: number; pSqi: number } {
  const N = 1024;
  const seg = new Float64Array(N);
  seg.set(y.subarray(Math.max(0, a), Math.max(0, Math.min(y.length, a + N))));
  const p = powerSpectrum(seg);
  const df = fs / N;
  let lf = 0;
  let hf = 0;
  let qrs = 0;
  let wide = 0;
  for (let k = 1; k < p.length; k++) {
    const f = k * df;
    if (f > 40) break;
    const v = p[k]!;
    if (f < 1) lf += v;
    else hf += v;
    if (f >= 5) {
      wide += v;
      if (f <= 15) qrs += v;
    }
  }
  return { lf, hf, pSqi: wide > 0 ? qrs / wide : Number.NaN };
}

/** basSQI over 4 s windows: lowest and highest in the last 12 s, median before that, and late/early power ratios. */
function baselineScan(y: Float64Array, fs: number, dur: number) {
  const lateW: { bas: number; lf: number; hf: number; p: number }[] = [];
  const earlyW: { bas: number; lf: number; hf: number }[] = [];
  const step = Math.round(2 * fs);
  for (let a = 0; a + 1024 <= y.length; a += step) {
    const b = bandPowers(y, fs, a);
    const bas = b.lf + b.hf > 0 ? b.hf / (b.lf + b.hf) : Number.NaN;
    if (a >= Math.round((dur - 12) * fs)) lateW.push({ bas, lf: b.lf, hf: b.hf, p: b.pSqi });
    else if (a + 1024 <= Math.round((dur - 12) * fs)) earlyW.push({ bas, lf: b.lf, hf: b.hf });
  }
  const fin = (v: number[]): number[] => v.filter(Number.isFinite);
  const lb = fin(lateW.map((w) => w.bas));
  const lp = fin(lateW.map((w) => w.p));
  const eLf = median(earlyW.map((w) => w.lf));
  const eHf = median(earlyW.map((w) => w.hf));
  const lLf = lateW.length ? Math.max(...lateW.map((w) => w.lf)) : Number.NaN;
  const lHf = lateW.length ? Math.max(...lateW.map((w) => w.hf)) : Number.NaN;
  return {
    basMin: lb.length ? Math.min(...lb) : Number.NaN,
    basMax: lb.length ? Math.max(...lb) : Number.NaN,
    basEarly: median(fin(earlyW.map((w) => w.bas))),
    pSqiMin: lp.length ? Math.min(...lp) : Number.NaN,
    lfRatio: eLf > 0 && lLf > 0 ? Math.log10(lLf / eLf) : Number.NaN,
    hfRatio: eHf > 0 && lHf > 0 ? Math.log10(lHf / eHf) : Number.NaN,
  };
}

/** QRS width (s) on the 1–10 Hz band: span around the beat where |y| stays above 40 % of its peak. */
function beatWidth(y: Float64Array, fs: number, t: number): number {
  const c = Math.round(t * fs);
  const peak = Math.abs(y[c] ?? 0);
  if (!(peak > 0)) return 0;
  const lim = Math.round(0.25 * fs);
  let a = c;
  let b = c;
  while (a > Math.max(0, c - lim) && Math.abs(y[a - 1]!) > 0.4 * peak) a--;
  while (b < Math.min(y.length - 1, c + lim) && Math.abs(y[b + 1]!) > 0.4 * peak) b++;
  return (b - a) / fs;
}

interface WideRun {
  /** Longest run of consecutive wide (≥ 100 ms at 40 % on 1–10 Hz, wider than the early median by 40 %) beats with RR < 0.6 s. */
  run: number;
  /** Fraction of late beats that are wide. */
  frac: number;
  /** Median width of late beats over that of early beats. */
  ratio: number;
}

function wideRuns(broad: Float64Array, fs: number, times: number[], split: number, from: number, end: number): WideRun {
  const early = times.filter((t) => t < split).map((t) => beatWidth(broad, fs, t));
  const ref = early.length >= 3 ? median(early) : Number.NaN;
  const late = times.filter((t) => t >= from && t <= end);
  if (late.length === 0) return { run: 0, frac: Number.NaN, ratio: Number.NaN };
  const widths = late.map((t) => beatWidth(broad, fs, t));
  const isWide = widths.map((w) => w >= 0.1 && (!Number.isFinite(ref) || w > 1.4 * ref));
  let run = 0;
  let best = 0;
  for (let i = 0; i < late.length; i++) {
    const fast = i > 0 && late[i]! - late[i - 1]! < 0.6;
    if (isWide[i] && (run === 0 || fast)) run++;
    else run = isWide[i] ? 1 : 0;
    best = Math.max(best, run);
  }
  const lw = median(widths);
  return { run: best, frac: isWide.filter(Boolean).length / late.length, ratio: Number.isFinite(ref) && ref > 0 ? lw / ref : Number.NaN };
}

/** Rhythm of the beats in [from, end]: beats, longest gap, min/max rate over 4 RR, median rate, RR CV. */
function late(times: number[], from: number, end: number) {
  const r = rhythm(times, from, end);
  const slow = (60 * r.beats) / (end - from);
  return {
    beats: r.beats,
    maxGap: r.maxGap,
    hrMin4: Number.isFinite(r.hrMin4) ? r.hrMin4 : slow,
    hrMax4: Number.isFinite(r.hrMax4) ? r.hrMax4 : slow,
    hrMax16: Number.isFinite(r.hrMax16) ? r.hrMax16 : slow,
    hrMedian: r.hrMedian,
    rrCv: r.rrCv,
  };
}

export const ECG_SQI_KEYS = [
  'kurt', 'pSqi', 'basSqi', 'bSqi', 'q', 'lb_beats10', 'lb_maxGap10', 'lb_hrMin4', 'lb_hrMax4', 'lb_hrMax16', 'lb_rrCv',
  'wideRun', 'wideFrac', 'wideRatio', 'crit', 'margin', 'basMin', 'basMax', 'basEarly', 'pSqiMin', 'lfRatio', 'hfRatio',
] as const;
export const PULSE_SQI_KEYS = [
  'beats10', 'maxGap10', 'hr10', 'rrCv10', 'q', 'ecgAgree', 'crit', 'margin', 'hrChange', 'rrCvEarly', 'beatAmpMin', 'beatAmpCv', 'ecgHrDiff',
] as const;
export const CRIT_KEYS = [
  'ecgGapMin', 'ecgGapMax', 'pulseGapMin', 'pulseOk', 'pulseOkQ', 'critBestQ', 'critQw', 'againstQ', 'forQ',
  'marginBest', 'marginMin', 'marginMax', 'marginQw', 'wideRunMax', 'wideRunMin', 'bSqiMin', 'bSqiMax', 'critCount',
  'basSqiMin', 'basSqiMax', 'ecgAgree10', 'lbAgree10',
] as const;

/**
 * Margin of the alarm criterion on one channel's beats (positive: the channel supports the alarm), scaled
 * so one unit is roughly a clear decision: asystole gap > 3 s, bradycardia < 45 bpm over 4 RR, tachycardia
 * > 130 bpm over 16 RR, VT (ECG) wide-beat run and rate over 4 RR above 100 bpm, VF (ECG) gap and RR
 * irregularity; on a pulse channel VT/VF count a pulse gap > 2 s.
 */
function margin(type: AlarmType, r: ReturnType<typeof late>, wideRun: number, isPulse: boolean): number {
  switch (type) {
    case 'Asystole':
      return (r.maxGap - 3) / 2;
    case 'Bradycardia':
      return (45 - r.hrMin4) / 10;
    case 'Tachycardia':
      return (r.hrMax16 - 130) / 20;
    case 'Ventricular_Tachycardia':
      return isPulse ? (r.maxGap - 2) / 2 : (wideRun - 3) / 2 + (r.hrMax4 - 100) / 40;
    case 'Ventricular_Flutter_Fib':
      return isPulse ? (r.maxGap - 2) / 2 : (r.maxGap - 2) / 2 + (Number.isFinite(r.rrCv) ? r.rrCv : 1);
  }
}

export function criteriaFeatures(row: Row, type: AlarmType, ecgs: EcgInput[], pulses: Record<'ppg' | 'abp', PulseInput | undefined>, fs: number, dur: number): void {
  const qs: number[] = [];
  const crits: number[] = [];
  const margins: number[] = [];
  const ecgGaps: number[] = [];
  const wide: number[] = [];
  const bsqi: number[] = [];
  const ecgBeats: number[][] = [];
  const lb10: number[][] = [];
  const fin = (v: number[]): number[] => v.filter(Number.isFinite);
  const mx = (v: number[]): number => (fin(v).length ? Math.max(...fin(v)) : Number.NaN);
  const mn = (v: number[]): number => (fin(v).length ? Math.min(...fin(v)) : Number.NaN);
  const basAll: number[] = [];
  ecgs.forEach((e, i) => {
    const p = `ecg${i + 1}`;
    const w = detectWide(e.x, fs);
    lb10.push(w.times);
    const sb = Math.round((dur - 16) * fs);
    const k = kurtosis(w.broad, sb, Math.round(dur * fs));
    const broad = bandpass(finite(e.x), fs, 0, 45);
    const s = spectralSqi(broad, fs);
    const b = agreement(e.qrs, w.times, dur - 16, dur);
    row[`${p}_kurt`] = k;
    row[`${p}_pSqi`] = s.pSqi;
    row[`${p}_basSqi`] = s.basSqi;
    const bs = baselineScan(broad, fs, dur);
    row[`${p}_basMin`] = bs.basMin;
    row[`${p}_basMax`] = bs.basMax;
    row[`${p}_basEarly`] = bs.basEarly;
    row[`${p}_pSqiMin`] = bs.pSqiMin;
    row[`${p}_lfRatio`] = bs.lfRatio;
    row[`${p}_hfRatio`] = bs.hfRatio;
    basAll.push(s.basSqi);
    row[`${p}_bSqi`] = b;
    const r = late(w.times, dur - 10, dur);
    const r16 = late(w.times, dur - 16, dur);
    row[`${p}_lb_beats10`] = r.beats;
    row[`${p}_lb_maxGap10`] = r.maxGap;
    row[`${p}_lb_hrMin4`] = r16.hrMin4;
    row[`${p}_lb_hrMax4`] = r16.hrMax4;
    row[`${p}_lb_hrMax16`] = r16.hrMax16;
    row[`${p}_lb_rrCv`] = r.rrCv;
    const wr = wideRuns(w.broad, fs, w.times, dur - 12, dur - 12, dur);
    row[`${p}_wideRun`] = wr.run;
    row[`${p}_wideFrac`] = wr.frac;
    row[`${p}_wideRatio`] = wr.ratio;
    // Quality in 0..1: detector agreement, not flat, peaky, QRS-band power share.
    const q = b * (1 - e.flat) * Math.min(1, Math.max(0, (Number.isFinite(k) ? k : 0) / 5)) ** 0.5 * Math.min(1, (s.pSqi || 0) / 0.5);
    row[`${p}_q`] = q;
    // Criterion on the union evidence of both detectors: for gaps use the detector with fewer misses.
    const rq = late(e.qrs, dur - 16, dur);
    const gap = Math.min(rq.maxGap, r16.maxGap);
    const m = margin(type, type === 'Asystole' ? { ...r16, maxGap: gap } : r16, wr.run, false);
    row[`${p}_margin`] = m;
    row[`${p}_crit`] = m > 0 ? 1 : 0;
    qs.push(q);
    margins.push(m);
    crits.push(m > 0 ? 1 : 0);
    ecgGaps.push(gap);
    wide.push(wr.run);
    bsqi.push(b);
    ecgBeats.push(b >= 0.8 ? e.qrs : w.times);
  });
  const ecgHr10 = ecgs.map((e) => late(e.qrs, dur - 10, dur).hrMedian).filter((v) => v > 0);
  row.x_ecgAgree10 = ecgs.length === 2 ? agreement(ecgs[0]!.qrs, ecgs[1]!.qrs, dur - 10, dur) : Number.NaN;
  row.x_lbAgree10 = lb10.length === 2 ? agreement(lb10[0]!, lb10[1]!, dur - 10, dur) : Number.NaN;
  let bestEcg = 0;
  for (let i = 1; i < ecgBeats.length; i++) if (qs[i]! > qs[bestEcg]!) bestEcg = i;
  const pulseGaps: number[] = [];
  let pulseOk = 0;
  let pulseOkQ = 0;
  for (const p of ['ppg', 'abp'] as const) {
    const c = pulses[p];
    if (!c) continue;
    const r = late(c.times, dur - 10, dur);
    const r16 = late(c.times, dur - 16, dur);
    row[`${p}_beats10`] = r.beats;
    row[`${p}_maxGap10`] = r.maxGap;
    row[`${p}_hr10`] = r.hrMedian;
    row[`${p}_rrCv10`] = r.rrCv;
    // Pulse agreement with the better ECG lead: share of ECG beats followed by a pulse within 0.1–0.8 s.
    const best = ecgBeats[bestEcg] ?? [];
    const eb = best.filter((t) => t >= dur - 16 && t <= dur - 0.8);
    let hit = 0;
    for (const t of eb) if (c.times.some((u) => u > t + 0.1 && u < t + 0.8)) hit++;
    row[`${p}_ecgAgree`] = eb.length ? hit / eb.length : Number.NaN;
    const rEarly = late(c.times, 0, dur - 12);
    row[`${p}_hrChange`] = rEarly.hrMedian > 0 && r.hrMedian > 0 ? r.hrMedian / rEarly.hrMedian : Number.NaN;
    row[`${p}_rrCvEarly`] = rEarly.rrCv;
    // Per-pulse amplitude (trough-to-peak of the filtered signal within 0.35 s before the upstroke peak).
    const amp = (t: number): number => {
      const a = Math.max(0, Math.round((t - 0.35) * fs));
      const b = Math.min(c.filtered.length, Math.round((t + 0.15) * fs));
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = a; i < b; i++) {
        lo = Math.min(lo, c.filtered[i]!);
        hi = Math.max(hi, c.filtered[i]!);
      }
      return hi > lo ? hi - lo : 0;
    };
    const ea = c.times.filter((t) => t < dur - 12).map(amp);
    const la = c.times.filter((t) => t >= dur - 10).map(amp);
    const eMed = ea.length >= 3 ? median(ea) : Number.NaN;
    let minRun = Number.NaN;
    for (let i = 0; i + 3 <= la.length; i++) {
      const v = (la[i]! + la[i + 1]! + la[i + 2]!) / 3 / eMed;
      if (!(v >= minRun)) minRun = Number.isFinite(minRun) ? Math.min(minRun, v) : v;
    }
    row[`${p}_beatAmpMin`] = minRun;
    const lm = mean(la);
    row[`${p}_beatAmpCv`] = la.length > 2 && lm > 0 ? Math.sqrt(mean(la.map((v) => (v - lm) ** 2))) / lm : Number.NaN;
    row[`${p}_ecgHrDiff`] = ecgHr10.length ? Math.max(...ecgHr10) - r.hrMedian : Number.NaN;
    const regular = Number.isFinite(r.rrCv) ? Math.max(0, 1 - 2 * r.rrCv) : 0;
    const q = c.usable ? regular * Math.min(1, r.beats / 5) : 0;
    row[`${p}_q`] = q;
    const m = margin(type, r16, 0, true);
    row[`${p}_margin`] = m;
    row[`${p}_crit`] = m > 0 ? 1 : 0;
    if (c.usable) {
      qs.push(q);
      margins.push(m);
      crits.push(m > 0 ? 1 : 0);
      pulseGaps.push(r.maxGap);
      const ok = r.beats >= 4 && r.maxGap < 2.5 && r.hrMedian > 35 && r.hrMedian < 180 && regular > 0.5 ? 1 : 0;
      pulseOk = Math.max(pulseOk, ok);
      pulseOkQ = Math.max(pulseOkQ, ok * q);
    }
  }
  row.x_ecgGapMin = mn(ecgGaps);
  row.x_ecgGapMax = mx(ecgGaps);
  row.x_pulseGapMin = mn(pulseGaps);
  row.x_pulseOk = pulseOk;
  row.x_pulseOkQ = pulseOkQ;
  let bi = -1;
  qs.forEach((q, i) => {
    if (bi < 0 || q > qs[bi]!) bi = i;
  });
  row.x_critBestQ = bi >= 0 ? crits[bi]! : Number.NaN;
  row.x_marginBest = bi >= 0 ? margins[bi]! : Number.NaN;
  const sq = qs.reduce((s, q) => s + q, 0);
  row.x_critQw = sq > 0 ? qs.reduce((s, q, i) => s + q * crits[i]!, 0) / sq : Number.NaN;
  row.x_marginQw = sq > 0 ? qs.reduce((s, q, i) => s + q * Math.max(-3, Math.min(3, margins[i]!)), 0) / sq : Number.NaN;
  row.x_againstQ = mx(qs.map((q, i) => (crits[i] ? 0 : q)));
  row.x_forQ = mx(qs.map((q, i) => (crits[i] ? q : 0)));
  row.x_marginMin = mn(margins);
  row.x_marginMax = mx(margins);
  row.x_wideRunMax = mx(wide);
  row.x_wideRunMin = mn(wide);
  row.x_bSqiMin = mn(bsqi);
  row.x_bSqiMax = mx(bsqi);
  row.x_basSqiMin = mn(basAll);
  row.x_basSqiMax = mx(basAll);
  row.x_critCount = crits.reduce((s, c) => s + c, 0);
}
