// Limit rules per bed and parameter, with an alarm-condition delay (the value out of range for at least 3/4 of the
// last delayS seconds, or for more than half of the last 3 × delayS, that evidence reaching back as far) and hysteresis (an alarm resolves only when the
// value is back inside the limit by a margin). Pure: time comes from the readings and from tick(now).
import { MDC } from '../model/mdc.js';
import type { NumericReading } from '../model/reading.js';
import { isIntermittent, metricLabel, unitText } from '../model/labels.js';
import type { ConditionSpec, ConditionUpdate, ManagedPriority } from './types.js';
import { UNASSIGNED_BED } from './types.js';
import { bedsByDevice, type FeedView } from './feeds.js';
import { convert } from './units.js';
import { BODY_TEMPERATURE, countNewId, type PendingId } from './news2.js';
import { onlyBeyondRange } from './bound.js';

export interface LimitRule {
  /** Unique within a bed's rule set, e.g. "hr"; part of the alarm key. */
  id: string;
  /** Short label for alarm text, e.g. "HR". */
  label: string;
  /** MDC context-free codes this rule watches (e.g. HR from ECG, or both pulse-rate codes). */
  metrics: readonly number[];
  /** UCUM unit the limits are in; readings in other convertible units are converted, others are not compared. */
  unit: string;
  /** Alarm when value < low (strictly). Null/absent: no low limit. */
  low?: number | null;
  /** Alarm when value > high (strictly). Null/absent: no high limit. */
  high?: number | null;
  priority: ManagedPriority;
  /**
   * Alarm-condition delay: seconds the violation must persist before the alarm is raised. 0 = at once. Judged on time
   * out of range: at least 3/4 of the last delayS seconds, or more than half of the last 3 × delayS, each reaching back
   * its whole window (evidence()), so a brief reading inside neither starts it over (review rv191 H1), nor does time
   * inside count as violation (rv194 H1), nor is a value out of range 2/3 of the time never raised (rv196 H1).
   */
  delayS: number;
  /** Resolve only when back inside by this much (in `unit`): high alarm clears at value <= high - hysteresis. */
  hysteresis: number;
  /** False switches the rule off (for a bed, through an override). */
  enabled?: boolean;
  /**
   * Where its low and high may lie (in `unit`): what the parameter can plausibly read. A limit outside it is likely a
   * slip (°F for a temperature, a digit too many, a stray minus), or a way of saying "no limit" (temp low 0, HR high
   * 999): warned of and alarmed at the gateway (rangeSlips), never refused, since a file that started before must
   * still start (review rv94 H2). Absent (a rule made in code): the unit's measuring range, if it has one.
   */
  range?: { min: number; max: number };
}

export type LimitOverride = Partial<Omit<LimitRule, 'id'>>;

export interface LimitConfig {
  /** Rules every bed gets. */
  defaults: readonly LimitRule[];
  /** Per-bed overrides by rule id (e.g. { "bed-3": { spo2: { low: 88 } } }) and extra per-bed rules. */
  beds?: Record<string, { overrides?: Record<string, LimitOverride>; extra?: readonly LimitRule[] }>;
  /**
   * How long a valid sample stands for its value: from its time until the next valid sample, at most this long. The
   * time covered by standing out-of-range samples is what the delay is judged on, so a device that sends every minute
   * alarms after the delay on its first out-of-range reading (on tick, while that sample still stands: only for a
   * delay within how long it stands, this or half again the metric's known interval), and after a
   * gap longer than this nothing stands (two spikes 10 minutes apart are not 10 minutes of violation). Readings that
   * are not valid are no evidence either way: the previous valid sample stands across them, up to this long, but they
   * confirm nothing. Default 15 s. A metric that reports less often than this stands for half again its own interval
   * instead (its consecutive readings are the condition persisting).
   */
  maxSampleGapS?: number;
}

const m = (...terms: { code: number }[]): number[] => terms.map((t) => t.code);

/**
 * Default adult limits, drawn from common monitor factory defaults:
 * - HR / pulse rate 50–120 /min: Edan M3A and Contec CMS8000 manuals (PR adult 50/120), Mindray TMS60 (PR adult 50/120).
 * - SpO2 low 90 %: Mindray TM80/TM70 CMS defaults (low 90, high 100, i.e. no useful high limit), Edan M3A (90).
 *   SpO2 "desat" low 80 % at high priority: Mindray TM80/TM70 (SpO2 Desat default 80, High).
 * - NIBP systolic 90–160, diastolic 50–90, mean 60–110 mmHg: Mindray TM80/TM70 CMS adult defaults. The same
 *   systolic limits are used for arterial (ABP) systolic; that is our choice, not a verified default.
 * - RR 8–30 /min: high 30 matches the LIFEPAK 15 default; low 8 is a common monitor default we did not verify
 *   (LIFEPAK 15 uses 5).
 * - Temperature 35–39 °C: LIFEPAK 15 default limits.
 * The ranges a limit may be set in are our choices, wide enough for any patient and narrow enough to catch a slip: HR and
 * pulse rate 0–300 /min, SpO2 0–100 %, RR 0–150 /min (a neonate's runs to ~100), pressures 0–300 mmHg,
 * temperature 10–45 °C (deep hypothermia, 14–20 °C in ICU rewarming or after circulatory arrest, to beyond any fever; a
 * °F value such as 100.4 falls outside; review rv94 M2).
 * Priorities (medium for limit alarms), delays and hysteresis margins are our choices (monitors let the delay be set up
 * to ~15 s, Mindray ePM manual); NIBP is an intermittent determination, so it alarms at once (delay 0).
 */
export const DEFAULT_LIMIT_RULES: readonly LimitRule[] = [
  { id: 'hr', label: 'HR', metrics: m(MDC.ECG_HEART_RATE), unit: '/min', low: 50, high: 120, priority: 'medium', delayS: 10, hysteresis: 5, range: { min: 0, max: 300 } },
  { id: 'pr', label: 'PR', metrics: m(MDC.PULS_RATE, MDC.PULS_OXIM_PULS_RATE), unit: '/min', low: 50, high: 120, priority: 'medium', delayS: 10, hysteresis: 5, range: { min: 0, max: 300 } },
  { id: 'spo2', label: 'SpO2', metrics: m(MDC.PULS_OXIM_SAT_O2), unit: '%', low: 90, high: null, priority: 'medium', delayS: 10, hysteresis: 2, range: { min: 0, max: 100 } },
  { id: 'spo2-desat', label: 'SpO2 DESAT', metrics: m(MDC.PULS_OXIM_SAT_O2), unit: '%', low: 80, high: null, priority: 'high', delayS: 5, hysteresis: 2, range: { min: 0, max: 100 } },
  { id: 'rr', label: 'RR', metrics: m(MDC.RESP_RATE, MDC.TTHOR_RESP_RATE, MDC.AWAY_RESP_RATE), unit: '/min', low: 8, high: 30, priority: 'medium', delayS: 10, hysteresis: 2, range: { min: 0, max: 150 } },
  // NIBP by either coding: MDC_PRESS_BLD_NONINV_* or, as Mindray and Comen send it, MDC_PRESS_CUFF_* (review rv126 H2).
  { id: 'nibp-sys', label: 'NIBP SYS', metrics: m(MDC.PRESS_BLD_NONINV_SYS, MDC.PRESS_CUFF_SYS), unit: 'mm[Hg]', low: 90, high: 160, priority: 'medium', delayS: 0, hysteresis: 5, range: { min: 0, max: 300 } },
  { id: 'nibp-dia', label: 'NIBP DIA', metrics: m(MDC.PRESS_BLD_NONINV_DIA, MDC.PRESS_CUFF_DIA), unit: 'mm[Hg]', low: 50, high: 90, priority: 'medium', delayS: 0, hysteresis: 5, range: { min: 0, max: 300 } },
  { id: 'nibp-mean', label: 'NIBP MEAN', metrics: m(MDC.PRESS_BLD_NONINV_MEAN, MDC.PRESS_CUFF_MEAN), unit: 'mm[Hg]', low: 60, high: 110, priority: 'medium', delayS: 0, hysteresis: 5, range: { min: 0, max: 300 } },
  { id: 'abp-sys', label: 'ABP SYS', metrics: m(MDC.PRESS_BLD_ART_ABP_SYS, MDC.PRESS_BLD_ART_SYS), unit: 'mm[Hg]', low: 90, high: 160, priority: 'medium', delayS: 10, hysteresis: 5, range: { min: 0, max: 300 } },
  // Every body-temperature site NEWS2 scores (review rv114 H1: a core or tympanic fever raised no TEMP HIGH).
  { id: 'temp', label: 'TEMP', metrics: m(...BODY_TEMPERATURE), unit: 'Cel', low: 35, high: 39, priority: 'medium', delayS: 10, hysteresis: 0.2, range: { min: 10, max: 45 } },
];

export const DEFAULT_LIMIT_CONFIG: LimitConfig = { defaults: DEFAULT_LIMIT_RULES, maxSampleGapS: 15 };

/** What a measurement in this unit can read at all: a percentage (SpO2) lies in 0–100. Null when unbounded. */
function measuringRange(unit: string): { min: number; max: number } | null {
  return unit === '%' ? { min: 0, max: 100 } : null;
}

/** A sum as a person would write it (35.1 + 0.2 = 35.3, not 35.300000000000004). */
const exact = (n: number): string => String(Number(n.toPrecision(12)));

/**
 * Problems with a rule, in words; empty when it is usable. A limit outside its range is not one (rangeSlips), nor an
 * end point beyond it or past the other limit (endPointSlips).
 */
export function validateRule(rule: LimitRule): string[] {
  return ruleProblems(rule).map((p) => p.message);
}

/** The same, each with the field it is about when it is about one, for a config path. */
export function ruleProblems(rule: LimitRule): { field?: 'low' | 'high'; message: string }[] {
  const errors: { field?: 'low' | 'high'; message: string }[] = [];
  const add = (message: string) => errors.push({ message });
  const low = rule.low ?? null;
  const high = rule.high ?? null;
  if (low === null && high === null) add(`rule ${rule.id}: needs a low or a high limit`);
  if (low !== null && high !== null && !(low < high)) add(`rule ${rule.id}: low ${low} must be below high ${high}`);
  if (!(rule.delayS >= 0)) add(`rule ${rule.id}: delayS must be >= 0`);
  // A low + hysteresis above the high (refused from 535f010) is an end-point slip since rv127 M1: files held it before.
  if (!(rule.hysteresis >= 0)) add(`rule ${rule.id}: hysteresis must be >= 0`);
  if (rule.metrics.length === 0) add(`rule ${rule.id}: watches no metric`);
  return errors;
}

/** A hysteresis that puts a limit's end point where no reading can (plausibly) be, and the hysteresis used instead. */
export interface EndPointSlip {
  /** The limit whose alarm could not end. */
  limit: 'low' | 'high';
  /** Its end lies past the other limit (low + hysteresis above high, so high - hysteresis below low): both alarms'; `limit` is 'low'. */
  pastOther?: true;
  /** The hysteresis as written (or the rule's), and the one the rule runs with. */
  hysteresis: number;
  used: number;
  /** For a config warning: `rule hr: high 120 - hysteresis 150 = -30 is below 0 /min, … hysteresis 5 is used instead (the alarm ends at 115)`. */
  message: string;
  /** For an alarm text, after the field and value: `puts the high alarm's end at -30, below 0 /min, the least hr accepts: hysteresis 5 is used (ends at 115)`. */
  short: string;
}

/**
 * A one-sided limit's alarm ends only at low + hysteresis (high - hysteresis): beyond where a reading can be (a
 * percentage past 100) or plausibly be (the rule's range), the alarm never ends, and once acknowledged it hides every
 * later episode (review rv120 H1). Not refused: a file that started before must still start (under IoT Edge a refusal
 * is a restart loop with no alarms at all), so the rule runs with another hysteresis (reachableHysteresis), warned of
 * and alarmed at the gateway. Judged where the limit itself lies within the bounds: one outside them is a range slip
 * (rangeSlips), used as written. `fallback`: the hysteresis the rule has when none is written (its default).
 * Likewise a low + hysteresis above the high (SpO2 99..100 with 2, HR 50..120 with 150): the low alarm would end only
 * inside the high one and the high only inside the low, the same alarm that does not end; refused from 535f010 until
 * review rv127 M1, though files held it before. One slip for the rule then (`pastOther`), whatever else the
 * hysteresis puts beyond the range: its substitute answers all of it.
 */
export function endPointSlips(rule: LimitRule, fallback = rule.hysteresis): EndPointSlip[] {
  const h = rule.hysteresis;
  const bounds = endBounds(rule);
  if (!(h >= 0)) return [];
  const used = reachableHysteresis(rule, fallback);
  const out: EndPointSlip[] = [];
  const why = (dir: 'low' | 'high') => `the ${dir} alarm could never end, and once acknowledged would hide every later episode; hysteresis ${exact(used)} is used instead`;
  const low = rule.low ?? null;
  const high = rule.high ?? null;
  if (low !== null && high !== null && low < high && low + h > high) {
    // One slip for the rule, whatever else its hysteresis puts beyond the range: the substitute answers all of it.
    return [{
      limit: 'low',
      pastOther: true,
      hysteresis: h,
      used,
      message: `rule ${rule.id}: low ${low} + hysteresis ${h} = ${exact(low + h)} is above high ${high}: the low alarm would end only at a value that is itself too high (and the high alarm only at ${exact(high - h)}, below low), and once acknowledged would hide every later episode; hysteresis ${exact(used)} is used instead (the low alarm ends at ${exact(low + used)}, the high at ${exact(high - used)})`,
      short: `puts the low alarm's end at ${exact(low + h)}, above high ${high} (the high alarm's at ${exact(high - h)}, below low ${low}): hysteresis ${exact(used)} is used (ends at ${exact(low + used)} and ${exact(high - used)})`,
    }];
  }
  if (!bounds) return [];
  const { hard } = bounds;
  if (low !== null && low >= bounds.min && low <= bounds.max && low + h > bounds.max) {
    const where = hard && bounds.max === hard.max ? 'the most a reading can be' : `the most a reading can plausibly be (the rule accepts ${bounds.min}..${bounds.max})`;
    const short = hard && bounds.max === hard.max ? 'the most a reading can be' : `the most ${rule.id} accepts`;
    out.push({
      limit: 'low',
      hysteresis: h,
      used,
      message: `rule ${rule.id}: low ${low} + hysteresis ${h} = ${exact(low + h)} is above ${bounds.max} ${rule.unit}, ${where}: ${why('low')} (the alarm ends at ${exact(low + used)})`,
      short: `puts the low alarm's end at ${exact(low + h)}, above ${bounds.max} ${rule.unit}, ${short}: hysteresis ${exact(used)} is used (ends at ${exact(low + used)})`,
    });
  }
  if (high !== null && high >= bounds.min && high <= bounds.max && high - h < bounds.min) {
    const where = hard && bounds.min === hard.min ? 'the least a reading can be' : `the least a reading can plausibly be (the rule accepts ${bounds.min}..${bounds.max})`;
    const short = hard && bounds.min === hard.min ? 'the least a reading can be' : `the least ${rule.id} accepts`;
    out.push({
      limit: 'high',
      hysteresis: h,
      used,
      message: `rule ${rule.id}: high ${high} - hysteresis ${h} = ${exact(high - h)} is below ${bounds.min} ${rule.unit}, ${where}: ${why('high')} (the alarm ends at ${exact(high - used)})`,
      short: `puts the high alarm's end at ${exact(high - h)}, below ${bounds.min} ${rule.unit}, ${short}: hysteresis ${exact(used)} is used (ends at ${exact(high - used)})`,
    });
  }
  return out;
}

/** Where a limit's end point may lie: the rule's range, within what its unit can read at all (a percentage). */
function endBounds(rule: LimitRule): { min: number; max: number; hard: { min: number; max: number } | null } | null {
  const hard = measuringRange(rule.unit);
  const range = rule.range ?? hard;
  if (!range) return null;
  return hard ? { min: Math.max(range.min, hard.min), max: Math.min(range.max, hard.max), hard } : { ...range, hard };
}

/**
 * The hysteresis a rule runs with: as written, unless it puts an end point beyond the bounds or past the other limit
 * (endPointSlips). Then the rule's default (`fallback`), the margin the site gets when it writes none and the least
 * surprising one, or where even that end lies beyond them (SpO2 low 99 with 2), the largest that puts it on the bound
 * (1: ends at 100), or on the other limit (HR 50..52 with 5: 2, the low alarm ending at 52, the high at 50): the least
 * of these, so that both ends are reachable and neither lies inside the other alarm.
 * Not the largest that fits whatever was written: HR high 120 with 150 would end at 0, an alarm that ends in theory
 * only and, acknowledged, would still hide the later episodes.
 */
export function reachableHysteresis(rule: LimitRule, fallback = rule.hysteresis): number {
  const h = rule.hysteresis;
  const bounds = endBounds(rule);
  if (!(h >= 0)) return h;
  const room: number[] = [];
  const low = rule.low ?? null;
  const high = rule.high ?? null;
  if (bounds && low !== null && low >= bounds.min && low <= bounds.max) room.push(bounds.max - low);
  if (bounds && high !== null && high >= bounds.min && high <= bounds.max) room.push(high - bounds.min);
  // Two-sided (review rv127 M1): the low alarm's end at most at the high (equal fits: a value of high alarms neither
  // way), so the high's at least at the low; judged by the sum as the engine adds it, as endPointSlips does.
  const twoSided = low !== null && high !== null && low < high;
  if (room.every((r) => h <= r) && !(twoSided && low + h > high)) return h;
  if (twoSided) room.push(high - low);
  // Rounded as written (45 - 44.9 is 0.10000000000000142, which would put the end a hair beyond the bound).
  let used = Math.max(0, Math.min(fallback >= 0 ? fallback : 0, ...room.map((r) => Number(r.toFixed(12)))));
  // Summed as the engine does, the low end must not pass the high by a rounding (60.1 + 5 is above 65.1).
  if (twoSided && low + used > high) used = Math.max(0, high - low);
  while (twoSided && used > 0 && low + used > high) used = Math.max(0, used - Number.EPSILON * Math.max(1, Math.abs(high)));
  return used;
}

/** A low or high outside where the rule's limits may lie: what it is, in words for a warning and for an alarm. */
export interface RangeSlip {
  field: 'low' | 'high';
  value: number;
  /** For a config warning: `rule temp: high 100.4 is outside what the rule accepts (in Cel, 10..45): a Fahrenheit value? …`. */
  message: string;
  /** For an alarm text, after the field and value: `is outside what the rule accepts (temp is in Cel, 10..45: a Fahrenheit value?)`. */
  short: string;
}

/**
 * The rule's low and high that lie outside its range, naming the unit and the likely slip (review rv91 H1: a °F fever
 * limit, HR 1800 for 180, SpO2 -90 passed and the alarm never came). Warned of and alarmed, not refused: some are how
 * a site says "no limit" (temp low 0, HR high 999), and the limit is used as written (review rv94 H2).
 */
export function rangeSlips(rule: LimitRule): RangeSlip[] {
  const out: RangeSlip[] = [];
  const range = rule.range ?? measuringRange(rule.unit);
  if (!range) return out;
  for (const field of ['low', 'high'] as const) {
    const value = rule[field] ?? null;
    if (value === null || (value >= range.min && value <= range.max)) continue;
    const above = value > range.max;
    // A high above the range or a low below it is not said to be unreachable: a reading there is implausible, not
    // impossible (review rv94 M2). The other way round every plausible reading is beyond it.
    const every = above !== (field === 'high') ? ', so every reading would alarm' : '';
    let hint = '';
    let detail = '';
    const celsius = (value - 32) * (5 / 9);
    if (rule.unit === 'Cel' && celsius >= range.min && celsius <= range.max) {
      hint = 'a Fahrenheit value?';
      detail = ` ${value} °F is ${exact(Number(celsius.toFixed(1)))} Cel`;
    } else if (value < 0 && -value >= range.min && -value <= range.max) hint = 'a stray minus?';
    else if (above && value / 10 >= range.min && value / 10 <= range.max) hint = 'a digit too many?';
    const accepts = `${range.min}..${range.max}`;
    out.push({
      field,
      value,
      message: `rule ${rule.id}: ${field} ${value} is outside what the rule accepts (in ${rule.unit}, ${accepts})${every}${hint ? `: ${hint}${detail}` : ''}`,
      short: `is outside what the rule accepts (${rule.id} is in ${rule.unit}, ${accepts}${hint ? `: ${hint}` : ''})${every}`,
    });
  }
  return out;
}

/** The effective, enabled rules for one bed: defaults with that bed's overrides applied, plus its extra rules. */
export function rulesForBed(config: LimitConfig, bed: string): LimitRule[] {
  const bedConf = config.beds?.[bed];
  // A hysteresis whose end no reading can reach runs as its substitute (endPointSlips; the config warns of it).
  const usable = (r: LimitRule, fallback: number): LimitRule => {
    const hysteresis = reachableHysteresis(r, fallback);
    return hysteresis === r.hysteresis ? r : { ...r, hysteresis };
  };
  const rules = config.defaults.map((r) => usable({ ...r, ...(bedConf?.overrides?.[r.id] ?? {}), id: r.id }, r.hysteresis));
  rules.push(...(bedConf?.extra ?? []).map((r) => usable(r, r.hysteresis)));
  return rules.filter((r) => r.enabled !== false);
}

type Direction = 'low' | 'high';

/**
 * Consecutive valid samples on the same side of the limit, none further apart than a sample stands: the value was out
 * of range (or inside) from `start` to `end`. Samples are coalesced so that the state does not grow with the rate.
 */
interface Segment {
  out: boolean;
  /** Its first and latest sample, and how many samples. */
  start: number;
  lastAt: number;
  count: number;
  /** Until when its latest sample stood (the next valid sample, or its stand run out); null while it is the latest. */
  end: number | null;
  /** Readings not valid (no evidence either way) received while it was the latest: the why counts them (rv196 L3). */
  invalid: number;
  /**
   * Older segments folded into one under MAX_SEGMENTS: the time out of range in it and its readings out and inside
   * (`out`: whether it holds any time out of range). Never the latest.
   */
  folded?: { outMs: number; out: number; inside: number };
}

/**
 * Segments kept per track at most: more than a 1 Hz metric crossing its limit at every reading makes in 3 delays of the
 * longest delay the schema allows (300 s), so a 1 Hz pattern is always judged exactly. Beyond it the oldest two are
 * folded into one that keeps their time out of range and their readings: dropping one counted its time as not seen,
 * which held the alarm back for as long as the pattern lasted (review rv196 L1). Where a window cuts a folded segment
 * its time out of range is counted at the least it can be, never spread evenly: spread, a value out exactly half the
 * time was raised again and again (review rv197 M1).
 */
const MAX_SEGMENTS = 1024;

/** Of the delay now, the share (3/4) the value must have been out of range for (evidence()). */
const OUT_SHARE = 0.75;
/**
 * The longer look-back, in delays, and the share of it the value must have been out of range for, strictly more
 * (evidence()): SpO2 swinging 86–91 %, 70 % of the time below 90, was never raised on the delay alone (rv196 H1).
 */
const LOOK_BACK = 3;
const LONG_SHARE = 0.5;

/** What the samples of a window (the last delay, or LOOK_BACK of them) showed: time out of range, readings, since when. */
interface Evidence {
  /** Whether it confirms the condition (evidence()). */
  enough: boolean;
  /** The window judged: the delay, or LOOK_BACK delays. */
  windowMs: number;
  outMs: number;
  out: number;
  inside: number;
  /** Readings not valid among them. */
  invalid: number;
  /** The first of the samples counted (before the window's start when a segment reaches into it). */
  firstAt: number;
}

interface Track {
  /** The condition key (limitKey with the track's episode); the track itself is held under the key of episode 0. */
  key: string;
  bed: string;
  deviceId: string;
  /** Its device and bed's episode (DevicePatient): goes up at each change of patient, in the key. */
  episode: number;
  rule: LimitRule;
  dir: Direction;
  /**
   * The valid samples of the last LOOK_BACK delays, oldest first, as segments (recordSample): what the delay is judged on while
   * no alarm is present; empty while one is, and after it ends.
   */
  segments: Segment[];
  /** Whether the latest sample for this metric was valid and violating (evidence the condition persists). */
  lastViolating: boolean;
  /** When this metric last sent a reading (any quality), and the time between its last two: how often it reports. */
  seenAt: number | null;
  interval: number | null;
  /**
   * When it last sent a reading the rule could judge, and why the latest one since could not ("not valid
   * (sensor-off)"): a metric that keeps arriving unusable is no more monitored than a silent one (review rv142 F2).
   */
  lastUsableAt: number | null;
  unusable?: string;
  last: NumericReading | null;
  /** The metric code of the readings it judges (a rule watching several has a track per code). */
  code: number;
  alarmed: boolean;
  /** The text of its alarm as raised. */
  text?: string;
}

/**
 * The patient a device gives for a bed, taken from its readings of any metric (newPatient): the first id it gave, or
 * the new one taken. `episode` goes up at each change, for every track of that device and bed (review rv104 H1).
 */
interface DevicePatient {
  deviceId: string;
  bed: string;
  patientId?: string;
  episode: number;
  /** A run of readings giving another patient id, not yet taken as a new patient (NEW_PATIENT_AFTER_READINGS). */
  pending?: PendingId;
}

/**
 * The condition key of a limit track. A rule that watches several metrics (pulse rate from ABP and from SpO2; airway
 * and impedance RR) has one per metric (`metric`, its code): two sources of one parameter disagree (an artefact, a
 * probe on a cold hand), and one that reads normal must neither hold back nor end the other's alarm. A rule with
 * one metric keeps the key without it. `episode` goes up at each change of patient on the device and bed (`:episode-<n>`
 * appended; a counter, as NEWS2's, so that keys carry no patient id): the next patient's violation is a new alarm, not
 * the previous patient's latched one reactivated and filed under them (review rv99 M4).
 */
export function limitKey(bed: string, deviceId: string, ruleId: string, dir: Direction, metric?: number, episode = 0): string {
  return `limit:${bed}:${deviceId}:${ruleId}-${dir}${metric === undefined ? '' : `:${metric}`}${episode === 0 ? '' : `:episode-${episode}`}`;
}

/** Tracks limit violations per bed, device, rule, direction and (rules with several) metric; reports conditions raised and ended. */
/** A rule that could not judge a device's readings: their unit does not convert to the rule's. */
export interface UnitMismatch {
  deviceId: string;
  bed: string;
  rule: string;
  unit: string;
  ruleUnit: string;
}

/** (device, rule, unit) mismatches told of once each; beyond this many, no more are told (still counted). */
const MAX_TOLD_MISMATCHES = 1000;

/** A metric that stopped while its device goes on sending for the bed, and took a present limit alarm with it. */
export interface MissingMetric {
  deviceId: string;
  bed: string;
  /** Its MDC code (the technical monitor's metric), and its label as the display names it. */
  code: number;
  label: string;
  /** The limit alarm's text, and how long the metric had been silent. */
  alarm: string;
  silentS: number;
}

/**
 * How long a slow metric (NIBP, temperature: see isSlow) may be silent before its limit alarm ends, its pace known: a
 * cuff cycles every 60 min at the longest, plus a margin, so that an alarm never ends between two measurements however
 * the cycle is set.
 */
export const INTERMITTENT_SILENT_MS = 75 * 60_000;
/**
 * The same for a slow metric seen only once (its pace unknown): NIBP spot checks and temperature rounds come every
 * 2–4 h on a ward (a fever checked 4-hourly), so an alarm on its first reading waits 6 h, not a faster metric's
 * 10 min, and ends only if no second reading comes by then (review rv80 H1).
 */
export const SLOW_UNKNOWN_PACE_SILENT_MS = 6 * 3_600_000;
/** The same for any other metric seen only once (its pace unknown: a thermometer every minute must not end before its second). */
export const UNKNOWN_PACE_SILENT_MS = 10 * 60_000;
/**
 * Slow metrics: measured now and then, not streamed. NIBP (isIntermittent), and body temperature at every site, which
 * a monitor that streams HR every second may send only when someone takes it (review rv80 H1; rv114 H1: a tympanic
 * spot check is the slowest of all).
 */
const SLOW_CODES: ReadonlySet<number> = new Set(BODY_TEMPERATURE.map((t) => t.code));
function isSlow(t: { code: number; last: NumericReading | null }): boolean {
  return isIntermittent(t.last?.mdc ?? null) || SLOW_CODES.has(t.code);
}
/** Used without a feed view (the device's silentAfterS unknown): the technical default. */
const DEFAULT_SILENT_MS = 30_000;

export class LimitEvaluator {
  private config: LimitConfig;
  private readonly tracks = new Map<string, Track>();
  /** The patient each device gives for each bed (`device|bed`), and its episode. */
  private readonly patients = new Map<string, DevicePatient>();
  private readonly ruleCache = new Map<string, Map<number, LimitRule[]>>();
  /** Readings a rule could not judge for their unit, since last taken, and the mismatches not told of before. */
  private unconvertible: { count: number; fresh: UnitMismatch[] } = { count: 0, fresh: [] };
  private readonly toldMismatches = new Set<string>();
  /** Metrics that stopped with an alarm present, since last taken (takeMissing). */
  private missing: MissingMetric[] = [];
  /**
   * `device|bed|code` of the metrics told missing and not received since: a metric with several rules alarmed (SpO2
   * LOW and DESAT) is told once, as its one "No X" alarm (review rv80 L1).
   */
  private readonly missingTold = new Set<string>();

  constructor(config: LimitConfig = DEFAULT_LIMIT_CONFIG) {
    this.config = config;
  }

  /** Replace the configuration; tracks of rules that still exist keep their state. */
  setConfig(config: LimitConfig): void {
    this.config = config;
    this.ruleCache.clear();
    for (const t of this.tracks.values()) {
      const rule = rulesForBed(config, t.bed).find((r) => r.id === t.rule.id);
      if (rule) t.rule = rule;
    }
  }

  private rulesByMetric(bed: string): Map<number, LimitRule[]> {
    let byMetric = this.ruleCache.get(bed);
    if (!byMetric) {
      byMetric = new Map();
      for (const rule of rulesForBed(this.config, bed)) {
        for (const code of rule.metrics) byMetric.set(code, [...(byMetric.get(code) ?? []), rule]);
      }
      this.ruleCache.set(bed, byMetric);
    }
    return byMetric;
  }

  /**
   * A valid reading its rule cannot judge (a unit the rule's does not convert from): the rule is silent for it, which
   * nobody would see; counted, and told once per device, rule and unit (takeUnconvertible).
   */
  private unitMismatch(r: NumericReading, bed: string, rule: LimitRule): void {
    this.unconvertible.count++;
    const key = `${r.deviceId}|${rule.id}|${r.unit.ucum}`;
    if (this.toldMismatches.has(key) || this.toldMismatches.size >= MAX_TOLD_MISMATCHES) return;
    this.toldMismatches.add(key);
    this.unconvertible.fresh.push({ deviceId: r.deviceId, bed, rule: rule.id, unit: r.unit.ucum, ruleUnit: rule.unit });
  }

  /** Readings not judged for their unit since the last call, and the mismatches not told of before. */
  takeUnconvertible(): { count: number; fresh: UnitMismatch[] } {
    const u = this.unconvertible;
    this.unconvertible = { count: 0, fresh: [] };
    return u;
  }

  private track(bed: string, r: NumericReading, code: number, rule: LimitRule, dir: Direction): Track {
    const key = limitKey(bed, r.deviceId, rule.id, dir, rule.metrics.length > 1 ? code : undefined);
    let t = this.tracks.get(key);
    if (!t) {
      // A track first seen after a change of patient starts in the device's current episode.
      const episode = this.patients.get(`${r.deviceId}|${bed}`)?.episode ?? 0;
      const k = limitKey(bed, r.deviceId, rule.id, dir, rule.metrics.length > 1 ? code : undefined, episode);
      t = { key: k, bed, deviceId: r.deviceId, episode, rule, dir, segments: [], lastViolating: false, seenAt: null, interval: null, lastUsableAt: null, last: null, code, alarmed: false };
      this.tracks.set(key, t);
    }
    return t;
  }

  /**
   * The patient a reading gives, as NEWS2 takes it (news2.ts patient()), per device and bed from its readings of any
   * metric: the first id is the patient; another
   * id is a new patient only after NEW_PATIENT_AFTER_READINGS readings in a row with it, received at as many times,
   * none with the current id between (a sender that puts the MRN in some messages and a visit number in others must
   * not end and raise its alarms at every flip). Then every track of the device and bed takes the next episode: an
   * alarm present ends unconfirmed (unanswered it latches and stays theirs until acknowledged; acknowledged it
   * resolves), its evidence (segments) starts afresh, and the key takes the next episode, so the new patient's violation is a new alarm
   * under their id (review rv99 M4: patient B's desaturation reactivated A's latched DESAT, with A's id, text and
   * escalation). Per device, not per track (review rv104 H1): counted per track, NIBP every 30 min took 90 min to
   * change patient, B's high pressures meanwhile judged as A's acknowledged alarm. A reading without an id changes
   * nothing (unknown is not a change). Until the change is taken, readings are judged as the current patient's. The
   * run is counted by countNewId, the count NEWS2 takes its change of patient by.
   */
  private newPatient(deviceId: string, bed: string, id: string, at: number, out: ConditionUpdate[]): void {
    const pk = `${deviceId}|${bed}`;
    let d = this.patients.get(pk);
    if (!d) this.patients.set(pk, (d = { deviceId, bed, episode: 0 }));
    if (d.patientId === undefined || d.patientId === id) {
      d.patientId = id;
      delete d.pending;
      return;
    }
    const { run, taken } = countNewId(d.pending, id, at);
    if (!taken) {
      d.pending = run;
      return;
    }
    delete d.pending;
    d.patientId = id;
    d.episode += 1;
    const why = `a new patient on this bed (${deviceId} now gives another patient id): the previous patient's alarm no longer applies`;
    for (const t of this.tracks.values()) {
      if (t.deviceId !== deviceId || t.bed !== bed) continue;
      if (t.alarmed) out.push({ present: false, key: t.key, at, why, unconfirmed: true });
      t.episode = d.episode;
      t.key = limitKey(t.bed, t.deviceId, t.rule.id, t.dir, t.rule.metrics.length > 1 ? t.code : undefined, t.episode);
      t.alarmed = false;
      t.segments = [];
      t.lastViolating = false;
      delete t.text;
    }
  }

  /**
   * Feed one reading. Readings that are not 'valid', have no numeric value or an unknown unit never raise or resolve;
   * but a value beyond the device's measuring range (an HL7 SN bound, `>^40`) counts where the bound decides.
   */
  reading(r: NumericReading): ConditionUpdate[] {
    // A setting (a ventilator's set rate) shares the measurement's code but says nothing about the patient; a
    // device's backlog (ingest's outOfOrder) says nothing about now.
    if (!r.mdc || r.setting) return [];
    const bed = r.bed ?? UNASSIGNED_BED;
    const code = r.mdc.code;
    const out: ConditionUpdate[] = [];
    // The patient is the device's, from its readings of any metric, ruled or not (review rv104 H1); not from a
    // backlog reading, which says nothing about who is on the bed now.
    if (r.patientId !== undefined && !r.outOfOrder) this.newPatient(r.deviceId, bed, r.patientId, r.receivedAt, out);
    const rules = this.rulesByMetric(bed).get(code);
    if (!rules) return out;
    if (r.outOfOrder) {
      // Not judged, but the metric is still being sent (a device clock stepped back): its alarms are still watched.
      for (const rule of rules) {
        for (const dir of ['low', 'high'] as const) {
          const t = this.tracks.get(limitKey(bed, r.deviceId, rule.id, dir, rule.metrics.length > 1 ? code : undefined));
          if (t && t.seenAt !== null) t.seenAt = Math.max(t.seenAt, r.receivedAt);
          // Not unusable either: a clock stepped back is no sensor off (its alarms were watched through it before rv142).
          if (t && t.lastUsableAt !== null) t.lastUsableAt = Math.max(t.lastUsableAt, r.receivedAt);
        }
      }
      return out;
    }
    this.missingTold.delete(`${r.deviceId}|${bed}|${code}`); // sent again: a later stop is told again
    const bound = beyondRange(r);
    const gapMs = (this.config.maxSampleGapS ?? 15) * 1000;
    for (const rule of rules) {
      const usable = (r.quality.state === 'valid' || bound !== null) && typeof r.value === 'number' && Number.isFinite(r.value);
      const v = usable ? convert(r.value as number, r.unit.ucum, rule.unit) : null;
      if (usable && v === null) this.unitMismatch(r, bed, rule);
      for (const dir of ['low', 'high'] as const) {
        const limit = rule[dir] ?? null;
        if (limit === null) continue;
        const t = this.track(bed, r, code, rule, dir);
        // How long the previous valid sample stands is judged on the interval before this reading (after a long pause
        // ending here, nothing stood for most of it); then the interval is brought up to date.
        const standMs = this.standMs(t, gapMs);
        if (t.seenAt !== null && r.receivedAt > t.seenAt) t.interval = r.receivedAt - t.seenAt;
        t.seenAt = Math.max(t.seenAt ?? r.receivedAt, r.receivedAt);
        if (v === null) t.unusable = unusableWhy(r, usable);
        else t.lastUsableAt = Math.max(t.lastUsableAt ?? r.receivedAt, r.receivedAt);
        if (v === null || (bound !== null && !boundDecides(bound, dir, v, limit))) {
          // No evidence either way (a dropout, a questionable value): an alarm stays as it is, and the previous valid
          // sample stands across it (up to its stand) — a brief dropout every few seconds must not keep a
          // desaturation from ever alarming (review rv39) — but this one confirms nothing (tick needs the latest
          // reading to be valid and out of range). Counted for the why, so that a raise standing on few valid readings
          // says so (review rv196 L3); not a unit the rule cannot convert, which is no doubt about the patient.
          const latest = t.segments.at(-1);
          if (latest && !t.alarmed && !(usable && v === null)) latest.invalid++;
          t.lastViolating = false;
          continue;
        }
        t.last = r;
        const violating = dir === 'high' ? v > limit : v < limit;
        if (t.alarmed) {
          const back = dir === 'high' ? v <= limit - rule.hysteresis : v >= limit + rule.hysteresis;
          t.lastViolating = violating;
          if (back) {
            t.alarmed = false;
            t.segments = [];
            t.lastViolating = false;
            out.push({ present: false, key: t.key, at: r.receivedAt, why: `${rule.label} back inside limit: ${fmt(v)} ${rule.unit}` });
          }
          continue;
        }
        recordSample(t, violating, r.receivedAt, standMs, rule.delayS * 1000);
        t.lastViolating = violating;
        if (!violating) continue;
        const ev = evidence(t, r.receivedAt, standMs);
        if (ev.enough) out.push(this.raise(t, v, r.receivedAt, ev));
      }
    }
    return out;
  }

  /**
   * Confirm violations whose evidence is enough (evidence()) while their latest sample violates and still stands:
   * between samples a value stands (a slow feed's reading stands for its interval; the device is the judge of how
   * often it measures). A deliberate choice: a lone out-of-range sample not contradicted within the delay alarms
   * (a device that goes silent right after it also raises "no data").
   * With `feeds` (which device sends for which bed, agent/alarms/feeds.ts): an alarm whose device has sent nothing for
   * its bed for longer than its silentAfterS ends, unconfirmed (the device went silent, or now reports for another
   * bed): otherwise it would stay open on the old bed for ever, and no value could end it. A device that carries
   * several beds (a central station) and still sends for others keeps it: that bed's technical alarm says so.
   */
  tick(now: number, feeds?: FeedView): ConditionUpdate[] {
    const gapMs = (this.config.maxSampleGapS ?? 15) * 1000;
    const out: ConditionUpdate[] = [];
    for (const t of this.tracks.values()) {
      const heard = feeds?.lastHeard(t.deviceId, t.bed);
      if (feeds && heard !== undefined && now - heard > feeds.silentAfterMs(t.deviceId)) {
        const elsewhere = feeds.bedsSending(t.deviceId, now);
        if (elsewhere.length > 0 && feeds.carriesSeveralBeds(t.deviceId)) continue; // a multi-bed id still sending
        if (t.alarmed) {
          const s = Math.round((now - heard) / 1000);
          const why = elsewhere.length === 0 ? `device ${t.deviceId} silent for ${s} s` : `${t.deviceId} now sends for bed ${elsewhere.join(', ')}, nothing for bed ${t.bed} for ${s} s`;
          out.push({ present: false, key: t.key, at: now, why: `no longer monitored: ${why}`, unconfirmed: true });
        }
        t.alarmed = false;
        t.segments = [];
        t.lastViolating = false;
        continue;
      }
      if ((t.alarmed || t.segments.some((g) => readingsOut(g) > 0)) && t.seenAt !== null) {
        // The metric stopped while its device goes on sending for the bed (a module unplugged, an HL7 feed that no
        // longer carries it): its alarm can no longer be watched, and no reading of it can end it (review rv77 H1).
        const silentMs = this.metricSilentMs(t, feeds?.silentAfterMs(t.deviceId) ?? DEFAULT_SILENT_MS, gapMs);
        if (now - t.seenAt > silentMs) {
          const s = Math.round((now - t.seenAt) / 1000);
          const label = t.last?.mdc ? metricLabel(t.last.mdc, t.last.raw) : t.rule.label;
          if (t.alarmed) {
            out.push({ present: false, key: t.key, at: now, why: `no longer monitored: no ${label} from ${t.deviceId} for ${s} s, while it still sends for bed ${t.bed}`, unconfirmed: true });
            // "No X" only for a metric seen twice: one seen once may simply be slower than we could know (rv80 H1).
            // Once per device, bed and metric, not per rule (rv80 L1).
            const told = `${t.deviceId}|${t.bed}|${t.code}`;
            if (t.interval !== null && !this.missingTold.has(told)) {
              this.missingTold.add(told);
              this.missing.push({ deviceId: t.deviceId, bed: t.bed, code: t.code, label, alarm: t.text ?? t.rule.label, silentS: s });
            }
          }
          // Reset: when it comes back, a violation is judged afresh (and a new alarm). Its pace (interval, and seenAt, the
          // last time seen) is kept: the reading that comes back learns the gap as its interval, so a slow metric
          // learns it is slow instead of being judged again as one seen once (review rv80 H1).
          t.alarmed = false;
          t.segments = [];
          t.lastViolating = false;
          continue;
        }
        // It goes on arriving, but nothing the rule can judge (a probe off for hours): as unwatched as a silent one,
        // so, as for a silent one, the alarm ends unconfirmed (unanswered it latches) and its evidence resets; the next
        // violation is a new alarm, not folded into an acknowledgement given before (review rv142 F2). The technical
        // monitor tells why (sensor-off, not valid), so no "No X" here.
        if (t.lastUsableAt !== null && now - t.lastUsableAt > silentMs) {
          if (t.alarmed) {
            const s = Math.round((now - t.lastUsableAt) / 1000);
            const label = t.last?.mdc ? metricLabel(t.last.mdc, t.last.raw) : t.rule.label;
            out.push({ present: false, key: t.key, at: now, why: `no longer monitored: ${label} from ${t.deviceId} ${t.unusable ?? 'not valid'} for ${s} s`, unconfirmed: true });
          }
          t.alarmed = false;
          t.segments = [];
          t.lastViolating = false;
          continue;
        }
      }
      // The latest reading (of any quality) valid and out of range, and still standing: as on a reading.
      const latest = t.segments.at(-1);
      if (t.alarmed || !t.lastViolating || !t.last || !latest?.out) continue;
      const standMs = this.standMs(t, gapMs);
      if (now - latest.lastAt > standMs) continue;
      const ev = evidence(t, now, standMs);
      const v = convert(t.last.value as number, t.last.unit.ucum, t.rule.unit);
      if (v !== null && ev.enough) out.push(this.raise(t, v, now, ev));
    }
    return out;
  }

  /**
   * How long a valid sample stands for its value: maxSampleGapS, or half again the metric's own interval when it
   * reports less often (a central station relaying every 30 s): a slow feed's consecutive readings are the condition
   * persisting, and with only maxSampleGapS a delay longer than it could never be confirmed on such a feed.
   */
  private standMs(t: Track, gapMs: number): number {
    return t.interval === null ? gapMs : Math.max(gapMs, 1.5 * t.interval);
  }

  /**
   * How long a metric with a present or pending alarm may send nothing before the alarm can no longer be watched:
   * its device's silentAfterS, three of its own intervals, as long as a sample stands and the rule's delay, whichever
   * is longest; a slow metric (NIBP, temperature) at least INTERMITTENT_SILENT_MS, or SLOW_UNKNOWN_PACE_SILENT_MS
   * while seen only once (pace unknown); any other metric seen once at least UNKNOWN_PACE_SILENT_MS.
   */
  private metricSilentMs(t: Track, deviceSilentMs: number, gapMs: number): number {
    const ms = Math.max(deviceSilentMs, this.standMs(t, gapMs), t.rule.delayS * 1000, 3 * (t.interval ?? 0));
    const slow = isSlow(t);
    if (t.interval === null) return Math.max(ms, slow ? SLOW_UNKNOWN_PACE_SILENT_MS : UNKNOWN_PACE_SILENT_MS);
    return slow ? Math.max(ms, INTERMITTENT_SILENT_MS) : ms;
  }

  /**
   * The gateway's clock stepped (AlarmEngine.shiftClock): the instants that time runs, the stand of a sample, a metric's
   * silence and a pending change of patient move with it.
   */
  shiftClock(deltaMs: number): void {
    for (const t of this.tracks.values()) {
      for (const g of t.segments) {
        g.start += deltaMs;
        g.lastAt += deltaMs;
        if (g.end !== null) g.end += deltaMs;
      }
      if (t.seenAt !== null) t.seenAt += deltaMs;
      if (t.lastUsableAt !== null) t.lastUsableAt += deltaMs;
    }
    for (const d of this.patients.values()) if (d.pending) d.pending = { ...d.pending, lastAt: d.pending.lastAt + deltaMs };
  }

  /** Metrics that stopped with a limit alarm present since the last call (the engine raises "No <label> from <device>"). */
  takeMissing(): MissingMetric[] {
    const m = this.missing;
    this.missing = [];
    return m;
  }

  /** Drop the tracks of these devices, and of these device × bed pairs (state nobody needs any more). */
  forget(devices: ReadonlySet<string>, feeds: readonly { deviceId: string; bed: string }[]): void {
    const pairs = bedsByDevice(feeds);
    for (const [k, t] of this.tracks) if (devices.has(t.deviceId) || pairs.get(t.deviceId)?.has(t.bed)) this.tracks.delete(k);
    for (const [k, d] of this.patients) if (devices.has(d.deviceId) || pairs.get(d.deviceId)?.has(d.bed)) this.patients.delete(k);
    for (const k of this.missingTold) {
      const [deviceId, bed] = k.split('|') as [string, string];
      if (devices.has(deviceId) || pairs.get(deviceId)?.has(bed)) this.missingTold.delete(k);
    }
  }

  get size(): number {
    return this.tracks.size;
  }

  /** Whether the same device sends another metric of the track's rule for its bed. */
  private hasSibling(t: Track): boolean {
    if (t.rule.metrics.length < 2) return false;
    for (const o of this.tracks.values()) if (o !== t && o.rule.id === t.rule.id && o.deviceId === t.deviceId && o.bed === t.bed && o.dir === t.dir) return true;
    return false;
  }

  private raise(t: Track, v: number, at: number, ev: Evidence): ConditionUpdate {
    t.alarmed = true;
    const limit = t.rule[t.dir] as number;
    const dirText = t.dir === 'high' ? 'HIGH' : 'LOW';
    const r = t.last;
    // A value beyond the device's range is shown as the bound it is ("RR HIGH >40 > 30 /min").
    const bound = r ? beyondRange(r) ?? '' : '';
    // A rule watching several metrics has an alarm per metric: where the device sends more than one of them, the text
    // says which (two alarms alike would puzzle).
    const label = r?.mdc ? metricLabel(r.mdc, r.raw) : '';
    const which = r?.mdc && this.hasSibling(t) ? ` (${label === t.rule.label ? r.mdc.refid : label})` : '';
    const text = `${t.rule.label} ${dirText} ${bound}${fmt(v)} ${t.dir === 'high' ? '>' : '<'} ${fmt(limit)} ${unitText(t.rule.unit)}${which}`; // mmHg and °C for people, not UCUM codes
    t.text = text;
    const spec: ConditionSpec = {
      key: t.key,
      source: 'limit',
      bed: t.bed,
      deviceId: t.deviceId,
      condition: { code: null, raw: { system: 'agent', code: `limit:${t.rule.id}-${t.dir}`, text }, text },
      priority: t.rule.priority,
      category: 'physiological',
      metric: r?.mdc ?? null,
      value: r?.value ?? v,
    };
    const patientId = this.patients.get(`${t.deviceId}|${t.bed}`)?.patientId;
    if (patientId !== undefined) spec.patientId = patientId;
    if (r) spec.unit = r.unit;
    // What the samples showed: time out of range in the last delay, and the readings it stands on (from a little
    // before the delay when a segment reaches into it: said so, not passed off as the delay's).
    t.segments = []; // spent: a later violation, after this alarm ends, is judged afresh
    const d = t.rule.delayS;
    if (d === 0) return { present: true, spec, at, why: `${text}: out of range (delay 0 s: at once)` };
    const windowS = ev.windowMs / 1000;
    const spanS = Math.round((at - ev.firstAt) / 100) / 10; // from the first reading counted, which may be before the window
    const over = spanS > windowS ? ` over the last ${fmt(spanS)} s` : '';
    const invalid = ev.invalid > 0 ? `, ${ev.invalid} not valid` : '';
    const readings = `${ev.out} reading${ev.out === 1 ? '' : 's'} out, ${ev.inside === 0 ? 'none' : ev.inside} inside${invalid}${over}`;
    return { present: true, spec, at, why: `${text}: out of range ${(ev.outMs / 1000).toFixed(1)} s of the last ${fmt(windowS)} s (${readings}; delay ${d} s)` };
  }
}

/**
 * Add a valid sample (out of range or not, at `at`) to the track's segments: it extends the latest segment when on the
 * same side and within `standMs` (how long the previous sample stands) of it, else it closes that one (its evidence
 * ends at this sample, or where its stand ran out) and starts another. Segments that ended before the last LOOK_BACK
 * delays are dropped, and beyond MAX_SEGMENTS the oldest two folded into one, so the state stays bounded by the delay
 * and how often the value crosses the limit, not by the rate, and no time out of range within them is lost.
 */
function recordSample(t: Track, out: boolean, at: number, standMs: number, delayMs: number): void {
  const latest = t.segments.at(-1);
  if (latest) {
    at = Math.max(at, latest.lastAt); // never before the latest (a clock step is shifted by shiftClock)
    if (latest.out === out && at - latest.lastAt <= standMs) {
      latest.lastAt = at;
      latest.count++;
    } else {
      latest.end = Math.min(at, latest.lastAt + standMs);
      t.segments.push({ out, start: at, lastAt: at, count: 1, end: null, invalid: 0 });
    }
  } else t.segments.push({ out, start: at, lastAt: at, count: 1, end: null, invalid: 0 });
  const from = at - LOOK_BACK * delayMs;
  while (t.segments.length > 1 && (t.segments[0]!.end ?? Infinity) <= from) t.segments.shift();
  while (t.segments.length > MAX_SEGMENTS) t.segments.splice(0, 2, fold(t.segments[0]!, t.segments[1]!));
  // A folded segment reaching before the kept time keeps the least time out of range it can hold within it (its
  // readings prorated, for the why only).
  const first = t.segments[0]!;
  if (first.folded && first.end !== null && first.start < from) {
    const keep = (first.end - from) / (first.end - first.start);
    const f = first.folded;
    first.folded = { outMs: Math.max(0, f.outMs - (from - first.start)), out: Math.round(f.out * keep), inside: Math.round(f.inside * keep) };
    first.count = first.folded.out + first.folded.inside;
    first.invalid = Math.round(first.invalid * keep);
    first.start = from;
  }
}

/** Two closed segments (never the latest) as one that keeps their time out of range and their readings. */
function fold(a: Segment, b: Segment): Segment {
  const outMs = outWithin(a, a.start, a.end!) + outWithin(b, b.start, b.end!);
  const folded = { outMs, out: readingsOut(a) + readingsOut(b), inside: a.count + b.count - readingsOut(a) - readingsOut(b) };
  // `out` when it holds any time out of range: a folded segment sits at the window's start, and "out only when out
  // throughout" kept rule (b) from ever raising mixed data while folding (rv198 H1); its time out is counted at the
  // least it can be (outWithin), which keeps a value out half the time from tipping over half.
  return { out: outMs > 0, start: a.start, lastAt: b.lastAt, count: a.count + b.count, end: b.end, invalid: a.invalid + b.invalid, folded };
}

/**
 * Time out of range a segment holds between `from` and `end` (its end, or now): a folded one's at the least it can be
 * (its time outside the window taken as out of range first), so that folding never raises what the samples would not.
 */
function outWithin(g: Segment, from: number, end: number): number {
  const span = end - Math.max(g.start, from);
  if (span <= 0) return 0;
  if (!g.folded) return g.out ? span : 0;
  const whole = (g.end ?? end) - g.start;
  return Math.max(0, g.folded.outMs - (whole - span));
}

function readingsOut(g: Segment): number {
  return g.folded ? g.folded.out : g.out ? g.count : 0;
}

/**
 * Whether the samples confirm the condition at `now` (the latest sample, out of range, standing up to `standMs`):
 * - out of range for at least OUT_SHARE (3/4) of the last delay: the time covered by standing out-of-range samples in
 *   [now - delay, now]. A brief reading inside neither starts the delay over (review rv191 H1: SpO2 84–88 % with a 90
 *   every 9 s never alarmed) nor does time inside count as violation (rv194 H1: two 1-s spikes 10 s apart alarmed);
 *   time with no sample standing is neither;
 * - or out of range for more than LONG_SHARE (half) of the last LOOK_BACK (3) delays: a value out 2/3 of the time,
 *   SpO2 85 with a 90 every 3 s, was never raised (rv196 H1); out half the time or less (1:1 flapping) never is;
 * - and that evidence reaches back its whole window (an out-of-range sample stood at its start): a continuous
 *   violation is raised at the delay, not at 3/4 of it, and a device sending once a minute alarms the delay after its
 *   first out-of-range reading (for a delay within how long that reading stands).
 * Delay 0: at once.
 */
function evidence(t: Track, now: number, standMs: number): Evidence {
  const delayMs = t.rule.delayS * 1000;
  const last = within(t, now, standMs, delayMs);
  if (delayMs === 0 || (last.reachesBack && last.ev.outMs >= OUT_SHARE * delayMs)) return { ...last.ev, enough: true };
  const long = within(t, now, standMs, LOOK_BACK * delayMs);
  return { ...long.ev, enough: long.reachesBack && long.ev.outMs > LONG_SHARE * long.ev.windowMs };
}

/** The evidence of the window [now - windowMs, now], and whether an out-of-range sample stood at its start. */
function within(t: Track, now: number, standMs: number, windowMs: number): { ev: Evidence; reachesBack: boolean } {
  const from = now - windowMs;
  const ev: Evidence = { enough: false, windowMs, outMs: 0, out: 0, inside: 0, invalid: 0, firstAt: now };
  let reachesBack = false;
  for (const g of t.segments) {
    const end = Math.min(g.end ?? g.lastAt + standMs, now);
    if (end <= from && windowMs > 0) continue;
    ev.firstAt = Math.min(ev.firstAt, g.start);
    ev.invalid += g.invalid;
    ev.out += readingsOut(g);
    ev.inside += g.count - readingsOut(g);
    ev.outMs += outWithin(g, from, end);
    if (g.out && g.start <= from) reachesBack = true;
  }
  return { ev, reachesBack };
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/**
 * A value the device could only bound, beyond its measuring range (HL7 SN `>^40`: questionable, reason
 * `sn-comparator:>`): '>' or '<', else null. Such a value is evidence only where the bound decides the comparison, and
 * only when the bound is its only doubt (with QUES, CAL, P… it is questionable like any other: review rv99 M2).
 */
function beyondRange(r: NumericReading): '>' | '<' | null {
  return onlyBeyondRange(r.quality);
}

/** Why a reading gave the rule nothing to judge, for the alarm it ends: "not valid (sensor-off)". */
function unusableWhy(r: NumericReading, usable: boolean): string {
  if (!usable) {
    const reasons = r.quality.reasons ?? [];
    // A questionable value is shown (marked) on the display: "questionable (artifact)", not "not valid", says why the rule
    // could not judge the number the nurse sees (review rv147 F3).
    const what = r.quality.state === 'questionable' ? 'questionable' : 'not valid';
    if (r.quality.state !== 'valid' && !onlyBeyondRange(r.quality)) return `${what} (${reasons.length > 0 ? reasons.join(', ') : r.quality.state})`;
    return 'without a value';
  }
  return `in ${r.unit.ucum}, which its rule cannot convert`;
}

/** Whether a bound decides a limit: '>40' is above a high limit of 30 and not below a low one of 8; '>10' says neither about 30. */
function boundDecides(bound: '>' | '<', dir: 'low' | 'high', v: number, limit: number): boolean {
  if (bound === '>') return dir === 'high' ? v > limit : v >= limit;
  return dir === 'low' ? v < limit : v <= limit;
}
