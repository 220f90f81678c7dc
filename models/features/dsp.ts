// Small signal-processing helpers: zero-phase biquad filters, moving averages, order statistics, FFT.
// All deterministic (no randomness, fixed iteration order) so training and live give identical numbers.

/** Second-order section coefficients (a0 normalised to 1). */
interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

// Butterworth-Q biquads after the RBJ audio-EQ cookbook.
function lowpassBiquad(fs: number, f0: number): Biquad {
  const w = (2 * Math.PI * f0) / fs;
  const alpha = Math.sin(w) / (2 * Math.SQRT1_2);
  const cw = Math.cos(w);
  const a0 = 1 + alpha;
  return { b0: (1 - cw) / 2 / a0, b1: (1 - cw) / a0, b2: (1 - cw) / 2 / a0, a1: (-2 * cw) / a0, a2: (1 - alpha) / a0 };
}

function highpassBiquad(fs: number, f0: number): Biquad {
  const w = (2 * Math.PI * f0) / fs;
  const alpha = Math.sin(w) / (2 * Math.SQRT1_2);
  const cw = Math.cos(w);
  const a0 = 1 + alpha;
  return { b0: (1 + cw) / 2 / a0, b1: -(1 + cw) / a0, b2: (1 + cw) / 2 / a0, a1: (-2 * cw) / a0, a2: (1 - alpha) / a0 };
}

function runBiquad(q: Biquad, x: Float64Array, reverse: boolean): void {
  const n = x.length;
  if (n === 0) return;
  // Start in steady state for the first sample so the edges do not ring.
  const x0 = x[reverse ? n - 1 : 0]!;
  const gainDc = (q.b0 + q.b1 + q.b2) / (1 + q.a1 + q.a2);
  let x1 = x0;
  let x2 = x0;
  let y1 = x0 * gainDc;
  let y2 = y1;
  for (let k = 0; k < n; k++) {
    const i = reverse ? n - 1 - k : k;
    const xi = x[i]!;
    const yi = q.b0 * xi + q.b1 * x1 + q.b2 * x2 - q.a1 * y1 - q.a2 * y2;
    x2 = x1;
    x1 = xi;
    y2 = y1;
    y1 = yi;
    x[i] = yi;
  }
}

/** Zero-phase band-pass (forward-backward high-pass then low-pass). lo ≤ 0 skips the high-pass. */
export function bandpass(x: ArrayLike<number>, fs: number, lo: number, hi: number): Float64Array {
  const y = Float64Array.from(x);
  const stages: Biquad[] = [];
  if (lo > 0) stages.push(highpassBiquad(fs, lo));
  if (hi > 0 && hi < fs / 2) stages.push(lowpassBiquad(fs, hi));
  for (const q of stages) {
    runBiquad(q, y, false);
    runBiquad(q, y, true);
  }
  return y;
}

/** Centred moving average over `win` samples (shrinks at the edges). */
export function movingAverage(x: ArrayLike<number>, win: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(n);
  const cum = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) cum[i + 1] = cum[i]! + x[i]!;
  const half = Math.floor(win / 2);
  for (let i = 0; i < n; i++) {
    const a = Math.max(0, i - half);
    const b = Math.min(n, i - half + win);
    out[i] = (cum[b]! - cum[a]!) / (b - a);
  }
  return out;
}

/** p-th quantile (0..1) by linear interpolation; NaN for an empty input. Does not modify x. */
export function quantile(x: ArrayLike<number>, p: number): number {
  return quantiles(x, [p])[0]!;
}

/**
 * Several quantiles of x (linear interpolation between order statistics). Exact order statistics by selection,
 * O(n) rather than a sort, for long windows; short ones, and any holding NaN, are sorted (NaN sorts last).
 */
export function quantiles(x: ArrayLike<number>, ps: readonly number[]): number[] {
  const n = x.length;
  if (n === 0) return ps.map(() => Number.NaN);
  const s = Float64Array.from(x);
  let sorted = n < 64;
  for (let i = 0; i < n && !sorted; i++) if (s[i] !== s[i]) sorted = true;
  if (sorted) s.sort();
  return ps.map((p) => {
    const pos = Math.min(Math.max(p, 0), 1) * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, n - 1);
    let a: number;
    let b: number;
    if (sorted) {
      a = s[lo]!;
      b = s[hi]!;
    } else {
      a = select(s, lo);
      // After selecting lo, everything after it is >= s[lo]: the next order statistic is their minimum.
      b = a;
      if (hi > lo) {
        b = s[lo + 1]!;
        for (let i = lo + 2; i < n; i++) if (s[i]! < b) b = s[i]!;
      }
    }
    return a + (b - a) * (pos - lo);
  });
}

/** Rearranges s so that s[k] is its k-th smallest value (Hoare's selection, median-of-three pivot); returns it. */
function select(s: Float64Array, k: number): number {
  let left = 0;
  let right = s.length - 1;
  while (right > left) {
    const mid = (left + right) >> 1;
    // Median of three as the pivot: sorted data (common in signals' envelopes) stays linear.
    if (s[mid]! < s[left]!) swap(s, mid, left);
    if (s[right]! < s[left]!) swap(s, right, left);
    if (s[right]! < s[mid]!) swap(s, right, mid);
    const pivot = s[mid]!;
    let i = left;
    let j = right;
    while (i <= j) {
      while (s[i]! < pivot) i++;
      while (s[j]! > pivot) j--;
      if (i <= j) {
        swap(s, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else break;
  }
  return s[k]!;
}

function swap(s: Float64Array, i: number, j: number): void {
  const t = s[i]!;
  s[i] = s[j]!;
  s[j] = t;
}

export const median = (x: ArrayLike<number>): number => quantile(x, 0.5);

export function mean(x: ArrayLike<number>): number {
  if (x.length === 0) return Number.NaN;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return s / x.length;
}

export function std(x: ArrayLike<number>): number {
  const m = mean(x);
  if (!Number.isFinite(m)) return Number.NaN;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i]! - m) ** 2;
  return Math.sqrt(s / x.length);
}

/** In-place iterative radix-2 complex FFT; length must be a power of two. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

/** Power spectrum of one Hann-windowed, mean-removed segment (bins 0..n/2). */
export function powerSpectrum(seg: ArrayLike<number>): Float64Array {
  const n = seg.length;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const m = mean(seg);
  for (let i = 0; i < n; i++) re[i] = (seg[i]! - m) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  fft(re, im);
  const out = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) out[k] = re[k]! * re[k]! + im[k]! * im[k]!;
  return out;
}
