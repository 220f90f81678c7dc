// Alarms open when the agent stops are not tracked by the next run (its engine starts empty). The agent keeps a
// short note per open bed alarm in the store as alarms change, and at start turns what the previous run left into
// one alarm that lists them. Pure: notes in and out as text, the store and the alarm service are the agent's.
// An acknowledged alarm whose condition is present is noted too (review rv99 M3): without it a restart forgot it
// without a word; a device alarm's note also carries what the next run needs to restore its acknowledgement, and so
// does a limit alarm answered with its device's alarm (review rv104 M3), with who acknowledged (rv104 L2). A note also
// keeps what the next run needs to close the alarm for the cloud with one record (formerAlarm; review rv185 M4), the
// patient (as its records carry it: a pseudonym where configured) and the source fields included (review rv187 M2: a
// consumer keeping the newest state whole lost them). With pseudonyms on, a note keeps no raw patient id, an
// acknowledged alarm's neither (review rv188 M3), and says so (`pseudonyms`).
import type { AlarmPriority, MdcCode } from '../model/reading.js';
import type { Alarm, AlarmCategory, AlarmSource, AlarmState, AlarmStateChange, ManagedPriority } from './types.js';
import { GATEWAY_BED } from './types.js';

/** What the store keeps of an open alarm. */
export interface OpenAlarmNote {
  text: string;
  bed: string;
  priority: ManagedPriority;
  state: AlarmState;
  raisedAt: number;
  /** The condition key and its device (notes written before review rv185 M4 have them for acknowledged ones only). */
  key?: string;
  deviceId?: string;
  /** Acknowledged ones only: when and by whom it was acknowledged. */
  acknowledgedAt?: number;
  acknowledgedBy?: AcknowledgedBy;
  /**
   * Acknowledged ones only: its patient, which the restored acknowledgement is compared with, in the form the agent
   * stores it (AlarmEngineConfig.patientKey: a pseudonym where configured; review rv188 M3).
   */
  patientId?: string;
  /**
   * Its patient as its records carry it (a pseudonym where configured: no raw id is stored for it), for its closing
   * record (review rv187 M2). Absent from notes written before.
   */
  recordPatientId?: string;
  /** True: its patient ids were pseudonymised when written. Absent: written raw, or by an agent before review rv188 M3. */
  pseudonyms?: boolean;
  /** For its closing record (formerAlarm); absent from notes written before review rv185 M4. */
  source?: AlarmSource;
  category?: AlarmCategory;
  sourceAlarmId?: string;
  code?: MdcCode;
  /** The source's own code, without its text (the note is kept small). */
  raw?: { system: string; code: string };
  conditionPresent?: boolean;
  latching?: boolean;
  escalated?: boolean;
  updatedAt?: number;
  /** The device's own priority where it differs; the metric that triggered it, its value (a text cut) and UCUM unit. */
  reportedPriority?: AlarmPriority;
  metric?: MdcCode;
  value?: number | string | null;
  unit?: string;
}

/** Who acknowledged an alarm (the actor without the address it came from; `system` as user and role). */
export interface AcknowledgedBy {
  user: string;
  role: string;
}

/** An acknowledgement the next run restores, for a device alarm its device reports again (AlarmEngine.restoreAcknowledgements). */
export interface AcknowledgedBeforeRestart {
  key: string;
  bed: string;
  deviceId: string;
  /** The priority noted (at most the one acknowledged at): a repeat above it is not taken as answered. */
  priority: ManagedPriority;
  acknowledgedAt: number;
  acknowledgedBy?: AcknowledgedBy;
  patientId?: string;
}

/** Most of an alarm's text kept in its note: one long device text must not crowd the others out of the list. */
const NOTE_TEXT_MAX = 120;
/** Alarms named in the list; the rest are counted. */
const LISTED_MAX = 5;
/** Longest list text (an earlier restart's list, not acknowledged, is carried on inside it). */
const LIST_TEXT_MAX = 2000;

const OPEN_STATES: ReadonlySet<AlarmState> = new Set(['active', 'latched', 'audio-paused', 'acknowledged']);
const PRIORITY_ORDER: Record<ManagedPriority, number> = { high: 0, medium: 1, low: 2 };
const SOURCES: ReadonlySet<string> = new Set<AlarmSource>(['device', 'limit', 'news2', 'technical', 'model', 'rhythm']);
const CATEGORIES: ReadonlySet<string> = new Set<AlarmCategory>(['physiological', 'technical']);
const REPORTED_PRIORITIES: ReadonlySet<string> = new Set<AlarmPriority>(['high', 'medium', 'low', 'none']);

/** What agent/privacy.ts pseudonymizer gives: `p_` and 22 base64url characters. */
const PSEUDONYM_FORM = /^p_[A-Za-z0-9_-]{22}$/;

/** A long text (an alarm's, a device's text value) cut for its note: one must not crowd the others out, nor grow it. */
const cut = (text: string): string => (text.length > NOTE_TEXT_MAX ? `${text.slice(0, NOTE_TEXT_MAX - 1)}…` : text);

/**
 * The notes a batch of changes calls for, by alarm id: an open bed alarm (active, latched, audio-paused, and
 * acknowledged, which means its condition is present) gets its note; a resolved one loses it (null). The gateway's
 * own conditions are left out: the next run checks them again (hub, store, screens) or notes them as losses of their own.
 * `acknowledgedBy` (AlarmEngine.acknowledgedBy): who acknowledged an alarm, when a later change (a lower priority, an
 * annotation) rewrites its note; otherwise the actor of its acknowledgement in this batch. `pseudonym`: the agent's
 * pseudonymiser where configured: every patient id in a note goes through it (the records carry it so too).
 */
export function openAlarmNotes(
  changes: readonly AlarmStateChange[],
  acknowledgedBy?: (alarmId: string) => AcknowledgedBy | undefined,
  pseudonym?: (patientId: string) => string,
): Map<string, string | null> {
  const stored = pseudonym ?? ((id: string) => id);
  const notes = new Map<string, string | null>();
  const ackedIn = new Map<string, AcknowledgedBy>();
  for (const { alarm: a, change, actor, at } of changes) {
    if (a.bed === GATEWAY_BED) continue;
    if (change === 'acknowledged') ackedIn.set(a.id, actor === 'system' ? { user: 'system', role: 'system' } : { user: actor.user, role: actor.role });
    const note: OpenAlarmNote = {
      text: cut(a.condition.text), bed: a.bed, priority: a.priority, state: a.state, raisedAt: a.raisedAt, key: a.key, deviceId: a.deviceId, source: a.source, category: a.category,
      // Its last record's `at` (never before updatedAt): its closing record is stamped after it (review rv187 M1).
      conditionPresent: a.conditionPresent, latching: a.latching, escalated: a.escalated, updatedAt: Math.max(a.updatedAt, at),
    };
    if (a.sourceAlarmId !== undefined) note.sourceAlarmId = a.sourceAlarmId;
    if (a.condition.code) note.code = { code: a.condition.code.code, refid: a.condition.code.refid };
    if (a.condition.raw) note.raw = { system: a.condition.raw.system, code: a.condition.raw.code };
    // All the alarm-change record carries of its patient and source, so that its closing record says it too.
    if (a.patientId !== undefined) note.recordPatientId = stored(a.patientId);
    if (a.patientId !== undefined && pseudonym) note.pseudonyms = true;
    if (a.reportedPriority !== undefined && a.reportedPriority !== a.priority) note.reportedPriority = a.reportedPriority;
    if (a.metric) note.metric = { code: a.metric.code, refid: a.metric.refid };
    if (a.value !== undefined) note.value = typeof a.value === 'string' ? cut(a.value) : a.value;
    if (a.unit) note.unit = a.unit.ucum;
    if (a.state === 'acknowledged') {
      note.acknowledgedAt = a.acknowledgedAt ?? a.updatedAt;
      const by = acknowledgedBy?.(a.id) ?? ackedIn.get(a.id);
      if (by) note.acknowledgedBy = { user: by.user, role: by.role };
      if (a.patientId !== undefined) note.patientId = stored(a.patientId);
    }
    notes.set(a.id, OPEN_STATES.has(a.state) ? JSON.stringify(note) : null);
  }
  return notes;
}

export function parseOpenAlarmNote(text: string): OpenAlarmNote | null {
  try {
    const v = JSON.parse(text) as Partial<OpenAlarmNote> | null;
    if (v && typeof v.text === 'string' && typeof v.bed === 'string' && typeof v.raisedAt === 'number' && v.priority !== undefined && v.priority in PRIORITY_ORDER && v.state !== undefined && OPEN_STATES.has(v.state)) {
      const note: OpenAlarmNote = { text: v.text, bed: v.bed, priority: v.priority, state: v.state, raisedAt: v.raisedAt };
      if (typeof v.key === 'string' && typeof v.deviceId === 'string') Object.assign(note, { key: v.key, deviceId: v.deviceId });
      if (note.key !== undefined && typeof v.acknowledgedAt === 'number') note.acknowledgedAt = v.acknowledgedAt;
      const by = v.acknowledgedBy;
      if (by && typeof by.user === 'string' && typeof by.role === 'string') note.acknowledgedBy = { user: by.user, role: by.role };
      if (typeof v.patientId === 'string') note.patientId = v.patientId;
      if (typeof v.recordPatientId === 'string') note.recordPatientId = v.recordPatientId;
      if (v.pseudonyms === true) note.pseudonyms = true;
      if (typeof v.source === 'string' && SOURCES.has(v.source)) note.source = v.source;
      if (typeof v.category === 'string' && CATEGORIES.has(v.category)) note.category = v.category;
      if (typeof v.sourceAlarmId === 'string') note.sourceAlarmId = v.sourceAlarmId;
      if (v.code && typeof v.code.code === 'number' && typeof v.code.refid === 'string') note.code = { code: v.code.code, refid: v.code.refid };
      if (v.raw && typeof v.raw.system === 'string' && typeof v.raw.code === 'string') note.raw = { system: v.raw.system, code: v.raw.code };
      if (typeof v.conditionPresent === 'boolean') note.conditionPresent = v.conditionPresent;
      if (typeof v.latching === 'boolean') note.latching = v.latching;
      if (typeof v.escalated === 'boolean') note.escalated = v.escalated;
      if (typeof v.updatedAt === 'number') note.updatedAt = v.updatedAt;
      if (typeof v.reportedPriority === 'string' && REPORTED_PRIORITIES.has(v.reportedPriority)) note.reportedPriority = v.reportedPriority;
      if (v.metric && typeof v.metric.code === 'number' && typeof v.metric.refid === 'string') note.metric = { code: v.metric.code, refid: v.metric.refid };
      if (typeof v.value === 'number' || typeof v.value === 'string' || v.value === null) note.value = v.value;
      if (typeof v.unit === 'string') note.unit = v.unit;
      return note;
    }
  } catch {
    // not JSON: unreadable, below
  }
  return null;
}

/**
 * The acknowledged device alarms among the notes, and the limit alarms answered with them at the device (their twins,
 * review rv104 M3: the device alarm's acknowledgement is restored, so the twin's must be too, or it escalates though
 * both were answered). Any other limit alarm, and NEWS2, is judged anew from the readings. `pseudonym`: the agent's
 * pseudonymiser where configured, for a patient id a note keeps raw (written with pseudonyms off, or before rv188 M3):
 * the engine compares in the stored form (patientKey).
 */
export function acknowledgedBeforeRestart(notes: Iterable<string>, pseudonym?: (patientId: string) => string): AcknowledgedBeforeRestart[] {
  const out: AcknowledgedBeforeRestart[] = [];
  for (const text of notes) {
    const n = parseOpenAlarmNote(text);
    if (n?.state !== 'acknowledged' || n.key === undefined || n.deviceId === undefined || n.acknowledgedAt === undefined) continue;
    if (!n.key.startsWith('device:') && !(n.key.startsWith('limit:') && n.acknowledgedBy?.role === 'device')) continue;
    const a: AcknowledgedBeforeRestart = { key: n.key, bed: n.bed, deviceId: n.deviceId, priority: n.priority, acknowledgedAt: n.acknowledgedAt };
    if (n.acknowledgedBy) a.acknowledgedBy = n.acknowledgedBy;
    if (n.patientId !== undefined) a.patientId = pseudonym && !n.pseudonyms ? pseudonym(n.patientId) : n.patientId;
    out.push(a);
  }
  return out;
}

/**
 * The alarm as its note left it, for the one record that closes it for the cloud at the next start (review rv185 M4:
 * a consumer keeping the newest state per alarm id held it open for ever). Null for a note that cannot be read or was
 * written before notes kept the source, category, device and key: the restart alarm still lists those. Its
 * `patientId` is in the records' form (not to be pseudonymised again): `pseudonym`, the agent's pseudonymiser where
 * configured now, is applied to one the note kept raw (written with pseudonyms off; review rv188 M3).
 */
export function formerAlarm(id: string, text: string, pseudonym?: (patientId: string) => string): Alarm | null {
  const n = parseOpenAlarmNote(text);
  if (!n || n.key === undefined || n.deviceId === undefined || n.source === undefined || n.category === undefined) return null;
  const alarm: Alarm = {
    id,
    key: n.key,
    bed: n.bed,
    deviceId: n.deviceId,
    source: n.source,
    condition: { code: n.code ?? null, text: n.text },
    priority: n.priority,
    category: n.category,
    state: n.state,
    // Unknown in an older note: as its state says (an audio-paused one is taken as present).
    conditionPresent: n.conditionPresent ?? n.state !== 'latched',
    latching: n.latching ?? n.state === 'latched',
    raisedAt: n.raisedAt,
    updatedAt: Math.max(n.raisedAt, n.updatedAt ?? n.acknowledgedAt ?? n.raisedAt),
    escalated: n.escalated ?? false,
    annotations: [],
  };
  if (n.raw) alarm.condition.raw = { ...n.raw };
  if (n.sourceAlarmId !== undefined) alarm.sourceAlarmId = n.sourceAlarmId;
  // As its records carried it: not to be pseudonymised again (AlarmService.isClosingRecord); but never a raw id while
  // pseudonyms are on. A note without the flag, by an agent before it, whose id has a pseudonym's form was written
  // with pseudonyms on (its record id was pseudonymised since rv187 M2).
  if (n.recordPatientId !== undefined) {
    const raw = pseudonym !== undefined && !n.pseudonyms && !PSEUDONYM_FORM.test(n.recordPatientId);
    alarm.patientId = raw ? pseudonym(n.recordPatientId) : n.recordPatientId;
  }
  if (n.acknowledgedAt !== undefined) alarm.acknowledgedAt = n.acknowledgedAt;
  if (n.reportedPriority !== undefined) alarm.reportedPriority = n.reportedPriority;
  if (n.metric) alarm.metric = { ...n.metric };
  if (n.value !== undefined) alarm.value = n.value;
  if (n.unit !== undefined) alarm.unit = { ucum: n.unit };
  return alarm;
}

/** An acknowledged alarm counts at medium at most in the list: someone answered it; what is lost is its tracking. */
const listedPriority = (n: OpenAlarmNote): ManagedPriority => (n.state === 'acknowledged' && n.priority === 'high' ? 'medium' : n.priority);

/**
 * The alarm that lists the alarms the previous run left open: highest priority first (medium at least: a loss of
 * tracking is not a low matter; an acknowledged one counts at medium at most, after the unanswered ones), an
 * unreadable note as an alarm it cannot name, and an earlier restart's list that nobody acknowledged carried on after it. Null when there is nothing to list.
 */
export function restartList(notes: readonly string[], earlier?: { text: string; priority: string }): { text: string; priority: 'high' | 'medium' } | null {
  if (notes.length === 0) return null;
  const parsed = notes.map(parseOpenAlarmNote);
  // Unanswered before acknowledged at the same listed priority: they are the ones nobody has seen to.
  const answered = (n: OpenAlarmNote): number => (n.state === 'acknowledged' ? 1 : 0);
  parsed.sort((a, b) => (a && b ? PRIORITY_ORDER[listedPriority(a)] - PRIORITY_ORDER[listedPriority(b)] || answered(a) - answered(b) || a.raisedAt - b.raisedAt : a ? -1 : 1));
  const state = (n: OpenAlarmNote): string => (n.state === 'acknowledged' ? 'acknowledged before the restart; condition still present then; open' : n.state);
  const shown = parsed
    .slice(0, LISTED_MAX)
    .map((n) => (n ? `${n.text} (${n.bed === GATEWAY_BED ? 'gateway' : n.bed}, ${n.priority}, ${state(n)} since ${new Date(n.raisedAt).toISOString()})` : 'an alarm whose note is unreadable'));
  const more = parsed.length > shown.length ? `; and ${parsed.length - shown.length} more` : '';
  const one = parsed.length === 1;
  const text = `${parsed.length} alarm${one ? ' was' : 's were'} open when the agent stopped and ${one ? 'is' : 'are'} no longer tracked — check the bedside: ${shown.join('; ')}${more}`;
  const full = earlier ? `${text}. Before an earlier restart: ${earlier.text}` : text;
  // An unreadable note could have been anything: high.
  const top = parsed.some((n) => n === null) ? 'high' : listedPriority(parsed[0]!);
  return {
    text: full.length > LIST_TEXT_MAX ? `${full.slice(0, LIST_TEXT_MAX - 1)}…` : full,
    priority: earlier?.priority === 'high' || top === 'high' ? 'high' : 'medium',
  };
}
