// IHE PCD mapping (pure): PCD-01 ORU^R01 (and IPEC ORU^R42) → NumericReading / WaveformSegment,
// PCD-04 ORU^R40 → AlarmEvent. Facts used (IHE PCD TF-2, ACM and WCM supplements):
// - OBX-4 is the containment path MDS.VMD.CHAN.METRIC[.FACET]; rows without a value at x.0 or above the metric
//   level (`1`, `1.2`, `1.2.1`) are MDS/VMD/CHAN headers.
// - OBX-18 on a header row names the equipment for everything it contains.
// - Waveforms are NA (samples as components) or MA (time samples as repetitions, channels as components);
//   the sample rate is a facet row MDC_ATTR_SAMP_RATE (unit MDC_DIM_PER_SEC) under the waveform's OBX-4.
// - PCD-04: one alarm per OBR; facets event (…1), source value (…2), MDC_ATTR_EVENT_PHASE, MDC_ATTR_ALARM_STATE,
//   MDC_ATTR_ALARM_INACTIVATION_STATE; OBX-8 of the event row repeats abnormal flag ~ priority (PH/PM/PL/PN)
//   ~ alert type (SP/ST/SA). Some senders use explicit MDC_ATTR_ALARM_PRIORITY / MDC_ATTR_ALERT_TYPE rows.
import type {
  AlarmEvent,
  AlarmPriority,
  DeviceStatusEvent,
  DriverEvent,
  MdcCode,
  NumericReading,
  Quality,
  RawCode,
  Unit,
  WaveformSegment,
} from '../../agent/model/reading.js';
import { mdcEvent } from '../../agent/model/events.js';
import { mdcByCode, metricByRefid } from '../../agent/model/mdc.js';
import { components, isNull, repetitions, str, type MessageHeader } from './protocol/access.js';
import { dtmOffset, parseDtm, wallTimeToUtc } from './protocol/dtm.js';
import { Hl7ParseError } from './protocol/errors.js';
import type { Delimiters, Hl7Message, Segment } from './protocol/types.js';
import { readUnit } from './units.js';

/** HL7 context kept beside each event, in the reading model's `context` (forwarded as sent). */
export type Hl7Context = {
  containment: string;
  obxSetId: string;
  resultStatus: string;
  referenceRange?: string;
  abnormalFlags?: string[];
  /** OBX-17 observation method codes as sent (e.g. AMEAS, MSET, ASET: a setting, not a measurement). */
  observationMethod?: string[];
  /** OBX-20 observation site (body site, e.g. where a temperature or NIBP was taken), first repetition, parts trimmed. */
  observationSite?: { code?: string; text?: string; system?: string };
  /**
   * OBX-6 as the sender spelt it when that was another spelling of the unit `unit.ucum` gives (`{beat}/min`, `mmHg`:
   * agent/model/mdc.ts UNIT_SPELLINGS). Absent when the unit is forwarded as sent or came from its MDC code.
   */
  unitAsSent?: string;
  /** Waveforms of several channels in one OBX (MA, or NA with repetitions): which one, from 1 (the component of MA). */
  channel?: number;
  /** PCD-04 only: facets as sent. */
  eventPhase?: string;
  alarmState?: string;
  inactivationState?: string;
  alertType?: string;
  /**
   * PCD-04 only: set when what the alarm was read from is not valid (review rv180 L2), with the reasons a reading
   * would have: its metric value (extra-components, repeated-value, …), its unit (unit-conflict). The alarm is raised
   * all the same (alarms are advisory).
   */
  quality?: { state: Quality['state']; reasons?: string[] };
};
export type Hl7NumericReading = NumericReading & { context: Hl7Context };
export type Hl7WaveformSegment = WaveformSegment & { context: Hl7Context };
export type Hl7AlarmEvent = AlarmEvent & { context: Hl7Context };

export interface MapOptions {
  /** Driver instance name → Origin.source. */
  source: string;
  receivedAt: number;
  /** Offset (minutes east of UTC) for times without one when no time of the message has one (MSH-7, then the same device's other times). Default 0 (UTC). */
  defaultOffsetMinutes?: number;
  /** IANA zone for times without an offset when neither MSH-7 nor another time of the same device has one (daylight saving applied); wins over defaultOffsetMinutes. */
  defaultTimeZone?: string;
  /**
   * The sender's network address (no port): the device id of a message that names no device at all (no OBX-18, MSH-3
   * nor MSH-4), as `peer:<address>`. Without it such a message's device is `unknown-sender`.
   */
  senderAddress?: string;
}

export interface MapResult {
  profile: 'pcd01' | 'pcd04';
  events: DriverEvent[];
  /** Things worth a log line (never patient data). */
  warnings: MapWarning[];
  /** Content left out of the events (or taken by a fallback): counted, and logged per sender (never patient data). */
  notices: Notice[];
  /** Some event is timed by MSH-7 alone: then MSH-7 is content (a new reading is not a resend of an older one). */
  mshTimeUsed: boolean;
}

/** `kind`: what went wrong, without the row (a sender repeats it at every message: logs are gated by it). */
export interface MapWarning {
  kind: 'obx-before-obr' | 'time-unreadable' | 'time-no-decimal-point' | 'alarm-no-priority';
  text: string;
}

export interface Notice {
  /** Counter name (ctx.count), e.g. `alarm_events_ignored`. */
  counter: string;
  by: number;
  text: string;
  /** Logged once per sender rather than once a minute: a sender's habit, not an event. */
  oncePerSender?: true;
}

interface Row {
  seg: Segment;
  setId: string;
  valueType: string;
  code: string;
  codeText: string;
  codeSystem: string;
  /** OBX-3.1-3 when code/codeText/codeSystem were read from the MDC alternate OBX-3.4-6 (obx3Triplet): kept as `raw`. */
  primary?: RawCode;
  containment: string;
  equipment: string;
  status: string;
  statusShifted: boolean;
  time: string;
  /** The message's delimiters: text in OBX-5 is joined back with them (componentTexts). */
  delimiters: Delimiters;
}

interface Group {
  patientId?: string;
  bed?: string;
  obr?: Segment;
  rows: Row[];
  /** The PID/PV1 group it is under: OBRs of one scope share their MDS/VMD/channel rows (OBX-18). */
  scope: number;
}

const ATTR = {
  SAMP_RATE: 'MDC_ATTR_SAMP_RATE',
  EVENT_PHASE: 'MDC_ATTR_EVENT_PHASE',
  ALARM_STATE: 'MDC_ATTR_ALARM_STATE',
  INACTIVATION: 'MDC_ATTR_ALARM_INACTIVATION_STATE',
  PRIORITY: 'MDC_ATTR_ALARM_PRIORITY',
  ALERT_TYPE: 'MDC_ATTR_ALERT_TYPE',
  ALERT_SOURCE: 'MDC_ATTR_ALERT_SOURCE',
} as const;
/** Facet codes by refid, for senders that give only the number. */
const ATTR_CODES: Record<number, string> = {
  68480: ATTR.ALERT_SOURCE,
  68481: ATTR.EVENT_PHASE,
  68482: ATTR.ALARM_STATE,
  68483: ATTR.INACTIVATION,
  68484: ATTR.PRIORITY,
  68485: ATTR.ALERT_TYPE,
};
/**
 * Shape bounds, checked before any work on a row (a message past them is refused, error 102): the mapping runs in the
 * event loop, and one sender's message must not hold every other sender, the alarms and the display.
 * - OBX-4: IHE PCD containment is MDS.VMD.CHAN.METRIC[.FACET], 5 levels; some senders write MDC numbers in it
 *   (Dräger: `1.3.1.150456.1`, 14 characters). 8 levels and 64 characters leave room for that.
 * - MA: a multichannel waveform has at most a 12-lead ECG's or an EEG montage's channels (IHE PCD WCM); 64 is the
 *   bound. A time sample may leave out its trailing channels (padded with NaN), but channels × time samples may be at
 *   most 8 × the values sent, so the samples laid out stay within a small multiple of the message's size.
 */
export const OBX4_MAX_LEVELS = 8;
export const OBX4_MAX_CHARS = 64;
export const MA_MAX_CHANNELS = 64;
export const MA_MAX_PADDING = 8;
const MDC_EVT_ALARM = 196616;
const MDC_EVT_ACTIVE = 196614;
const STATUS_LETTERS = /^[CDFINORPSUWX]$/;
/** Status letters that are also HL7 table 0080 values ("nature of abnormal test", OBX-10's own content). */
const NATURE_LETTERS = new Set(['N', 'R', 'S']);

/**
 * Free-text fields this mapper never reads (of PID only PID-3 is read; NTE not at all): a `\X..\` escape their charset
 * cannot read is kept there as U+FFFD with a parser warning (parse.ts replaceUndecodableIn), rather than refusing the
 * readings for a patient's name (review rv145 F1). Ids, codes, units and values stay strict: a replaced byte there
 * could merge two ids or change a value.
 */
const UNREAD_TEXT_FIELDS: Readonly<Record<string, ReadonlySet<number>>> = {
  PID: new Set([5, 6, 9, 11, 13, 14]), // names, mother's maiden name, alias, address, phones
  NTE: new Set([3]), // comment
};
export const unreadTextField = (segmentId: string, field: number): boolean => UNREAD_TEXT_FIELDS[segmentId]?.has(field) === true;

/** Which messages this mapper takes. */
export function profileOf(h: MessageHeader): 'pcd01' | 'pcd04' | undefined {
  if (h.messageCode !== 'ORU') return undefined;
  if (h.triggerEvent === 'R01' || h.triggerEvent === 'R42') return 'pcd01';
  if (h.triggerEvent === 'R40') return 'pcd04';
  return undefined;
}

/** Maps a parsed ORU message. Throws Hl7ParseError (code 200/201) for message types it does not take. */
export function mapMessage(msg: Hl7Message, h: MessageHeader, opts: MapOptions): MapResult {
  const profile = profileOf(h);
  if (!profile) {
    const code = h.messageCode === 'ORU' ? 201 : 200;
    throw new Hl7ParseError(`message type ${h.messageCode}^${h.triggerEvent} is not accepted (ORU^R01, ORU^R40, ORU^R42)`, { segmentIndex: 1, segmentId: 'MSH', field: 9 }, code);
  }
  const warnings: MapWarning[] = [];
  const notices: Notice[] = [];
  const msh = msg.segments[0] as Segment;
  const mshOffset = dtmOffset(str(msh, 7));
  const ctx: TimeCtx = {
    mshTime: str(msh, 7),
    assumeOffset: mshOffset ?? opts.defaultOffsetMinutes ?? 0,
    offsetIsDefault: mshOffset === null,
    ...(mshOffset === null && opts.defaultTimeZone !== undefined && { zone: opts.defaultTimeZone }),
    zones: () => NO_ZONES,
    warnings,
    notices,
  };
  // The device of rows no OBX-18 names (senderDevice): taken lazily, so the fallback is noticed only when used.
  const sender = senderDevice(msh, opts.senderAddress);
  let senderUsed = false;
  const mshDevice = (): string => {
    senderUsed = true;
    return sender.id;
  };
  const groups = groupSegments(msg, warnings, notices);
  const scopes = new Map<number, EquipmentIndexes>();
  for (const g of groups) {
    const idx = scopes.get(g.scope) ?? noEquipment();
    addEquipment(idx, g.rows);
    scopes.set(g.scope, idx);
  }
  const events: DriverEvent[] = [];
  const resolvers = groups.map((g) => deviceResolver(addEquipment(noEquipment(), g.rows), scopes.get(g.scope) ?? noEquipment()));
  if (mshOffset === null) {
    // The device of each row as the mapping resolves it (PCD-04: a row no OBX-18 names is its OBR's alarm's, as in
    // mapAlarm), without mshDevice(): looking a time up is not using the sender's id.
    const devices = groups.map((g, i) => {
      const of = resolvers[i] as DeviceOf;
      const alarmDevice = profile === 'pcd04' ? g.rows.map(of).find((d) => d !== undefined) : undefined;
      return (r: Row): string => of(r) ?? alarmDevice ?? sender.id;
    });
    let zones: DeviceZones | undefined;
    ctx.zones = () => (zones ??= deviceZones(groups, devices));
  }
  groups.forEach((g, i) => {
    const device = resolvers[i] as DeviceOf;
    if (profile === 'pcd01') mapObservations(g, device, mshDevice, opts, ctx, events);
    else mapAlarm(g, device, mshDevice, opts, ctx, events);
  });
  if (senderUsed && sender.notice) notices.push(sender.notice);
  return { profile, events, warnings, notices, mshTimeUsed: ctx.mshTimeUsed === true };
}

function groupSegments(msg: Hl7Message, warnings: MapWarning[], notices: Notice[]): Group[] {
  const groups: Group[] = [];
  let patientId: string | undefined;
  let bed: string | undefined;
  let current: Group | undefined;
  let scope = 0;
  const open = (obr?: Segment): Group => {
    const g: Group = { rows: [], scope };
    if (patientId !== undefined) g.patientId = patientId;
    if (bed !== undefined) g.bed = bed;
    if (obr) g.obr = obr;
    groups.push(g);
    return g;
  };
  // A sender that shows the missing pipe on one row has it on its other rows too (the IHE example sends the time
  // on the channel row only): their N/R/S in OBX-10 is then the status.
  const senderShifts = msg.segments.some((s) => s.id === 'OBX' && mayBeShifted(s) && shiftEvident(s));
  msg.segments.forEach((seg, i) => {
    switch (seg.id) {
      case 'PID':
        patientId = patientIdOf(seg);
        bed = undefined;
        current = undefined;
        scope++;
        break;
      case 'PV1': {
        // point of care / room / bed, each in its place: an empty component inside is kept (ICU^^5 is bed 5, ICU^5 is
        // room 5: different keys), only trailing empties are dropped (ICU^5^ is ICU^5). A '/' inside a component is
        // written %2F (and '%' as %25), so 4/W^12 and 4^W^12 stay apart; keys without either are unchanged.
        const pl = locationParts(seg).map((c) => c.replaceAll('%', '%25').replaceAll('/', '%2F'));
        while (pl.length > 0 && pl[pl.length - 1] === '') pl.pop();
        bed = pl.length ? pl.join('/') : undefined;
        // `""` (HL7 null) says there is no location: nothing was lost.
        if (bed === undefined && repetitions(seg, 3) > 0 && !isNull(seg, 3)) noteNoBed(notices);
        if (current && current.rows.length === 0 && bed !== undefined) current.bed = bed;
        // Another PV1 (visit, bed) starts another scope; an OBR opened just before it with no rows yet moves with it,
        // as its bed does.
        if (!current || current.rows.length > 0) scope++;
        else current.scope = ++scope;
        break;
      }
      case 'OBR':
        current = open(seg);
        break;
      case 'OBX': {
        if (!current) {
          warnings.push({ kind: 'obx-before-obr', text: `segment ${i + 1}: OBX before any OBR` });
          current = open();
        }
        const row = readRow(seg, senderShifts, msg.delimiters);
        checkShape(row, i + 1);
        current.rows.push(row);
        break;
      }
    }
  });
  return groups;
}

/**
 * PV1-3 (PL) point of care, room and bed, trimmed. Each is IS up to HL7 v2.6 and HD (namespace & universal id & type)
 * from v2.7: its namespace, else its universal id, so a bed sent as `^^&24` (the Comen NC5) is bed 24, as `^^24` is.
 */
function locationParts(pv1: Segment): string[] {
  return (pv1.fields[3]?.[0] ?? []).slice(0, 3).map((sub) => (sub[0] ?? '').trim() || (sub[1] ?? '').trim());
}

/** A PV1-3 that names no point of care, room nor bed: its readings have no bed. Counted per PV1, said once per sender. */
function noteNoBed(notices: Notice[]): void {
  const n = notices.find((x) => x.counter === 'bed_unreadable');
  if (n) n.by++;
  else {
    notices.push({
      counter: 'bed_unreadable',
      by: 1,
      oncePerSender: true,
      text: 'PV1-3 is sent but names no point of care, room nor bed (PL components 1-3, their namespace or universal id): its readings carry no bed unless their device has one configured (alarms.devices.<id>.bed)',
    });
  }
}

/** Refuses (error 102) a row past the shape bounds (OBX4_MAX_*, MA_MAX_*), before anything is built from it. */
function checkShape(r: Row, segmentIndex: number): void {
  const at = (field: number) => ({ segmentIndex, segmentId: 'OBX', field });
  const c = r.containment;
  if (c.length > OBX4_MAX_CHARS) {
    throw new Hl7ParseError(`OBX-4 containment of ${c.length} characters: at most ${OBX4_MAX_CHARS} are taken (MDS.VMD.CHAN.METRIC.FACET)`, at(4));
  }
  let levels = 1;
  for (let k = c.indexOf('.'); k >= 0; k = c.indexOf('.', k + 1)) levels++;
  if (c !== '' && levels > OBX4_MAX_LEVELS) {
    throw new Hl7ParseError(`OBX-4 containment of ${levels} levels: at most ${OBX4_MAX_LEVELS} are taken (MDS.VMD.CHAN.METRIC.FACET)`, at(4));
  }
  if (r.valueType !== 'MA') return;
  const reps = repetitions(r.seg, 5);
  let width = 0;
  let sent = 0;
  for (let i = 1; i <= reps; i++) {
    const n = components(r.seg, 5, i).length;
    width = Math.max(width, n);
    sent += n;
  }
  if (width > MA_MAX_CHANNELS) {
    throw new Hl7ParseError(`OBX-5 MA of ${width} channels: at most ${MA_MAX_CHANNELS} are taken`, at(5));
  }
  if (width * reps > MA_MAX_PADDING * sent) {
    throw new Hl7ParseError(
      `OBX-5 MA: ${width} channels x ${reps} time samples = ${width * reps} samples from ${sent} values sent (more than ${MA_MAX_PADDING} x: its time samples leave out most channels); not padded`,
      at(5),
    );
  }
}

/**
 * A row that could have lost the pipe before OBX-11: a status letter in OBX-10 and OBX-11, OBX-12 and OBX-18 empty
 * (content at OBX-18 says the later fields are in their places).
 */
function mayBeShifted(raw: Segment): boolean {
  return (
    STATUS_LETTERS.test(str(raw, 10).trim().toUpperCase()) &&
    str(raw, 11).trim() === '' &&
    repetitions(raw, 12) === 0 &&
    repetitions(raw, 18) === 0
  );
}

/**
 * Evidence that it did: OBX-10 holds a letter table 0080 never holds (F, C, X, …), or a later field holds what
 * belongs one place to the right: a time in OBX-13 (OBX-14) or an EUI-64 in OBX-17 (OBX-18). N, R and S alone are
 * also table 0080 values and say nothing.
 */
function shiftEvident(raw: Segment): boolean {
  if (!NATURE_LETTERS.has(str(raw, 10).trim().toUpperCase())) return true;
  if (/^\d{8}/.test(str(raw, 13).trim())) return true;
  const ei = components(raw, 17).map((c) => c.trim().toUpperCase());
  return (ei[1] ?? '').startsWith('EUI') || (ei[3] ?? '').startsWith('EUI');
}

/**
 * PID-3: the repetition typed MR (medical record number, HL7 table 0203) when there is one — the hospital's id of
 * the patient, rather than e.g. a visit or insurance number listed first — else the first id given.
 */
function patientIdOf(pid: Segment): string | undefined {
  let first: string | undefined;
  for (let rep = 1; rep <= repetitions(pid, 3); rep++) {
    const id = str(pid, 3, 1, 1, rep).trim();
    if (!id) continue;
    if (str(pid, 3, 5, 1, rep).trim().toUpperCase() === 'MR') return id;
    first ??= id;
  }
  return first;
}

/**
 * OBX-3 as code, text and system: its first triplet, unless that is not MDC and the alternate (OBX-3.4-6) says MDC
 * (`8867-4^Heart rate^LN^147842^MDC_ECG_HEART_RATE^MDC`, valid CWE, sent by gateways built for LOINC consumers; or an
 * empty first triplet): then the alternate, with the first kept as `primary`. OBX-6 reads both triplets alike (units.ts).
 */
function obx3Triplet(seg: Segment): Pick<Row, 'code' | 'codeText' | 'codeSystem' | 'primary'> {
  const [code, codeText, codeSystem] = [1, 2, 3].map((c) => str(seg, 3, c).trim()) as [string, string, string];
  // An empty OBX-3.3 is read as MDC (isMdcSystem) when the code has an MDC shape: a number or an MDC_ refid.
  const primaryMdc = codeSystem.toUpperCase() === 'MDC' || (codeSystem === '' && (/^\d+$/.test(code) || MDC_REFID.test(codeText)));
  const [altCode, altText, altSystem] = [4, 5, 6].map((c) => str(seg, 3, c).trim()) as [string, string, string];
  if (primaryMdc || altSystem.toUpperCase() !== 'MDC' || (altCode === '' && altText === '')) return { code, codeText, codeSystem };
  const alt = { code: altCode, codeText: altText, codeSystem: altSystem };
  if (code === '' && codeText === '') return alt;
  const primary: RawCode = { system: codeSystem || 'LOCAL', code };
  if (codeText) primary.text = codeText;
  return { ...alt, primary };
}

function readRow(raw: Segment, senderShifts: boolean, delimiters: Delimiters): Row {
  let seg = raw;
  let statusShifted = false;
  if (mayBeShifted(raw) && (senderShifts || shiftEvident(raw))) {
    // A pipe is missing before OBX-11 in several real senders (and IHE examples): the status lands in OBX-10 and
    // every later field one place to the left. Read the row through a view with the missing (empty) OBX-10 put back,
    // so OBX-11, OBX-14, OBX-17 and OBX-18 are read from where they are, here and wherever r.seg is read.
    seg = { id: raw.id, fields: [...raw.fields.slice(0, 10), [[['']]], ...raw.fields.slice(10)] };
    statusShifted = true;
  }
  return {
    seg,
    setId: str(seg, 1).trim(),
    valueType: str(seg, 2).trim().toUpperCase(),
    ...obx3Triplet(seg),
    containment: str(seg, 4).trim(),
    equipment: equipmentId(seg),
    status: str(seg, 11).trim().toUpperCase(),
    statusShifted,
    time: str(seg, 14).trim(),
    delimiters,
  };
}

/** OBX-18 (EI, repeating): prefer an EUI-64. */
function equipmentId(seg: Segment): string {
  const n = repetitions(seg, 18);
  let fallback = '';
  for (let r = 1; r <= n; r++) {
    const c = components(seg, 18, r).map((x) => x.trim());
    if ((c[3] ?? '').toUpperCase().startsWith('EUI') && c[2]) return c[2];
    if ((c[1] ?? '').toUpperCase().startsWith('EUI') && c[0]) return c[0];
    if (!fallback) fallback = c[0] || c[2] || '';
  }
  return fallback;
}

/** OBX-18 by OBX-4 (the first one given for each containment). */
type EquipmentIndex = Map<string, string>;
/** `rows`: every row's; `headers`: MDS/VMD/channel rows' only (namesDeviceNode), for the MDS rule. */
interface EquipmentIndexes {
  rows: EquipmentIndex;
  headers: EquipmentIndex;
}

const noEquipment = (): EquipmentIndexes => ({ rows: new Map(), headers: new Map() });

function addEquipment(idx: EquipmentIndexes, rows: Row[]): EquipmentIndexes {
  for (const r of rows) {
    const k = nodeKey(r.containment);
    if (!k || !r.equipment) continue;
    if (!idx.rows.has(k)) idx.rows.set(k, r.equipment);
    if (namesDeviceNode(r) && !idx.headers.has(k)) idx.headers.set(k, r.equipment);
  }
  return idx;
}

/**
 * A row that stands for an MDS/VMD/channel (its OBX-18 is then the equipment's): a header row, a row written with `.0`
 * levels (`1.0.0.0`) even with a value, or one coded as an MDC object (partition 1, MDC_DEV_…). Not a metric that a
 * sender numbers `1` (review rv126 M5: a flat OBX-4 on every row, each row its own device).
 */
function namesDeviceNode(r: Row): boolean {
  return isHeaderRow(r) || r.containment.endsWith('.0') || mdcNumber(r) >>> 16 === 1 || /^MDC_DEV_/i.test(r.codeText);
}

/**
 * The device of a row, one rule for observations and alarms. IHE PCD TF-2 (OBX-18; SDPi R8117 restates it): OBX-18
 * of the MDS row is the equipment's identifier, one on a VMD or lower row a measurement module's. So the MDS row's
 * OBX-18 wins, else the row's own, else that of its nearest ancestor row (VMD/channel header, or the metric a facet
 * is under), else that of another row at its top node (a sender that numbers every row `1`, OBX-18 on the first
 * only); undefined when none is given (the caller falls back to senderDevice). Only MDS/VMD/channel rows count as
 * the MDS (namesDeviceNode): a metric numbered `1` with its own OBX-18 keeps it (review rv126 M5). Rows are looked up
 * in the row's own OBR first, then in the other OBRs of its PID/PV1 group: a sender may give the MDS row once, under
 * the first OBR.
 */
function deviceResolver(own: EquipmentIndexes, scope: EquipmentIndexes): (r: Row) => string | undefined {
  const lookup = (k: string): string | undefined => own.rows.get(k) ?? scope.rows.get(k);
  return (r) => {
    const dot = r.containment.indexOf('.');
    const top = dot < 0 ? r.containment : r.containment.slice(0, dot);
    // The MDS row, however written (`1`, `1.0`, `1.0.0.0`: one node key).
    const mds = top ? (own.headers.get(top) ?? scope.headers.get(top)) : undefined;
    if (mds) return mds;
    if (r.equipment) return r.equipment;
    // The same headers as for OBX-14 (ancestorTimes), short form `1.1` included; at each level this OBR's first.
    for (const k of ancestorNodes(r.containment)) {
      const eq = lookup(k);
      if (eq) return eq;
    }
    return top ? lookup(top) : undefined;
  };
}

/** An HD (MSH-3, MSH-4): namespace^universal id^type; the EUI-64 when typed so; '' when empty. */
function deviceFromHd(c: string[]): string {
  const [ns = '', uid = '', type = ''] = c.map((x) => x.trim());
  if (type.toUpperCase().startsWith('EUI') && uid) return uid;
  return ns || uid;
}

/**
 * Whether MSH-3 or MSH-4 names the sender, as senderDevice reads them: if neither does, the sender's address stands
 * for it, in its device id and in the duplicate check (review rv178 L1).
 */
export function mshNamesSender(msh: Segment): boolean {
  return deviceFromHd(components(msh, 3)) !== '' || deviceFromHd(components(msh, 4)) !== '';
}

/**
 * The device of rows that no OBX-18 names, from what the message carries, in this order: MSH-3 (the sending
 * application: a monitor's own name or EUI-64, or a central station / gateway, whose readings are told apart by bed),
 * MSH-4 (the sending facility; the Comen NC5 leaves MSH-3 empty and puts its serial there), else the sender's address
 * (`peer:<address>`): with none of them, one fixed id would merge every such monitor into one device (review rv126
 * H1). Past MSH-3, the notice to count and log once per sender.
 */
function senderDevice(msh: Segment, senderAddress: string | undefined): { id: string; notice?: Notice } {
  const app = deviceFromHd(components(msh, 3));
  if (app) return { id: app };
  const facility = deviceFromHd(components(msh, 4));
  if (facility) {
    return {
      id: facility,
      notice: {
        counter: 'device_id_from_msh4',
        by: 1,
        oncePerSender: true,
        text: `MSH-3 (sending application) is empty and no OBX-18 names the device: its device id is MSH-4 (sending facility), '${capText(facility)}'. If MSH-4 names a facility shared by several monitors rather than this one, they share one device id: set OBX-18 or MSH-3 at the sender`,
      },
    };
  }
  // IPv4 on a dual-stack listener is written ::ffff:a.b.c.d; the same monitor gets the same id either way.
  const address = senderAddress?.trim().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  return {
    id: address ? `peer:${address}` : 'unknown-sender',
    notice: {
      counter: 'device_id_from_peer',
      by: 1,
      oncePerSender: true,
      text: address
        ? `MSH-3, MSH-4 and OBX-18 are all empty: the device id is the sender's network address, 'peer:${address}'. It changes if the address does, and monitors that reach the agent through one address (NAT, a terminal server) share it, told apart only by PV1-3 bed: set OBX-18, MSH-3 or MSH-4 at the sender`
        : "MSH-3, MSH-4 and OBX-18 are all empty and the sender's address is not known: the device id is 'unknown-sender', shared by every such sender; set OBX-18, MSH-3 or MSH-4 at the sender",
    },
  };
}

interface TimeCtx {
  mshTime: string;
  assumeOffset: number;
  /** MSH-7 has no offset either: a time without one is placed by configuration, not by the sender. */
  offsetIsDefault: boolean;
  /** Set when offsetIsDefault and a zone is configured: times without an offset are its local times. */
  zone?: string;
  /** The message's zoned times by device (deviceZones), built on first use (only when offsetIsDefault). */
  zones: () => DeviceZones;
  /** Zone conversions of this message by DTM text (rows mostly share OBX-14 / OBR-7 / MSH-7; Intl is slow). */
  zoned?: Map<string, number>;
  warnings: MapWarning[];
  notices: Notice[];
  /** Set when an event's time is MSH-7's. */
  mshTimeUsed?: boolean;
}

interface EventTime {
  /** Null when no time was sent, or none of those sent could be read. */
  ms: number | null;
  /**
   * The time had no offset, nor had MSH-7 nor any time of the same device in the message (SenderHints, zones): its
   * zone is defaultTimeZone / defaultUtcOffsetMinutes, an assumption.
   */
  zoneAssumed: boolean;
  /** Times that were sent but could not be read, skipped for the next candidate (e.g. `obx-14`). */
  invalid: string[];
}

/** Where a time comes from (for the quality reason), and its text. */
type TimeCandidate = [from: string, text: string];

/** What says the zone of a row's time without an offset (senderOffset): its zoned ancestor OBX-14, OBR-7, its device. */
interface SenderHints {
  ancestor: string;
  obr: string;
  device: string;
}

/**
 * The first readable time of the candidates, in order. An unreadable one is skipped, not the end of the search.
 * A time without an offset when MSH-7 has none either is in the sender's zone (HL7 DTM): the offset of a zoned time
 * of the same device says it better than configuration (review rv161 F3; rv165 F3: not another device's, whose clock
 * is set apart): see senderOffset; only without one defaultTimeZone / the default offset.
 */
function timeOf(candidates: TimeCandidate[], ctx: TimeCtx, where: string, hints?: SenderHints): EventTime {
  const invalid: string[] = [];
  for (const [from, t] of candidates) {
    if (t === '') continue;
    try {
      const p = parseDtm(t, ctx.zone ? 0 : ctx.assumeOffset);
      // Read by a lenient rule (a fraction without its '.'): kept, and said (mapping_time_no_decimal_point).
      if (p.note) ctx.warnings.push({ kind: 'time-no-decimal-point', text: `${where} ${from}: ${p.note}` });
      let ms = p.ms;
      let assumed = p.offsetMinutes === null && ctx.offsetIsDefault;
      if (assumed) {
        const sent = hints ? senderOffset(hints, ctx) : null;
        if (sent !== null) {
          // p.ms was placed at the assumed offset; moved to the sender's.
          ms = p.ms + ((ctx.zone ? 0 : ctx.assumeOffset) - sent) * 60_000;
          assumed = false;
        }
      }
      if (assumed && ctx.zone) {
        ctx.zoned ??= new Map();
        ms = ctx.zoned.get(t) ?? wallTimeToUtc(p.ms, ctx.zone);
        ctx.zoned.set(t, ms);
      }
      if (from === 'msh-7') ctx.mshTimeUsed = true;
      return { ms, zoneAssumed: assumed, invalid };
    } catch (e) {
      ctx.warnings.push({ kind: 'time-unreadable', text: `${where} ${from}: ${(e as Error).message}; the next time given is used` });
      invalid.push(from);
    }
  }
  return { ms: null, zoneAssumed: false, invalid };
}

/**
 * The offset of the sender's clock for a time without one, null with none: the row's nearest zoned ancestor OBX-14 (its
 * own containment tree), else its device's (DeviceZones): OBR-7, then the first zoned time in message order, when the
 * whole message is one device; else the first zoned OBX-14/19 of that device's rows. A gateway's message with two
 * devices says nothing of one's clock by the other's times or by an OBR (review rv165 F3).
 */
function senderOffset(h: SenderHints, ctx: TimeCtx): number | null {
  const own = h.ancestor ? dtmOffset(h.ancestor) : null;
  if (own !== null) return own;
  const zones = ctx.zones();
  const obr = zones.oneDevice && h.obr ? dtmOffset(h.obr) : null;
  return obr ?? zones.offset(h.device);
}

/** The zoned times of a message by device, for times without an offset when MSH-7 has none (senderOffset). */
interface DeviceZones {
  /** Every row of the message maps to one device: its OBR-7/8 are that device's times too. */
  oneDevice: boolean;
  /** The offset of the device's first zoned time (message order), null with none. */
  offset(device: string): number | null;
}

const NO_ZONES: DeviceZones = { oneDevice: false, offset: () => null };

/**
 * One pass over the message's rows, on first use only (a message whose times all carry an offset never needs it):
 * each device's first zoned OBX-14 / OBX-19 (read from the row, so a shifted row's too), and the message's first zoned
 * OBR-7, OBR-8, OBX-14, OBX-19, which is the device's when the message has one device.
 */
function deviceZones(groups: Group[], devices: ((r: Row) => string)[]): DeviceZones {
  const first = new Map<string, number | null>();
  let inMessage: number | null = null;
  const zoned = (...times: string[]): number | null => {
    for (const t of times) {
      const off = t ? dtmOffset(t) : null;
      if (off !== null) return off;
    }
    return null;
  };
  for (const [i, g] of groups.entries()) {
    if (inMessage === null && g.obr) inMessage = zoned(str(g.obr, 7).trim(), str(g.obr, 8).trim());
    const deviceOf = devices[i] as (r: Row) => string;
    for (const r of g.rows) {
      const d = deviceOf(r);
      if ((first.get(d) ?? null) !== null) continue;
      const off = zoned(r.time, str(r.seg, 19).trim());
      first.set(d, off);
      inMessage ??= off;
    }
  }
  const oneDevice = first.size <= 1;
  const whole = inMessage;
  return { oneDevice, offset: (d) => (oneDevice ? whole : (first.get(d) ?? null)) };
}

/** The candidates in order: the row's OBX-14, its nearest ancestor's OBX-14, OBR-7, MSH-7. */
function timeCandidates(r: Row, ancestorTime: string, obrTime: string, ctx: TimeCtx): TimeCandidate[] {
  return [
    ['obx-14', r.time],
    ['ancestor-obx-14', ancestorTime],
    ['obr-7', obrTime],
    ['msh-7', ctx.mshTime],
  ];
}

/**
 * Notes on the time in the quality. An unreadable time skipped for the next one is a note (`time-invalid:obx-14`):
 * the value is fine, and the next time (usually OBR-7) is the same observation's. So is a time without a zone.
 */
function noteTime(t: EventTime, q: Quality): void {
  for (const from of t.invalid) worsen(q, 'valid', `time-invalid:${from}`);
  if (t.zoneAssumed) worsen(q, 'valid', 'time-zone-assumed');
}

/**
 * The node an OBX-4 names, without its trailing `.0` levels: a header is written `1.1.1.0`, `1.1.1` or padded further
 * (see isHeaderRow), and all of them are the channel `1.1.1`. Headers are indexed by it, and ancestors looked up by it.
 */
function nodeKey(containment: string): string {
  let end = containment.length;
  while (end > 2 && containment.startsWith('.0', end - 2)) end -= 2;
  return containment.slice(0, end);
}

/**
 * The node keys of a row's containment ancestors, nearest first: `1.1.1`, `1.1`, `1` for `1.1.1.1` (a header written
 * `1.1.0.0` or `1.1` is the same `1.1`). One key per level, each built once while walking back the dots: the work is
 * linear in the levels (OBX-4 is bounded too: OBX4_MAX_LEVELS). One list for OBX-14 and OBX-18, so a header's time
 * and its device id are found alike.
 */
function ancestorNodes(containment: string): string[] {
  const out: string[] = [];
  const own = nodeKey(containment);
  for (let k = own.lastIndexOf('.'); k > 0; k = own.lastIndexOf('.', k - 1)) {
    const key = nodeKey(own.slice(0, k));
    if (key !== out[out.length - 1]) out.push(key);
  }
  return out;
}

/**
 * OBX-14 of the nearest containment ancestor that has one (channel, then VMD, then MDS): a time given on a
 * header row applies to what it contains (IHE PCD TF-2, OBX-14). Ancestors are written `1.1.1.0` or `1.1.1`.
 */
function ancestorTimes(rows: Row[], zonedOnly = false): (r: Row) => string {
  const byKey = new Map<string, string>();
  for (const x of rows) {
    const k = nodeKey(x.containment);
    if (k && x.time && !byKey.has(k) && (!zonedOnly || dtmOffset(x.time) !== null)) byKey.set(k, x.time);
  }
  return (r) => {
    for (const k of ancestorNodes(r.containment)) {
      const t = byKey.get(k);
      if (t) return t;
    }
    return '';
  };
}

/**
 * Only MDC codes are read as MDC (a 99LOCAL or LN number means something else); an empty OBX-3.3 is taken as MDC,
 * as PCD senders that omit it send MDC.
 */
function isMdcSystem(r: Pick<Row, 'codeSystem'>): boolean {
  return r.codeSystem === '' || r.codeSystem.toUpperCase() === 'MDC';
}

/** OBX-3's MDC context-free code, or 0 when it is not an MDC number. */
function mdcNumber(r: Pick<Row, 'code' | 'codeSystem'>): number {
  return isMdcSystem(r) && /^\d+$/.test(r.code) ? Number(r.code) : 0;
}

/** IEEE 11073-10101 partitions of metrics: SCADA (2) and its settings (258). Units (4), events (3), objects (1) are not. */
const MDC_METRIC_PARTITIONS = new Set([2, 258]);
/** OBX-3.2 written as an MDC reference id. */
const MDC_REFID = /^MDC_[A-Z0-9_]+$/i;

/**
 * The agent's own metric term for OBX-3 (agent/model/mdc.ts): by number when there is one (the number is normative),
 * by refid only for code 0 / none. Never a unit term (review rv114 L3).
 */
function knownMetric(r: Row): MdcCode | undefined {
  if (!isMdcSystem(r)) return undefined;
  const n = mdcNumber(r);
  return n > 0 ? mdcByCode(n) : r.codeText ? metricByRefid(r.codeText) : undefined;
}

/** The sender's MDC refid in OBX-3.2, if it writes one. */
function senderRefid(r: Pick<Row, 'codeText' | 'codeSystem'>): string {
  return isMdcSystem(r) && MDC_REFID.test(r.codeText) ? r.codeText : '';
}

/**
 * OBX-3 as an MDC term. The agent's term when its table has the code. Otherwise a well-formed MDC metric code (a
 * number of partition 2 or 258 with its MDC_ refid) is kept as the sender wrote it, with `raw` for traceability, as
 * the IntelliVue and Medibus tables carry terms the agent's table does not name (review rv114 M2): cloud consumers
 * group by code whatever the driver. Anything else is unmapped (`mdc: null`, `raw`). A refid that the table knows
 * under another number is not taken: it would be shown and keyed as that term (refidConflict says so).
 */
function codeOf(r: Row): { mdc: MdcCode | null; raw?: RawCode } {
  const known = knownMetric(r);
  if (known) return r.primary ? { mdc: known, raw: r.primary } : { mdc: known };
  const n = mdcNumber(r);
  const refid = senderRefid(r);
  // An empty OBX-3.3 is read as MDC (isMdcSystem): written so when the code has an MDC shape, not as a local code.
  const mdcShaped = isMdcSystem(r) && (n > 0 || refid !== '');
  const raw: RawCode = { system: r.codeSystem || (mdcShaped ? 'MDC' : 'LOCAL'), code: r.code };
  if (r.codeText) raw.text = r.codeText;
  if (n > 0 && refid && MDC_METRIC_PARTITIONS.has(n >>> 16) && !metricByRefid(refid.toUpperCase())) return { mdc: { code: n, refid }, raw };
  return { mdc: null, raw };
}

/**
 * OBX-3's refid contradicting its number, as the agent's table has them: what to say, or undefined. The number wins
 * when the table has it (the refid is the sender's slip); a number the table lacks under a refid it has is kept
 * unmapped (which of the two is wrong cannot be told).
 */
function refidConflict(r: Row): string | undefined {
  const refid = senderRefid(r).toUpperCase();
  const n = mdcNumber(r);
  if (!refid || n === 0) return undefined;
  const known = mdcByCode(n);
  if (known) return known.refid === refid ? undefined : `${n}^${capText(r.codeText)}: the agent's table has ${n} as ${known.refid}, which is used`;
  const byRefid = metricByRefid(refid);
  if (byRefid && MDC_METRIC_PARTITIONS.has(n >>> 16)) return `${n}^${capText(r.codeText)}: the agent's table has ${byRefid.refid} as ${byRefid.code}; the row is kept unmapped, with its raw code`;
  return undefined;
}

const capText = (t: string): string => (t.length > 64 ? `${t.slice(0, 64)}…` : t);

/** An MDC_ATTR_* row: by refid, by the numbers ATTR_CODES knows, or any number of the object partition (1) they are in. */
function isFacet(r: Row): boolean {
  return attrName(r) !== undefined || mdcNumber(r) >>> 16 === 1;
}

function attrName(r: Row): string | undefined {
  if (r.codeText.startsWith('MDC_ATTR_')) return r.codeText;
  return ATTR_CODES[mdcNumber(r)];
}

function qualityOf(r: Row): Quality {
  const reasons: string[] = [];
  if (r.statusShifted) reasons.push('obx-11-in-obx-10');
  switch (r.status) {
    case 'F':
    case 'R':
    case 'C':
    case 'U':
      return reasons.length ? { state: 'valid', reasons } : { state: 'valid' };
    case 'P':
    case 'S':
      return { state: 'questionable', reasons: [...reasons, `hl7-status:${r.status}`] };
    case 'D':
    case 'W':
      return { state: 'invalid', reasons: [...reasons, `hl7-status:${r.status}`] };
    case '':
      return { state: 'questionable', reasons: [...reasons, 'hl7-status-missing'] };
    default: // X cannot obtain, I pending, N not asked, O order detail
      return { state: 'unavailable', reasons: [...reasons, `hl7-status:${r.status}`] };
  }
}

const RANK: Record<Quality['state'], number> = { valid: 0, questionable: 1, unavailable: 2, invalid: 3 };

/** Lowers quality to `state` (never raises it) and records why. */
function worsen(q: Quality, state: Quality['state'], reason: string): void {
  if (RANK[state] > RANK[q.state]) q.state = state;
  if (!q.reasons?.includes(reason)) q.reasons = [...(q.reasons ?? []), reason];
}

/** OBX-8 measurement-status flags (IHE PCD TF-2, OBX-8): the device's own judgement of the value. */
const MEASUREMENT_STATUS: Record<string, Quality['state']> = {
  DEMO: 'invalid',
  TEST: 'invalid',
  INV: 'invalid',
  QUES: 'questionable',
  CAL: 'questionable',
  EARLY: 'questionable',
  NAN: 'unavailable',
  OFF: 'unavailable',
  NAV: 'unavailable',
};

/** The first component of each repetition of a field, trimmed, empty ones left out (OBX-8 flags, OBX-17 methods). */
function repeatedCodes(seg: Segment, field: number): string[] {
  const out: string[] = [];
  for (let i = 1; i <= repetitions(seg, field); i++) {
    const v = str(seg, field, 1, 1, i).trim();
    if (v) out.push(v);
  }
  return out;
}

/** IEEE 11073-10101 settings partition: a term's setting code is the measurement's term in partition 258. */
const MDC_PART_SETTINGS = 258;
const SETTING_METHODS = new Set(['ASET', 'MSET', 'RSET']);
const MEASUREMENT_METHODS = new Set(['AMEAS', 'MMEAS']);

/**
 * The value was set on the device, not measured: OBX-17 says so (IHE PCD: ASET auto, MSET manual, RSET remote
 * setting; AMEAS / MMEAS are measurements), or the MDC code is a setting code (partition 258, e.g.
 * MDC_VENT_VOL_TIDAL_SETTING), which senders often send without OBX-17. A method list naming both kinds is read as
 * a measurement, so that the limit rules still see it.
 */
/** `observationMethods`: OBX-17, as hl7Context() read it. */
function isSetting(r: Row, observationMethods: readonly string[]): boolean {
  const methods = observationMethods.map((m) => m.toUpperCase());
  if (methods.some((m) => MEASUREMENT_METHODS.has(m))) return false;
  if (methods.some((m) => SETTING_METHODS.has(m))) return true;
  return mdcNumber(r) >>> 16 === MDC_PART_SETTINGS;
}

function applyMeasurementStatus(r: Row, q: Quality): void {
  for (const flag of repeatedCodes(r.seg, 8)) {
    const f = flag.toUpperCase();
    const state = MEASUREMENT_STATUS[f];
    if (state) worsen(q, state, `obx-8:${f}`);
  }
}

/** OBX-7 in HL7's text form: `lower-upper`, `>lower`, `<upper` (`<=`, `>=` too). */
const RANGE_TEXT = /^(?:[<>]=?\s*[+-]?[\d.]+|[+-]?[\d.]+\s*-\s*[+-]?[\d.]+)$/;

/**
 * OBX-7 (ST, "lower-upper" as text, e.g. 90-160). Some senders split it into components: `90^160` (the Comen NC5) is
 * written in the text form, 90-160; `35-150^35^150` (a lab sender) leads with the text form, which is taken. Any
 * other shape is kept as sent, never cut to its first part (review rv126 L2).
 */
function referenceRangeOf(seg: Segment): string {
  const c = components(seg, 7).map((x) => x.trim());
  while (c.length > 1 && c[c.length - 1] === '') c.pop();
  const [first = '', second = ''] = c;
  if (c.length <= 1 || RANGE_TEXT.test(first)) return first;
  if (c.length === 2 && NUMBER.test(first) && NUMBER.test(second)) return `${first}-${second}`;
  return c.join('^');
}

function hl7Context(r: Row): Hl7Context {
  const c: Hl7Context = { containment: r.containment, obxSetId: r.setId, resultStatus: r.status };
  const range = referenceRangeOf(r.seg);
  if (range) c.referenceRange = range;
  const flags = repeatedCodes(r.seg, 8);
  if (flags.length) c.abnormalFlags = flags;
  const methods = repeatedCodes(r.seg, 17);
  if (methods.length) c.observationMethod = methods;
  const [code = '', text = '', system = ''] = components(r.seg, 20).map((x) => x.trim());
  if (code || text) c.observationSite = { ...(code && { code }), ...(text && { text }), ...(system && { system }) };
  return c;
}

// A decimal. The digits after the point are matched only after a '.', so a long run of digits followed by another
// character fails in one pass (`\d+\.?\d*` tried every split of the run: quadratic, a whole-agent stall per value).
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** A decimal as a finite number; marks the quality and returns undefined when it is not one. */
function numberOf(t: string, q: Quality): number | undefined {
  if (!NUMBER.test(t)) {
    worsen(q, 'invalid', 'not-a-number');
    return undefined;
  }
  const n = Number(t);
  // Hundreds of digits pass the pattern but overflow to Infinity (null in JSON): not a value.
  if (!Number.isFinite(n)) {
    worsen(q, 'invalid', 'not-finite');
    return undefined;
  }
  return n;
}

/**
 * A metric the agent knows (MDC SCADA partition, agent/model/mdc.ts): its value is a number whatever OBX-2 says, and
 * the limit rules and NEWS2 skip anything else.
 */
function isNumericMetric(r: Row): boolean {
  // The agent's table only: a sender's MDC term it does not name may well carry text (a rhythm label, a mode).
  const mdc = knownMetric(r);
  return mdc !== undefined && mdc.code >>> 16 === 2;
}

/**
 * Text (OBX-2 empty, ST, TX, CWE, …) where a known metric needs a number: a clean decimal is read as one and stays
 * valid with a note (`value-type:ST`, `value-type-missing`): the value is well formed, only its type was mislabelled,
 * and marking it questionable would keep an SpO2 of 84 from the limit rules. Other text stays text and is invalid
 * (`not-a-number`), as in an NM row. A value that cannot be used is never presented as valid.
 */
function metricFromText(r: Row, text: string, quality: Quality): number | string {
  worsen(quality, 'valid', r.valueType === '' ? 'value-type-missing' : `value-type:${r.valueType}`);
  // Only the first repetition is read, as in an NM row: not the whole truth.
  if (repetitions(r.seg, 5) > 1) worsen(quality, 'questionable', 'repeated-value');
  return numberOf(text, quality) ?? text;
}

const SN_BOUNDS = new Set(['<', '>', '<=', '>=']);

/**
 * OBX-5's components in repetition `rep`, each with its subcomponents joined back with the message's subcomponent
 * separator: text as sent (`Leads off & noisy`, an `&` a sender did not escape), where components() keeps only the
 * first subcomponent (review rv178 M2).
 */
function componentTexts(r: Row, rep = 1): string[] {
  return (r.seg.fields[5]?.[rep - 1] ?? []).map((c) => c.map((x) => x ?? '').join(r.delimiters.subcomponent));
}

/** OBX-5's first repetition holds more than one non-empty part (`97^98`, `97&5`): a number reads only the first. */
function hasExtraParts(r: Row): boolean {
  return (r.seg.fields[5]?.[0] ?? []).some((c, ci) => c.some((x, si) => (ci > 0 || si > 0) && (x ?? '').trim() !== ''));
}

/** OBX-5 as a reading value by OBX-2. */
function valueOf(r: Row, quality: Quality): number | string | null {
  const seg = r.seg;
  if (isNull(seg, 5)) {
    // "" = the sender says explicitly there is no value.
    worsen(quality, 'unavailable', 'hl7-null');
    return null;
  }
  if (repetitions(seg, 5) === 0) {
    // No value at all in a row that should carry one: never a valid reading (status F with an empty OBX-5).
    worsen(quality, 'unavailable', 'no-value');
    return null;
  }
  if (r.status === 'X') {
    // "Cannot obtain" but a value is there (the IHE Philips example does this): keep it, flag it.
    quality.state = 'questionable';
    quality.reasons = [...(quality.reasons ?? []).filter((x) => x !== 'hl7-status:X'), 'hl7-status:X-with-value'];
  }
  const first = componentTexts(r);
  switch (r.valueType) {
    case 'NM': {
      // NM does not repeat, nor has components: keep the first, but do not present it as the whole truth.
      if (repetitions(seg, 5) > 1) worsen(quality, 'questionable', 'repeated-value');
      if (hasExtraParts(r)) worsen(quality, 'questionable', 'extra-components');
      const t = str(seg, 5).trim();
      return numberOf(t, quality) ?? t;
    }
    case 'SN': {
      // comparator^num1^separator^num2 (a subcomponent in one makes it no number: not-a-number)
      const [cmp = '', n1 = '', sep = '', n2 = ''] = first.map((x) => x.trim());
      if (sep === '' && n2 === '') {
        if (cmp === '' || cmp === '=') return numberOf(n1, quality) ?? n1;
        if (SN_BOUNDS.has(cmp)) {
          // Beyond the measuring range (`>^40`): the bound is the best number there is, and the most extreme one;
          // questionable, since the true value lies past it.
          const n = numberOf(n1, quality);
          if (n === undefined) return `${cmp}${n1}`;
          worsen(quality, 'questionable', `sn-comparator:${cmp}`);
          return n;
        }
      }
      // A range, a ratio or `<>`: kept as text, which a known metric cannot use.
      if (isNumericMetric(r)) worsen(quality, 'invalid', 'not-a-number');
      return `${cmp}${n1}${sep}${n2}`;
    }
    case 'CWE':
    case 'CE':
    case 'CNE':
    case 'CF': {
      const text = (first[1] || first[0] || first[8] || '').trim();
      if (isNumericMetric(r)) return metricFromText(r, text, quality);
      // A list of codes (rhythm labels, pump codes) has no one text: the first is kept and, as in NM, not presented
      // as the whole truth.
      if (repetitions(seg, 5) > 1) worsen(quality, 'questionable', 'repeated-value');
      return text;
    }
    default: {
      // Components and subcomponents joined back as sent: a text with an unescaped `^` or `&` is kept whole.
      const textOf = (rep: number): string => componentTexts(r, rep).join(r.delimiters.component);
      if (isNumericMetric(r)) return metricFromText(r, textOf(1).trim(), quality);
      const reps = repetitions(seg, 5);
      if (reps > 1 && (r.valueType === 'ST' || r.valueType === 'TX' || r.valueType === 'FT')) {
        // HL7 sends multi-line text as repetitions of OBX-5: one line each.
        const lines: string[] = [];
        for (let i = 1; i <= reps; i++) lines.push(textOf(i));
        return lines.join('\n').trim();
      }
      // Other types (ID, DTM, an empty OBX-2, …) cannot be joined: the first, marked as in NM.
      if (reps > 1) worsen(quality, 'questionable', 'repeated-value');
      return textOf(1).trim();
    }
  }
}

const MDC_PART_SCADA = 2; // metrics

/**
 * MDS/VMD/CHAN rows: no value, and a containment ending in .0, or no value type on a row that is not a metric. A
 * metric sent without a value and without OBX-2 (HL7 needs OBX-2 only with a value: status X, "cannot obtain") is
 * a metric with no value, not a header. Headers are written `1.1.1.0` or `1.1.1` (fewer than four levels: the IHE
 * examples give a channel `1.0.1` a metric code, MDC_PRESS_BLD_NONINV), so OBX-4 decides; without it, the code does.
 */
function isHeaderRow(r: Row): boolean {
  if (repetitions(r.seg, 5) !== 0) return false;
  if (r.containment.endsWith('.0')) return true;
  if (r.valueType !== '') return false;
  if (r.containment !== '') return r.containment.split('.').length < 4;
  return (mdcNumber(r) || (knownMetric(r)?.code ?? 0)) >>> 16 !== MDC_PART_SCADA;
}

type DeviceOf = (r: Row) => string | undefined;

/** One notice per message, naming the first row: counted per row, logged once per sender (review rv114 M2). */
function noteRefidConflict(ctx: TimeCtx, text: string): void {
  const n = ctx.notices.find((x) => x.counter === 'mdc_refid_mismatch');
  if (n) n.by++;
  else {
    ctx.notices.push({
      counter: 'mdc_refid_mismatch',
      by: 1,
      oncePerSender: true,
      text: `OBX-3 refid that contradicts its MDC code (said once per sender, each row counted); the first: ${text}`,
    });
  }
}

/** OBX-6 naming two units, or an MDC unit refid beside another number (units.ts readUnit): counted as OBX-3's are. */
/**
 * A row's OBX-6. Units that disagree (UCUM and MDC naming different ones): which the value is in cannot be told (kPa
 * or mmHg is a factor 7.5), so `quality` is made questionable (unit-conflict), not for the limit rules, and counted.
 */
function rowUnit(r: Row, quality: Quality, ctx: TimeCtx): { unit: Unit; asSent?: string } {
  const { unit, asSent, conflict } = readUnit(components(r.seg, 6));
  if (conflict) {
    worsen(quality, 'questionable', 'unit-conflict');
    noteUnitConflict(ctx, conflict);
  }
  return asSent === undefined ? { unit } : { unit, asSent };
}

function noteUnitConflict(ctx: TimeCtx, text: string): void {
  const n = ctx.notices.find((x) => x.counter === 'unit_mismatch');
  if (n) n.by++;
  else {
    ctx.notices.push({
      counter: 'unit_mismatch',
      by: 1,
      oncePerSender: true,
      text: `OBX-6 whose units disagree (its values are questionable, unit-conflict; said once per sender, each row counted); the first: ${capText(text)}`,
    });
  }
}

function mapObservations(g: Group, deviceOf: DeviceOf, mshDevice: () => string, opts: MapOptions, ctx: TimeCtx, out: DriverEvent[]): void {
  const deviceFor = (r: Row): string => deviceOf(r) ?? mshDevice();
  const obrTime = g.obr ? str(g.obr, 7).trim() : '';
  const inherited = ancestorTimes(g.rows);
  // The sender's offset for times without one (timeOf hints), needed only when MSH-7 has none.
  const zonedInherited = ctx.offsetIsDefault ? ancestorTimes(g.rows, true) : () => '';
  const waveformKeys = new Set(g.rows.filter((r) => r.valueType === 'NA' || r.valueType === 'MA').map((r) => r.containment));
  const rates = rateFacets(g.rows);
  g.rows.forEach((r, idx) => {
    if (isHeaderRow(r)) return;
    const parent = r.containment.includes('.') ? r.containment.slice(0, r.containment.lastIndexOf('.')) : '';
    // A facet of a waveform (its sample rate, range, …) is read by the waveform; any other row under it (a metric
    // sent by a waveform at channel level) is mapped as itself, not dropped (review rv145 F4).
    if (parent !== '' && waveformKeys.has(parent) && isFacet(r)) return;
    const origin = { deviceId: deviceFor(r), source: opts.source, ...(g.bed ? { bed: g.bed } : {}), ...(g.patientId ? { patientId: g.patientId } : {}) };
    const code = codeOf(r);
    const conflict = refidConflict(r);
    if (conflict) noteRefidConflict(ctx, conflict);
    const quality = qualityOf(r);
    const { unit, asSent } = rowUnit(r, quality, ctx);
    const sent = asSent === undefined ? {} : { unitAsSent: asSent };
    const isWave = r.valueType === 'NA' || r.valueType === 'MA';
    // Not MSH-7 for a waveform: the message is built after its samples were taken, so MSH-7 says no more of their
    // start than our receipt time does (and is treated the same: time-from-receipt).
    const candidates = timeCandidates(r, inherited(r), obrTime, ctx).filter(([from]) => !isWave || from !== 'msh-7');
    const time = timeOf(candidates, ctx, `OBX ${r.setId}`, { ancestor: zonedInherited(r), obr: obrTime, device: origin.deviceId });
    if (isWave) {
      const rate = sampleRate(rates, g.rows, idx, r);
      const q: Quality = { ...quality, reasons: [...(quality.reasons ?? [])] };
      if (rate === undefined) worsen(q, 'questionable', 'sample-rate-unknown');
      else if (rate.unit !== undefined) worsen(q, 'questionable', `sample-rate-unit:${rate.unit}`);
      applyMeasurementStatus(r, q);
      noteTime(time, q);
      // No sender time of the samples: they are placed at our receipt time, which may be far from when they were taken.
      if (time.ms === null) worsen(q, 'questionable', 'time-from-receipt');
      const channels = waveformChannels(r, q);
      channels.forEach(({ samples, quality: cq }, i) => {
        const w: Hl7WaveformSegment = {
          kind: 'waveform',
          ...origin,
          ...code,
          unit,
          startTime: time.ms ?? opts.receivedAt,
          sampleRateHz: rate?.hz ?? 0,
          samples,
          receivedAt: opts.receivedAt,
          quality: cq.reasons?.length ? cq : { state: cq.state },
          // Channels share code and OBX-4: only their place in the OBX tells them apart.
          context: r.valueType === 'MA' || channels.length > 1 ? { ...hl7Context(r), ...sent, channel: i + 1 } : { ...hl7Context(r), ...sent },
        };
        out.push(w);
      });
      return;
    }
    const value = valueOf(r, quality);
    applyMeasurementStatus(r, quality);
    noteTime(time, quality);
    const context: Hl7Context = { ...hl7Context(r), ...sent };
    const reading: Hl7NumericReading = {
      kind: 'numeric',
      ...origin,
      ...code,
      value,
      unit,
      deviceTime: time.ms,
      receivedAt: opts.receivedAt,
      quality,
      context,
      ...(isSetting(r, context.observationMethod ?? []) && { setting: true as const }),
    };
    out.push(reading);
  });
}

const isRate = (r: Row): boolean => r.codeText === ATTR.SAMP_RATE;

/**
 * The first MDC_ATTR_SAMP_RATE row under each OBX-4 (any level below it), built once per OBR: looking through every
 * row for every waveform row was quadratic (a 1 MiB message of NA rows held the agent for a minute).
 */
function rateFacets(rows: Row[]): Map<string, Row> {
  const under = new Map<string, Row>();
  for (const r of rows) {
    if (!isRate(r)) continue;
    for (let k = r.containment.indexOf('.'); k >= 0; k = r.containment.indexOf('.', k + 1)) {
      const above = r.containment.slice(0, k);
      if (!under.has(above)) under.set(above, r);
    }
  }
  return under;
}

/** Units of a sample rate (samples per second); none given is read as one (IHE PCD WCM gives MDC_DIM_PER_SEC). */
const RATE_UNITS = new Set(['', '/s', '1/s', 'Hz']);

/**
 * Sample rate in Hz: facet row MDC_ATTR_SAMP_RATE under the waveform's OBX-4, else the row right after it. A sample
 * period (ms, s: by MDC number, refid or UCUM, review rv178 L3) is turned into its rate. `unit`: a unit that is neither,
 * read as Hz and said (the waveform is questionable).
 */
function sampleRate(rates: Map<string, Row>, rows: Row[], idx: number, wave: Row): { hz: number; unit?: string } | undefined {
  const facet = rates.get(wave.containment);
  const next = rows[idx + 1];
  const row = facet ?? (next && isRate(next) ? next : undefined);
  if (!row) return undefined;
  const v = Number(str(row.seg, 5).trim());
  if (!(v > 0)) return undefined;
  // A unit written as text only (`ms`, no coding system) comes back as an annotation, `{ms}`.
  const ucum = readUnit(components(row.seg, 6)).unit.ucum.replace(/^\{(.*)\}$/, '$1');
  if (ucum === 'ms') return { hz: 1000 / v };
  if (ucum === 's') return { hz: 1 / v };
  return RATE_UNITS.has(ucum) ? { hz: v } : { hz: v, unit: ucum };
}

/**
 * NA: one channel, samples as components. MA: repetitions are time samples, components are channels. Each channel
 * has its own quality (starting from `q`): a bad sample in one says nothing of the others.
 */
function waveformChannels(r: Row, q: Quality): { samples: number[]; quality: Quality }[] {
  const reps = repetitions(r.seg, 5);
  const channel = (): { samples: number[]; quality: Quality } => ({ samples: [], quality: { ...q, reasons: [...(q.reasons ?? [])] } });
  if (r.valueType === 'NA') {
    // NA with repetitions = several channels in channel-block form.
    const out: { samples: number[]; quality: Quality }[] = [];
    for (let i = 1; i <= Math.max(1, reps); i++) {
      const c = channel();
      c.samples = components(r.seg, 5, i).map((t) => numberOf(t.trim(), c.quality) ?? Number.NaN);
      out.push(c);
    }
    return out;
  }
  // A time sample may leave out its trailing empty channels (HL7 drops trailing empty components), and an empty
  // channel has no sample at that time: both are NaN (ingest zeroes them and marks them), so each channel keeps one
  // sample per repetition and none of its later samples moves to an earlier time.
  const rows: string[][] = [];
  for (let i = 1; i <= reps; i++) rows.push(components(r.seg, 5, i));
  let width = 0; // a loop, not Math.max(...rows): a frame may hold hundreds of thousands of time samples
  for (const c of rows) width = Math.max(width, c.length);
  const channels = Array.from({ length: width }, channel);
  for (const c of rows) {
    channels.forEach((ch, i) => {
      const t = (c[i] ?? '').trim();
      ch.samples.push(t === '' ? Number.NaN : (numberOf(t, ch.quality) ?? Number.NaN));
    });
  }
  return channels;
}

const PRIORITY: Record<string, AlarmPriority> = { PH: 'high', PM: 'medium', PL: 'low', PN: 'none' };

/**
 * IHE PCD ACM event phase (with the alarm state): `momentary` for an event at a point in time (tpoint, start_only:
 * no end will be sent), and an update that says the alarm is now inactive (or 'inactivate') ends it. State
 * `latched` (the condition formerly existed and does not now, but the device holds the alarm) also ends the
 * condition, marked `latched`: the alarm stays in view until acknowledged, not shown as a condition still present.
 */
function phaseOf(raw: string, state: string): { phase: AlarmEvent['phase']; momentary?: true; latched?: true } {
  const inactive = state.toLowerCase() === 'inactive';
  const phase = raw.toLowerCase();
  if (state.toLowerCase() === 'latched' && phase !== 'tpoint' && phase !== 'start_only') return { phase: 'end', latched: true };
  // Inactive (e.g. the device's alarms are off) never raises an alarm, whatever the phase: a start, tpoint or
  // start_only with it ends (an end not seen starting is recorded by the engine, not raised as active).
  if (inactive) return { phase: 'end' };
  switch (phase) {
    case 'start':
      return { phase: 'start' };
    case 'start_only':
    case 'tpoint':
      return { phase: 'start', momentary: true };
    case 'end':
    case 'reset':
    case 'inactivate':
      return { phase: 'end' };
    case '':
      return { phase: 'start' };
    default: // continue, update, escalate, de-escalate, present
      return { phase: 'continue' };
  }
}

function mapAlarm(g: Group, deviceOf: DeviceOf, mshDevice: () => string, opts: MapOptions, ctx: TimeCtx, out: DriverEvent[]): void {
  const isEvent = (r: Row): boolean => r.codeText.startsWith('MDC_EVT_') || mdcNumber(r) >> 16 === 3;
  // An event row (MDC_EVT_, partition 3) is never an MDS/VMD/channel header, with or without OBX-5 text: the header
  // heuristic is PCD-01's, and took an event row with no text for one (the alarm was lost, or raised from a facet row).
  const rows = g.rows.filter((r) => isEvent(r) || !isHeaderRow(r));
  if (rows.length === 0) {
    // Nothing to raise: said, not dropped in silence (the message is taken, as other content left out is).
    const obr1 = g.obr ? str(g.obr, 1).trim() : '';
    const obr3 = g.obr ? str(g.obr, 3).trim() : '';
    ctx.notices.push({
      counter: 'alarm_events_unreadable',
      by: 1,
      text: `PCD-04 OBR ${obr1 || '(none)'}${obr3 ? ` (alarm ${obr3})` : ''} has no alarm event row (no MDC_EVT_ code, only MDS/VMD/channel header rows or no OBX): not raised`,
    });
    return;
  }
  const facet = (name: string): Row | undefined => rows.find((r) => attrName(r) === name);
  const eventRows = rows.filter(isEvent);
  const eventRow = eventRows[0] ?? rows.find((r) => attrName(r) === undefined) ?? (rows[0] as Row);
  if (eventRows.length > 1) {
    // IHE PCD ACM: every OBX under an OBR belongs to one alarm (its facets share that OBR's id, phase and state),
    // so which facets belong to a second event row cannot be known: the first is taken, the others said and counted.
    const others = eventRows.slice(1);
    ctx.notices.push({
      counter: 'alarm_events_ignored',
      by: others.length,
      text: `PCD-04: ${eventRows.length} alarm event rows under one OBR (IHE ACM sends one alarm per OBR); OBX ${eventRow.setId} (${eventRow.codeText || eventRow.code}) taken, ${others.map((r) => `OBX ${r.setId} (${r.codeText || r.code})`).join(', ')} not raised`,
    });
  }
  const metricRow = rows.find((r) => r !== eventRow && attrName(r) === undefined && (r.valueType === 'NM' || r.valueType === 'NA'));
  // The same device as the observations of the event row get; else that of another row of this OBR (IHE ACM: all
  // of them describe this one alarm).
  const named = deviceOf(eventRow) ?? g.rows.map(deviceOf).find((d) => d !== undefined);
  const device = named ?? mshDevice();
  const origin = { deviceId: device, source: opts.source, ...(g.bed ? { bed: g.bed } : {}), ...(g.patientId ? { patientId: g.patientId } : {}) };
  const facetText = (name: string): string => {
    const r = facet(name);
    return r ? str(r.seg, 5).trim() : '';
  };

  // Condition: the event row's code, or its CWE value when the row is the generic MDC_EVT_ALARM.
  // primary: OBX-3's first triplet when the event code was its MDC alternate; not the condition's once OBX-5 names it.
  let condRow: Pick<Row, 'code' | 'codeText' | 'codeSystem' | 'primary'> = { code: eventRow.code, codeText: eventRow.codeText, codeSystem: eventRow.codeSystem, primary: eventRow.primary };
  let text = '';
  const v = components(eventRow.seg, 5).map((x) => x.trim());
  // The texts whole, subcomponents joined back (an unescaped `&` in "Leads off & noisy", review rv178 M2).
  const texts = componentTexts(eventRow).map((x) => x.trim());
  if (eventRow.valueType === 'CWE' || eventRow.valueType === 'CE') {
    if (Number(eventRow.code) === MDC_EVT_ALARM && (v[0] || v[1])) condRow = { code: v[0] ?? '', codeText: v[1] ?? '', codeSystem: v[2] ?? '', primary: undefined };
    text = texts[8] || texts[1] || texts[0] || '';
  } else {
    text = texts.join(eventRow.delimiters.component);
  }
  const cond = codeOf({ ...eventRow, ...condRow });
  if (Number(condRow.code) === MDC_EVT_ACTIVE || condRow.codeText === 'MDC_EVT_ACTIVE') {
    // Stamped with the gateway's time: silence is timed from it, and a device clock running ahead would postpone
    // the feed's "no data" alarm by as much.
    const status: DeviceStatusEvent = { kind: 'device-status', ...origin, state: 'online', alive: true, detail: 'PCD-04 watchdog (MDC_EVT_ACTIVE) received', at: opts.receivedAt };
    out.push(status);
    return;
  }
  if (eventRow.status === 'W' || eventRow.status === 'D') {
    // HL7 table 0085: W "post original as wrong" (e.g. sent for the wrong patient), D "deletes the OBX record"; IHE
    // PCD ACM gives them no alarm meaning. Neither starts an alarm (nor continues or ends one: as for a retracted
    // reading, what was raised before is not withdrawn; it ends by its own end or is acknowledged).
    ctx.notices.push({
      counter: 'alarm_events_retracted',
      by: 1,
      text: `PCD-04 alarm OBX ${eventRow.setId} (${eventRow.codeText || eventRow.code}) has OBX-11 ${eventRow.status} (${eventRow.status === 'W' ? 'posted in error' : 'deleted'}): not raised`,
    });
    return;
  }
  // After the watchdog and retraction cases, which take no time from the message.
  const obrTime = g.obr ? str(g.obr, 7).trim() : '';
  const hints = ctx.offsetIsDefault ? { ancestor: ancestorTimes(g.rows, true)(eventRow), obr: obrTime, device } : undefined;
  const time = timeOf(timeCandidates(eventRow, ancestorTimes(g.rows)(eventRow), obrTime, ctx), ctx, `OBX ${eventRow.setId}`, hints);

  const flags = repeatedCodes(eventRow.seg, 8).map((f) => f.toUpperCase());
  const prioFlag = flags.find((f) => f in PRIORITY) ?? facetText(ATTR.PRIORITY).toUpperCase();
  const typeFlag = flags.find((f) => f === 'SP' || f === 'ST' || f === 'SA') ?? facetText(ATTR.ALERT_TYPE).toUpperCase();
  const abnormal = flags.filter((f) => !(f in PRIORITY) && f !== 'SP' && f !== 'ST' && f !== 'SA');
  if (!(prioFlag in PRIORITY)) ctx.warnings.push({ kind: 'alarm-no-priority', text: `alarm OBX ${eventRow.setId}: no priority given; taken as medium` });
  const phaseRaw = facetText(ATTR.EVENT_PHASE);
  const stateRaw = facetText(ATTR.ALARM_STATE);
  const hl7: Hl7Context = { ...hl7Context(eventRow), ...(abnormal.length ? { abnormalFlags: abnormal } : {}) };
  if (!abnormal.length) delete hl7.abnormalFlags;
  if (phaseRaw) hl7.eventPhase = phaseRaw;
  if (stateRaw) hl7.alarmState = stateRaw;
  const inact = facetText(ATTR.INACTIVATION);
  if (inact) hl7.inactivationState = inact;
  // IHE PCD ACM: enabled | audio-paused | audio-off | alarm-paused | alarm-off | alert-acknowledged. A pause or an
  // acknowledgement at the device is a person answering the alarm; "off" states are settings, not answers.
  const atDevice = /acknowledged/i.test(inact) ? ('acknowledged' as const) : /^(audio|alarm)-paused$/i.test(inact) ? ('audio-paused' as const) : undefined;
  if (typeFlag) hl7.alertType = typeFlag;
  // No alert type and no metric row: the event code tells it when the agent knows the code (review rv153: a VT alarm
  // so sent was technical, and the edge model never judged it); otherwise technical, as before.
  const sentType = typeFlag === 'SP' || typeFlag === 'ST' || typeFlag === 'SA';
  const byCode = !sentType && !metricRow ? mdcEvent(mdcNumber(condRow), senderRefid(condRow)) : undefined;
  if (byCode) {
    ctx.notices.push({
      counter: 'alarm_type_from_code',
      by: 1,
      oncePerSender: true,
      text: `PCD-04 alarm without an alert type (OBX-8 SP/ST/SA or MDC_ATTR_ALERT_TYPE) nor a metric row: ${byCode.refid} taken as ${byCode.kind} by its code`,
    });
  }

  const phase = phaseOf(phaseRaw, stateRaw);
  // OBR-3 (EI) is unique only as a whole: EI.3/EI.4 (universal id, e.g. the source's EUI-64 in IHE ACM) tell apart
  // the monitors behind one central station (review rv161 F2). With EI.1/EI.2 alone the text is as before (`A1^GW`).
  // Not OBR-2: the placer number, new in every message of one alarm in IHE's own example (review rv161 F1).
  const obr3 = g.obr ? components(g.obr, 3).slice(0, 4).map((x) => x.trim()) : [];
  while (obr3.length > 2 && obr3[obr3.length - 1] === '') obr3.pop();
  let alarmId = obr3[0] ? (obr3.length > 2 ? obr3.join('^') : `${obr3[0]}^${obr3[1] ?? ''}`) : '';
  if (!alarmId) {
    // No id from the sender (IHE ACM requires OBR-3): made from what tells alarms apart. The device alone is not
    // enough (without OBX-18 it is the sender's, e.g. MSH-3: the central station of every bed), so the bed is in it.
    // Not the patient: alarm ids are forwarded as they are, and a patient id (even hashed: MRNs are few enough to try them all) would
    // escape privacy.pseudonymizePatientIds.
    alarmId = `${device}:${g.bed ?? ''}:${condRow.code}:${eventRow.containment}`;
    const obr2 = g.obr ? str(g.obr, 2).trim() : '';
    ctx.notices.push({
      counter: 'alarm_id_fallback',
      by: 1,
      oncePerSender: true,
      text: `PCD-04 alarm without OBR-3 (its id, required by IHE ACM): its id is made from device, bed, condition and OBX-4, so two alarms of one condition at one bed cannot be told apart${obr2 ? ' (OBR-2, the placer number, is not taken: senders give it anew in every message of one alarm)' : ''}`,
    });
  } else if (named === undefined && g.bed !== undefined) {
    // The device is the sender's (MSH-3/4, peer address), shared by every bed behind it: the engine keys an alarm by
    // device and id, and would take another bed's same id for this alarm moved there (review rv161 F2).
    alarmId = `${alarmId}@${g.bed}`;
  }

  const alarm: Hl7AlarmEvent = {
    kind: 'alarm',
    ...origin,
    alarmId,
    condition: cond.mdc,
    ...(cond.raw ? { raw: cond.raw } : {}),
    text: text || condRow.codeText || condRow.code,
    // No priority at all is not "no alarm" (PN): an alarm the sender did not rank is shown as medium, not low.
    priority: PRIORITY[prioFlag] ?? 'medium',
    category: typeFlag === 'SP' ? 'physiological' : typeFlag === 'ST' || typeFlag === 'SA' ? 'technical' : metricRow ? 'physiological' : (byCode?.kind ?? 'technical'),
    phase: phase.phase,
    ...(phase.momentary && { momentary: true as const }),
    ...(phase.latched && { latched: true as const }),
    ...(atDevice && { atDevice }),
    deviceTime: time.ms,
    receivedAt: opts.receivedAt,
    context: hl7,
  };
  // The marks a reading gets, on what the alarm was read from (review rv180 L2); its OBX-11 status is not one here.
  const q: Quality = { state: 'valid' };
  if (metricRow) {
    alarm.sourceMetric = codeOf(metricRow).mdc;
    alarm.value = valueOf(metricRow, q);
    const { unit, asSent } = rowUnit(metricRow, q, ctx);
    alarm.unit = unit;
    if (asSent !== undefined) alarm.context.unitAsSent = asSent;
  }
  if (q.reasons?.length) alarm.context.quality = q;
  out.push(alarm);
  // No end will come for an event at a point in time: sent with its start, so that it does not stay active for ever.
  if (alarm.momentary) out.push({ ...alarm, phase: 'end' });
}
