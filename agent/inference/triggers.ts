// Which raised alarms the edge model judges, and as which of its five alarm types. Device alarms are
// recognised by their MDC event code, else by their text (monitors word them differently); the agent's own
// rhythm alarms (asystole, extreme brady/tachycardia on streamed ECG) are judged as what they are, and its
// heart-rate limit alarms count as bradycardia / tachycardia (the model was trained on the monitors'
// *extreme* brady/tachy alarms, so for milder limit alarms its figure is indicative only, and never holds them:
// indicativeOnly). Non-sustained VT is not judged (notJudged says why); "VT"/"VF" only as the whole text (a
// ventilator's "VT LOW" is tidal volume), and an alarm so named is never held.
import type { Alarm } from '../alarms/types.js';
import type { AlarmType } from '../../models/features/index.js';
import { mdcEvent } from '../model/events.js';

const BY_REFID: Record<string, AlarmType> = {
  MDC_EVT_ECG_ASYSTOLE: 'Asystole',
  MDC_EVT_ECG_BRADY_EXTREME: 'Bradycardia',
  MDC_EVT_ECG_TACHY_EXTREME: 'Tachycardia',
  MDC_EVT_ECG_V_TACHY: 'Ventricular_Tachycardia',
  MDC_EVT_ECG_V_FIB: 'Ventricular_Flutter_Fib',
  MDC_EVT_ECG_V_FIB_TACHY: 'Ventricular_Flutter_Fib',
  MDC_EVT_ECG_V_FLUTTER: 'Ventricular_Flutter_Fib',
};

/**
 * Non-sustained VT (Philips "Non Sustain VTach", Mindray "Nonsus V-Tach", "NSVT", a "run"): a run shorter than the
 * monitor's VT run limit. The model was trained on VT alarms whose run met the limits; a true NSVT run is short by
 * definition, so the model would likely call it false. Not judged, and the annotation says why.
 */
const NON_SUSTAINED_VT = /\bnsvt\b|\bvt\s*>\s*\d|(non[- ._]?sus|\brun\b).*(\bv(ent(ricular)?)?[- ._]?tach|\bvt\b)|(\bv(ent(ricular)?)?[- ._]?tach|\bvt\b).*(non[- ._]?sus|\brun\b)/i;

/**
 * Text patterns, most specific first (a "VFIB/VTACH" alarm is judged as fibrillation). The bare abbreviations (Nihon
 * Kohden's "VT", "VF") only as the whole text: with anything beside them they name other things, a ventilator's "VT
 * LOW" / "VT HIGH" being tidal volume alarms (review rv172 H1, rv174 F1), and such an alarm is left alone, without
 * an annotation. An alarm judged by a bare abbreviation alone is never held (indicativeOnly). GE's "VT>2" (a run of
 * 3-5 beats) is non-sustained, caught above.
 */
const BY_TEXT: { re: RegExp; type: AlarmType; bare?: true }[] = [
  { re: /\bv(ent(ricular)?)?[- ._]?(fib|flutter)/i, type: 'Ventricular_Flutter_Fib' },
  { re: /^vf$/i, type: 'Ventricular_Flutter_Fib', bare: true },
  { re: /\bv(ent(ricular)?)?[- ._]?tach/i, type: 'Ventricular_Tachycardia' },
  { re: /^vt$/i, type: 'Ventricular_Tachycardia', bare: true },
  { re: /asystol/i, type: 'Asystole' },
  { re: /(extreme|xtrm|ex\.?)[ _]?brady|^bradycardia$/i, type: 'Bradycardia' },
  { re: /(extreme|xtrm|ex\.?)[ _]?tachy|^tachycardia$/i, type: 'Tachycardia' },
];

type Judged = Pick<Alarm, 'source' | 'category' | 'condition'>;

/** Limit rules of the agent (agent/alarms/limits.ts) on heart rate. */
const LIMIT_CODES: Record<string, AlarmType> = { 'limit:hr-low': 'Bradycardia', 'limit:hr-high': 'Tachycardia' };
/** The agent's own rhythm analysis (agent/alarms/rhythm.ts): the very alarm types the model was trained on. */
const RHYTHM_CODES: Record<string, AlarmType> = { 'rhythm:asystole': 'Asystole', 'rhythm:brady': 'Bradycardia', 'rhythm:tachy': 'Tachycardia' };

/** The model's alarm type for this alarm, or null when the model does not judge it. */
export function modelAlarmType(alarm: Judged): AlarmType | null {
  if (alarm.category !== 'physiological') return null;
  if (alarm.source === 'limit' || alarm.source === 'rhythm') {
    const raw = alarm.condition.raw;
    return raw?.system === 'agent' ? ((alarm.source === 'limit' ? LIMIT_CODES : RHYTHM_CODES)[raw.code] ?? null) : null;
  }
  if (alarm.source !== 'device') return null;
  if (notJudged(alarm) !== null) return null;
  return deviceAlarmType(alarm, true);
}

/** A device alarm's type from its code, else its text (`bare`: the bare abbreviations too). */
function deviceAlarmType(alarm: Pick<Alarm, 'condition'>, bare: boolean): AlarmType | null {
  const byCode = alarm.condition.code ? BY_REFID[alarm.condition.code.refid] : undefined;
  if (byCode) return byCode;
  // An MDC event code kept raw (the HL7 driver maps metric codes only): by its number or refid, not by text alone (a
  // PCD-04 VT alarm whose text was "Alarm 7" went unjudged; fx226).
  const raw = alarm.condition.raw;
  if (raw && raw.system.toUpperCase() === 'MDC') {
    const e = mdcEvent(/^\d+$/.test(raw.code) ? Number(raw.code) : 0, raw.text ?? '');
    const type = e ? BY_REFID[e.refid] : undefined;
    if (type) return type;
  }
  for (const t of BY_TEXT) if ((bare || !t.bare) && texts(alarm).some((x) => t.re.test(x))) return t.type;
  return null;
}

/**
 * Why the model's verdict on this alarm may be annotated but must never hold it (policy delay), or null. The agent's
 * heart-rate limit alarms (50 / 120 per minute by default, set per bed) fire at milder rates than the monitors'
 * extreme brady/tachy alarms the model learned (under 45/min over 4 beats, over 130/min over 16): a patient really at
 * 47 or 126/min has a true limit alarm that the model may well call likely false (.scratch/rv71 p2).
 */
export function indicativeOnly(alarm: Pick<Alarm, 'source' | 'condition'>): string | null {
  const raw = alarm.condition.raw;
  if (alarm.source === 'limit' && raw?.system === 'agent' && Object.hasOwn(LIMIT_CODES, raw.code))
    return "the model's figure is indicative only for the agent's own heart-rate limit alarms (it learned the monitors' extreme-rate alarms)";
  if (alarm.source === 'device' && deviceAlarmType(alarm, false) === null && deviceAlarmType(alarm, true) !== null)
    return 'the alarm is named only by the abbreviation "VT" or "VF", which some devices use for other things';
  return null;
}

/**
 * Why a device alarm worded like one the model judges is not judged (non-sustained VT), or null: an alarm the model
 * would otherwise be silent on is annotated "not assessed" with this.
 */
export function notJudged(alarm: Pick<Alarm, 'source' | 'category' | 'condition'>): string | null {
  if (alarm.category !== 'physiological' || alarm.source !== 'device') return null;
  if (texts(alarm).some((t) => NON_SUSTAINED_VT.test(t)))
    return 'non-sustained VT is not a type the model was trained on (its VT alarms are sustained runs; a non-sustained run is short by definition)';
  return null;
}

function texts(alarm: Pick<Alarm, 'condition'>): string[] {
  return [alarm.condition.text, alarm.condition.raw?.text ?? '', alarm.condition.raw?.code ?? ''].map((t) => t.replace(/^[\W_]+|[\W_]+$/g, ''));
}
