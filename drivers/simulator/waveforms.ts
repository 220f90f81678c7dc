// Synthetic ECG lead II and pleth: a train of heart beats timed by the current heart rate, each drawn with a
// simple PQRST template (sum of Gaussians) and a pulse shape at the finger a pulse transit time later.
// Generated a chunk at a time from sample indices, so counts are exact (rate × duration) over any span.
import type { Prng } from './prng.js';

interface Beat {
  /** Time of the R peak, simulation ms. */
  r: number;
  /** Shape scale: intervals within a beat shorten with the RR interval (≈ √RR, as the QT interval does). */
  sc: number;
}

const gauss = (x: number, mu: number, sigma: number) => {
  const z = (x - mu) / sigma;
  return Math.exp(-0.5 * z * z);
};

/** ECG lead II in mV, dt seconds from the R peak. */
function ecgTemplate(dt: number, sc: number): number {
  return (
    0.12 * gauss(dt, -0.16 * sc, 0.022) + // P
    -0.1 * gauss(dt, -0.028, 0.008) + // Q
    1.1 * gauss(dt, 0, 0.01) + // R
    -0.25 * gauss(dt, 0.028, 0.01) + // S
    0.28 * gauss(dt, 0.28 * sc, 0.045 * sc) // T
  );
}

/** Pleth (dimensionless, ≈ 0–1), dt seconds from the R peak. */
function plethTemplate(dt: number, sc: number): number {
  const d = dt - (0.12 + 0.08 * sc); // pulse transit time to the finger
  return 0.9 * gauss(d, 0.14 * sc, 0.055 * sc) + 0.35 * gauss(d, 0.36 * sc, 0.08 * sc);
}

/** Window around a sample time (ms) in which a beat can contribute: [t - before, t + after]. */
const ECG_WINDOW = { before: 600, after: 300 };
const PLETH_WINDOW = { before: 1300, after: 0 };

/** The beats of one heart, shared by its ECG and pleth. */
export class BeatTrain {
  private beats: Beat[] = [];
  /** No beat through this time (ms): the heart stood still (HR 0) until then. */
  private stillUntil = -Infinity;

  constructor(
    private readonly rng: Prng,
    firstR: number,
  ) {
    this.beats.push({ r: firstR, sc: 1 });
  }

  /**
   * Adds beats until one lies beyond `until` (ms), timing new ones by heart rate `hr` with a little variability, down
   * to 1 /min. An HR that shows as 0 is asystole: no beat through `until` (flat ECG and pleth); the next one comes an
   * RR interval after the heart starts again. (A floor of 20 /min kept a held HR 0 beating: rv95 L2.) The 1 /min floor
   * keeps an HR passing near 0 (a ramp to a target of 0) from placing the next beat hours ahead.
   */
  extend(until: number, hr: number): void {
    if (!(hr >= 0.5)) {
      this.stillUntil = Math.max(this.stillUntil, until);
      return;
    }
    let last = this.beats[this.beats.length - 1]!;
    while (last.r <= until) {
      const rrS = (60 / Math.max(1, hr)) * (1 + 0.015 * this.rng.normal());
      last = { r: Math.max(last.r, this.stillUntil) + rrS * 1000, sc: Math.min(1.2, Math.max(0.45, Math.sqrt(rrS))) };
      this.beats.push(last);
    }
  }

  /** Starts the train afresh at `t` (after a gap in time, instead of drawing every beat of the gap). */
  restart(t: number): void {
    this.beats = [{ r: t, sc: 1 }];
  }

  /** Forgets beats that can no longer contribute to samples at or after `t`. */
  prune(t: number): void {
    const keepFrom = t - PLETH_WINDOW.before - ECG_WINDOW.before;
    let i = 0;
    while (i < this.beats.length - 1 && this.beats[i]!.r < keepFrom) i++;
    if (i > 0) this.beats.splice(0, i);
  }

  get list(): readonly Beat[] {
    return this.beats;
  }
}

export type WaveKind = 'ecg' | 'pleth';

/** One waveform of one bed: knows its rate and which sample comes next. */
export class WaveSampler {
  /** Index of the next sample, counted from `origin`. */
  private next = 0;
  private respPhase = 0;

  constructor(
    readonly kind: WaveKind,
    readonly rateHz: number,
    /** Time of sample 0, simulation ms. */
    readonly origin: number,
    private readonly rng: Prng,
  ) {}

  /** Skips the samples before `t` (after a gap in time). */
  skipTo(t: number): void {
    this.next = Math.max(this.next, Math.ceil(((t - this.origin) * this.rateHz) / 1000 - 1e-9));
  }

  /** Time of the next sample to be generated. */
  get nextTime(): number {
    return this.origin + (this.next * 1000) / this.rateHz;
  }

  /**
   * The samples in [nextTime, until): their start time and values. Samples at times where `isOff` says the
   * sensor is off are zeros (flat line), keeping the count, so a segment always covers its time; `anyOff`
   * says whether there were any. `respRate` (/min) modulates the baseline.
   */
  take(
    until: number,
    beats: BeatTrain,
    respRate: number,
    isOff: ((t: number) => boolean) | null,
  ): { startTime: number; samples: number[]; anyOff: boolean } {
    const startTime = this.nextTime;
    const end = Math.ceil(((until - this.origin) * this.rateHz) / 1000 - 1e-9);
    const samples: number[] = [];
    const list = beats.list;
    const ecg = this.kind === 'ecg';
    const win = ecg ? ECG_WINDOW : PLETH_WINDOW;
    const dPhase = (2 * Math.PI * (respRate / 60)) / this.rateHz;
    let lo = 0;
    let anyOff = false;
    for (let i = this.next; i < end; i++) {
      const t = this.origin + (i * 1000) / this.rateHz;
      this.respPhase = (this.respPhase + dPhase) % (2 * Math.PI);
      if (isOff?.(t)) {
        anyOff = true;
        samples.push(0);
        continue;
      }
      while (lo < list.length && list[lo]!.r < t - win.before) lo++;
      let v = 0;
      for (let j = lo; j < list.length && list[j]!.r <= t + win.after; j++) {
        const b = list[j]!;
        v += ecg ? ecgTemplate((t - b.r) / 1000, b.sc) : plethTemplate((t - b.r) / 1000, b.sc);
      }
      if (ecg) {
        v += 0.04 * Math.sin(this.respPhase) + 0.012 * this.rng.normal(); // baseline wander, noise
      } else {
        v = v * (1 + 0.04 * Math.sin(this.respPhase)) + 0.005 * this.rng.normal(); // respiratory variation
      }
      samples.push(Math.round(v * 1000) / 1000);
    }
    this.next = Math.max(this.next, end);
    return { startTime, samples, anyOff };
  }
}
