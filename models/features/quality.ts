// Signal-quality measures of one channel: invalid, flat-line and saturated fractions and amplitude.
import { quantiles } from './dsp.js';

export interface Quality {
  /** Fraction of samples marked invalid (NaN). */
  invalidFrac: number;
  /** Fraction of 0.5 s blocks whose range is below 2 % of the channel's robust range. */
  flatFrac: number;
  /** Fraction of samples sitting at the channel's extreme values (clipping). */
  satFrac: number;
  /** Robust (1st–99th percentile) range in physical units. */
  range: number;
}

export function quality(x: Float32Array, fs: number, from: number, to: number): Quality {
  const a = Math.max(0, Math.floor(from * fs));
  const b = Math.min(x.length, Math.floor(to * fs));
  const vals: number[] = [];
  let invalid = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = a; i < b; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) {
      invalid++;
      continue;
    }
    vals.push(v);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const n = b - a;
  if (vals.length === 0 || n === 0) return { invalidFrac: n === 0 ? 1 : invalid / n, flatFrac: 1, satFrac: 0, range: 0 };
  const [p99, p01] = quantiles(vals, [0.99, 0.01]);
  const range = p99! - p01!;
  const block = Math.max(1, Math.round(0.5 * fs));
  let blocks = 0;
  let flat = 0;
  for (let s = a; s + block <= b; s += block) {
    let bl = Infinity;
    let bh = -Infinity;
    for (let i = s; i < s + block; i++) {
      const v = x[i]!;
      if (!Number.isFinite(v)) continue;
      if (v < bl) bl = v;
      if (v > bh) bh = v;
    }
    blocks++;
    if (!(bh - bl > 0.02 * range)) flat++;
  }
  // A clipped signal dwells on its rails; a healthy one touches its extremes once or twice.
  let sat = 0;
  const tol = (hi - lo) * 1e-3;
  for (const v of vals) if (v <= lo + tol || v >= hi - tol) sat++;
  return {
    invalidFrac: invalid / n,
    flatFrac: blocks ? flat / blocks : 1,
    satFrac: sat / vals.length,
    range,
  };
}
