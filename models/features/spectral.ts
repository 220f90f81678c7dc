// Spectral features: band-power fractions, dominant frequency and its concentration, and the
// strongest ventricular-flutter/fibrillation band share over sliding 4 s windows.
import { powerSpectrum } from './dsp.js';

export interface Spectral {
  /** Power fractions of 0.5–40 Hz in the bands 0.5–3, 3–8 (flutter/fibrillation), 8–15, 15–40 Hz. */
  bandLow: number;
  bandVf: number;
  bandMid: number;
  bandHigh: number;
  /** Frequency of the largest bin in 0.5–40 Hz. */
  peakHz: number;
  /** Share of 0.5–40 Hz power within ±0.75 Hz of that peak (a sine-like VF scores high). */
  concentration: number;
}

const SEG = 1024; // ~4.1 s at 250 Hz

function spectrumFeatures(seg: ArrayLike<number>, fs: number): Spectral {
  const p = powerSpectrum(seg);
  const df = fs / SEG;
  let total = 0;
  const bands = [0, 0, 0, 0];
  let peakK = 0;
  for (let k = 1; k < p.length; k++) {
    const f = k * df;
    if (f < 0.5 || f > 40) continue;
    const v = p[k]!;
    total += v;
    bands[f < 3 ? 0 : f < 8 ? 1 : f < 15 ? 2 : 3]! += v;
    if (v > (p[peakK] ?? 0) || peakK === 0) peakK = k;
  }
  if (!(total > 0)) return { bandLow: 0, bandVf: 0, bandMid: 0, bandHigh: 0, peakHz: 0, concentration: 0 };
  let near = 0;
  const w = Math.round(0.75 / df);
  for (let k = Math.max(1, peakK - w); k <= Math.min(p.length - 1, peakK + w); k++) near += p[k]!;
  return {
    bandLow: bands[0]! / total,
    bandVf: bands[1]! / total,
    bandMid: bands[2]! / total,
    bandHigh: bands[3]! / total,
    peakHz: peakK * df,
    concentration: near / total,
  };
}

/** Spectral features of the last ~4 s before `end` seconds. */
export function spectralAtEnd(x: Float64Array, fs: number, end: number): Spectral {
  const b = Math.min(x.length, Math.round(end * fs));
  const a = Math.max(0, b - SEG);
  return spectrumFeatures(paddedSegment(x, a, b), fs);
}

function paddedSegment(x: Float64Array, a: number, b: number): Float64Array {
  const seg = new Float64Array(SEG);
  seg.set(x.subarray(a, Math.min(b, a + SEG)));
  return seg;
}

/** Largest VF-band share and concentration over 4 s windows stepping 1 s within [from, end]. */
export function vfScan(x: Float64Array, fs: number, from: number, end: number): { vfMax: number; concMax: number; vfConcMax: number } {
  let vfMax = 0;
  let concMax = 0;
  let vfConcMax = 0;
  const step = Math.round(fs);
  const stop = Math.min(x.length, Math.round(end * fs));
  for (let a = Math.max(0, Math.round(from * fs)); a + SEG <= stop; a += step) {
    const s = spectrumFeatures(x.subarray(a, a + SEG), fs);
    vfMax = Math.max(vfMax, s.bandVf);
    concMax = Math.max(concMax, s.concentration);
    // Flutter/fibrillation: a dominant rhythm in 3–8 Hz that also dominates the spectrum.
    if (s.peakHz >= 2.5 && s.peakHz <= 8) vfConcMax = Math.max(vfConcMax, s.concentration * s.bandVf);
  }
  return { vfMax, concMax, vfConcMax };
}
