// Options of the `simulator` driver, their defaults, and the scenario step type shared by config and API.

export const EPISODE_KINDS = ['desaturation', 'tachycardia', 'sensor-off', 'lead-off'] as const;
export type EpisodeKind = (typeof EPISODE_KINDS)[number];

/** Vital signs a scenario can set. MAP is never set: it follows from sys and dia, as a monitor computes it. */
export const VITALS = ['hr', 'pr', 'spo2', 'rr', 'sys', 'dia', 'temp'] as const;
export type Vital = (typeof VITALS)[number];
export type VitalValues = Partial<Record<Vital, number>>;

/**
 * What a monitor can show at all for each vital (a held value or an episode target outside it is a config error):
 * SpO2 0–100 %, rates 0–300 /min, NIBP 0–300 mm[Hg], body temperature 25–45 Cel.
 */
export const MEASURABLE: Record<Vital, readonly [number, number]> = {
  hr: [0, 300],
  pr: [0, 300],
  spo2: [0, 100],
  rr: [0, 300],
  sys: [0, 300],
  dia: [0, 300],
  temp: [25, 45],
};

/** The vital an episode's target sets: SpO2 for a desaturation, HR for a tachycardia; none for technical episodes. */
export const TARGET_VITAL = { desaturation: 'spo2', tachycardia: 'hr' } as const satisfies Partial<Record<EpisodeKind, Vital>>;

/** Why `value` cannot be held for `vital`, or null if it can. */
export function vitalProblem(vital: Vital, value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a finite number (got ${String(value)})`;
  const [lo, hi] = MEASURABLE[vital];
  return value < lo || value > hi ? `must be from ${lo} to ${hi} (got ${value})` : null;
}

/** Why `target` cannot be the target of an episode of `kind` (only desaturation and tachycardia take one), or null if it can. */
export function targetProblem(kind: EpisodeKind | undefined, target: unknown): string | null {
  if (typeof target !== 'number' || !Number.isFinite(target)) return `must be a finite number (got ${String(target)})`;
  // A target with nothing to aim (no episode, or a technical one) would be ignored without a word: most likely a
  // mis-indented YAML step whose episode landed in the step before (rv95 L3).
  if (kind !== 'desaturation' && kind !== 'tachycardia') return `needs episode: desaturation or tachycardia (got ${kind ?? 'no episode'})`;
  const vital = TARGET_VITAL[kind];
  const [lo, hi] = MEASURABLE[vital];
  const what = vital === 'spo2' ? 'SpO2 %' : 'HR /min';
  return target < lo || target > hi ? `must be from ${lo} to ${hi} (${what}) for a ${kind} (got ${target})` : null;
}

/** A bed by its 1-based number (1 = first bed) or by its name (e.g. "ICU-01"). */
export type BedRef = number | string;

/** One scripted change, `atS` seconds after the driver started. Any combination of the fields may be given. */
export interface ScenarioStep {
  atS: number;
  bed: BedRef;
  /** Hold these values exactly (no noise, none of the walk's bounds) until released; each within MEASURABLE. */
  set?: VitalValues;
  /** Release held values: a list, or "all". The random walk continues from the held value. */
  release?: Vital[] | 'all';
  /** Start an episode now. */
  episode?: EpisodeKind;
  /** Total length of that episode in seconds; random when absent; `Infinity` (API only) = until ended. */
  durationS?: number;
  /** Target of a desaturation (SpO2 0–100 %) or tachycardia (HR 0–300 /min), reached as given; random in the usual range when absent. */
  target?: number;
  /** End an episode of this kind now (physiological ones recover over their ramp). */
  end?: EpisodeKind;
  /** Take a non-invasive blood pressure measurement now. */
  nibp?: boolean;
}

export interface SimulatorOptions {
  beds?: number;
  bedPrefix?: string;
  deviceIdPrefix?: string;
  patientIds?: boolean;
  seed?: number;
  staggerBeds?: boolean;
  numericPeriodMs?: number;
  nibpIntervalS?: number;
  waveforms?: boolean;
  ecgRateHz?: number;
  plethRateHz?: number;
  waveformChunkMs?: number;
  episodesPerHour?: number;
  episodeKinds?: EpisodeKind[];
  scenario?: ScenarioStep[];
}

export type ResolvedOptions = Required<SimulatorOptions>;

export const DEFAULTS: ResolvedOptions = {
  beds: 4,
  bedPrefix: 'ICU-',
  deviceIdPrefix: 'sim-monitor-',
  patientIds: false,
  seed: 1,
  staggerBeds: true,
  numericPeriodMs: 1000,
  nibpIntervalS: 300,
  waveforms: true,
  ecgRateHz: 250,
  plethRateHz: 125,
  waveformChunkMs: 1000,
  episodesPerHour: 1,
  episodeKinds: [...EPISODE_KINDS],
  scenario: [],
};

export class SimulatorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorConfigError';
  }
}

/**
 * Fills in defaults and checks what the JSON Schema cannot (the agent validates the schema first; tests and
 * benchmarks that construct the driver directly get the same checks here).
 */
export function resolveOptions(options: SimulatorOptions | undefined): ResolvedOptions {
  const o: ResolvedOptions = { ...DEFAULTS };
  for (const [k, v] of Object.entries(options ?? {})) {
    if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  }
  const int = (name: keyof ResolvedOptions, min: number, max: number) => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new SimulatorConfigError(`options.${name}: must be an integer from ${min} to ${max} (got ${String(v)})`);
    }
  };
  int('beds', 1, 512);
  int('numericPeriodMs', 100, 60_000);
  int('nibpIntervalS', 0, 86_400);
  int('ecgRateHz', 1, 2000);
  int('plethRateHz', 1, 2000);
  int('waveformChunkMs', 100, 10_000);
  if (typeof o.episodesPerHour !== 'number' || !(o.episodesPerHour >= 0 && o.episodesPerHour <= 3600)) {
    throw new SimulatorConfigError(`options.episodesPerHour: must be a number from 0 to 3600 (got ${String(o.episodesPerHour)})`);
  }
  if (!Number.isInteger(o.seed)) throw new SimulatorConfigError(`options.seed: must be an integer (got ${String(o.seed)})`);
  o.scenario.forEach((step, i) => {
    checkStep(step, `options.scenario[${i}]`);
    // The ward is known from the options, so a step for a bed that is not there is a config error now (--check
    // creates the driver without starting it), not a start that fails and is retried forever.
    if (bedNumber(o, step.bed) === undefined) throw new SimulatorConfigError(`options.scenario[${i}].bed: ${unknownBed(o, step.bed)}`);
  });
  for (const k of o.episodeKinds) {
    if (!(EPISODE_KINDS as readonly string[]).includes(k)) {
      throw new SimulatorConfigError(`options.episodeKinds: unknown kind "${k}"; allowed: ${EPISODE_KINDS.join(', ')}`);
    }
  }
  return o;
}

/** Bed numbers in names and ids have at least 2 digits: ICU-01, ICU-128. */
export function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** The device id of simulated bed `number` (1-based), e.g. "sim-monitor-03". */
export function simulatedDeviceId(deviceIdPrefix: string, number: number): string {
  return `${deviceIdPrefix}${pad2(number)}`;
}

/** The name of simulated bed `number` (1-based), e.g. "ICU-03". */
export function simulatedBedName(bedPrefix: string, number: number): string {
  return `${bedPrefix}${pad2(number)}`;
}

type Ward = Pick<ResolvedOptions, 'beds' | 'bedPrefix' | 'deviceIdPrefix'>;

/** The 1-based number of the bed a reference names (its number, bed name or device id); undefined if none. */
export function bedNumber(o: Ward, ref: BedRef): number | undefined {
  if (typeof ref === 'number') return Number.isInteger(ref) && ref >= 1 && ref <= o.beds ? ref : undefined;
  for (let n = 1; n <= o.beds; n++) {
    if (simulatedBedName(o.bedPrefix, n) === ref || simulatedDeviceId(o.deviceIdPrefix, n) === ref) return n;
  }
  return undefined;
}

/** Why a bed reference was refused, with the references that would work. */
export function unknownBed(o: Ward, ref: BedRef): string {
  const range = (name: (n: number) => string) => (o.beds === 1 ? name(1) : `${name(1)}…${name(o.beds)}`);
  return `unknown bed ${JSON.stringify(ref)}; beds are 1–${o.beds}, ${range((n) => simulatedBedName(o.bedPrefix, n))} or ${range((n) => simulatedDeviceId(o.deviceIdPrefix, n))}`;
}

/** Checks a scenario step's fields (not its bed, which needs the ward: see bedNumber); throws SimulatorConfigError naming the field. */
export function checkStep(step: ScenarioStep, where = 'scenario step'): void {
  const fail = (field: string, what: string) => {
    throw new SimulatorConfigError(`${where}.${field}: ${what}`);
  };
  if (typeof step.atS !== 'number' || !(step.atS >= 0) || !Number.isFinite(step.atS)) fail('atS', `must be a finite number ≥ 0 (got ${String(step.atS)})`);
  for (const [k, v] of Object.entries(step.set ?? {})) {
    if (!(VITALS as readonly string[]).includes(k)) fail(`set.${k}`, `unknown vital; allowed: ${VITALS.join(', ')}`);
    const problem = vitalProblem(k as Vital, v);
    if (problem) fail(`set.${k}`, problem);
  }
  if (step.release !== undefined && step.release !== 'all') {
    if (!Array.isArray(step.release)) fail('release', 'must be "all" or a list of vitals');
    for (const k of step.release as unknown[]) {
      if (!(VITALS as readonly unknown[]).includes(k)) fail('release', `unknown vital ${JSON.stringify(k)}; allowed: ${VITALS.join(', ')}`);
    }
  }
  for (const field of ['episode', 'end'] as const) {
    const k = step[field];
    if (k !== undefined && !(EPISODE_KINDS as readonly string[]).includes(k)) fail(field, `unknown kind "${k}"; allowed: ${EPISODE_KINDS.join(', ')}`);
  }
  if (step.durationS !== undefined && !(step.durationS > 0)) fail('durationS', `must be > 0 (got ${String(step.durationS)})`);
  if (step.target !== undefined) {
    const problem = targetProblem(step.episode, step.target);
    if (problem) fail('target', problem);
  }
}
