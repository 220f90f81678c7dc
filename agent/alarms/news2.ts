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
import { MDC } from '../model/mdc.js';
import type { NumericReading } from '../model/reading.js';
import type { ConditionSpec, ConditionUpdate, ManagedPriority } from './types.js';
import { convert } from './units.js';

export type Acvpu = 'A' | 'C' | 'V' | 'P' | 'U';
export type OxygenSupport = 'air' | 'oxygen';
const ACVPU: readonly Acvpu[] = ['A', 'C', 'V', 'P', 'U'];
const OXYGEN_SUPPORT: readonly OxygenSupport[] = ['air', 'oxygen'];
/** Observations a person recorded for one bed, with when. */
export interface RecordedObservations {
  consciousness?: Timed<Acvpu>;
  oxygen?: Timed<OxygenSupport>;
}
export type News2Param = 'respRate' | 'spo2' | 'oxygen' | 'systolic' | 'pulse' | 'consciousness' | 'temperature';
export const NEWS2_PARAMS: readonly News2Param[] = ['respRate', 'spo2', 'oxygen', 'systolic', 'pulse', 'consciousness', 'temperature'];
export type News2Risk = 'low' | 'low-medium' | 'medium' | 'high';

// ---- Scoring of single parameters (pure). Values are rounded as the chart's integer / one-decimal bands imply.

export function scoreRespRate(rr: number): number {
  const v = Math.round(rr);
  if (v <= 8) return 3;
  if (v <= 11) return 1;
  if (v <= 20) return 0;
  if (v <= 24) return 2;
  return 3;
}

export function scoreSpO2Scale1(spo2: number): number {
  const v = Math.round(spo2);
  if (v <= 91) return 3;
  if (v <= 93) return 2;
  if (v <= 95) return 1;
  return 0;
}

export function scoreSpO2Scale2(spo2: number, support: OxygenSupport): number {
  const v = Math.round(spo2);
  if (v <= 83) return 3;
  if (v <= 85) return 2;
  if (v <= 87) return 1;
  if (v <= 92 || support === 'air') return 0;
  if (v <= 94) return 1;
  if (v <= 96) return 2;
  return 3;
}

export function scoreOxygen(support: OxygenSupport): number {
  return support === 'oxygen' ? 2 : 0;
}

export function scoreSystolic(sys: number): number {
  const v = Math.round(sys);
  if (v <= 90) return 3;
  if (v <= 100) return 2;
  if (v <= 110) return 1;
  if (v <= 219) return 0;
  return 3;
}

export function scorePulse(pulse: number): number {
  const v = Math.round(pulse);
  if (v <= 40) return 3;
  if (v <= 50) return 1;
  if (v <= 90) return 0;
  if (v <= 110) return 1;
  if (v <= 130) return 2;
  return 3;
}

export function scoreConsciousness(level: Acvpu): number {
  return level === 'A' ? 0 : 3;
}

export function scoreTemperature(celsius: number): number {
  const v = Math.round(celsius * 10) / 10;
  if (v <= 35.0) return 3;
  if (v <= 36.0) return 1;
  if (v <= 38.0) return 0;
  if (v <= 39.0) return 1;
  return 2;
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
  /** Values used, and reported as assumed, when no fresh observation exists. Absent: the parameter is missing. */
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
}

export function bedNews2Config(config: News2Config, bed: string): Required<Pick<News2BedConfig, 'spo2Scale' | 'enabled'>> & News2BedConfig {
  const b = config.beds?.[bed];
  return {
    enabled: b?.enabled ?? config.defaults.enabled ?? true,
    spo2Scale: b?.spo2Scale ?? config.defaults.spo2Scale ?? 1,
    assume: { ...(config.defaults.assume ?? {}), ...(b?.assume ?? {}) },
  };
}

/** Score NEWS2 at `now`. Stale inputs are never used; assumptions are used only where configured and reported. */
export function computeNews2(inputs: News2Inputs, now: number, config: News2Config, bed: string): News2Score {
  const bc = bedNews2Config(config, bed);
  const fresh = <T>(p: News2Param, t: Timed<T> | undefined): { ok: Timed<T> } | { stale: Timed<T> } | null => {
    if (!t) return null;
    return now - t.at <= config.maxAgeS[p] * 1000 ? { ok: t } : { stale: t };
  };
  const results = new Map<News2Param, News2ParamResult>();

  const resolveParam = <T extends number | string>(p: News2Param, t: Timed<T> | undefined, assumed?: T): Timed<T> | undefined => {
    const f = fresh(p, t);
    const r: News2ParamResult = { param: p, status: 'missing' };
    if (f && 'ok' in f) {
      Object.assign(r, { status: 'measured', value: f.ok.value, at: f.ok.at });
      results.set(p, r);
      return f.ok;
    }
    if (f && 'stale' in f) Object.assign(r, { status: 'stale', staleValue: f.stale.value, staleAt: f.stale.at });
    if (assumed !== undefined) {
      Object.assign(r, { status: 'assumed', value: assumed });
      results.set(p, r);
      return { value: assumed, at: now };
    }
    results.set(p, r);
    return undefined;
  };

  const rr = resolveParam('respRate', inputs.respRate);
  const spo2 = resolveParam('spo2', inputs.spo2);
  const oxygen = resolveParam('oxygen', inputs.oxygen, bc.assume?.oxygen);
  const sys = resolveParam('systolic', inputs.systolic);
  const pulse = resolveParam('pulse', inputs.pulse);
  const cons = resolveParam('consciousness', inputs.consciousness, bc.assume?.consciousness);
  const temp = resolveParam('temperature', inputs.temperature);

  const setScore = (p: News2Param, s: number | undefined): void => {
    const r = results.get(p);
    if (r && s !== undefined) r.score = s;
  };
  setScore('respRate', rr && scoreRespRate(rr.value));
  if (spo2) {
    if (bc.spo2Scale === 2) {
      // Scale 2 needs to know air or oxygen above 92 %; without it, score as air (the lower score) and stay partial.
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
  return { at: now, total, partial: missing.length + stale.length > 0, scale: bc.spo2Scale, anySingle3, risk: news2Risk(total, anySingle3), params, missing, stale, assumed };
}

// ---- Per-bed tracking and trigger conditions.

/** Which NEWS2 parameter a metric feeds, with the unit the bands are in. */
const METRIC_PARAMS = new Map<number, { param: 'respRate' | 'spo2' | 'systolic' | 'pulse' | 'temperature'; unit: string }>([
  [MDC.RESP_RATE.code, { param: 'respRate', unit: '/min' }],
  [MDC.TTHOR_RESP_RATE.code, { param: 'respRate', unit: '/min' }],
  [MDC.AWAY_RESP_RATE.code, { param: 'respRate', unit: '/min' }],
  [MDC.PULS_OXIM_SAT_O2.code, { param: 'spo2', unit: '%' }],
  [MDC.PRESS_BLD_NONINV_SYS.code, { param: 'systolic', unit: 'mm[Hg]' }],
  [MDC.PRESS_BLD_ART_ABP_SYS.code, { param: 'systolic', unit: 'mm[Hg]' }],
  [MDC.PRESS_BLD_ART_SYS.code, { param: 'systolic', unit: 'mm[Hg]' }],
  [MDC.ECG_HEART_RATE.code, { param: 'pulse', unit: '/min' }],
  [MDC.PULS_RATE.code, { param: 'pulse', unit: '/min' }],
  [MDC.PULS_OXIM_PULS_RATE.code, { param: 'pulse', unit: '/min' }],
  [MDC.TEMP_BODY.code, { param: 'temperature', unit: 'Cel' }],
  [MDC.TEMP.code, { param: 'temperature', unit: 'Cel' }],
]);

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

export function news2Key(bed: string, level: Exclude<News2Risk, 'low'>): string {
  return `news2:${bed}:${level}`;
}

interface BedState {
  inputs: News2Inputs;
  patientId?: string;
  /** The patient id each device gives for this bed: a device that gives another one, consistently, has a new patient. */
  patientByDevice: Map<string, string>;
  /** Per device, another id it has given in a row (not yet taken), with how many receipt times and the latest. */
  pendingPatient: Map<string, { id: string; count: number; lastAt: number }>;
  /** Set when the bed's patient changed: the level still present is the previous patient's, to be ended (why). */
  newPatient?: string;
  /** The trigger level whose condition is currently present, or null. */
  level: Exclude<News2Risk, 'low'> | null;
  /** Since when a complete score has been below `level`, or null. */
  lowerSince: number | null;
  last?: News2Score;
}

/**
 * Keeps the latest valid inputs per bed and turns the NEWS2 trigger levels into alarm conditions. Only one level is
 * present per bed at a time (the highest that applies). A partial score is a lower bound, so it can raise a level but
 * never ends one: the condition is not known to have ended while inputs are missing or stale.
 */
export class News2Monitor {
  private readonly beds = new Map<string, BedState>();
  constructor(private config: News2Config = DEFAULT_NEWS2_CONFIG) {}

  setConfig(config: News2Config): void {
    this.config = config;
  }

  private bed(bed: string): BedState {
    let s = this.beds.get(bed);
    if (!s) {
      s = { inputs: {}, level: null, lowerSince: null, patientByDevice: new Map(), pendingPatient: new Map() };
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
    const changedPatient = r.patientId !== undefined && this.patientChanged(r.bed, r.deviceId, r.patientId, r.receivedAt);
    const target = METRIC_PARAMS.get(r.mdc.code);
    if (!target || r.quality.state !== 'valid' || typeof r.value !== 'number' || !Number.isFinite(r.value)) return changedPatient;
    const v = convert(r.value, r.unit.ucum, target.unit);
    if (v === null) return changedPatient;
    const s = this.bed(r.bed);
    const prev = s.inputs[target.param];
    if (prev && prev.at > measuredAt) return false; // an older reading arriving late does not replace a newer one
    s.inputs[target.param] = { value: v, at: measuredAt };
    if (r.patientId !== undefined) {
      // The first id a device gives here is its patient's; another one counts only once taken (patientChanged).
      if (!s.patientByDevice.has(r.deviceId)) s.patientByDevice.set(r.deviceId, r.patientId);
      if (s.patientByDevice.get(r.deviceId) === r.patientId) s.patientId = r.patientId;
    }
    return true;
  }

  /**
   * A device gives, consistently, a patient id for a bed other than the one it gave before: a new patient there.
   * NEWS2 is a score of one patient, so the bed's inputs and recorded observations go (the last patient's oxygen,
   * ACVPU, fever must not score the next one for up to 12 h) and its level is ended at the next evaluation.
   * Consistently: NEW_PATIENT_AFTER_READINGS readings in a row from that device with the new id, received at as many
   * different times (one message's readings count once), none with the old id between. One reading with another id
   * (a sender that puts the MRN in some messages only, a visit number in others) must not wipe the nurse's recorded
   * oxygen and ACVPU and under-score the patient. Compared per device: two devices on one bed may give the same
   * patient different ids (MRN, visit number), which is no change of patient.
   */
  private patientChanged(bed: string, deviceId: string, patientId: string, at: number): boolean {
    const s = this.beds.get(bed);
    if (!s) return false; // nothing scored for the bed yet (its first input records the id)
    const before = s.patientByDevice.get(deviceId);
    if (before === undefined) s.patientByDevice.set(deviceId, patientId);
    if (before === undefined || before === patientId) {
      s.pendingPatient.delete(deviceId); // the old id again: any new one so far is dropped
      return false;
    }
    let pending = s.pendingPatient.get(deviceId);
    if (pending?.id !== patientId) {
      pending = { id: patientId, count: 0, lastAt: -Infinity };
      s.pendingPatient.set(deviceId, pending);
    }
    if (at > pending.lastAt) {
      pending.count += 1;
      pending.lastAt = at;
    }
    if (pending.count < NEW_PATIENT_AFTER_READINGS) return false;
    s.inputs = {};
    s.lowerSince = null;
    s.pendingPatient = new Map();
    s.patientByDevice = new Map([[deviceId, patientId]]);
    s.patientId = patientId;
    if (s.level !== null) s.newPatient = `a new patient on this bed (${deviceId} now gives another patient id): the previous patient's NEWS2 no longer applies`;
    return true;
  }

  /** Record clinical observations that no device measures (ACVPU, air or oxygen). */
  observe(bed: string, obs: { consciousness?: Acvpu; oxygen?: OxygenSupport }, at: number): void {
    const s = this.bed(bed);
    if (obs.consciousness !== undefined) s.inputs.consciousness = { value: obs.consciousness, at };
    if (obs.oxygen !== undefined) s.inputs.oxygen = { value: obs.oxygen, at };
  }

  /**
   * The observations people recorded (no device measures them), per bed, still within their maximum age: kept in the
   * store so that a restart does not forget that a patient is on oxygen and score them 2 too low as "assumed air".
   */
  observations(now: number): Record<string, RecordedObservations> {
    const out: Record<string, RecordedObservations> = {};
    for (const [bed, s] of this.beds) {
      const o: RecordedObservations = {};
      const c = s.inputs.consciousness;
      const x = s.inputs.oxygen;
      if (c && now - c.at <= this.config.maxAgeS.consciousness * 1000) o.consciousness = { ...c };
      if (x && now - x.at <= this.config.maxAgeS.oxygen * 1000) o.oxygen = { ...x };
      if (o.consciousness || o.oxygen) out[bed] = o;
    }
    return out;
  }

  /** Takes back what observations() returned in an earlier run (as parsed JSON); anything malformed is skipped. Returns the beds restored. */
  restoreObservations(stored: unknown): string[] {
    if (!stored || typeof stored !== 'object') return [];
    const beds: string[] = [];
    const timed = <T extends string>(v: unknown, allowed: readonly T[]): Timed<T> | undefined => {
      const t = v as Partial<Timed<unknown>> | undefined;
      return t && typeof t.at === 'number' && Number.isFinite(t.at) && (allowed as readonly unknown[]).includes(t.value) ? { value: t.value as T, at: t.at } : undefined;
    };
    for (const [bed, v] of Object.entries(stored as Record<string, unknown>)) {
      const o = (v ?? {}) as Record<string, unknown>;
      const consciousness = timed(o.consciousness, ACVPU);
      const oxygen = timed(o.oxygen, OXYGEN_SUPPORT);
      if (!consciousness && !oxygen) continue;
      const s = this.bed(bed);
      // A newer observation recorded in this run is kept.
      if (consciousness && !(s.inputs.consciousness && s.inputs.consciousness.at >= consciousness.at)) s.inputs.consciousness = consciousness;
      if (oxygen && !(s.inputs.oxygen && s.inputs.oxygen.at >= oxygen.at)) s.inputs.oxygen = oxygen;
      beds.push(bed);
    }
    return beds;
  }

  /** The current score for a bed, or undefined if the bed has never had an input. */
  score(bed: string, now: number): News2Score | undefined {
    const s = this.beds.get(bed);
    return s && bedNews2Config(this.config, bed).enabled ? computeNews2(s.inputs, now, this.config, bed) : undefined;
  }

  /** Whether NEWS2 is scored for a bed (switched off per bed, e.g. for children). */
  enabled(bed: string): boolean {
    return bedNews2Config(this.config, bed).enabled;
  }

  /** Beds that have had at least one input. */
  knownBeds(): string[] {
    return [...this.beds.keys()];
  }

  /** Re-score one bed (or all) and report trigger-level conditions raised and ended. */
  evaluate(now: number, onlyBed?: string): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    const beds = onlyBed !== undefined ? [onlyBed] : [...this.beds.keys()];
    for (const bed of beds) {
      const s = this.beds.get(bed);
      if (!s) continue;
      if (!bedNews2Config(this.config, bed).enabled) {
        if (s.level !== null) out.push({ present: false, key: news2Key(bed, s.level), at: now, why: 'NEWS2 switched off for this bed' });
        s.level = null;
        s.lowerSince = null;
        continue;
      }
      if (s.newPatient !== undefined && s.level !== null) {
        // The previous patient's condition, unanswered, stays in view (latched) until acknowledged.
        out.push({ present: false, key: news2Key(bed, s.level), at: now, why: s.newPatient, unconfirmed: true });
        s.level = null;
      }
      delete s.newPatient;
      const score = computeNews2(s.inputs, now, this.config, bed);
      s.last = score;
      if (s.level !== null && !score.params.some((p) => p.status === 'measured')) {
        // Not one current input (device values stale or missing, observations stale or only assumed): the bed is no
        // longer scored (its monitor silent, or moved away). The level ends, unconfirmed, saying so; while it stayed,
        // the alarm and a "low, partial" score disagreed for ever.
        out.push({ present: false, key: news2Key(bed, s.level), at: now, why: `NEWS2 no longer scored, no current input: ${describe(score)}`, unconfirmed: true });
        s.level = null;
        s.lowerSince = null;
        continue;
      }
      const level = score.risk === 'low' ? null : score.risk;
      const rank = (l: Exclude<News2Risk, 'low'> | null): number => (l === null ? -1 : LEVEL_ORDER.indexOf(l));
      if (rank(level) < rank(s.level)) {
        // A partial score is a lower bound: it cannot show the risk fell. A complete one must stay lower a while.
        if (score.partial) {
          s.lowerSince = null;
          continue;
        }
        s.lowerSince ??= now;
        if (now - s.lowerSince < this.config.clearAfterS * 1000) continue;
      }
      s.lowerSince = null;
      if (level === s.level) continue;
      const why = describe(score);
      if (s.level !== null) out.push({ present: false, key: news2Key(bed, s.level), at: now, why: level === null ? `NEWS2 below trigger: ${why}` : `NEWS2 now ${level}: ${why}` });
      if (level !== null) out.push({ present: true, spec: this.spec(bed, s, level, score), at: now, why });
      s.level = level;
    }
    return out;
  }

  private spec(bed: string, s: BedState, level: Exclude<News2Risk, 'low'>, score: News2Score): ConditionSpec {
    // Assumed parameters (alert, on air, unless someone records otherwise) score 0: the true score may be higher.
    const assumed = score.assumed.length ? ` (assumed: ${score.assumed.join(', ')})` : '';
    const text = `${LEVEL_TEXT[level]}: score ${score.total}${score.partial ? ' (partial)' : ''}${assumed}`;
    const spec: ConditionSpec = {
      key: news2Key(bed, level),
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

function describe(score: News2Score): string {
  const parts = score.params.map((p) => {
    if (p.status === 'missing') return `${p.param} missing`;
    if (p.status === 'stale' && p.score === undefined) return `${p.param} stale`;
    return `${p.param} ${String(p.value)}${p.status === 'assumed' ? ' (assumed)' : ''}=${p.score ?? '?'}`;
  });
  return `total ${score.total}${score.partial ? ' (partial)' : ''}, ${parts.join(', ')}`;
}
