// Patient profiles: where each simulated patient's vital signs sit when nothing is happening.
// Baselines were chosen to fall inside the ranges charted in adult ICU stays (PhysioNet/CinC Challenge 2012,
// set A: HR median 86, 5–95 % 60–120 /min; NIBP systolic 86–159, diastolic 35–86 mm[Hg]; RR 12–30 /min;
// temperature 35.6–38.4 °C). That data is not read at run time.

export interface Baseline {
  hr: number;
  spo2: number;
  rr: number;
  sys: number;
  dia: number;
  temp: number;
}

export interface Profile {
  name: string;
  /** Typical age range, for the README and logs only. */
  ages: [number, number];
  baseline: Baseline;
  weight: number;
}

export const PROFILES: readonly Profile[] = [
  { name: 'stable adult', ages: [30, 60], weight: 3, baseline: { hr: 74, spo2: 97.5, rr: 15, sys: 122, dia: 76, temp: 36.9 } },
  { name: 'elderly, hypertensive', ages: [70, 90], weight: 2, baseline: { hr: 68, spo2: 95.5, rr: 17, sys: 150, dia: 82, temp: 36.7 } },
  { name: 'post-operative', ages: [40, 80], weight: 2, baseline: { hr: 88, spo2: 95.5, rr: 18, sys: 112, dia: 64, temp: 37.4 } },
  { name: 'sepsis, treated', ages: [50, 85], weight: 1, baseline: { hr: 106, spo2: 94.5, rr: 23, sys: 102, dia: 56, temp: 38.3 } },
  { name: 'COPD', ages: [55, 85], weight: 1, baseline: { hr: 90, spo2: 92, rr: 22, sys: 134, dia: 78, temp: 36.9 } },
  { name: 'young, fit', ages: [18, 35], weight: 1, baseline: { hr: 60, spo2: 98.5, rr: 13, sys: 116, dia: 70, temp: 36.7 } },
];

/**
 * Hard bounds the walk never leaves (held values excepted). They keep long runs plausible; episodes
 * stay well inside them.
 */
export const BOUNDS: Record<keyof Baseline, [number, number]> = {
  hr: [40, 180],
  spo2: [75, 100],
  rr: [6, 40],
  sys: [75, 200],
  dia: [35, 115],
  temp: [35, 40],
};
