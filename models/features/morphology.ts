// QRS morphology: how much the beats near the alarm differ from the patient's earlier beats.
// Ventricular beats are wide and differently shaped; artefact "beats" correlate poorly too.
import { median } from './dsp.js';

export interface Morphology {
  /** Median correlation of late beats with the early-beat template. */
  corrMedian: number;
  /** Fraction of late beats that look abnormal (correlation below 0.75 or amplitude off by > 60 %). */
  lowCorrFrac: number;
  /** Longest run of consecutive abnormal late beats. */
  lowCorrRun: number;
  /** Heart rate over that run (bpm), 0 when the run is shorter than 3 beats. */
  lowCorrRunHr: number;
  /** Median QRS width of late beats over that of early beats. */
  widthRatio: number;
  /** Median late-beat amplitude over median early-beat amplitude. */
  ampRatio: number;
  /** Median QRS width of late beats, s. */
  widthLate: number;
}

const PRE = 0.12;
const POST = 0.2;

function segment(y: Float64Array, fs: number, t: number): Float64Array | null {
  const c = Math.round(t * fs);
  const a = c - Math.round(PRE * fs);
  const b = c + Math.round(POST * fs);
  if (a < 0 || b > y.length) return null;
  return y.subarray(a, b);
}

function corr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/** Width (s) of the contiguous region around the beat where |y| exceeds 30 % of its peak. */
function width(seg: Float64Array, fs: number): number {
  const c = Math.round(PRE * fs);
  const peak = Math.abs(seg[c] ?? 0);
  if (!(peak > 0)) return 0;
  let a = c;
  let b = c;
  // Allow brief dips (biphasic QRS) by looking 20 ms ahead.
  const look = Math.round(0.02 * fs);
  const above = (i: number): boolean => {
    for (let j = 0; j <= look; j++) if (Math.abs(seg[i + j] ?? 0) > 0.3 * peak) return true;
    return false;
  };
  while (a > 0 && above(a - 1 - look)) a--;
  while (b < seg.length - 1 && above(b + 1)) b++;
  return (b - a) / fs;
}

export function morphology(y: Float64Array, fs: number, beats: number[], split: number): Morphology {
  const early: Float64Array[] = [];
  const late: { seg: Float64Array; t: number }[] = [];
  for (const t of beats) {
    const s = segment(y, fs, t);
    if (!s) continue;
    if (t < split) early.push(s);
    else late.push({ seg: s, t });
  }
  const empty: Morphology = {
    corrMedian: Number.NaN, lowCorrFrac: Number.NaN, lowCorrRun: 0, lowCorrRunHr: 0, widthRatio: Number.NaN, ampRatio: Number.NaN, widthLate: Number.NaN,
  };
  if (early.length < 3 || late.length === 0) return empty;
  const len = early[0]!.length;
  const template = new Float64Array(len);
  for (let i = 0; i < len; i++) template[i] = median(early.map((s) => s[i]!));
  const c = Math.round(PRE * fs);
  const corrs = late.map((b) => corr(b.seg, template));
  const tAmp = Math.max(...Array.from(template, Math.abs));
  const abnormal = late.map((b, i) => {
    const a = Math.max(...Array.from(b.seg, Math.abs));
    return corrs[i]! < 0.75 || a > 1.6 * tAmp || a < 0.6 * tAmp;
  });
  let run = 0;
  let best = 0;
  let bestEnd = -1;
  abnormal.forEach((ab, i) => {
    run = ab ? run + 1 : 0;
    if (run > best) {
      best = run;
      bestEnd = i;
    }
  });
  let runHr = 0;
  if (best >= 3) {
    const t0 = late[bestEnd - best + 1]!.t;
    const t1 = late[bestEnd]!.t;
    runHr = (60 * (best - 1)) / (t1 - t0);
  }
  const earlyW = median(early.map((s) => width(s, fs)));
  const lateW = median(late.map((b) => width(b.seg, fs)));
  const earlyA = median(early.map((s) => Math.abs(s[c]!)));
  const lateA = median(late.map((b) => Math.abs(b.seg[c]!)));
  return {
    corrMedian: median(corrs),
    lowCorrFrac: abnormal.filter(Boolean).length / abnormal.length,
    lowCorrRun: best,
    lowCorrRunHr: runHr,
    widthRatio: earlyW > 0 ? lateW / earlyW : Number.NaN,
    ampRatio: earlyA > 0 ? lateA / earlyA : Number.NaN,
    widthLate: lateW,
  };
}
