// Confusion counts and the PhysioNet/CinC 2015 score. "Positive" = the alarm is judged true
// (not suppressed); an 'uncertain' verdict is never a suppression.
import { ALARM_TYPES } from './features/index.js';

export interface Counts {
  TP: number;
  FP: number;
  TN: number;
  FN: number;
}

export interface Metrics extends Counts {
  /** TP / (TP + FN): share of true alarms kept; null when there are none. */
  sensitivity: number | null;
  /** TN / (TN + FP): share of false alarms suppressed; null when there are none. */
  suppression: number | null;
  /** 100 · (TP + TN) / (TP + TN + FP + 5·FN); null for no records. */
  score: number | null;
}

export function metrics(c: Counts): Metrics {
  const n = c.TP + c.TN + c.FP + c.FN;
  return {
    ...c,
    sensitivity: c.TP + c.FN ? c.TP / (c.TP + c.FN) : null,
    suppression: c.TN + c.FP ? c.TN / (c.TN + c.FP) : null,
    score: n ? (100 * (c.TP + c.TN)) / (c.TP + c.TN + c.FP + 5 * c.FN) : null,
  };
}

export interface Outcome {
  alarmType: string;
  trueAlarm: boolean;
  /** Whether the model kept the alarm (verdict likely-true or uncertain). */
  kept: boolean;
}

/** Metrics per alarm type (all five, even if empty) and overall. */
export function summarise(outcomes: readonly Outcome[]): Record<string, Metrics> {
  const groups = new Map<string, Counts>([...ALARM_TYPES, 'overall'].map((k) => [k, { TP: 0, FP: 0, TN: 0, FN: 0 }]));
  for (const o of outcomes) {
    for (const key of [o.alarmType, 'overall']) {
      const c = groups.get(key) ?? { TP: 0, FP: 0, TN: 0, FN: 0 };
      groups.set(key, c);
      if (o.trueAlarm) c[o.kept ? 'TP' : 'FN']++;
      else c[o.kept ? 'FP' : 'TN']++;
    }
  }
  return Object.fromEntries([...groups].map(([k, c]) => [k, metrics(c)]));
}

export function formatTable(summary: Record<string, Metrics>): string {
  const pct = (v: number | null): string => (v === null ? '—' : (100 * v).toFixed(1) + ' %');
  const rows = Object.entries(summary).map(([k, m]) => [
    k, String(m.TP), String(m.FP), String(m.TN), String(m.FN), pct(m.sensitivity), pct(m.suppression), m.score === null ? '—' : m.score.toFixed(2),
  ]);
  const head = ['alarm type', 'TP', 'FP', 'TN', 'FN', 'sensitivity', 'suppression', 'score'];
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
}
