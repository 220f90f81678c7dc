// Managed alarms: the agent's own model of an alarm condition with IEC 60601-1-8 style states and an audit trail.
// The agent is a secondary (advisory) alarm system; it never replaces the device's own alarms.
import type { AlarmPriority, MdcCode, RawCode, Unit } from '../model/reading.js';

/** Where an alarm condition was detected. */
export type AlarmSource = 'device' | 'limit' | 'news2' | 'technical' | 'model' | 'rhythm';

/** IEC 60601-1-8 alarm priority of a managed alarm (a device's 'none' is carried as 'low', see reportedPriority). */
export type ManagedPriority = 'high' | 'medium' | 'low';

export type AlarmCategory = 'physiological' | 'technical';

/**
 * active        condition present, nobody has responded, audio on.
 * latched       condition has ended, but the alarm latches and still waits for an acknowledgement.
 * acknowledged  someone acknowledged it while the condition is still present (audio off until it ends).
 * audio-paused  audio silenced for a limited time (audioPausedUntil); it is NOT an acknowledgement.
 * resolved      closed: the condition ended (and, if latching, it was acknowledged). Terminal.
 */
export type AlarmState = 'active' | 'latched' | 'acknowledged' | 'audio-paused' | 'resolved';

/** Bed value for conditions about the whole gateway (store nearly full, hub unreachable). */
export const GATEWAY_BED = '*';
/** Bed value when neither the device nor config assigns one. */
export const UNASSIGNED_BED = 'unassigned';

/** Who did something: an authenticated person (with the address the request came from) or the engine itself. */
export type Actor = { user: string; role: string; from: string } | 'system';

/** Kind of the edge model's annotations (agent/inference/live.ts writes them, the display shows the latest). */
export const MODEL_ANNOTATION_KIND = 'model';

/** Extra facts attached to an alarm after it was raised (e.g. the ONNX model's probability and verdict). */
export interface AlarmAnnotation {
  /** What kind of annotation, e.g. "model". */
  kind: string;
  values: Record<string, string | number | boolean | null>;
  note?: string;
  by: Actor;
  at: number;
}

export interface AlarmConditionInfo {
  /** MDC event code when known (device alarms), else null. */
  code: MdcCode | null;
  /** The condition in the source's own vocabulary (device code, or e.g. {system:'agent', code:'limit:hr-high'}). */
  raw?: RawCode;
  /** Human text, e.g. "HR HIGH 135 > 120 /min". */
  text: string;
}

export interface Alarm {
  /** Engine-assigned, unique (prefix configured per gateway boot). */
  id: string;
  /** Condition key: at most one open (not resolved) alarm exists per key. */
  key: string;
  bed: string;
  deviceId: string;
  patientId?: string;
  source: AlarmSource;
  /** The source's own id for this alarm instance (device alarms). */
  sourceAlarmId?: string;
  condition: AlarmConditionInfo;
  priority: ManagedPriority;
  /** Priority exactly as the device reported it, when the source is a device. */
  reportedPriority?: AlarmPriority;
  category: AlarmCategory;
  state: AlarmState;
  /** Whether the underlying condition is present now (false in 'latched', and in a latched 'audio-paused'). */
  conditionPresent: boolean;
  /** Whether this alarm latches (stays until acknowledged after the condition ends): by policy, or its end unconfirmed. */
  latching: boolean;
  /** The metric that triggered it, its value and unit at trigger time, when known. */
  metric?: MdcCode | null;
  value?: number | string | null;
  unit?: Unit;
  raisedAt: number;
  updatedAt: number;
  conditionEndedAt?: number;
  acknowledgedAt?: number;
  audioPausedUntil?: number;
  resolvedAt?: number;
  escalated: boolean;
  escalatedAt?: number;
  /** Bounded: the first and the latest ones (engine.ts LATEST_ANNOTATIONS_KEPT); annotationsDropped counts the others. */
  annotations: AlarmAnnotation[];
  /** How many annotations were left out between the first and the latest kept; absent when none. */
  annotationsDropped?: number;
}

/** What happened to the alarm in one audit record. */
export type AlarmChangeKind =
  | 'raised'
  | 'condition-ended'
  | 'condition-returned'
  | 'priority-changed'
  | 'acknowledged'
  | 'audio-paused'
  | 'audio-pause-expired'
  | 'escalated'
  | 'annotated'
  | 'resolved';

/**
 * One audited change to an alarm. Every change the engine makes produces exactly one of these; `from` equals `to` for
 * changes that do not move the state (escalation, annotation, priority change). `from` is null when raised.
 */
export interface AlarmStateChange {
  /** Increasing per engine instance: gives a total order for changes with the same `at`. */
  seq: number;
  alarmId: string;
  change: AlarmChangeKind;
  from: AlarmState | null;
  to: AlarmState;
  why: string;
  actor: Actor;
  at: number;
  /** The alarm as it is after this change (a copy; later changes do not alter it). */
  alarm: Alarm;
}

/**
 * A condition as a detector (limits, NEWS2, technical, device, model) reports it to the engine.
 * Detectors are pure and say only "present" / "ended"; the engine owns states, latching and audit.
 */
export interface ConditionSpec {
  key: string;
  source: AlarmSource;
  bed: string;
  deviceId: string;
  patientId?: string;
  sourceAlarmId?: string;
  condition: AlarmConditionInfo;
  priority: ManagedPriority;
  reportedPriority?: AlarmPriority;
  category: AlarmCategory;
  metric?: MdcCode | null;
  value?: number | string | null;
  unit?: Unit;
  /**
   * Latches whatever the configured latching: for a condition that reports a loss that already happened (records
   * not sent), which must stay in view until someone acknowledges it, not vanish at the next check.
   */
  latch?: boolean;
}

export type ConditionUpdate =
  | { present: true; spec: ConditionSpec; at: number; why: string }
  /**
   * `unconfirmed`: nothing shows the condition ended, only that it can no longer be watched (the link to the device
   * lost, its device silent or gone to another bed, its inputs stale): an unanswered alarm latches, so it stays in view
   * until someone acknowledges it, instead of vanishing. `latch`: the condition ended, and its source holds the alarm
   * signal (a device's latched alarm): an unanswered alarm latches here too.
   */
  | { present: false; key: string; at: number; why: string; unconfirmed?: true; latch?: true };

/** How an alarm of each priority is presented, per IEC 60601-1-8 (visual alarm signals, indicator lights). */
export interface PriorityPresentation {
  /** Colour of the indicator; low may be cyan or yellow. */
  colours: readonly string[];
  /** Flashing frequency range in Hz; null when steady (constantly on). */
  flashHz: { min: number; max: number } | null;
  /** Duty cycle range in percent while flashing; 100 when steady. */
  dutyCyclePercent: { min: number; max: number };
  /** Marker some monitors use beside physiological alarm messages. */
  marker: string;
}

/**
 * IEC 60601-1-8 presentation as data, for the display.
 * Verified (secondary sources, the standard itself is paywalled): high = red flashing 1.4–2.8 Hz, medium = yellow
 * flashing 0.4–0.8 Hz, low = cyan or yellow, constant (Edan X8 monitor manual "Alarms" quoting the standard; Ventway
 * Sparrow manual 2 Hz / 0.45 Hz / constant; Comen N10 manual: low cyan, no flashing). Duty cycle 20–60 % for high is
 * quoted from the standard's table in a public compliance matrix; the same 20–60 % for medium is from memory, not verified.
 * The *** / ** / * markers are monitor practice (Mindray, Comen manuals), not a requirement we verified.
 */
export const IEC_PRESENTATION: Readonly<Record<ManagedPriority, PriorityPresentation>> = {
  high: { colours: ['red'], flashHz: { min: 1.4, max: 2.8 }, dutyCyclePercent: { min: 20, max: 60 }, marker: '***' },
  medium: { colours: ['yellow'], flashHz: { min: 0.4, max: 0.8 }, dutyCyclePercent: { min: 20, max: 60 }, marker: '**' },
  low: { colours: ['cyan', 'yellow'], flashHz: null, dutyCyclePercent: { min: 100, max: 100 }, marker: '*' },
};

/** Higher number = more urgent; for sorting. */
export const PRIORITY_RANK: Readonly<Record<ManagedPriority, number>> = { high: 3, medium: 2, low: 1 };

/** An alarm's priority as its signal, and as a display shows it: 'none' for a device's information signal (INFO). */
export type SignalPriority = ManagedPriority | 'none';

/** PRIORITY_RANK with an information signal below low. */
export const signalRank = (p: SignalPriority): number => (p === 'none' ? 0 : PRIORITY_RANK[p]);
