// Limit rules per bed and parameter, with an alarm-condition delay (a violation must persist) and hysteresis
// (an alarm resolves only when the value is back inside the limit by a margin). Pure: time comes from the
// readings and from tick(now).
import { MDC } from '../model/mdc.js';
import type { NumericReading } from '../model/reading.js';
import type { ConditionSpec, ConditionUpdate, ManagedPriority } from './types.js';
import { UNASSIGNED_BED } from './types.js';
import { convert } from './units.js';

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
  /** Alarm-condition delay: seconds the violation must persist before the alarm is raised. 0 = at once. */
  delayS: number;
  /** Resolve only when back inside by this much (in `unit`): high alarm clears at value <= high - hysteresis. */
  hysteresis: number;
  /** False switches the rule off (for a bed, through an override). */
  enabled?: boolean;
}

export type LimitOverride = Partial<Omit<LimitRule, 'id'>>;

export interface LimitConfig {
  /** Rules every bed gets. */
  defaults: readonly LimitRule[];
  /** Per-bed overrides by rule id (e.g. { "bed-3": { spo2: { low: 88 } } }) and extra per-bed rules. */
  beds?: Record<string, { overrides?: Record<string, LimitOverride>; extra?: readonly LimitRule[] }>;
  /**
   * A pending violation is confirmed on tick only while its last sample is at most this old; otherwise a single
   * out-of-range sample followed by silence would alarm. Default 15 s. Later samples can still confirm it.
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
 * Priorities (medium for limit alarms), delays and hysteresis margins are our choices (monitors let the delay be set up
 * to ~15 s, Mindray ePM manual); NIBP is an intermittent determination, so it alarms at once (delay 0).
 */
export const DEFAULT_LIMIT_RULES: readonly LimitRule[] = [
  { id: 'hr', label: 'HR', metrics: m(MDC.ECG_HEART_RATE), unit: '/min', low: 50, high: 120, priority: 'medium', delayS: 10, hysteresis: 5 },
  { id: 'pr', label: 'PR', metrics: m(MDC.PULS_RATE, MDC.PULS_OXIM_PULS_RATE), unit: '/min', low: 50, high: 120, priority: 'medium', delayS: 10, hysteresis: 5 },
  { id: 'spo2', label: 'SpO2', metrics: m(MDC.PULS_OXIM_SAT_O2), unit: '%', low: 90, high: null, priority: 'medium', delayS: 10, hysteresis: 2 },
  { id: 'spo2-desat', label: 'SpO2 DESAT', metrics: m(MDC.PULS_OXIM_SAT_O2), unit: '%', low: 80, high: null, priority: 'high', delayS: 5, hysteresis: 2 },
  { id: 'rr', label: 'RR', metrics: m(MDC.RESP_RATE, MDC.TTHOR_RESP_RATE), unit: '/min', low: 8, high: 30, priority: 'medium', delayS: 10, hysteresis: 2 },
  { id: 'nibp-sys', label: 'NIBP SYS', metrics: m(MDC.PRESS_BLD_NONINV_SYS), unit: 'mm[Hg]', low: 90, high: 160, priority: 'medium', delayS: 0, hysteresis: 5 },
  { id: 'nibp-dia', label: 'NIBP DIA', metrics: m(MDC.PRESS_BLD_NONINV_DIA), unit: 'mm[Hg]', low: 50, high: 90, priority: 'medium', delayS: 0, hysteresis: 5 },
  { id: 'nibp-mean', label: 'NIBP MEAN', metrics: m(MDC.PRESS_BLD_NONINV_MEAN), unit: 'mm[Hg]', low: 60, high: 110, priority: 'medium', delayS: 0, hysteresis: 5 },
  { id: 'abp-sys', label: 'ABP SYS', metrics: m(MDC.PRESS_BLD_ART_ABP_SYS, MDC.PRESS_BLD_ART_SYS), unit: 'mm[Hg]', low: 90, high: 160, priority: 'medium', delayS: 10, hysteresis: 5 },
  { id: 'temp', label: 'TEMP', metrics: m(MDC.TEMP_BODY, MDC.TEMP), unit: 'Cel', low: 35, high: 39, priority: 'medium', delayS: 10, hysteresis: 0.2 },
];

export const DEFAULT_LIMIT_CONFIG: LimitConfig = { defaults: DEFAULT_LIMIT_RULES, maxSampleGapS: 15 };

/** Problems with a rule, in words; empty when it is usable. */
export function validateRule(rule: LimitRule): string[] {
  const errors: string[] = [];
  const low = rule.low ?? null;
  const high = rule.high ?? null;
  if (low === null && high === null) errors.push(`rule ${rule.id}: needs a low or a high limit`);
  if (low !== null && high !== null && !(low < high)) errors.push(`rule ${rule.id}: low ${low} must be below high ${high}`);
  if (!(rule.delayS >= 0)) errors.push(`rule ${rule.id}: delayS must be >= 0`);
  if (!(rule.hysteresis >= 0)) errors.push(`rule ${rule.id}: hysteresis must be >= 0`);
  if (rule.metrics.length === 0) errors.push(`rule ${rule.id}: watches no metric`);
  return errors;
}

/** The effective, enabled rules for one bed: defaults with that bed's overrides applied, plus its extra rules. */
export function rulesForBed(config: LimitConfig, bed: string): LimitRule[] {
  const bedConf = config.beds?.[bed];
  const rules = config.defaults.map((r) => ({ ...r, ...(bedConf?.overrides?.[r.id] ?? {}), id: r.id }));
  rules.push(...(bedConf?.extra ?? []));
  return rules.filter((r) => r.enabled !== false);
}

type Direction = 'low' | 'high';

interface Track {
  bed: string;
  deviceId: string;
  patientId?: string;
  rule: LimitRule;
  dir: Direction;
  /** Time the current run of violating valid samples began; null when not violating. */
  since: number | null;
  /** Whether the latest sample for this metric was valid and violating (evidence the condition persists). */
  lastViolating: boolean;
  lastAt: number;
  last: NumericReading | null;
  alarmed: boolean;
}

export function limitKey(bed: string, deviceId: string, ruleId: string, dir: Direction): string {
  return `limit:${bed}:${deviceId}:${ruleId}-${dir}`;
}

/** Tracks limit violations per bed, device, rule and direction; reports conditions raised and ended. */
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

export class LimitEvaluator {
  private config: LimitConfig;
  private readonly tracks = new Map<string, Track>();
  private readonly ruleCache = new Map<string, Map<number, LimitRule[]>>();
  /** Readings a rule could not judge for their unit, since last taken, and the mismatches not told of before. */
  private unconvertible: { count: number; fresh: UnitMismatch[] } = { count: 0, fresh: [] };
  private readonly toldMismatches = new Set<string>();

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

  private track(bed: string, r: NumericReading, rule: LimitRule, dir: Direction): Track {
    const key = limitKey(bed, r.deviceId, rule.id, dir);
    let t = this.tracks.get(key);
    if (!t) {
      t = { bed, deviceId: r.deviceId, rule, dir, since: null, lastViolating: false, lastAt: r.receivedAt, last: null, alarmed: false };
      this.tracks.set(key, t);
    }
    if (r.patientId !== undefined) t.patientId = r.patientId;
    return t;
  }

  /**
   * Feed one reading. Readings that are not 'valid', have no numeric value or an unknown unit never raise or resolve;
   * but a value beyond the device's measuring range (an HL7 SN bound, `>^40`) counts where the bound decides.
   */
  reading(r: NumericReading): ConditionUpdate[] {
    // A setting (a ventilator's set rate) shares the measurement's code but says nothing about the patient; a
    // device's backlog (ingest's outOfOrder) says nothing about now.
    if (!r.mdc || r.setting || r.outOfOrder) return [];
    const bed = r.bed ?? UNASSIGNED_BED;
    const rules = this.rulesByMetric(bed).get(r.mdc.code);
    if (!rules) return [];
    const out: ConditionUpdate[] = [];
    const bound = beyondRange(r);
    for (const rule of rules) {
      const usable = (r.quality.state === 'valid' || bound !== null) && typeof r.value === 'number' && Number.isFinite(r.value);
      const v = usable ? convert(r.value as number, r.unit.ucum, rule.unit) : null;
      if (usable && v === null) this.unitMismatch(r, bed, rule);
      for (const dir of ['low', 'high'] as const) {
        const limit = rule[dir] ?? null;
        if (limit === null) continue;
        const t = this.track(bed, r, rule, dir);
        t.lastAt = r.receivedAt;
        if (v === null || (bound !== null && !boundDecides(bound, dir, v, limit))) {
          // No evidence either way: keep any pending run and any alarm as they are.
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
            t.since = null;
            t.lastViolating = false;
            out.push({ present: false, key: limitKey(bed, t.deviceId, rule.id, dir), at: r.receivedAt, why: `${rule.label} back inside limit: ${fmt(v)} ${rule.unit}` });
          }
          continue;
        }
        if (!violating) {
          t.since = null;
          t.lastViolating = false;
          continue;
        }
        t.since ??= r.receivedAt;
        t.lastViolating = true;
        if (r.receivedAt - t.since >= rule.delayS * 1000) out.push(this.raise(t, v, r.receivedAt));
      }
    }
    return out;
  }

  /** Confirm violations whose delay has passed while their latest sample still violates. */
  tick(now: number): ConditionUpdate[] {
    const gapMs = (this.config.maxSampleGapS ?? 15) * 1000;
    const out: ConditionUpdate[] = [];
    for (const t of this.tracks.values()) {
      if (t.alarmed || t.since === null || !t.lastViolating || !t.last) continue;
      if (now - t.since < t.rule.delayS * 1000 || now - t.lastAt > gapMs) continue;
      const v = convert(t.last.value as number, t.last.unit.ucum, t.rule.unit);
      if (v !== null) out.push(this.raise(t, v, now));
    }
    return out;
  }

  private raise(t: Track, v: number, at: number): ConditionUpdate {
    t.alarmed = true;
    const limit = t.rule[t.dir] as number;
    const dirText = t.dir === 'high' ? 'HIGH' : 'LOW';
    const r = t.last;
    // A value beyond the device's range is shown as the bound it is ("RR HIGH >40 > 30 /min").
    const bound = r ? beyondRange(r) ?? '' : '';
    const text = `${t.rule.label} ${dirText} ${bound}${fmt(v)} ${t.dir === 'high' ? '>' : '<'} ${fmt(limit)} ${t.rule.unit}`;
    const spec: ConditionSpec = {
      key: limitKey(t.bed, t.deviceId, t.rule.id, t.dir),
      source: 'limit',
      bed: t.bed,
      deviceId: t.deviceId,
      condition: { code: null, raw: { system: 'agent', code: `limit:${t.rule.id}-${t.dir}`, text }, text },
      priority: t.rule.priority,
      category: 'physiological',
      metric: r?.mdc ?? null,
      value: r?.value ?? v,
    };
    if (t.patientId !== undefined) spec.patientId = t.patientId;
    if (r) spec.unit = r.unit;
    const held = t.since !== null ? (at - t.since) / 1000 : 0;
    return { present: true, spec, at, why: `${text} for ${fmt(held)} s (delay ${t.rule.delayS} s)` };
  }
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/**
 * A value the device could only bound, beyond its measuring range (HL7 SN `>^40`: questionable, reason
 * `sn-comparator:>`): '>' or '<', else null. Such a value is evidence only where the bound decides the comparison.
 */
function beyondRange(r: NumericReading): '>' | '<' | null {
  if (r.quality.state !== 'questionable') return null;
  for (const reason of r.quality.reasons ?? []) {
    if (reason === 'sn-comparator:>' || reason === 'sn-comparator:>=') return '>';
    if (reason === 'sn-comparator:<' || reason === 'sn-comparator:<=') return '<';
  }
  return null;
}

/** Whether a bound decides a limit: '>40' is above a high limit of 30 and not below a low one of 8; '>10' says neither about 30. */
function boundDecides(bound: '>' | '<', dir: 'low' | 'high', v: number, limit: number): boolean {
  if (bound === '>') return dir === 'high' ? v > limit : v >= limit;
  return dir === 'low' ? v < limit : v <= limit;
}
