// NEWS2 (National Early Warning Score 2, Royal College of Physicians 2017), computed per bed from the latest
// readings. Bands verified against the RCP "Chart 1: The NEWS scoring system" (2017):
//   Respiration rate   <=8 → 3 | 9–11 → 1 | 12–20 → 0 | 21–24 → 2 | >=25 → 3
//   SpO2 scale 1       <=91 → 3 | 92–93 → 2 | 94–95 → 1 | >=96 → 0
//   SpO2 scale 2       <=83 → 3 | 84–85 → 2 | 86–87 → 1 | 88–92 or >=93 on air → 0 |
//                      93–94 on O2 → 1 | 95–96 on O2 → 2 | >=97 on O2 → 3
//   Air or oxygen      air → 0 | oxygen → 2
//   Systolic BP        <=90 → 3 | 91–100 → 2 | 101–110 → 1 | 111–219 → 0 | >=220 → 3
//   Pulse              <=40 → 3 | 41–50 → 1 | 51–90 → 0 | 91–110 → 1 | 111–130 → 2 | >=131 → 3
//   Consciousness      Alert → 0 | new Confusion, Voice, Pain, Unresponsive → 3
//   Temperature (°C)   <=35.0 → 3 | 35.1–36.0 → 1 | 36.1–38.0 → 0 | 38.1–39.0 → 1 | >=39.1 → 2
// Clinical risk (RCP): aggregate 0–4 low; any single parameter 3 → low–medium; 5–6 medium; 7 or more high.
// Scale 2 is for patients with hypercapnic respiratory failure and a prescribed target of 88–92 %, a clinical decision
// made per bed in config.
import { heldIsNewer } from '../model/measured.js';
import { onlyBeyondRange } from './bound.js';
import { createHash } from 'node:crypto';
import { MDC } from '../model/mdc.js';
import type { MdcCode, NumericReading } from '../model/reading.js';
import type { ConditionSpec, ConditionUpdate, ManagedPriority } from './types.js';
import { convert } from './units.js';

export type Acvpu = 'A' | 'C' | 'V' | 'P' | 'U';
export type OxygenSupport = 'air' | 'oxygen';
const ACVPU: readonly Acvpu[] = ['A', 'C', 'V', 'P', 'U'];
const OXYGEN_SUPPORT: readonly OxygenSupport[] = ['air', 'oxygen'];
/**
 * Observations a person recorded for one bed, with when; and, when the bed's devices give one, the patient they were
 * recorded for (the bed's patient id, and the id each device gave for that patient), so that a restart restores them
 * only for that patient.
 */
export interface RecordedObservations {
  consciousness?: Timed<Acvpu>;
  oxygen?: Timed<OxygenSupport>;
  /**
   * The trigger level present (or held from before a restart) when the note was written, and when that was: a restart
   * brings it back for the bed's first score (if within HELD_LEVEL_WAIT_S of the restart), which raises it again where a
   * partial score could still reach it, as it was held (a new level is raised from a partial total only, so a level
   * held on a stale V or on parameters no longer sent was lost at each restart). Absent in notes written before it.
   */
  level?: Timed<Exclude<News2Risk, 'low'>>;
  patientId?: string;
  patientIds?: Record<string, string>;
  /** Set when patientId/patientIds are pseudonyms (privacy.pseudonymizePatientIds); a note without it has raw ids. */
  pseudonyms?: true;
  /**
   * With pseudonyms: a short fingerprint of the key that made them (keyFingerprint()), so that a restart with another
   * key tells why they match no patient (review rv83 L1). Absent in notes written before it.
   */
  keyFingerprint?: string;
}

/** Why observations kept from before a restart cannot be matched with any patient now. */
export type UnmatchableReason = 'key-changed' | 'pseudonyms-off';

/**
 * 8 hex of a hash of the pseudonym of a constant: tells one key from another, and no more (an HMAC of a constant under
 * the key, truncated: the key cannot be had from it).
 */
export function keyFingerprint(storedPatientId: (id: string) => string): string {
  return createHash('sha256').update(storedPatientId('news2-note-fingerprint')).digest('hex').slice(0, 8);
}
export type News2Param = 'respRate' | 'spo2' | 'oxygen' | 'systolic' | 'pulse' | 'consciousness' | 'temperature';
export const NEWS2_PARAMS: readonly News2Param[] = ['respRate', 'spo2', 'oxygen', 'systolic', 'pulse', 'consciousness', 'temperature'];
export type News2Risk = 'low' | 'low-medium' | 'medium' | 'high';

// ---- Scoring of single parameters (pure). Values are rounded as the chart's integer / one-decimal bands imply.

/** The highest score of every chart's most severe band (each parameter charted by a number scores at most 3). */
const MOST_SEVERE_BAND = 3;

/**
 * Scores `x` on a chart of integer steps: rounded to the nearest step, except that a value exactly halfway between two
 * steps scores the more severe of the two bands (review rv107 L2: round-half-up scored SpO2 91.5, SBP 90.5 and HR 40.5
 * in the milder band, while on the high side it went to the more severe one). The tolerance takes a value that is
 * halfway but for float error (36.05 × 10) as halfway.
 * A value that is not a finite number scores MOST_SEVERE_BAND (review rv109 L1: NaN scored 0 on some charts, 3 on
 * others): no reading is one (reading() refuses them), but computeNews2 is exported, and an alarm score must not read
 * "normal" for a value it cannot place. Not a throw: a throw in evaluate() would lose every bed's alarms.
 */
function onChart(x: number, band: (step: number) => number): number {
  if (!Number.isFinite(x)) return MOST_SEVERE_BAND;
  const lo = Math.floor(x);
  if (Math.abs(x - lo - 0.5) < 1e-9) return Math.max(band(lo), band(lo + 1));
  return band(Math.round(x));
}

export function scoreRespRate(rr: number): number {
  return onChart(rr, (v) => {
    if (v <= 8) return 3;
    if (v <= 11) return 1;
    if (v <= 20) return 0;
    if (v <= 24) return 2;
    return 3;
  });
}

export function scoreSpO2Scale1(spo2: number): number {
  return onChart(spo2, (v) => {
    if (v <= 91) return 3;
    if (v <= 93) return 2;
    if (v <= 95) return 1;
    return 0;
  });
}

export function scoreSpO2Scale2(spo2: number, support: OxygenSupport): number {
  return onChart(spo2, (v) => {
    if (v <= 83) return 3;
    if (v <= 85) return 2;
    if (v <= 87) return 1;
    if (v <= 92 || support === 'air') return 0;
    if (v <= 94) return 1;
    if (v <= 96) return 2;
    return 3;
  });
}

export function scoreOxygen(support: OxygenSupport): number {
  return support === 'oxygen' ? 2 : 0;
}

export function scoreSystolic(sys: number): number {
  return onChart(sys, (v) => {
    if (v <= 90) return 3;
    if (v <= 100) return 2;
    if (v <= 110) return 1;
    if (v <= 219) return 0;
    return 3;
  });
}

export function scorePulse(pulse: number): number {
  return onChart(pulse, (v) => {
    if (v <= 40) return 3;
    if (v <= 50) return 1;
    if (v <= 90) return 0;
    if (v <= 110) return 1;
    if (v <= 130) return 2;
    return 3;
  });
}

export function scoreConsciousness(level: Acvpu): number {
  return level === 'A' ? 0 : 3;
}

export function scoreTemperature(celsius: number): number {
  // In tenths of a degree, the chart's step, compared as integers.
  return onChart(celsius * 10, (t) => {
    if (t <= 350) return 3;
    if (t <= 360) return 1;
    if (t <= 380) return 0;
    if (t <= 390) return 1;
    return 2;
  });
}

/** Clinical risk from the aggregate and whether any single parameter scored 3. */
export function news2Risk(total: number, anySingle3: boolean): News2Risk {
  if (total >= 7) return 'high';
  if (total >= 5) return 'medium';
  if (anySingle3) return 'low-medium';
  return 'low';
}

// ---- A score from timestamped inputs.

export interface Timed<T> {
  value: T;
  /** Gateway time the value was received or observed (ms). */
  at: number;
  /** The metric that gave it then reported no valid value (probe off, unavailable): not current, shown as stale. */
  invalid?: true;
  /**
   * The value is a bound the device gave (beyond its measuring range, HL7 SN `>^40`): the patient's lies past it. Scored
   * only while the bound decides the band (boundDecidesBand), else not current.
   */
  bound?: '>' | '<';
}

export interface News2Inputs {
  respRate?: Timed<number>;
  spo2?: Timed<number>;
  oxygen?: Timed<OxygenSupport>;
  systolic?: Timed<number>;
  pulse?: Timed<number>;
  consciousness?: Timed<Acvpu>;
  temperature?: Timed<number>;
}

export interface News2BedConfig {
  /** False: no NEWS2 for this bed (NEWS2 is an adult score; switch it off for e.g. paediatric beds). Default true. */
  enabled?: boolean;
  /** SpO2 scale: 2 only for a prescribed target of 88–92 % (clinical decision). Default 1. */
  spo2Scale?: 1 | 2;
  /**
   * Values used, and reported as assumed, when no fresh observation exists. Absent: the parameter is missing. A
   * recorded one that aged out and scored more than this is reported stale instead (the score partial).
   */
  assume?: { consciousness?: Acvpu; oxygen?: OxygenSupport };
}

export interface News2Config {
  /** Maximum input age in seconds per parameter; older inputs are stale and not used. */
  maxAgeS: Record<News2Param, number>;
  /** Defaults for every bed; per-bed entries replace fields. */
  defaults: News2BedConfig;
  beds?: Record<string, News2BedConfig>;
  /** IEC priority of each trigger level's alarm condition. */
  priorities: Record<Exclude<News2Risk, 'low'>, ManagedPriority>;
  /**
   * Seconds a complete score must stay below a trigger level before that level's condition ends (a rise is at
   * once). Without it a score on a band edge (pulse 90/91) raised a new alarm every other second.
   */
  clearAfterS: number;
  /**
   * The form patient ids take in what observations() returns for the store: the privacy pseudonymiser when ids are
   * pseudonymised (no raw id may be stored), or none (kept as given). Readings and alarms keep the raw ids.
   */
  storedPatientId?: (id: string) => string;
}

/**
 * Default ages are our choices: continuous vitals 5 min; systolic 60 min (NIBP cycles are often 15–60 min);
 * temperature 4 h; consciousness and oxygen observations 12 h (the RCP minimum observation frequency for a low score is
 * 12-hourly). Assumptions 'A' and 'air' are the brief's example; a patient on oxygen then scores 2 too low until
 * someone records oxygen, which the score states as assumed.
 */
export const DEFAULT_NEWS2_CONFIG: News2Config = {
  maxAgeS: { respRate: 300, spo2: 300, pulse: 300, systolic: 3600, temperature: 14400, consciousness: 43200, oxygen: 43200 },
  defaults: { spo2Scale: 1, assume: { consciousness: 'A', oxygen: 'air' } },
  priorities: { 'low-medium': 'low', medium: 'medium', high: 'high' },
  clearAfterS: 300,
};

export type ParamStatus = 'measured' | 'assumed' | 'missing' | 'stale';

export interface News2ParamResult {
  param: News2Param;
  status: ParamStatus;
  /** The value scored (measured or assumed); the stale value is in staleValue. */
  value?: number | string;
  score?: number;
  at?: number;
  staleValue?: number | string;
  staleAt?: number;
  /** Set when the value scored is a bound (the device's measuring range exceeded, `>40`): the patient's lies past it. */
  bound?: '>' | '<';
  /** For a device parameter: the device and metric (refid) whose value is scored (or shown stale). */
  source?: { deviceId: string; metric: string };
  /**
   * The parameter's other current sources, not scored (each scores no more than `value`: the worse reading counts;
   * review rv162 F1). Absent when there is none.
   */
  others?: { deviceId: string; metric: string; value: number; score: number }[];
}

export interface News2Score {
  at: number;
  /** Sum of the scores of the parameters that could be scored; a lower bound when partial. */
  total: number;
  /** True when any parameter is missing or stale (not replaced by an assumption). */
  partial: boolean;
  scale: 1 | 2;
  anySingle3: boolean;
  risk: News2Risk;
  params: News2ParamResult[];
  missing: News2Param[];
  stale: News2Param[];
  assumed: News2Param[];
  /** Parameters scored from a bound (beyond the device's measuring range), each with `bound` in `params`. */
  bounded: News2Param[];
}

export function bedNews2Config(config: News2Config, bed: string): Required<Pick<News2BedConfig, 'spo2Scale' | 'enabled'>> & News2BedConfig {
  const b = config.beds?.[bed];
  return {
    enabled: b?.enabled ?? config.defaults.enabled ?? true,
    spo2Scale: b?.spo2Scale ?? config.defaults.spo2Scale ?? 1,
    assume: { ...(config.defaults.assume ?? {}), ...(b?.assume ?? {}) },
  };
}

/** The score of a recorded observation (air/oxygen, ACVPU): to tell an aged-out one from the assumption. */
function observedScore(p: News2Param, v: unknown): number {
  return p === 'oxygen' ? scoreOxygen(v as OxygenSupport) : scoreConsciousness(v as Acvpu);
}

/** Whether an aged-out recorded observation shows stale (computeNews2) rather than giving way to the bed's assumption. */
function staysStale(p: News2Param, v: unknown, assumed: unknown): boolean {
  return assumed === undefined || observedScore(p, v) > observedScore(p, assumed);
}

/**
 * How long after it was recorded an aged-out observation that shows stale (a C/V/P/U, "on oxygen") is still kept in the
 * store across a restart (review rv109 H1: it was dropped once stale, so a restart made it "assumed A" and ended the
 * level it held). Past it the assumption comes back after a restart. Our choice: two days of 12-hourly observations missed.
 */
export const STALE_OBSERVATION_KEEP_S = 48 * 3600;

/**
 * How long after a restart a level noted before it waits for the bed's first current device input; past it the level
 * is dropped (review rv116 H1: it waited with no limit, and a bed whose monitor was off at the restart, the patient gone
 * meanwhile, had it raised days later for whoever was there: HIGH, for ever, on an oximeter alone). A bed's devices come
 * back within seconds to a minute of the agent's restart; one silent longer may have another patient by the time it
 * sends. Our choice: five minutes, the age at which a continuous vital is stale anyway.
 */
export const HELD_LEVEL_WAIT_S = 5 * 60;

/** Why a level noted before a restart was dropped unjudged (News2Report.heldLevelsDropped). */
export type HeldLevelDropReason = 'no-input-after-restart' | 'note-too-old';

/** The NEWS2 parameters a device measures as a number, whose value can be a bound (HL7 SN `>^40`). */
type BoundedParam = 'respRate' | 'spo2' | 'systolic' | 'pulse' | 'temperature';
const isBoundedParam = (p: News2Param): p is BoundedParam => p === 'respRate' || p === 'spo2' || p === 'systolic' || p === 'pulse' || p === 'temperature';

/**
 * Per parameter, the upper edge of the chart's bottom band and the lower edge of its top band (the chart above), in
 * the band's unit. SpO2 scale 2 takes both supports, as oxygen can be recorded or age out after the bound came: on
 * air its top band is 88 and up (0), on oxygen 97 and up (3); its bottom band is 83 or less on both.
 */
const BAND_EDGES: Record<Exclude<BoundedParam, 'spo2'>, { bottom: number; top: number }> & { spo2: Record<1 | 2, { bottom: number; top: number }> } = {
  respRate: { bottom: 8, top: 25 },
  spo2: { 1: { bottom: 91, top: 96 }, 2: { bottom: 83, top: 97 } },
  systolic: { bottom: 90, top: 220 },
  pulse: { bottom: 40, top: 131 },
  temperature: { bottom: 35.0, top: 39.1 },
};

/**
 * Whether a bound alone decides the band (review rv142 F1): every value past `v` scores as `v` does. So for '>' (or
 * '>=', which onlyBeyondRange gives as '>') a bound at or above the lower edge of the top band (RR >40: 3), for '<' one
 * at or below the upper edge of the bottom band (SpO2 <50: 3). RR >20 does not: 21–24 scores 2, 25 and up 3. A bound
 * inside a band edge (RR >24.5) is taken as not deciding: the rule stays the chart's edges, not its rounding.
 */
export function boundDecidesBand(p: BoundedParam, bound: '>' | '<', v: number, scale: 1 | 2): boolean {
  if (!Number.isFinite(v)) return false;
  const e = p === 'spo2' ? BAND_EDGES.spo2[scale] : BAND_EDGES[p];
  // The tolerance takes a converted value on an edge but for float error (102.38 °F) as on it.
  return bound === '>' ? v >= e.top - 1e-9 : v <= e.bottom + 1e-9;
}

/** One source's input for a device parameter: the device and metric (refid) that gave it. */
export interface SourcedInput extends Timed<number> {
  deviceId: string;
  metric: string;
}

/** Per device parameter, the inputs of each of its sources (a monitor's ECG HR and SpO2 pulse rate, an oximeter's SpO2). */
export type News2Sources = Partial<Record<BoundedParam, readonly SourcedInput[]>>;

/**
 * Score NEWS2 at `now`. Stale inputs are never used; assumptions are used only where configured and reported.
 * `sources`: where a device parameter has them, they replace its entry in `inputs`: of the current ones (valid, not
 * stale), the one that scores highest is scored, the newest of those on a tie (review rv162 F1: the last reading of a
 * batch was scored, so the order of two sources decided the score; NEWS2 is an early-warning score, so the worse
 * reading counts). A source that stopped counts until its reading is stale (maxAgeS), never less: every rule that
 * judged a source stopped sooner from its pace hid a worse current reading from some real sender (reviews rv166 F1,
 * rv168 F1-F3, rv169 F1-F4: re-taken spot checks, batching senders, a cycle lengthened, clock steps, a shared outage).
 * With none current, the newest shows stale.
 */
export function computeNews2(inputs: News2Inputs, now: number, config: News2Config, bed: string, sources: News2Sources = {}): News2Score {
  const bc = bedNews2Config(config, bed);
  const fresh = <T>(p: News2Param, t: Timed<T> | undefined): { ok: Timed<T> } | { stale: Timed<T> } | null => {
    if (!t) return null;
    // A bound that no longer decides the band (the bed's SpO2 scale changed since) is not current, as when it came.
    const undecided = t.bound !== undefined && !(typeof t.value === 'number' && isBoundedParam(p) && boundDecidesBand(p, t.bound, t.value, bc.spo2Scale));
    return !t.invalid && !undecided && now - t.at <= config.maxAgeS[p] * 1000 ? { ok: t } : { stale: t };
  };
  const results = new Map<News2Param, News2ParamResult>();

  const resolveParam = <T extends number | string>(p: News2Param, t: Timed<T> | undefined, assumed?: T): Timed<T> | undefined => {
    const f = fresh(p, t);
    const r: News2ParamResult = { param: p, status: 'missing' };
    if (f && 'ok' in f) {
      Object.assign(r, { status: 'measured', value: f.ok.value, at: f.ok.at });
      if (f.ok.bound !== undefined) r.bound = f.ok.bound;
      results.set(p, r);
      return f.ok;
    }
    if (f && 'stale' in f) Object.assign(r, { status: 'stale', staleValue: f.stale.value, staleAt: f.stale.at });
    // A recorded observation that aged out and scored more than the assumption (V, on oxygen) stays stale, the score
    // partial: the patient's state is unknown, not the assumed normal (review rv107 H2: it scored as complete, lower).
    const staleAbove = f !== null && 'stale' in f && assumed !== undefined && staysStale(p, f.stale.value, assumed);
    if (assumed !== undefined && !staleAbove) {
      Object.assign(r, { status: 'assumed', value: assumed });
      results.set(p, r);
      return { value: assumed, at: now };
    }
    results.set(p, r);
    return undefined;
  };

  // Oxygen first: on SpO2 scale 2 it decides which SpO2 source scores highest.
  const oxygen = resolveParam('oxygen', inputs.oxygen, bc.assume?.oxygen);
  const spo2Score = (v: number): number => (bc.spo2Scale === 2 ? scoreSpO2Scale2(v, oxygen?.value ?? 'air') : scoreSpO2Scale1(v));
  const scorers: Record<BoundedParam, (v: number) => number> = { respRate: scoreRespRate, spo2: spo2Score, systolic: scoreSystolic, pulse: scorePulse, temperature: scoreTemperature };
  const current = (p: BoundedParam, t: SourcedInput): boolean => {
    const f = fresh(p, t);
    return f !== null && 'ok' in f;
  };
  const pick = (p: BoundedParam): Timed<number> | undefined => {
    const list = sources[p];
    if (!list?.length) return inputs[p];
    let best: SourcedInput | undefined;
    let bestScore = -1;
    for (const c of list) {
      if (!current(p, c)) continue;
      const sc = scorers[p](c.value);
      if (sc > bestScore || (sc === bestScore && best !== undefined && c.at > best.at)) [best, bestScore] = [c, sc];
    }
    return best ?? list.reduce((a, b) => (b.at > a.at ? b : a));
  };
  const resolveDevice = (p: BoundedParam): Timed<number> | undefined => {
    const t = pick(p);
    const got = resolveParam(p, t);
    const r = results.get(p)!;
    if (t && 'deviceId' in t) {
      const c = t as SourcedInput;
      r.source = { deviceId: c.deviceId, metric: c.metric };
      const rest = (sources[p] ?? []).filter((o) => o !== c && current(p, o));
      if (rest.length) r.others = rest.map((o) => ({ deviceId: o.deviceId, metric: o.metric, value: o.value, score: scorers[p](o.value) }));
    }
    return got;
  };
  const rr = resolveDevice('respRate');
  const spo2 = resolveDevice('spo2');
  const sys = resolveDevice('systolic');
  const pulse = resolveDevice('pulse');
  const cons = resolveParam('consciousness', inputs.consciousness, bc.assume?.consciousness);
  const temp = resolveDevice('temperature');

  const setScore = (p: News2Param, s: number | undefined): void => {
    const r = results.get(p);
    if (r && s !== undefined) r.score = s;
  };
  setScore('respRate', rr && scoreRespRate(rr.value));
  if (spo2) {
    if (bc.spo2Scale === 2) {
      // Scale 2 needs to know air or oxygen above 92 %. Without a recorded one, oxygen is the assumption where one is
      // configured (air by default: scored, and said in `assumed`, not partial); with none, oxygen is missing (or
      // stale: a recorded "oxygen" aged out), which makes the score partial, and SpO2 is scored as on air, the lower
      // score (news2UpperBound() counts what on oxygen could add).
      setScore('spo2', scoreSpO2Scale2(spo2.value, oxygen?.value ?? 'air'));
    } else {
      setScore('spo2', scoreSpO2Scale1(spo2.value));
    }
  }
  setScore('oxygen', oxygen && scoreOxygen(oxygen.value));
  setScore('systolic', sys && scoreSystolic(sys.value));
  setScore('pulse', pulse && scorePulse(pulse.value));
  setScore('consciousness', cons && scoreConsciousness(cons.value));
  setScore('temperature', temp && scoreTemperature(temp.value));

  const params = NEWS2_PARAMS.map((p) => results.get(p) as News2ParamResult);
  const total = params.reduce((sum, r) => sum + (r.score ?? 0), 0);
  const anySingle3 = params.some((r) => r.score === 3);
  const missing = params.filter((r) => r.status === 'missing').map((r) => r.param);
  const stale = params.filter((r) => r.status === 'stale').map((r) => r.param);
  const assumed = params.filter((r) => r.status === 'assumed').map((r) => r.param);
  const bounded = params.filter((r) => r.bound !== undefined).map((r) => r.param);
  return { at: now, total, partial: missing.length + stale.length > 0, scale: bc.spo2Scale, anySingle3, risk: news2Risk(total, anySingle3), params, missing, stale, assumed, bounded };
}

// ---- Per-bed tracking and trigger conditions.

/**
 * The body-temperature terms: what NEWS2 scores as temperature, what the default TEMP limit rule judges and what is held
 * to a slow metric's pace (agent/alarms/limits.ts), from this one list so that the three cannot drift apart (review
 * rv114 H1: the core and ward sites scored NEWS2 while no TEMP HIGH was raised for them). It names body sites, not
 * alarm policy, so its place is agent/model/mdc.ts once that is free to edit; it is here until then.
 * - MDC_TEMP_BODY, MDC_TEMP (site unspecified).
 * - Core sites (IEEE 11073-10101 partition 2; IntelliVue's Tcore, Tesoph, Tnaso; review rv107 L1: a bed with only these
 *   showed temperature missing, its score partial).
 * - The sites a ward takes NEWS2 temperature at (tympanic spot checks over HL7, ear, oral, axillary, rectal; review
 *   rv109 M3: they were refused as "not a body temperature").
 * Skin, blood (MDC_TEMP_ART, _VEN) and other terms are not in it: NEWS2 counts and tells them (temperatureNotUsed).
 */
export const BODY_TEMPERATURE: readonly MdcCode[] = [
  MDC.TEMP_BODY, MDC.TEMP,
  MDC.TEMP_CORE, MDC.TEMP_ESOPH, MDC.TEMP_NASOPH,
  MDC.TEMP_TYMP, MDC.TEMP_EAR, MDC.TEMP_ORAL, MDC.TEMP_AXILLA, MDC.TEMP_RECT,
];

/** Which NEWS2 parameter a metric feeds, with the unit the bands are in. */
const METRIC_PARAMS = new Map<number, { param: 'respRate' | 'spo2' | 'systolic' | 'pulse' | 'temperature'; unit: string }>([
  [MDC.RESP_RATE.code, { param: 'respRate', unit: '/min' }],
  [MDC.TTHOR_RESP_RATE.code, { param: 'respRate', unit: '/min' }],
  [MDC.AWAY_RESP_RATE.code, { param: 'respRate', unit: '/min' }],
  [MDC.PULS_OXIM_SAT_O2.code, { param: 'spo2', unit: '%' }],
  [MDC.PRESS_BLD_NONINV_SYS.code, { param: 'systolic', unit: 'mm[Hg]' }],
  // NIBP systolic as cuff pressure, as Mindray and Comen send it (review rv126 H2).
  [MDC.PRESS_CUFF_SYS.code, { param: 'systolic', unit: 'mm[Hg]' }],
  [MDC.PRESS_BLD_ART_ABP_SYS.code, { param: 'systolic', unit: 'mm[Hg]' }],
  [MDC.PRESS_BLD_ART_SYS.code, { param: 'systolic', unit: 'mm[Hg]' }],
  [MDC.ECG_HEART_RATE.code, { param: 'pulse', unit: '/min' }],
  [MDC.PULS_RATE.code, { param: 'pulse', unit: '/min' }],
  [MDC.PULS_OXIM_PULS_RATE.code, { param: 'pulse', unit: '/min' }],
  ...BODY_TEMPERATURE.map((t) => [t.code, { param: 'temperature', unit: 'Cel' }] as const),
]);

/**
 * A body temperature outside this range (°C) is refused for NEWS2, counted and told: °F sent without a unit (98.6), or
 * a wrong unit, would otherwise score as °C (review rv107 L2). Our choice: survivable body temperatures lie within it.
 */
const PLAUSIBLE_CELSIUS = { low: 25, high: 45 } as const;

const LEVEL_ORDER: readonly Exclude<News2Risk, 'low'>[] = ['low-medium', 'medium', 'high'];
const LEVEL_TEXT: Record<Exclude<News2Risk, 'low'>, string> = {
  'low-medium': 'NEWS2 single parameter 3 (low-medium risk)',
  medium: 'NEWS2 5-6 (medium risk)',
  high: 'NEWS2 7+ (high risk)',
};

/**
 * A device's new patient id for a bed is taken (the bed's NEWS2 inputs and recorded observations dropped) after this
 * many readings in a row with it, received at different times, and none with the old id between. Our choice.
 */
export const NEW_PATIENT_AFTER_READINGS = 3;

/** A run of readings giving another patient id than the current one, not yet taken as a new patient. */
export interface PendingId {
  id: string;
  /** Readings of the run counted: one per receipt time (one message's readings count once). */
  count: number;
  /** Receipt time of the run's latest counted reading. */
  lastAt: number;
}

/**
 * Counts a reading giving `id` (not the current patient's) received at `at` into `run`, the run of a new id so far:
 * another id starts a run of its own, and a reading counts only when received later than the run's last (one
 * message's readings count once). `taken`: the run has NEW_PATIENT_AFTER_READINGS readings, the change of patient is
 * taken. The one count for NEWS2 (News2Monitor.patient) and the limit rules (LimitEvaluator.newPatient); what each
 * does with it differs (NEWS2 also ends every run when another device gives the current id, and knows former ids;
 * the limit rules decide per device), so the two can disagree on whether a bed's patient changed (review rv116 L1).
 * Pure: `run` is not changed.
 */
export function countNewId(run: PendingId | undefined, id: string, at: number): { run: PendingId; taken: boolean } {
  const current = run?.id === id ? run : { id, count: 0, lastAt: -Infinity };
  const next = at > current.lastAt ? { id, count: current.count + 1, lastAt: at } : current;
  return { run: next, taken: next.count >= NEW_PATIENT_AFTER_READINGS };
}

/**
 * The condition key of a bed's NEWS2 level. `episode` goes up at each change of patient at the bed: a new patient's
 * level is a new alarm, not the previous patient's (perhaps latched, unanswered) alarm of that level reactivated and
 * filed under the previous patient. A counter, not the patient id, so that keys carry no patient identifier.
 */
export function news2Key(bed: string, level: Exclude<News2Risk, 'low'>, episode = 0): string {
  return episode === 0 ? `news2:${bed}:${level}` : `news2:${bed}:episode-${episode}:${level}`;
}

/** The NEWS2 parameters a device measures: what "a current input" means for a bed (not an observation people record). */
const DEVICE_PARAMS: ReadonlySet<News2Param> = new Set(['respRate', 'spo2', 'systolic', 'pulse', 'temperature']);

/** How many (device, parameter, unit) NEWS2 cannot convert are told of, and (parameter, unit) counted by name. */
const MAX_TOLD_UNCONVERTIBLE = 100;

/** How many devices giving a former patient's id are told of (logged once each); beyond, only counted. */
const MAX_TOLD_FORMER = 1000;

/** What News2Monitor has to report since the last take(): for counters and log lines (the service's). */
export interface News2Report {
  /** Valid readings not scored because their unit does not convert to the band's: per parameter and unit ("other" past the cap). */
  unconvertible: { param: News2Param; unit: string; count: number }[];
  /** Such (device, parameter, unit) not told of before: each is to be logged once. */
  newUnconvertible: { deviceId: string; bed: string; param: News2Param; unit: string; want: string }[];
  /**
   * Observations kept from before a restart, not restored: `deviceId` now gives the bed another patient id. No patient
   * ids here: this is for a log line, and logs never hold patient identifiers.
   */
  observationsDropped: { bed: string; deviceId: string }[];
  /**
   * Observations kept from before a restart, dropped at restore: their pseudonyms cannot match any patient now (the key
   * changed, or pseudonymisation is off). For one log line with the cause, not a line per device.
   */
  observationsUnmatchable: { bed: string; reason: UnmatchableReason }[];
  /**
   * Readings left out of NEWS2 because their device gives the previous patient's id after a change of patient at the
   * bed (patient(): 'former'): how many, and the devices doing so not told of before (each to be logged once). No
   * patient ids, as above.
   */
  formerPatient: { readings: number; devices: { bed: string; deviceId: string }[] };
  /**
   * Valid readings refused as implausible for their parameter (a body temperature outside 25–45 °C: °F sent without a
   * unit): counts per parameter, and the (device, parameter) not told of before, each to be logged once. Absent when none.
   */
  implausible?: { counts: Partial<Record<News2Param, number>>; devices: { deviceId: string; bed: string; param: News2Param; value: number; unit: string; range: string }[] };
  /**
   * Valid readings of a temperature term NEWS2 does not take (skin, blood: not a measurement site NEWS2 uses):
   * how many, and the (device, term) not told of before, each to be logged once. Absent when none.
   */
  temperatureNotUsed?: { readings: number; terms: { deviceId: string; bed: string; refid: string }[] };
  /**
   * Levels noted before a restart dropped without being judged: no current device input (or no reading confirming the
   * note's patient) within HELD_LEVEL_WAIT_S of the restart, or the note older than STALE_OBSERVATION_KEEP_S by then.
   * For a log line and a count, as the observations not restored. Absent when none.
   */
  heldLevelsDropped?: { bed: string; level: Exclude<News2Risk, 'low'>; reason: HeldLevelDropReason }[];
}

const emptyReport = (): News2Report => ({ unconvertible: [], newUnconvertible: [], observationsDropped: [], observationsUnmatchable: [], formerPatient: { readings: 0, devices: [] } });

/** One source's (`device|code`) input for a device parameter, with the device time its device gave with it, if any. */
interface SourceState {
  input: SourcedInput;
  deviceTime?: number;
}

/**
 * Sources kept per bed and device parameter (a bed has a few: ECG HR, SpO2 pulse rate, an oximeter's); past it the
 * oldest goes. Stale ones go at the parameter's next reading. Our choice.
 */
const MAX_SOURCES_PER_PARAM = 8;

/**
 * Whether a source's held input is newer than this reading of the same source (then the reading is left out). With a
 * device time not newer, it never is: that device's own clock says this one is as new or newer, whatever age a clock
 * step gave it (review rv83 H1: the values from before a step back stayed in place for 5 min).
 */
function older(held: SourceState, source: string, r: NumericReading, measuredAt: number): boolean {
  return heldIsNewer({ at: held.input.at, source, deviceTime: held.deviceTime }, measuredAt, source, r.deviceTime);
}

/** The bed's device inputs as computeNews2 takes them. */
function sourcesOf(s: BedState): News2Sources {
  const out: Partial<Record<BoundedParam, SourcedInput[]>> = {};
  for (const [p, m] of Object.entries(s.sourced) as [BoundedParam, Map<string, SourceState>][]) if (m.size) out[p] = [...m.values()].map((h) => h.input);
  return out;
}

interface BedState {
  /** Recorded observations (consciousness, oxygen); the device parameters are in `sourced`. */
  inputs: News2Inputs;
  /**
   * Device parameters' inputs per source (`device|code`), each with its own age and validity: only a source's own
   * non-valid reading makes its input not current (review rv162 F1: one input per parameter, overwritten by any
   * source, let the order of two sources' readings decide the score).
   */
  sourced: Partial<Record<BoundedParam, Map<string, SourceState>>>;
  /** The bed's patient: the first id given for the bed, then the id a change of patient was taken on. */
  patientId?: string;
  /** The patient id each device gives for this bed: a device that gives another one, consistently, has a new patient. */
  patientByDevice: Map<string, string>;
  /** Per device, another id it has given in a row (not yet taken), with how many receipt times and the latest. */
  pendingPatient: Map<string, PendingId>;
  /** After a change of patient, the ids the bed's devices gave for the previous patient (see patient()). */
  formerIds: Set<string>;
  /** Goes up at each change of patient: in the level's key (news2Key). */
  episode: number;
  /**
   * Observations kept from before a restart for a patient, until a reading with a patient id confirms or denies them.
   * Their ids are in stored form (see News2Config.storedPatientId).
   */
  restored?: RecordedObservations & { patientId: string };
  /** Set when the bed's patient changed: the level still present is the previous patient's, to be ended (why). */
  newPatient?: string;
  /** A level present before a restart (RecordedObservations.level), for the bed's first score with a current device input. */
  heldBefore?: Timed<Exclude<News2Risk, 'low'>>;
  /** When that level (or restored.level) began to wait for a current device input: the restart, else the first evaluate. */
  heldFrom?: number;
  /** The trigger level whose condition is currently present, or null; and its condition's key. */
  level: Exclude<News2Risk, 'low'> | null;
  levelKey: string | null;
  /** Since when a complete score has been below `level`, or null. */
  lowerSince: number | null;
  last?: News2Score;
}

/**
 * Keeps the latest valid inputs per bed (a device parameter's per source, the worse current one scored) and turns the
 * NEWS2 trigger levels into alarm conditions. Only one level is present per bed at a time (the highest that applies).
 * A partial score is a lower bound, so it can raise a level but
 * never ends one: the condition is not known to have ended while inputs are missing or stale.
 */
export class News2Monitor {
  private readonly beds = new Map<string, BedState>();
  private report: News2Report = emptyReport();
  /** Devices told of giving a former patient's id (once each; past MAX_TOLD_FORMER, counted only). */
  private readonly toldFormer = new Set<string>();
  private readonly unconvertibleCounts = new Map<string, { param: News2Param; unit: string; count: number }>();
  private readonly toldUnconvertible = new Set<string>();
  /** (device, parameter) told of an implausible value, and (device, term) of a temperature not used; capped as above. */
  private readonly toldImplausible = new Set<string>();
  private readonly toldTemperatureNotUsed = new Set<string>();
  constructor(private config: News2Config = DEFAULT_NEWS2_CONFIG) {}

  setConfig(config: News2Config): void {
    this.config = config;
  }

  private bed(bed: string): BedState {
    let s = this.beds.get(bed);
    if (!s) {
      s = { inputs: {}, sourced: {}, level: null, levelKey: null, lowerSince: null, patientByDevice: new Map(), pendingPatient: new Map(), formerIds: new Set(), episode: 0 };
      this.beds.set(bed, s);
    }
    return s;
  }

  /**
   * Feed a reading; returns true if it changed a NEWS2 input. Only valid measurements (not settings) from an assigned
   * bed count. `measuredAt`: when it was measured, on the gateway's clock (its input's age runs from then).
   */
  reading(r: NumericReading, measuredAt = r.receivedAt): boolean {
    if (!r.mdc || r.bed === undefined || r.setting || r.outOfOrder) return false;
    const known = this.beds.get(r.bed);
    const patient = known && r.patientId !== undefined ? this.patient(known, r.bed, r.deviceId, r.patientId, r.receivedAt) : 'same';
    // A device that still gives the previous patient's id after a change of patient at the bed (not yet re-admitted,
    // or still on that patient): by its own word its readings are of the previous patient, so they do not score the
    // new one. Left out of NEWS2 only (the limit rules, the display and forwarding still take them); that parameter
    // then shows missing or stale, the score partial, until the device gives another id.
    // Counted and told once per device (review rv80 M1): left out silently, a HIGH bed scored MEDIUM and nobody knew why.
    if (patient === 'former') {
      if (METRIC_PARAMS.has(r.mdc.code)) this.formerPatient(r.deviceId, r.bed);
      return false;
    }
    const changedPatient = patient === 'changed';
    const target = METRIC_PARAMS.get(r.mdc.code);
    if (!target) {
      // Another temperature term (skin, blood) arriving while the bed shows temperature missing: said why (rv107 L1).
      if (r.mdc.refid.startsWith('MDC_TEMP') && r.quality.state === 'valid' && typeof r.value === 'number') this.temperatureNotUsed(r.deviceId, r.bed, r.mdc.refid);
      return changedPatient;
    }
    const source = `${r.deviceId}|${r.mdc.code}`;
    // The metric that gave the input now has no valid value (probe off): that input is no longer current, rather
    // than its last value scored for up to maxAgeS while the display shows none. Another device's metric, or an
    // older reading, leaves it alone.
    const noLongerCurrent = (): boolean => {
      const held = known?.sourced[target.param]?.get(source);
      if (!held || held.input.invalid || older(held, source, r, measuredAt)) return changedPatient;
      held.input = { ...held.input, invalid: true };
      return true;
    };
    // A value beyond the device's measuring range (HL7 SN `>^40`), its only doubt, is a measurement as the limit rules
    // and the technical monitor take it (bound.ts): the most extreme values come as bounds (review rv142 F1: RR >40
    // was dropped, a HIGH bed scored MEDIUM). Scored only where the bound decides the band; else not current, as today.
    const bound = onlyBeyondRange(r.quality);
    if ((r.quality.state !== 'valid' && bound === null) || typeof r.value !== 'number' || !Number.isFinite(r.value)) return noLongerCurrent();
    const v = convert(r.value, r.unit.ucum, target.unit); // takes mmHg, degC, degF too (canonicalUcum)
    if (bound !== null && (v === null || !boundDecidesBand(target.param, bound, v, bedNews2Config(this.config, r.bed).spo2Scale))) return noLongerCurrent();
    if (v === null) {
      this.unconvertible(r.deviceId, r.bed, target.param, r.unit.ucum, target.unit);
      return changedPatient;
    }
    if (target.param === 'temperature' && (v < PLAUSIBLE_CELSIUS.low || v > PLAUSIBLE_CELSIUS.high)) {
      this.implausible(r.deviceId, r.bed, target.param, r.value, r.unit.ucum, `${PLAUSIBLE_CELSIUS.low}–${PLAUSIBLE_CELSIUS.high} Cel`);
      // Its source's current value is not the patient's now, as for a probe off (review rv109 H2: a 24.0, a probe in
      // room air or a severe hypothermia, left the 37.0 before it scored 0 as measured; a switch to °F without a unit
      // kept the last °C value for 4 h). Stale, the score partial: its upper bound holds any level.
      return noLongerCurrent();
    }
    const s = this.bed(r.bed);
    const held = (s.sourced[target.param] ??= new Map());
    const prev = held.get(source);
    if (prev && older(prev, source, r, measuredAt)) return false; // an older reading arriving late does not replace a newer one
    const input: SourcedInput = { value: v, at: measuredAt, deviceId: r.deviceId, metric: r.mdc.refid, ...(bound !== null && { bound }) };
    held.set(source, r.deviceTime !== null && Number.isFinite(r.deviceTime) ? { input, deviceTime: r.deviceTime } : { input });
    this.prune(held, target.param, source, r.receivedAt);
    if (!known && r.patientId !== undefined) {
      // The bed's first input: the first id a device gives here is its patient's.
      s.patientByDevice.set(r.deviceId, r.patientId);
      s.patientId = r.patientId;
    }
    return true;
  }

  /** Drops a parameter's other sources stale at `now`, then the oldest past MAX_SOURCES_PER_PARAM; `keep` stays. */
  private prune(held: Map<string, SourceState>, param: BoundedParam, keep: string, now: number): void {
    for (const [k, h] of held) if (k !== keep && now - h.input.at > this.config.maxAgeS[param] * 1000) held.delete(k);
    while (held.size > MAX_SOURCES_PER_PARAM) {
      let oldest: string | undefined;
      for (const [k, h] of held) if (k !== keep && (oldest === undefined || h.input.at < held.get(oldest)!.input.at)) oldest = k;
      held.delete(oldest!);
    }
  }

  /**
   * A valid reading in a unit NEWS2 cannot convert to its band's: not scored, so the bed shows that parameter missing
   * while values arrive. Counted per parameter and unit, and told once per device, parameter and unit (take()).
   */
  private unconvertible(deviceId: string, bed: string, param: News2Param, unit: string, want: string): void {
    let key = `${param}|${unit}`;
    // Units are the sender's strings: past the cap, counted under "other" so that a sender cannot grow the labels.
    if (!this.unconvertibleCounts.has(key) && this.unconvertibleCounts.size >= MAX_TOLD_UNCONVERTIBLE) key = `${param}|other`;
    const c = this.unconvertibleCounts.get(key) ?? { param, unit: key.slice(param.length + 1), count: 0 };
    c.count += 1;
    this.unconvertibleCounts.set(key, c);
    const told = `${deviceId}|${param}|${unit}`;
    if (this.toldUnconvertible.has(told) || this.toldUnconvertible.size >= MAX_TOLD_UNCONVERTIBLE) return;
    this.toldUnconvertible.add(told);
    this.report.newUnconvertible.push({ deviceId, bed, param, unit, want });
  }

  /** A valid reading refused as implausible (not scored, as for a unit that does not convert): counted, told once per device and parameter. */
  private implausible(deviceId: string, bed: string, param: News2Param, value: number, unit: string, range: string): void {
    const rep = (this.report.implausible ??= { counts: {}, devices: [] });
    rep.counts[param] = (rep.counts[param] ?? 0) + 1;
    const told = `${deviceId}|${param}`;
    if (this.toldImplausible.has(told) || this.toldImplausible.size >= MAX_TOLD_UNCONVERTIBLE) return;
    this.toldImplausible.add(told);
    rep.devices.push({ deviceId, bed, param, value, unit, range });
  }

  /** A temperature term NEWS2 does not take: counted, told once per device and term. */
  private temperatureNotUsed(deviceId: string, bed: string, refid: string): void {
    const rep = (this.report.temperatureNotUsed ??= { readings: 0, terms: [] });
    rep.readings += 1;
    const told = `${deviceId}|${refid}`;
    if (this.toldTemperatureNotUsed.has(told) || this.toldTemperatureNotUsed.size >= MAX_TOLD_UNCONVERTIBLE) return;
    this.toldTemperatureNotUsed.add(told);
    rep.terms.push({ deviceId, bed, refid });
  }

  /** A NEWS2 input left out as the previous patient's: counted, and its device told once. */
  private formerPatient(deviceId: string, bed: string): void {
    this.report.formerPatient.readings += 1;
    const told = `${deviceId}|${bed}`;
    if (this.toldFormer.has(told) || this.toldFormer.size >= MAX_TOLD_FORMER) return;
    this.toldFormer.add(told);
    this.report.formerPatient.devices.push({ bed, deviceId });
  }

  /** What there is to count and log since the last call (News2Report). */
  take(): News2Report {
    const out = { ...this.report, unconvertible: [...this.unconvertibleCounts.values()].map((c) => ({ ...c })) };
    for (const c of this.unconvertibleCounts.values()) c.count = 0;
    out.unconvertible = out.unconvertible.filter((c) => c.count > 0);
    this.report = emptyReport();
    return out;
  }

  /**
   * The patient a device gives for a bed that has state: 'same' (its patient, recorded), 'changed' (a new patient,
   * taken: see below), or 'former' (an id the bed's devices gave for the previous patient, after a change).
   *
   * A device gives, consistently, a patient id for a bed other than the one it gave before: a new patient there.
   * NEWS2 is a score of one patient, so the bed's inputs and recorded observations go (the last patient's oxygen,
   * ACVPU, fever must not score the next one for up to 12 h), the level ends at the next evaluation, and the new
   * patient's levels are new alarms (news2Key's episode).
   * Consistently: NEW_PATIENT_AFTER_READINGS readings in a row from that device with the new id, received at as many
   * different times (one message's readings count once), none with the old id between. One reading with another id
   * (a sender that puts the MRN in some messages only, a visit number in others) must not wipe the nurse's recorded
   * oxygen and ACVPU and under-score the patient. Compared per device: two devices on one bed may give the same
   * patient different ids (MRN, visit number), which is no change of patient; nor is a device that comes to give the
   * id the bed's patient already has (it was re-admitted after another device, or gives the MRN for the visit number).
   * After a change, a device that still gives one of the previous patient's ids is 'former': it neither sets the bed's
   * patient back nor, later giving the new patient's id, counts as yet another change. Its readings are left out of
   * NEWS2, counted and told (take(): formerPatient).
   * Not while another device of the bed still gives the current patient's id (review rv80 M1): a reading from another
   * device with the id it gives for the bed's patient ends every other device's run of a new id. One sender that puts
   * a visit number in some messages must not outvote an oximeter that gives the MRN all along: the change would drop
   * that oximeter's readings as 'former' and under-score the bed (HIGH shown MEDIUM), and every flip back would open
   * yet another NEWS2 episode. A real new patient is taken once the devices still giving the old id stop, or give the
   * new one too; until then the bed is scored as the current patient's, as during any run not yet taken.
   */
  private patient(s: BedState, bed: string, deviceId: string, patientId: string, at: number): 'same' | 'changed' | 'former' {
    if (s.restored) this.confirmRestored(s, bed, deviceId, patientId);
    const before = s.patientByDevice.get(deviceId);
    if (before === undefined) {
      if (s.formerIds.has(patientId)) return 'former';
      s.patientByDevice.set(deviceId, patientId); // its first id here (since the last change): its patient's
      s.patientId ??= patientId;
      return 'same';
    }
    if (before === patientId) {
      // The current patient's id again: this device's run of a new id is dropped, and so is any other device's (the
      // bed's patient is still being given: see above).
      s.pendingPatient.clear();
      return 'same';
    }
    const { run, taken } = countNewId(s.pendingPatient.get(deviceId), patientId, at);
    if (!taken) {
      s.pendingPatient.set(deviceId, run);
      return 'same';
    }
    s.pendingPatient.delete(deviceId);
    if (patientId === s.patientId) {
      s.patientByDevice.set(deviceId, patientId); // the bed's patient already: nothing to reset
      return 'same';
    }
    s.formerIds = new Set([...s.patientByDevice.values(), ...(s.patientId !== undefined ? [s.patientId] : [])]);
    s.formerIds.delete(patientId);
    s.inputs = {};
    s.sourced = {};
    s.lowerSince = null;
    delete s.heldBefore;
    s.pendingPatient = new Map();
    s.patientByDevice = new Map([[deviceId, patientId]]);
    s.patientId = patientId;
    s.episode += 1;
    if (s.level !== null) s.newPatient = `a new patient on this bed (${deviceId} now gives another patient id): the previous patient's NEWS2 no longer applies`;
    return 'changed';
  }

  /**
   * The first reading with a patient id after a restart says whether the observations kept for the bed are its
   * patient's: the same id as that device gave before (or, for a device not heard then, one of the patient's ids).
   * If so they count again, with the patient's ids; if not, the bed has another patient now: they are dropped and
   * reported (a log line), as the last patient's oxygen or ACVPU must not score the next one.
   */
  private confirmRestored(s: BedState, bed: string, deviceId: string, patientId: string): void {
    const r = s.restored!;
    delete s.restored;
    const ids = r.patientIds ?? {};
    // Compared in stored form: a pseudonym is the same for the same id (keyed HMAC).
    const stored = this.storedId(patientId);
    const same = ids[deviceId] !== undefined ? ids[deviceId] === stored : stored === r.patientId || Object.values(ids).includes(stored);
    if (!same) {
      // Another patient's level is not held for this one either (not told: no observation is lost with it).
      if (r.consciousness || r.oxygen) this.report.observationsDropped.push({ bed, deviceId });
      return;
    }
    this.keepNewer(s, r);
    if (r.level) s.heldBefore = r.level;
    // The live state holds raw ids (readings are compared with it). A pseudonym cannot be turned back: only the ids
    // this reading gives are known raw; another device's is learnt from its next reading, as for a device not heard.
    const raw = (id: string): string | undefined => (!this.config.storedPatientId ? id : id === stored ? patientId : undefined);
    const bedPatient = raw(r.patientId);
    if (bedPatient !== undefined) s.patientId ??= bedPatient;
    for (const [d, id] of Object.entries(ids)) {
      const rawId = raw(id);
      if (rawId !== undefined && !s.patientByDevice.has(d)) s.patientByDevice.set(d, rawId);
    }
  }

  /** A patient id as kept in the store (observations()). */
  private storedId(id: string): string {
    return this.config.storedPatientId ? this.config.storedPatientId(id) : id;
  }

  /** Takes recorded observations into the bed's inputs, unless one recorded in this run is newer. */
  private keepNewer(s: BedState, o: RecordedObservations): void {
    if (o.consciousness && !(s.inputs.consciousness && s.inputs.consciousness.at >= o.consciousness.at)) s.inputs.consciousness = o.consciousness;
    if (o.oxygen && !(s.inputs.oxygen && s.inputs.oxygen.at >= o.oxygen.at)) s.inputs.oxygen = o.oxygen;
  }

  /** Record clinical observations that no device measures (ACVPU, air or oxygen). */
  observe(bed: string, obs: { consciousness?: Acvpu; oxygen?: OxygenSupport }, at: number): void {
    const s = this.bed(bed);
    if (obs.consciousness !== undefined) s.inputs.consciousness = { value: obs.consciousness, at };
    if (obs.oxygen !== undefined) s.inputs.oxygen = { value: obs.oxygen, at };
  }

  /**
   * The observations people recorded (no device measures them), per bed, still within their maximum age, with the
   * bed's patient ids when its devices give them: kept in the store so that a restart does not forget that a patient
   * is on oxygen and score them 2 too low as "assumed air", nor give them to the next patient. An aged-out one that
   * shows stale rather than assumed (a C/V/P/U, "on oxygen") is kept too, with its time, for STALE_OBSERVATION_KEEP_S
   * after it was recorded: it comes back stale, the score partial, as before the restart. Observations restored and
   * not yet confirmed (restoreObservations) are kept as they came, by the same rule. With them, per bed, the level
   * present (`level`, at `now`), for a restart to hold it on a partial score as this run does; the caller writes this
   * again when a level changes.
   */
  observations(now: number): Record<string, RecordedObservations> {
    const out: Record<string, RecordedObservations> = {};
    for (const [bed, s] of this.beds) {
      const assume = bedNews2Config(this.config, bed).assume ?? {};
      const current = <T>(t: Timed<T> | undefined, p: 'consciousness' | 'oxygen'): Timed<T> | undefined => {
        if (!t) return undefined;
        const age = now - t.at;
        const keep = age <= this.config.maxAgeS[p] * 1000 || (age <= STALE_OBSERVATION_KEEP_S * 1000 && staysStale(p, t.value, assume[p]));
        return keep ? { value: t.value, at: t.at } : undefined;
      };
      const o: RecordedObservations = {};
      const c = current(s.inputs.consciousness, 'consciousness');
      const x = current(s.inputs.oxygen, 'oxygen');
      if (c) o.consciousness = c;
      if (x) o.oxygen = x;
      // The level present now; else one from before a restart not yet judged, kept as it came (it ages on).
      const level = s.level !== null ? { value: s.level, at: now } : (s.heldBefore ?? s.restored?.level);
      if (level) o.level = { value: level.value, at: level.at };
      if (s.restored) {
        // Not confirmed yet, so no patient of this run: kept for the patient they were recorded for.
        const rc = current(s.restored.consciousness, 'consciousness');
        const rx = current(s.restored.oxygen, 'oxygen');
        if (rc && !(c && c.at >= rc.at)) o.consciousness = rc;
        if (rx && !(x && x.at >= rx.at)) o.oxygen = rx;
        if (!o.consciousness && !o.oxygen && !o.level) continue;
        o.patientId = s.restored.patientId;
        if (s.restored.patientIds) o.patientIds = { ...s.restored.patientIds };
        if (s.restored.pseudonyms) o.pseudonyms = true;
        if (s.restored.keyFingerprint !== undefined) o.keyFingerprint = s.restored.keyFingerprint;
        out[bed] = o;
        continue;
      }
      if (!o.consciousness && !o.oxygen && !o.level) continue;
      // No raw patient id may be stored when ids are pseudonymised (docs/security.md): written in stored form.
      if (s.patientId !== undefined) o.patientId = this.storedId(s.patientId);
      if (s.patientByDevice.size) o.patientIds = Object.fromEntries([...s.patientByDevice].map(([d, id]) => [d, this.storedId(id)]));
      if (this.config.storedPatientId && o.patientId !== undefined) {
        o.pseudonyms = true;
        o.keyFingerprint = keyFingerprint(this.config.storedPatientId);
      }
      out[bed] = o;
    }
    return out;
  }

  /**
   * Takes back what observations() returned in an earlier run (as parsed JSON); anything malformed is skipped. Returns
   * the beds whose observations were restored. Observations kept with a patient id count only once a reading confirms
   * that patient (confirmRestored); kept without one (the bed's devices gave none), they count at once. With `now`, one
   * recorded longer ago than max(maxAgeS, STALE_OBSERVATION_KEEP_S) is dropped (without it, none is: callers should
   * pass it). A level noted is taken back the same way, for the bed's first score (evaluate), if noted within
   * STALE_OBSERVATION_KEEP_S; that score must come within HELD_LEVEL_WAIT_S of `now`, and the note still be within
   * STALE_OBSERVATION_KEEP_S then, or the level is dropped (expireHeld).
   */
  restoreObservations(stored: unknown, now?: number): string[] {
    if (!stored || typeof stored !== 'object') return [];
    const beds: string[] = [];
    const timed = <T extends string>(v: unknown, allowed: readonly T[], p: 'consciousness' | 'oxygen'): Timed<T> | undefined => {
      const t = v as Partial<Timed<unknown>> | undefined;
      if (!(t && typeof t.at === 'number' && Number.isFinite(t.at) && (allowed as readonly unknown[]).includes(t.value))) return undefined;
      // Past the bound observations() keeps by, it is dropped here too: a note not rewritten since (no observation
      // recorded on any bed) would otherwise bring back a V days old, or give it to a patient admitted since (rv111 M3).
      if (now !== undefined && now - t.at > Math.max(this.config.maxAgeS[p], STALE_OBSERVATION_KEEP_S) * 1000) return undefined;
      return { value: t.value as T, at: t.at };
    };
    const noted = (v: unknown, bed: string): Timed<Exclude<News2Risk, 'low'>> | undefined => {
      const t = v as Partial<Timed<unknown>> | undefined;
      if (!(t && typeof t.at === 'number' && Number.isFinite(t.at) && (LEVEL_ORDER as readonly unknown[]).includes(t.value))) return undefined;
      // As a stale observation: a note days old may be of a patient admitted since (the bed's devices give no id).
      // Told as a drop (review rv118 L1): the usual case, a gateway off for a long weekend.
      if (now !== undefined && now - t.at > STALE_OBSERVATION_KEEP_S * 1000) {
        (this.report.heldLevelsDropped ??= []).push({ bed, level: t.value as Exclude<News2Risk, 'low'>, reason: 'note-too-old' });
        return undefined;
      }
      return { value: t.value as Exclude<News2Risk, 'low'>, at: t.at };
    };
    for (const [bed, v] of Object.entries(stored as Record<string, unknown>)) {
      const o = (v ?? {}) as Record<string, unknown>;
      const consciousness = timed(o.consciousness, ACVPU, 'consciousness');
      const oxygen = timed(o.oxygen, OXYGEN_SUPPORT, 'oxygen');
      const level = noted(o.level, bed);
      if (!consciousness && !oxygen && !level) continue;
      const obs: RecordedObservations = {};
      if (consciousness) obs.consciousness = consciousness;
      if (oxygen) obs.oxygen = oxygen;
      if (level) obs.level = level;
      if (typeof o.patientId === 'string' && o.pseudonyms === true) {
        // Pseudonyms made with another key, or with pseudonymisation now off (raw ids to compare): no patient can
        // match them. Dropped now, with the cause, rather than as "another patient" at the first reading.
        const reason: UnmatchableReason | null = !this.config.storedPatientId
          ? 'pseudonyms-off'
          : typeof o.keyFingerprint === 'string' && o.keyFingerprint !== keyFingerprint(this.config.storedPatientId)
            ? 'key-changed'
            : null;
        if (reason) {
          // A level alone is not told as observations: the restart's list of open alarms names it.
          if (consciousness || oxygen) this.report.observationsUnmatchable.push({ bed, reason });
          continue;
        }
      }
      const s = this.bed(bed);
      if (typeof o.patientId === 'string') {
        let ids = o.patientIds && typeof o.patientIds === 'object' ? Object.entries(o.patientIds as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string') : [];
        let patientId = o.patientId;
        let pseudonyms = o.pseudonyms === true;
        // Raw ids (a note written before pseudonymisation was on, or by an earlier version): taken in stored form at
        // once, so that the same patient still matches and the next save holds no raw id.
        if (!pseudonyms && this.config.storedPatientId) {
          patientId = this.storedId(patientId);
          ids = ids.map(([d, id]) => [d, this.storedId(id)]);
          pseudonyms = true;
        }
        const fp = pseudonyms && this.config.storedPatientId ? { keyFingerprint: keyFingerprint(this.config.storedPatientId) } : {};
        s.restored = { ...obs, patientId, ...(ids.length ? { patientIds: Object.fromEntries(ids) } : {}), ...(pseudonyms ? { pseudonyms: true as const } : {}), ...fp };
      } else {
        this.keepNewer(s, obs); // a newer observation recorded in this run is kept
        if (level) s.heldBefore = level;
      }
      // The level waits HELD_LEVEL_WAIT_S from the restart; without `now`, from the bed's first evaluate.
      if (level && now !== undefined) s.heldFrom = now;
      else delete s.heldFrom;
      if (consciousness || oxygen) beds.push(bed);
    }
    return beds;
  }

  /** The current score for a bed, or undefined if the bed has never had an input. */
  score(bed: string, now: number): News2Score | undefined {
    const s = this.beds.get(bed);
    return s && bedNews2Config(this.config, bed).enabled ? computeNews2(s.inputs, now, this.config, bed, sourcesOf(s)) : undefined;
  }

  /** Whether NEWS2 is scored for a bed (switched off per bed, e.g. for children). */
  enabled(bed: string): boolean {
    return bedNews2Config(this.config, bed).enabled;
  }

  /** Beds that have had at least one input. */
  knownBeds(): string[] {
    return [...this.beds.keys()];
  }

  /**
   * The gateway's clock stepped (AlarmEngine.shiftClock): the times that age inputs and observations, hold a lower score,
   * wait for a held level and count a new patient's readings move with it. Device times (sourceTimes) are the devices'.
   */
  shiftClock(deltaMs: number): void {
    // Each timed value once: one object may be held in two places (a restored level is also the level held before).
    const timed = new Set<{ at: number }>();
    for (const s of this.beds.values()) {
      for (const i of Object.values(s.inputs) as (Timed<unknown> | undefined)[]) if (i) timed.add(i);
      for (const m of Object.values(s.sourced)) for (const h of m.values()) timed.add(h.input);
      for (const t of [s.heldBefore, s.restored?.consciousness, s.restored?.oxygen, s.restored?.level]) if (t) timed.add(t);
      if (s.lowerSince !== null) s.lowerSince += deltaMs;
      if (s.heldFrom !== undefined) s.heldFrom += deltaMs;
      for (const [k, p] of s.pendingPatient) s.pendingPatient.set(k, { ...p, lastAt: p.lastAt + deltaMs });
    }
    for (const t of timed) t.at += deltaMs;
  }

  /** Re-score one bed (or all) and report trigger-level conditions raised and ended. */
  evaluate(now: number, onlyBed?: string): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    const beds = onlyBed !== undefined ? [onlyBed] : [...this.beds.keys()];
    for (const bed of beds) {
      const s = this.beds.get(bed);
      if (!s) continue;
      if (!bedNews2Config(this.config, bed).enabled) {
        if (s.levelKey !== null) out.push({ present: false, key: s.levelKey, at: now, why: 'NEWS2 switched off for this bed' });
        this.setLevel(s, bed, null);
        s.lowerSince = null;
        delete s.heldBefore;
        continue;
      }
      if (s.newPatient !== undefined && s.levelKey !== null) {
        // The previous patient's condition, unanswered, stays in view (latched) until acknowledged.
        out.push({ present: false, key: s.levelKey, at: now, why: s.newPatient, unconfirmed: true });
        this.setLevel(s, bed, null);
      }
      delete s.newPatient;
      this.expireHeld(s, bed, now);
      const score = computeNews2(s.inputs, now, this.config, bed, sourcesOf(s));
      s.last = score;
      if (!score.params.some((p) => p.status === 'measured' && DEVICE_PARAMS.has(p.param))) {
        // Not one current device input (device values stale, invalid or missing): the bed is no longer scored (its
        // monitor silent, or moved away). The level ends, unconfirmed, saying so; while it stayed, the alarm and a
        // "low, partial" score disagreed for ever. A recorded observation does not count here: it stays current for
        // 12 h and kept such a level that long. Nor does it raise one (review rv107 H1: a recorded V raised the level
        // this ended, every other second, a new alarm each time once acknowledged); the tile still shows the score.
        if (s.levelKey !== null) out.push({ present: false, key: s.levelKey, at: now, why: `NEWS2 no longer scored, no current input: ${describe(score)}`, unconfirmed: true });
        this.setLevel(s, bed, null);
        s.lowerSince = null;
        continue;
      }
      let level: Exclude<News2Risk, 'low'> | null = score.risk === 'low' ? null : score.risk;
      const rank = (l: Exclude<News2Risk, 'low'> | null): number => (l === null ? -1 : LEVEL_ORDER.indexOf(l));
      let bound = '';
      let restored = false;
      const held = s.heldBefore?.value;
      delete s.heldBefore; // judged once, at the first score with a current device input
      if (held !== undefined && score.partial) {
        // A level present before the restart: held then while a partial score could reach it (below), so raised again
        // for the same inputs, up to what the upper bound allows; a complete score is judged afresh. (A level may be
        // present already: raised from readings without a patient id before one confirmed the note's patient.)
        const upper = news2UpperBound(score);
        const ceiling = upper.risk === 'low' ? null : upper.risk;
        const kept = rank(ceiling) < rank(held) ? ceiling : held;
        if (rank(kept) > rank(level) && rank(kept) > rank(s.level)) {
          level = kept;
          bound = ` (at most ${upper.total} with the missing and stale parameters)`;
          restored = true;
        }
      }
      if (rank(level) < rank(s.level)) {
        // A partial score is a lower bound: it cannot show the risk fell below what the missing and stale parameters
        // could make it. Its upper bound can: a level above that ends, or is lowered to it (review rv107 M1: a bed
        // with no temperature feed is partial for ever, and a level raised once never ended). Either way a score
        // must stay lower a while.
        if (score.partial) {
          const upper = news2UpperBound(score);
          const ceiling = upper.risk === 'low' ? null : upper.risk;
          if (rank(ceiling) >= rank(s.level)) {
            s.lowerSince = null;
            continue;
          }
          level = ceiling;
          bound = ` (at most ${upper.total} with the missing and stale parameters)`;
        }
        s.lowerSince ??= now;
        if (now - s.lowerSince < this.config.clearAfterS * 1000) continue;
      }
      s.lowerSince = null;
      if (level === s.level) continue;
      const why = describe(score);
      if (s.levelKey !== null) out.push({ present: false, key: s.levelKey, at: now, why: level === null ? `NEWS2 below trigger${bound}: ${why}` : `NEWS2 now ${level}${bound}: ${why}` });
      this.setLevel(s, bed, level);
      const raiseWhy = restored ? `held before the restart, and the partial score could still reach it${bound}: ${why}` : why;
      if (level !== null) out.push({ present: true, spec: this.spec(bed, s, level, score, bound), at: now, why: raiseWhy });
    }
    return out;
  }

  /**
   * A level noted before a restart is used only at a first current device input within HELD_LEVEL_WAIT_S of the
   * restart, and while the note is at most STALE_OBSERVATION_KEEP_S old: past either it is dropped (no longer written
   * to the note) and reported. Checked at each evaluate, so that a silent bed drops it on time too.
   */
  private expireHeld(s: BedState, bed: string, now: number): void {
    const held = s.heldBefore ?? s.restored?.level;
    if (!held) {
      delete s.heldFrom; // judged, or dropped at a change of patient: nothing waits
      return;
    }
    s.heldFrom ??= now;
    const reason: HeldLevelDropReason | null =
      now - held.at > STALE_OBSERVATION_KEEP_S * 1000 ? 'note-too-old' : now - s.heldFrom > HELD_LEVEL_WAIT_S * 1000 ? 'no-input-after-restart' : null;
    if (reason === null) return;
    delete s.heldBefore;
    delete s.heldFrom;
    if (s.restored) delete s.restored.level;
    (this.report.heldLevelsDropped ??= []).push({ bed, level: held.value, reason });
  }

  /** The level present and its key, kept as raised: the key of this patient's episode (news2Key). */
  private setLevel(s: BedState, bed: string, level: Exclude<News2Risk, 'low'> | null): void {
    s.level = level;
    s.levelKey = level === null ? null : news2Key(bed, level, s.episode);
  }

  /** `bound`: a level lowered to what a partial score's upper bound allows says so (its total alone is below it). */
  private spec(bed: string, s: BedState, level: Exclude<News2Risk, 'low'>, score: News2Score, bound = ''): ConditionSpec {
    // Assumed parameters (alert, on air, unless someone records otherwise) score 0: the true score may be higher.
    const assumed = score.assumed.length ? ` (assumed: ${score.assumed.join(', ')})` : '';
    // A parameter scored from a bound says so: the device read RR ">40", not 40.
    const beyond = score.params.filter((p) => p.bound !== undefined).map((p) => `${p.param} ${p.bound}${String(p.value)}`);
    const bounded = beyond.length ? ` (beyond device range: ${beyond.join(', ')})` : '';
    // The engine keeps an alarm's text and value as raised (only a priority change updates it, with a record, so that
    // the last audit record equals the alarm), and a level persists while the score moves within it: the text says
    // the score is the raise's (review rv107 M2); the current one is the bed's news2(), shown on its tile.
    const text = `${LEVEL_TEXT[level]}: score at raise ${score.total}${score.partial ? ' (partial)' : ''}${bound}${assumed}${bounded}`;
    const spec: ConditionSpec = {
      key: s.levelKey ?? news2Key(bed, level, s.episode),
      source: 'news2',
      bed,
      deviceId: 'agent:news2',
      condition: { code: null, raw: { system: 'agent', code: `news2:${level}`, text: LEVEL_TEXT[level] }, text },
      priority: this.config.priorities[level],
      category: 'physiological',
      value: score.total,
      unit: { ucum: '{score}' },
    };
    if (s.patientId !== undefined) spec.patientId = s.patientId;
    return spec;
  }
}

/**
 * The most a partial score could be (review rv107 M1): each missing or stale parameter at its highest (3; oxygen 2),
 * and on scale 2 with oxygen unknown, SpO2 as on oxygen (it is scored as on air). A level above its risk cannot apply.
 */
export function news2UpperBound(score: News2Score): { total: number; risk: News2Risk } {
  const unknown = new Set([...score.missing, ...score.stale]);
  let total = score.total;
  let any3 = score.anySingle3;
  for (const p of unknown) {
    total += p === 'oxygen' ? 2 : 3;
    if (p !== 'oxygen') any3 = true;
  }
  const spo2 = score.params.find((r) => r.param === 'spo2');
  if (score.scale === 2 && unknown.has('oxygen') && spo2?.status === 'measured' && typeof spo2.value === 'number') {
    const onOxygen = scoreSpO2Scale2(spo2.value, 'oxygen');
    total += Math.max(0, onOxygen - (spo2.score ?? 0));
    if (onOxygen === 3) any3 = true;
  }
  return { total, risk: news2Risk(total, any3) };
}

function describe(score: News2Score): string {
  const parts = score.params.map((p) => {
    if (p.status === 'missing') return `${p.param} missing`;
    if (p.status === 'stale' && p.score === undefined) return `${p.param} stale`;
    // With other current sources (a monitor and an oximeter), which one is scored and what the others read.
    const of = p.others && p.source ? ` (${p.source.deviceId} ${p.source.metric}; also ${p.others.map((o) => `${o.value} ${o.deviceId} ${o.metric}`).join(', ')})` : '';
    return `${p.param} ${p.bound ?? ''}${String(p.value)}${p.status === 'assumed' ? ' (assumed)' : ''}=${p.score ?? '?'}${of}`;
  });
  return `total ${score.total}${score.partial ? ' (partial)' : ''}, ${parts.join(', ')}`;
}
