// The hidden physiology of one simulated patient: each vital sign is a slow mean-reverting random walk
// (Ornstein–Uhlenbeck) around the patient's baseline, bounded, with episodes and held values on top, and
// the couplings a monitor would show (pulse rate ≈ heart rate; MAP from systolic and diastolic).
import { BOUNDS, type Baseline } from './profiles.js';
import { type Episode, weight } from './episodes.js';
import { MEASURABLE, type Vital, vitalProblem, type VitalValues } from './options.js';
import type { Prng } from './prng.js';

/** Time constant (how fast a vital returns to baseline) and typical spread of each walk. */
const WALK: Record<keyof Baseline, { tauS: number; sd: number }> = {
  hr: { tauS: 180, sd: 4 },
  spo2: { tauS: 120, sd: 0.8 },
  rr: { tauS: 240, sd: 1.5 },
  sys: { tauS: 600, sd: 7 },
  dia: { tauS: 600, sd: 4.5 },
  temp: { tauS: 3600, sd: 0.15 },
};

/** Displayed values a monitor would show right now (NIBP is separate: it is measured, not continuous). */
export interface Shown {
  hr: number;
  pr: number;
  spo2: number;
  rr: number;
  temp: number;
}

export interface Nibp {
  sys: number;
  dia: number;
  map: number;
}

const clamp = (v: number, [lo, hi]: [number, number]) => Math.min(hi, Math.max(lo, v));
const round1 = (v: number) => Math.round(v * 10) / 10;

export class Vitals {
  /** Current position of each walk. */
  readonly x: Baseline;
  readonly held: VitalValues = {};
  /** Heart rate actually driving the heart (episodes included), for the waveform's beat timing. */
  heartRate: number;

  constructor(
    readonly baseline: Baseline,
    private readonly rng: Prng,
  ) {
    this.x = { ...baseline };
    this.heartRate = baseline.hr;
  }

  /** Advances every walk by dtS seconds. Held vitals stay exactly where they are held. */
  step(dtS: number): void {
    if (!(dtS > 0)) return;
    const n = () => this.rng.normal();
    const nSys = n();
    // Diastolic moves partly with systolic, as pressures do.
    const noise: Baseline = { hr: n(), spo2: n(), rr: n(), sys: nSys, dia: 0.6 * nSys + 0.8 * n(), temp: n() };
    for (const k of Object.keys(WALK) as (keyof Baseline)[]) {
      const held = this.held[k];
      if (held !== undefined) {
        this.x[k] = held;
        continue;
      }
      const { tauS, sd } = WALK[k];
      const a = Math.min(1, dtS / tauS);
      const next = this.x[k] + (this.baseline[k] - this.x[k]) * a + sd * Math.sqrt(2 * a) * noise[k];
      this.x[k] = clamp(next, BOUNDS[k]);
    }
    if (this.x.dia > this.x.sys - 20 && this.held.dia === undefined) this.x.dia = this.x.sys - 20;
  }

  /** What the monitor shows at time t, given the bed's episodes. */
  shown(t: number, episodes: readonly Episode[]): Shown {
    let hr = this.x.hr;
    let spo2 = this.x.spo2;
    let rr = this.x.rr;
    // The walk's bounds, widened to the targets of the episodes acting now, so that a target is reached as given.
    const hrRange: [number, number] = [...BOUNDS.hr];
    const spo2Range: [number, number] = [BOUNDS.spo2[0], 100];
    for (const e of episodes) {
      const w = weight(e, t);
      if (w <= 0) continue;
      if (e.kind === 'desaturation') {
        spo2 = spo2 * (1 - w) + e.target * w;
        spo2Range[0] = Math.min(spo2Range[0], e.target);
        // Hypoxaemia drives the heart and the breathing up.
        hr += 10 * w;
        rr += 5 * w;
      } else if (e.kind === 'tachycardia') {
        hr = hr * (1 - w) + e.target * w;
        hrRange[0] = Math.min(hrRange[0], e.target);
        hrRange[1] = Math.max(hrRange[1], e.target);
      }
    }
    hr = this.held.hr ?? hr;
    this.heartRate = hr;
    const shownHr = this.held.hr ?? Math.round(clamp(hr + 0.6 * this.rng.normal(), hrRange));
    // Pulse rate is the same heart counted at the finger: within 2 /min of the ECG rate.
    const prNoise = Math.max(-2, Math.min(2, Math.round(0.8 * this.rng.normal())));
    return {
      hr: shownHr,
      // Kept measurable when HR sits at a limit (held at 300); at HR 0 (asystole) there is no pulse to count.
      pr: this.held.pr ?? (shownHr === 0 ? 0 : clamp(shownHr + prNoise, [MEASURABLE.pr[0], MEASURABLE.pr[1]])),
      spo2: this.held.spo2 ?? Math.round(clamp(spo2, spo2Range)),
      rr: this.held.rr ?? Math.round(clamp(rr, BOUNDS.rr)),
      temp: this.held.temp ?? round1(this.x.temp + 0.01 * this.rng.normal()),
    };
  }

  /** One cuff measurement: systolic, diastolic and MAP ≈ dia + (sys − dia) / 3, whole mm[Hg]. */
  measureNibp(): Nibp {
    const sys = this.held.sys ?? Math.round(clamp(this.x.sys + 2 * this.rng.normal(), BOUNDS.sys));
    let dia = this.held.dia ?? Math.round(clamp(this.x.dia + 1.5 * this.rng.normal(), BOUNDS.dia));
    if (this.held.dia === undefined && dia > sys - 15) dia = sys - 15;
    return { sys, dia, map: Math.round(dia + (sys - dia) / 3) };
  }

  hold(values: VitalValues): void {
    for (const [k, v] of Object.entries(values) as [Vital, number | undefined][]) {
      if (v === undefined) continue;
      const problem = vitalProblem(k, v);
      if (problem) throw new RangeError(`${k}: ${problem}`);
      this.held[k] = v;
      if (k !== 'pr') this.x[k] = v;
    }
  }

  release(which: readonly Vital[] | 'all'): void {
    const names = which === 'all' ? (Object.keys(this.held) as Vital[]) : which;
    for (const k of names) delete this.held[k];
  }
}
