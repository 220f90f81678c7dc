// What the display's API returns: bed tiles (vitals, NEWS2, alarms by priority) and alarm views.
// Patient identifiers and the addresses of people who acted are left out: the ward screen does not need them.
import { compareAlarms, type AlarmEngine } from '../alarms/engine.js';
import type { News2Score } from '../alarms/news2.js';
import { floodKey, technicalKey } from '../alarms/technical.js';
import { GATEWAY_BED, IEC_PRESENTATION, MODEL_ANNOTATION_KIND, type Alarm, type AlarmAnnotation, type AlarmStateChange, type ManagedPriority } from '../alarms/types.js';
import type { VitalView, WardState } from './ward.js';

export interface AlarmView {
  id: string;
  bed: string;
  deviceId: string;
  source: Alarm['source'];
  category: Alarm['category'];
  priority: ManagedPriority;
  state: Alarm['state'];
  text: string;
  conditionPresent: boolean;
  latching: boolean;
  escalated: boolean;
  raisedAt: number;
  updatedAt: number;
  acknowledgedAt: number | null;
  audioPausedUntil: number | null;
  /**
   * Who paused the audio: a person, the edge model (its hold while it re-checks the evidence, `delay` policy) or the
   * bedside device. Null when not paused, or not known to this view: a change's alarm (changeView) knows it only in the
   * pause's own change; until audioPausedUntil changes, the pause, and so who made it, is the same.
   */
  audioPausedBy: AudioPausedBy | null;
  /**
   * A device's information signal (its priority 'none', e.g. HL7 PCD-04 `PN`): not an alarm condition in IEC
   * 60601-1-8 terms. Managed as low (it can be acknowledged, and is forwarded), shown as information, not as a low alarm.
   */
  information: boolean;
  /** The edge model's latest word on this alarm (advisory), or null when it has none. */
  model: ModelView | null;
  /**
   * Set while the alarm's device is silent or disconnected (the engine holds its "No data" or "disconnected" alarm
   * open): the device no longer confirms the condition, which the engine keeps open (a device alarm up to 10 min,
   * NEW_EPISODE_AFTER_MS). Also ('not-reported') for a device alarm from a source that may send only start and end,
   * not reported for NOT_REPORTED_AFTER_MS: its end may have been lost (review rv185 M3). Null otherwise, for the
   * agent's own technical alarms, and for a condition already ended.
   */
  unconfirmed: UnconfirmedView | null;
}

/** Why an alarm is not confirmed: the technical alarm that says its device is silent or disconnected, or its age. */
export interface UnconfirmedView {
  /**
   * When the gateway found the device silent or disconnected (that alarm's raisedAt; the silence began before); for
   * 'not-reported', when the device last reported the alarm.
   */
  since: number;
  kind: 'no-data' | 'connection' | 'not-reported';
  /** That alarm's text, e.g. "No data from mon-7 for 30 s or more", or "last reported by mon-7 at <ISO time>". */
  text: string;
}

/**
 * A device alarm from a source that declares no repeat (an HL7 sender without alarmRepeatS) is marked "not confirmed:
 * last reported … ago" once its device has not reported it for this long (our choice): such a sender's lost end is
 * not detected, and the bedside must not read a condition reported once, long ago, as current.
 */
export const NOT_REPORTED_AFTER_MS = 5 * 60_000;
/** Alarm rows a bed tile carries (the first in tileOrder); the rest are counted (alarmsNotSent). */
export const MAX_TILE_ALARMS = 20;

/**
 * A tile's rows: a device's flood alarm first (isFlood), then unacknowledged (active, latched, audio-paused), then as
 * list() (priority, newest): an older unanswered HIGH must not be left out behind twenty newer acknowledged ones, with
 * no row to acknowledge it from (review rv188 H3). The page orders the rows it is sent by app.js sortAlarms
 * (unacknowledged, priority, newest): the flood alarm is among them, not necessarily first.
 */
export function tileOrder(a: Alarm, b: Alarm): number {
  return Number(isFlood(b)) - Number(isFlood(a)) || Number(b.state !== 'acknowledged') - Number(a.state !== 'acknowledged') || compareAlarms(a, b);
}

/**
 * The MAX_TILE_ALARMS rows of a tile, in tileOrder, and the alarms left out. Each device's first alarm in tileOrder has
 * a row before any device's second, so that a device flooding the bed with newer unanswered alarms cannot push another
 * device's older unanswered alarm (a ventilator's APNEA under a monitor's junk) off the screen.
 */
export function tileRows(alarms: readonly Alarm[]): { rows: Alarm[]; rest: Alarm[] } {
  const all = [...alarms].sort(tileOrder);
  if (all.length <= MAX_TILE_ALARMS) return { rows: all, rest: [] };
  const chosen = new Set<Alarm>();
  const devices = new Set<string>();
  for (const a of all) {
    if (chosen.size === MAX_TILE_ALARMS) break;
    if (!devices.has(a.deviceId)) {
      devices.add(a.deviceId);
      chosen.add(a);
    }
  }
  for (const a of all) {
    if (chosen.size === MAX_TILE_ALARMS) break;
    chosen.add(a);
  }
  return { rows: all.filter((a) => chosen.has(a)), rest: all.filter((a) => !chosen.has(a)) };
}

/**
 * The "<device> has N open alarms" technical alarm goes first: in a flood of unanswered HIGH alarms it had no row, the
 * one alarm that says what is wrong (review rv190 H1).
 */
function isFlood(a: Alarm): boolean {
  return a.source === 'technical' && a.key === floodKey(a.deviceId, a.bed);
}

/** An alarm's UnconfirmedView, from the engine's open alarms as they are when it is asked (unconfirmedOf). */
export type UnconfirmedOf = (a: Alarm) => UnconfirmedView | null;

/** For a view built from the alarm alone: not known, shown as null. */
const NOT_KNOWN: UnconfirmedOf = () => null;

/**
 * Whether an alarm is the agent's "No data" or "disconnected" alarm of a device (by its key: TechnicalMonitor's), and
 * for which bed when it is for one bed only (a device carrying several beds that sends nothing for one of them).
 */
function silenceKind(t: Alarm): { kind: UnconfirmedView['kind']; bed: string | null } | null {
  if (t.source !== 'technical') return null;
  if (t.key === technicalKey(t.deviceId, 'no-data')) return { kind: 'no-data', bed: null };
  if (t.key === technicalKey(t.deviceId, 'connection')) return { kind: 'connection', bed: null };
  if (t.key === technicalKey(`${t.deviceId}|${t.bed}`, 'no-data')) return { kind: 'no-data', bed: t.bed };
  return null;
}

/** Whether a change of this alarm can change other alarms' `unconfirmed` (LiveFeed sends their tiles again). */
export function tellsSilence(a: Alarm): boolean {
  return silenceKind(a) !== null;
}

/**
 * The engine's open "No data" and "disconnected" alarms of an alarm's device: a view built with it marks the alarms
 * of those devices. A device-wide one covers the device's alarms on every bed (a central station's). The agent's own
 * technical alarms are not marked (their own words say what they are), nor an alarm whose condition has ended (it
 * says LATCHED). Looked up by key per alarm, not read from engine.list(), which clones and sorts every open alarm
 * (review rv179 L4).
 */
export function unconfirmedOf(engine: AlarmEngine, now = Date.now()): UnconfirmedOf {
  return (a) => {
    if (a.source === 'technical' || !a.conditionPresent) return null;
    let found: UnconfirmedView | null = null;
    // The device's keys (TechnicalMonitor's, as silenceKind reads them): device-wide no-data and connection, and the
    // no-data of this alarm's bed alone.
    const keys: Array<[string, UnconfirmedView['kind']]> = [
      [technicalKey(a.deviceId, 'no-data'), 'no-data'],
      [technicalKey(a.deviceId, 'connection'), 'connection'],
      [technicalKey(`${a.deviceId}|${a.bed}`, 'no-data'), 'no-data'],
    ];
    for (const [key, kind] of keys) {
      const t = engine.openByKey(key);
      // Present only: a latched one says the device was silent, not that it is.
      if (!t || t.source !== 'technical' || !t.conditionPresent || t.deviceId !== a.deviceId) continue;
      // A device in error (its "fault" alarm, under the connection key) still sends: it confirms its alarms (rv179 H1).
      if (kind === 'connection' && engine.deviceInError(t.deviceId)) continue;
      // The earliest, when both are open: the device has been unconfirmed since then.
      if (!found || t.raisedAt < found.since) found = { since: t.raisedAt, kind, text: t.text };
    }
    if (found) return found;
    // A source that repeats its alarms has the engine end one it stops reporting; one that may not is marked by age.
    const report = a.source === 'device' ? engine.deviceReport(a.id) : undefined;
    if (report && report.repeatMs === null && now - report.at > NOT_REPORTED_AFTER_MS) {
      return { since: report.at, kind: 'not-reported', text: `last reported by ${a.deviceId} at ${new Date(report.at).toISOString()}` };
    }
    return null;
  };
}

export type AudioPausedBy = 'person' | 'model' | 'device';

/** Who paused, from the role of the actor who did (AlarmEngine.audioPausedBy, or an audited change's actor). */
function pausedByOf(role: string | undefined): AudioPausedBy | null {
  if (role === undefined || role === 'system') return null;
  return role === 'model' || role === 'device' ? role : 'person';
}

export interface ModelView {
  /**
   * likely-true, likely-false, uncertain, not-assessed, or re-assessing (the alarm's condition returned and the model has
   * not judged the new episode yet; the note gives the earlier episode's verdict).
   */
  verdict: string;
  probability: number | null;
  threshold: number | null;
  version: string | null;
  /** Why not assessed, or what a hold did. */
  note: string | null;
}

/** The episode an annotation of the model is about: a condition that returned on the alarm is a new one (1 when unsaid). */
function episodeOf(x: AlarmAnnotation): number {
  return typeof x.values.episode === 'number' ? x.values.episode : 1;
}

function modelView(a: Alarm): ModelView | null {
  const all = a.annotations.filter((x) => x.kind === MODEL_ANNOTATION_KIND);
  if (all.length === 0) return null;
  // Only the latest episode's word counts: a verdict on an earlier episode (before the condition returned) is not one
  // on this one (review rv101 M1), also when it comes late.
  const episode = all.reduce((n, x) => Math.max(n, episodeOf(x)), 1);
  const ofModel = all.filter((x) => episodeOf(x) === episode);
  const assessed = (x: AlarmAnnotation) => typeof x.values.probability === 'number';
  // Its latest assessment; a later "not assessed" (a re-check that failed, a hold that ended) does not hide it.
  const m = ofModel.findLast(assessed) ?? ofModel.at(-1)!;
  // What came after it (a hold that ended, a re-check that failed) is told in the note.
  const last = ofModel.at(-1)!;
  let note = last !== m && last.note ? [m.note, `then: ${last.note}`].filter(Boolean).join('; ') : (m.note ?? null);
  // Not judged yet (re-assessing) or not at all: the earlier episode's verdict is told as that, never as current.
  const earlier = assessed(m) ? undefined : all.findLast((x) => episodeOf(x) < episode && assessed(x));
  if (earlier) note = [note, `earlier episode: ${String(earlier.values.verdict)}, p ${String(earlier.values.probability)}`].filter(Boolean).join('; ');
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const v = m.values;
  return {
    verdict: typeof v.verdict === 'string' ? v.verdict : 'unknown',
    probability: num(v.probability),
    threshold: num(v.threshold),
    version: typeof v.modelVersion === 'string' ? v.modelVersion : null,
    note,
  };
}

export interface News2View {
  total: number;
  risk: News2Score['risk'];
  partial: boolean;
  scale: 1 | 2;
  missing: string[];
  stale: string[];
  assumed: string[];
  /** Consciousness and oxygen as scored now (recorded by someone, or assumed: see `assumed`). */
  consciousness: string | null;
  oxygen: string | null;
}

export interface BedTile {
  bed: string;
  vitals: VitalView[];
  news2: News2View | null;
  /** At most MAX_TILE_ALARMS, the most urgent first (review rv185 M2: a flooding device made a tile megabytes). */
  alarms: AlarmView[];
  /**
   * Open alarms of the bed not in `alarms` (later in tileOrder), by priority ('information': a device's information
   * signal), and those of them unacknowledged (more than MAX_TILE_ALARMS unanswered), which the ward strip counts.
   */
  alarmsNotSent: NotSentCounts & { unacknowledged: NotSentCounts };
  devices: { deviceId: string; state: string; detail: string; at: number }[];
  lastDataAt: number | null;
  /** Its readings are left out over display.maxBeds (the tile is shown for its alarms): the page says why it has no values. */
  readingsDropped: boolean;
}

export interface NotSentCounts {
  total: number;
  high: number;
  medium: number;
  low: number;
  information: number;
}

export interface ChangeView {
  seq: number;
  change: AlarmStateChange['change'];
  from: AlarmStateChange['from'];
  to: AlarmStateChange['to'];
  at: number;
  /** Login name, or only the role for a reader who is not logged in (changeView). */
  by: string;
  alarm: AlarmView;
}

/**
 * An alarm as the page shows it, from the alarm alone: who paused its audio is not known from that (null); nor whether
 * its device is silent, unless `unconfirmed` (unconfirmedOf) is given.
 */
export function alarmView(a: Alarm, unconfirmed: UnconfirmedOf = NOT_KNOWN): AlarmView {
  return viewOf(a, undefined, unconfirmed);
}

/** `pausedBy`: the role of whoever paused the alarm's audio, when the caller knows it. */
function viewOf(a: Alarm, pausedBy: string | undefined, unconfirmed: UnconfirmedOf): AlarmView {
  return {
    id: a.id,
    bed: a.bed,
    deviceId: a.deviceId,
    source: a.source,
    category: a.category,
    priority: a.priority,
    state: a.state,
    text: a.condition.text,
    conditionPresent: a.conditionPresent,
    latching: a.latching,
    escalated: a.escalated,
    raisedAt: a.raisedAt,
    updatedAt: a.updatedAt,
    acknowledgedAt: a.acknowledgedAt ?? null,
    audioPausedUntil: a.audioPausedUntil ?? null,
    audioPausedBy: a.state === 'audio-paused' ? pausedByOf(pausedBy) : null,
    information: a.reportedPriority === 'none',
    model: modelView(a),
    unconfirmed: unconfirmed(a),
  };
}

/**
 * `by`: who acted, by login name for someone logged in (`names`), else only their role ("clinician"): with viewing
 * open, anyone on the network reads the stream, and a clinician's login name is half of what a guesser needs.
 * `unconfirmed`: the engine's silent devices as they are now (the change is sent now).
 */
export function changeView(c: AlarmStateChange, names: boolean, unconfirmed: UnconfirmedOf): ChangeView {
  const by = c.actor === 'system' ? 'system' : names ? c.actor.user : c.actor.role;
  // Who paused is known here only from the pause's own change; the page keeps it while the pause lasts.
  const pausedBy = c.change === 'audio-paused' ? (c.actor === 'system' ? 'system' : c.actor.role) : undefined;
  return { seq: c.seq, change: c.change, from: c.from, to: c.to, at: c.at, by, alarm: viewOf(c.alarm, pausedBy, unconfirmed) };
}

export function news2View(s: News2Score | undefined): News2View | null {
  if (!s) return null;
  const value = (param: string) => {
    const v = s.params.find((p) => p.param === param)?.value;
    return typeof v === 'string' ? v : null;
  };
  return {
    total: s.total, risk: s.risk, partial: s.partial, scale: s.scale, missing: s.missing, stale: s.stale, assumed: s.assumed,
    consciousness: value('consciousness'), oxygen: value('oxygen'),
  };
}

/** Beds known from data, alarms or NEWS2 inputs, in natural order (bed-2 before bed-10). */
export function wardBeds(ward: WardState, engine: AlarmEngine): string[] {
  const beds = new Set([...ward.bedIds(), ...engine.news2Beds()]);
  for (const a of engine.list()) if (a.bed !== GATEWAY_BED) beds.add(a.bed);
  return [...beds].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * `score`: the bed's NEWS2 at `now`, when the caller has it already (LiveFeed keeps when it can next change);
 * `unconfirmed`: the engine's silent devices (unconfirmedOf); one may serve every tile of a snapshot or flush.
 */
export function bedTile(ward: WardState, engine: AlarmEngine, bed: string, now: number, score = engine.news2(bed, now), unconfirmed = unconfirmedOf(engine, now)): BedTile {
  const { rows, rest } = tileRows(engine.list({ bed }));
  const counts = (): NotSentCounts => ({ total: 0, high: 0, medium: 0, low: 0, information: 0 });
  const notSent = { ...counts(), unacknowledged: counts() };
  for (const a of rest) {
    const p = a.reportedPriority === 'none' ? 'information' : a.priority;
    notSent.total++;
    notSent[p]++;
    if (a.state !== 'acknowledged') {
      notSent.unacknowledged.total++;
      notSent.unacknowledged[p]++;
    }
  }
  return {
    bed,
    vitals: ward.vitals(bed, now),
    news2: news2View(score),
    alarms: rows.map((a) => viewOf(a, engine.audioPausedBy(a.id), unconfirmed)),
    alarmsNotSent: notSent,
    devices: ward.devices(bed),
    lastDataAt: ward.lastDataAt(bed),
    readingsDropped: ward.readingsDropped(bed),
  };
}

/** Colours and flash rates for the page, from IEC_PRESENTATION: the middle of each allowed range, 50 % duty. */
export function presentation(): Record<ManagedPriority, { colour: string; flashHz: number | null; dutyPercent: number; marker: string }> {
  // A light red: #e00000 is dark to people with protanopia (2.2:1 on the tiles, less salient than medium's yellow);
  // #ff3030 keeps at least 3:1 against the page's panel for them too (view.test.ts).
  const css: Record<string, string> = { red: '#ff3030', yellow: '#ffd000', cyan: '#00c8e0' };
  const out = {} as Record<ManagedPriority, { colour: string; flashHz: number | null; dutyPercent: number; marker: string }>;
  for (const p of ['high', 'medium', 'low'] as const) {
    const iec = IEC_PRESENTATION[p];
    const hz = iec.flashHz ? Math.round(((iec.flashHz.min + iec.flashHz.max) / 2) * 100) / 100 : null;
    const duty = iec.flashHz ? Math.min(Math.max(50, iec.dutyCyclePercent.min), iec.dutyCyclePercent.max) : 100;
    out[p] = { colour: css[iec.colours[0] ?? 'yellow'] ?? '#ffd000', flashHz: hz, dutyPercent: duty, marker: iec.marker };
  }
  return out;
}
