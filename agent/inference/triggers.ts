// Which raised alarms the edge model judges, and as which of its five alarm types. Device alarms are
// recognised by their MDC event code, else by their text (monitors word them differently); the agent's own
// heart-rate limit alarms count as bradycardia / tachycardia (the model was trained on the monitors'
// *extreme* brady/tachy alarms, so for milder limit alarms its figure is indicative only).
import type { Alarm } from '../alarms/types.js';
import type { AlarmType } from '../../models/features/index.js';

const BY_REFID: Record<string, AlarmType> = {
  MDC_EVT_ECG_ASYSTOLE: 'Asystole',
  MDC_EVT_ECG_BRADY_EXTREME: 'Bradycardia',
  MDC_EVT_ECG_TACHY_EXTREME: 'Tachycardia',
  MDC_EVT_ECG_V_TACHY: 'Ventricular_Tachycardia',
  MDC_EVT_ECG_V_FIB: 'Ventricular_Flutter_Fib',
  MDC_EVT_ECG_V_FIB_TACHY: 'Ventricular_Flutter_Fib',
  MDC_EVT_ECG_V_FLUTTER: 'Ventricular_Flutter_Fib',
};

/** Text patterns, most specific first (a "VFIB/VTACH" alarm is judged as fibrillation). */
const BY_TEXT: [RegExp, AlarmType][] = [
  [/\bv(ent(ricular)?)?[- ._]?(fib|flutter)|\bvf\b/i, 'Ventricular_Flutter_Fib'],
  [/\bv(ent(ricular)?)?[- ._]?tach|\bvt\b/i, 'Ventricular_Tachycardia'],
  [/asystol/i, 'Asystole'],
  [/(extreme|xtrm|ex\.?)[ _]?brady|^bradycardia$/i, 'Bradycardia'],
  [/(extreme|xtrm|ex\.?)[ _]?tachy|^tachycardia$/i, 'Tachycardia'],
];

/** Limit rules of the agent (agent/alarms/limits.ts) on heart rate. */
const LIMIT_CODES: Record<string, AlarmType> = { 'limit:hr-low': 'Bradycardia', 'limit:hr-high': 'Tachycardia' };

/** The model's alarm type for this alarm, or null when the model does not judge it. */
export function modelAlarmType(alarm: Pick<Alarm, 'source' | 'category' | 'condition'>): AlarmType | null {
  if (alarm.category !== 'physiological') return null;
  if (alarm.source === 'limit') {
    const raw = alarm.condition.raw;
    return raw?.system === 'agent' ? (LIMIT_CODES[raw.code] ?? null) : null;
  }
  if (alarm.source !== 'device') return null;
  const byCode = alarm.condition.code ? BY_REFID[alarm.condition.code.refid] : undefined;
  if (byCode) return byCode;
  const texts = [alarm.condition.text, alarm.condition.raw?.text ?? '', alarm.condition.raw?.code ?? ''];
  for (const [re, type] of BY_TEXT) if (texts.some((t) => re.test(t.replace(/^[\W_]+|[\W_]+$/g, '')))) return type;
  return null;
}
