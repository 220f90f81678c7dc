// Beat detection: an energy-based QRS detector for ECG leads (band-pass 5–18 Hz, derivative, squaring,
// 150 ms integration, in the spirit of Pan–Tompkins) and a slope-sum pulse detector for PPG/ABP.
// Both pick peaks of a detection function above a fraction of its typical per-second maximum, so a
// flat or near-flat stretch yields no beats rather than amplified noise.
import { bandpass, median, movingAverage, quantile } from './dsp.js';

export interface Beats {
  /** Beat times in seconds from the window start, ascending. */
  times: number[];
  /** Detection-function height of each beat (relative units). */
  heights: number[];
}

/**
 * Local maxima of `e` above `rel` × (median of per-second maxima), at least `refractory` s apart
 * (of two close candidates the higher wins).
 */
export function pickPeaks(e: Float64Array, fs: number, refractory: number, rel: number): Beats {
  const n = e.length;
  const sec = Math.max(1, Math.round(fs));
  const maxima: number[] = [];
  for (let a = 0; a + sec <= n; a += sec) {
    let m = 0;
    for (let i = a; i < a + sec; i++) if (e[i]! > m) m = e[i]!;
    maxima.push(m);
  }
  // Typical beat height: the median per-second maximum, unless beats fill only part of the window
  // (asystole, pauses): then half the 90th percentile, so a quiet stretch is not amplified into beats.
  const level = maxima.length > 0 ? Math.max(median(maxima), 0.5 * quantile(maxima, 0.9)) : 0;
  const times: number[] = [];
  const heights: number[] = [];
  if (!(level > 0)) return { times, heights };
  const floor = rel * level;
  const gap = Math.round(refractory * fs);
  let lastIdx = -Infinity;
  for (let i = 1; i < n - 1; i++) {
    const v = e[i]!;
    if (v <= floor || v < e[i - 1]! || v <= e[i + 1]!) continue;
    if (i - lastIdx < gap) {
      if (v > heights[heights.length - 1]!) {
        times[times.length - 1] = i / fs;
        heights[heights.length - 1] = v / level;
        lastIdx = i;
      }
      continue;
    }
    times.push(i / fs);
    heights.push(v / level);
    lastIdx = i;
  }
  return { times, heights };
}

/** Zero NaNs (invalid samples) so filters stay finite; callers count invalid samples separately. */
export function finite(x: Float32Array): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = Number.isFinite(v) ? v : 0;
  }
  return y;
}

export interface QrsResult extends Beats {
  /** The 5–18 Hz band-passed lead, used for morphology. */
  filtered: Float64Array;
}

export function detectQrs(x: Float32Array, fs: number): QrsResult {
  const y = bandpass(finite(x), fs, 5, 18);
  const n = y.length;
  const d = new Float64Array(n);
  for (let i = 2; i < n - 2; i++) d[i] = (2 * y[i + 2]! + y[i + 1]! - y[i - 1]! - 2 * y[i - 2]!) / 8;
  for (let i = 0; i < n; i++) d[i] = d[i]! * d[i]!;
  const e = movingAverage(d, Math.round(0.15 * fs));
  const peaks = pickPeaks(e, fs, 0.25, 0.25);
  // Move each beat to the largest |band-passed| sample within ±80 ms (the R or S peak).
  const w = Math.round(0.08 * fs);
  const times = peaks.times.map((t) => {
    const c = Math.round(t * fs);
    let best = c;
    for (let i = Math.max(0, c - w); i <= Math.min(n - 1, c + w); i++) if (Math.abs(y[i]!) > Math.abs(y[best]!)) best = i;
    return best / fs;
  });
  // Drop "beats" far smaller than the typical QRS, or below 0.05 mV peak to peak in the 5–18 Hz band
  // (quantisation noise on a flat lead in asystole); ECG leads are in mV.
  const amp = times.map((t) => {
    const c = Math.round(t * fs);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = Math.max(0, c - w); i <= Math.min(n - 1, c + w); i++) {
      lo = Math.min(lo, y[i]!);
      hi = Math.max(hi, y[i]!);
    }
    return hi - lo;
  });
  const typical = amp.length ? quantile(amp, 0.75) : 0;
  const keep = amp.map((a) => a >= 0.3 * typical && a >= MIN_QRS_MV);
  return { times: times.filter((_, i) => keep[i]), heights: peaks.heights.filter((_, i) => keep[i]), filtered: y };
}

/** Smallest QRS (peak to peak, 5–18 Hz band) counted as a beat, mV. */
export const MIN_QRS_MV = 0.05;

export interface PulseResult extends Beats {
  /** The 0.5–8 Hz band-passed pulse signal, used for amplitude. */
  filtered: Float64Array;
}

export function detectPulses(x: Float32Array, fs: number): PulseResult {
  const y = bandpass(finite(x), fs, 0.5, 8);
  const n = y.length;
  const up = new Float64Array(n);
  for (let i = 1; i < n; i++) up[i] = Math.max(0, y[i]! - y[i - 1]!);
  // Slope sum over a trailing 128 ms window (Zong et al.): large at each systolic upstroke.
  const win = Math.round(0.128 * fs);
  const ssf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += up[i]!;
    if (i >= win) acc -= up[i - win]!;
    ssf[i] = acc;
  }
  const peaks = pickPeaks(ssf, fs, 0.3, 0.3);
  // Drop "pulses" much smaller than the typical pulse (sensor noise on a lost signal).
  const amp = peaks.times.map((t) => {
    const a = Math.max(0, Math.round((t - 0.25) * fs));
    const b = Math.min(n, Math.round((t + 0.35) * fs));
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = a; i < b; i++) {
      lo = Math.min(lo, y[i]!);
      hi = Math.max(hi, y[i]!);
    }
    return hi - lo;
  });
  const typical = amp.length ? quantile(amp, 0.75) : 0;
  const keep = amp.map((a) => a >= 0.3 * typical);
  return {
    times: peaks.times.filter((_, i) => keep[i]),
    heights: peaks.heights.filter((_, i) => keep[i]),
    filtered: y,
  };
}

export interface RhythmStats {
  beats: number;
  /** Median heart rate over the analysed span, bpm. */
  hrMedian: number;
  /** Lowest rate over 4 consecutive RR intervals (5 beats: the bradycardia criterion). */
  hrMin4: number;
  /** Highest rate over 4 consecutive RR intervals (5 beats: the VT criterion). */
  hrMax4: number;
  /** Highest rate over 16 consecutive RR intervals (17 beats: the tachycardia criterion). */
  hrMax16: number;
  /** Longest time without a beat, counting the gap up to the window end (asystole criterion), s. */
  maxGap: number;
  /** Coefficient of variation of RR intervals. */
  rrCv: number;
  /** Fraction of successive RR differences above 15 % of the median RR. */
  rrIrregular: number;
}

function windowRate(rr: number[], k: number, pick: (a: number, b: number) => number, start: number): number {
  if (rr.length < k) return Number.NaN;
  let s = 0;
  for (let i = 0; i < k; i++) s += rr[i]!;
  let best = start;
  best = pick(best, (60 * k) / s);
  for (let i = k; i < rr.length; i++) {
    s += rr[i]! - rr[i - k]!;
    best = pick(best, (60 * k) / s);
  }
  return best;
}

/** Rhythm statistics of the beats in [from, end] seconds; RR intervals that end inside the span count. */
export function rhythm(times: number[], from: number, end: number): RhythmStats {
  const inSpan = times.filter((t) => t >= from && t <= end);
  const rr: number[] = [];
  for (let i = 1; i < times.length; i++) if (times[i]! >= from && times[i]! <= end) rr.push(times[i]! - times[i - 1]!);
  const last = inSpan[inSpan.length - 1];
  const before = times.filter((t) => t < from);
  const prev = before[before.length - 1];
  const firstGap = inSpan[0] === undefined ? end - (prev ?? from) : inSpan[0] - (prev ?? from);
  const endGap = end - (last ?? prev ?? from);
  let maxGap = Math.max(endGap, firstGap);
  for (const r of rr) maxGap = Math.max(maxGap, r);
  const mRr = rr.length ? median(rr) : Number.NaN;
  let meanRr = 0;
  for (const r of rr) meanRr += r / rr.length;
  let sd = 0;
  for (const r of rr) sd += (r - meanRr) ** 2 / rr.length;
  let irregular = 0;
  for (let i = 1; i < rr.length; i++) if (Math.abs(rr[i]! - rr[i - 1]!) > 0.15 * mRr) irregular++;
  return {
    beats: inSpan.length,
    hrMedian: rr.length ? 60 / mRr : 0,
    hrMin4: windowRate(rr, 4, Math.min, Infinity),
    hrMax4: windowRate(rr, 4, Math.max, 0),
    hrMax16: windowRate(rr, 16, Math.max, 0),
    maxGap,
    rrCv: rr.length > 1 ? Math.sqrt(sd) / meanRr : Number.NaN,
    rrIrregular: rr.length > 2 ? irregular / (rr.length - 1) : Number.NaN,
  };
}

/** F1 agreement of two sorted beat-time lists: beats matched one to one within `tol` seconds. */
export function matchF1(a: number[], b: number[], tol: number): number {
  if (a.length === 0 && b.length === 0) return 1;
  if (a.length === 0 || b.length === 0) return 0;
  let hits = 0;
  let j = 0;
  for (const t of a) {
    while (j < b.length && b[j]! < t - tol) j++;
    if (j < b.length && Math.abs(b[j]! - t) <= tol) {
      hits++;
      j++;
    }
  }
  return (2 * hits) / (a.length + b.length);
}
