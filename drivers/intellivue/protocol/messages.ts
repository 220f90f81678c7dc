// Data Export messages: user data of one frame in, a typed message out. Pure; throws only
// IntellivueParseError (with the structure, offset and field that was wrong).
//
// Association control messages start with a session header byte (0x0D request, 0x0E accept, 0x0C
// refuse, 0x09 release request, 0x0A release response, 0x19 abort). Data Export commands start
// with SPpdu (session_id 0xE100, p_context_id), then ROapdus (ro_type, length), then the remote
// operation: invoke (ROIV), result (RORS), error (ROER) or linked result (ROLRS, a result split
// over several messages: first / not-first-not-last / last, each self-contained).
import { CMD, NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT, NOM_NOTI_MDS_CREAT, RO, SPDU } from './constants.js';
import { IntellivueParseError } from './errors.js';
import { Reader } from './reader.js';
import { decodeAbsoluteTime, type AbsoluteTime } from './time.js';

export interface Ava {
  id: number;
  value: Buffer;
  /** Offset of the value within the message user data (for error messages). */
  offset: number;
}

export interface ManagedObjectId {
  objClass: number;
  contextId: number;
  handle: number;
}

export interface ObjType {
  partition: number;
  code: number;
}

export interface ObservationPoll {
  handle: number;
  attributes: Ava[];
}

export interface ContextPoll {
  contextId: number;
  observations: ObservationPoll[];
}

export interface PollReply {
  pollNumber: number;
  /** Extended poll replies number their periodic answers; null for single polls. */
  sequenceNo: number | null;
  relTime: number;
  absTime: AbsoluteTime | null;
  /**
   * Why abs_time_stamp could not be read (not BCD, out of range), when it could not: the reply is decoded without it
   * (absTime null; the relative time still gives device time).
   */
  absTimeProblem?: string;
  objType: ObjType;
  attrGroup: number;
  contexts: ContextPoll[];
}

export interface PollProfile {
  revision: number;
  minPollPeriodTicks: number;
  maxMtuRx: number;
  maxMtuTx: number;
  maxBwTx: number;
  options: number;
  /** Poll Profile Extension options (POLL_EXT_*), when the package was negotiated. */
  extOptions: number | null;
}

export interface UserInfo {
  protocolVersion: number;
  nomenclatureVersion: number;
  functionalUnits: number;
  systemType: number;
  startupMode: number;
  pollProfile: PollProfile | null;
}

export type AssociationSpdu = 'request' | 'accept' | 'refuse' | 'release-request' | 'release-response' | 'abort';

export interface LinkedId {
  state: number;
  count: number;
}

export type Message =
  | { kind: 'association'; spdu: AssociationSpdu; userInfo: UserInfo | null }
  | { kind: 'mds-create'; invokeId: number; managedObject: ManagedObjectId; eventTime: number; mds: ManagedObjectId; attributes: Ava[] }
  | { kind: 'event-report'; invokeId: number; confirmed: boolean; eventType: number; managedObject: ManagedObjectId; eventTime: number; data: Buffer }
  | { kind: 'event-result'; invokeId: number; eventType: number; managedObject: ManagedObjectId; currentTime: number }
  | { kind: 'poll-request'; invokeId: number; extended: boolean; managedObject: ManagedObjectId; pollNumber: number; objType: ObjType; attrGroup: number; extAttributes: Ava[] }
  | { kind: 'poll-result'; invokeId: number; extended: boolean; linked: LinkedId | null; managedObject: ManagedObjectId; reply: PollReply }
  | { kind: 'error'; invokeId: number; errorValue: number }
  | { kind: 'other'; detail: string };

const SPDU_NAMES: Record<number, AssociationSpdu> = {
  [SPDU.CONNECT]: 'request',
  [SPDU.ACCEPT]: 'accept',
  [SPDU.REFUSE]: 'refuse',
  [SPDU.FINISH]: 'release-request',
  [SPDU.DISCONNECT]: 'release-response',
  [SPDU.ABORT]: 'abort',
};

export function parseMessage(data: Buffer): Message {
  if (data.length === 0) throw new IntellivueParseError('message', 0, 'first byte', 'empty user data');
  const first = data[0] as number;
  if (first === 0xe1) return parseDataExport(data);
  const spdu = SPDU_NAMES[first];
  if (!spdu) throw new IntellivueParseError('message', 0, 'session header', `unknown type 0x${first.toString(16)}`);
  return parseAssociation(data, spdu);
}

function parseAssociation(data: Buffer, spdu: AssociationSpdu): Message {
  const r = new Reader(data, `association ${spdu}`, 1);
  let li = r.u8('LI');
  if (li === 0xff) li = r.u16('LI (long form)');
  if (li > r.remaining) r.fail('LI', `says ${li} byte(s), message has ${r.remaining}`);
  const userInfo = spdu === 'request' || spdu === 'accept' ? findUserInfo(data) : null;
  return { kind: 'association', spdu, userInfo };
}

/**
 * The MDSEUserInfoStd sits at the end of the presentation data, inside BER wrappers whose contents
 * we do not need. Its first two fields are fixed for protocol version 1 (0x80000000, 0x40000000),
 * so we look for them and parse from there; null when absent or malformed.
 */
export function findUserInfo(data: Buffer): UserInfo | null {
  for (let i = 0; i + 8 <= data.length; i++) {
    if (data.readUInt32BE(i) !== 0x80000000 || data.readUInt32BE(i + 4) !== 0x40000000) continue;
    try {
      return parseUserInfo(new Reader(data, 'MDSEUserInfoStd', i));
    } catch (err) {
      if (!(err instanceof IntellivueParseError)) throw err;
    }
  }
  return null;
}

function parseUserInfo(r: Reader): UserInfo {
  const info: UserInfo = {
    protocolVersion: r.u32('protocol_version'),
    nomenclatureVersion: r.u32('nomenclature_version'),
    functionalUnits: r.u32('functional_units'),
    systemType: r.u32('system_type'),
    startupMode: r.u32('startup_mode'),
    pollProfile: null,
  };
  parseAttributeList(r, 'option_list');
  for (const ava of parseAttributeList(r, 'supported_aprofiles')) {
    if (ava.id !== 0x0001) continue; // NOM_POLL_PROFILE_SUPPORT
    const p = new Reader(ava.value, 'PollProfileSupport');
    const profile: PollProfile = {
      revision: p.u32('poll_profile_revision'),
      minPollPeriodTicks: p.u32('min_poll_period'),
      maxMtuRx: p.u32('max_mtu_rx'),
      maxMtuTx: p.u32('max_mtu_tx'),
      maxBwTx: p.u32('max_bw_tx'),
      options: p.u32('options'),
      extOptions: null,
    };
    for (const pkg of parseAttributeList(p, 'optional_packages')) {
      if (pkg.id === 0xf001 && pkg.value.length >= 4) profile.extOptions = pkg.value.readUInt32BE(0);
    }
    info.pollProfile = profile;
  }
  return info;
}

export function parseAttributeList(r: Reader, field: string): Ava[] {
  const count = r.u16(`${field}.count`);
  const length = r.u16(`${field}.length`);
  const start = r.offset;
  const list = r.sub(length, `${r.structure} ${field}`, `${field}.value`);
  const out: Ava[] = [];
  for (let i = 0; i < count; i++) {
    const id = list.u16(`${field}[${i}].attribute_id`);
    const len = list.u16(`${field}[${i}].length`);
    const offset = list.offset;
    out.push({ id, value: list.bytes(len, `${field}[${i}].value`), offset });
  }
  if (list.remaining !== 0) list.fail(`${field}.length`, `${count} attribute(s) use ${length - list.remaining} of ${length} byte(s) (list starts at ${start})`);
  return out;
}

function managedObject(r: Reader, field: string): ManagedObjectId {
  return { objClass: r.u16(`${field}.m_obj_class`), contextId: r.u16(`${field}.context_id`), handle: r.u16(`${field}.handle`) };
}

function parseDataExport(data: Buffer): Message {
  const r = new Reader(data, 'SPpdu');
  r.u16('session_id');
  r.u16('p_context_id');
  const ro = new Reader(data, 'ROapdus', r.offset);
  const roType = ro.u16('ro_type');
  const roLen = ro.u16('length');
  if (roLen > ro.remaining) ro.fail('length', `says ${roLen} byte(s), message has ${ro.remaining}`, ro.offset - 2);
  const body = ro.sub(roLen, 'remote operation', 'length');
  switch (roType) {
    case RO.INVOKE:
      return parseInvoke(body);
    case RO.RESULT:
      return parseResult(body, null);
    case RO.LINKED_RESULT: {
      const linked = { state: body.u8('linked_id.state'), count: body.u8('linked_id.count') };
      if (linked.state < 1 || linked.state > 3) body.fail('linked_id.state', `expected 1..3, got ${linked.state}`, body.offset - 2);
      return parseResult(body, linked);
    }
    case RO.ERROR: {
      const invokeId = body.u16('invoke_id');
      return { kind: 'error', invokeId, errorValue: body.u16('error_value') };
    }
    default:
      return ro.fail('ro_type', `unknown remote operation type ${roType}`, 4);
  }
}

function commandBody(r: Reader, what: string): { invokeId: number; command: number; body: Reader } {
  const invokeId = r.u16('invoke_id');
  const command = r.u16('command_type');
  const len = r.u16('length');
  return { invokeId, command, body: r.sub(len, what, 'length') };
}

function parseInvoke(r: Reader): Message {
  const { invokeId, command, body } = commandBody(r, 'ROIVapdu');
  if (command === CMD.CONFIRMED_EVENT_REPORT || command === CMD.EVENT_REPORT) {
    const mo = managedObject(body, 'managed_object');
    const eventTime = body.u32('event_time');
    const eventType = body.u16('event_type');
    const len = body.u16('length');
    const ev = body.sub(len, 'event data', 'length');
    if (eventType === NOM_NOTI_MDS_CREAT) {
      const mds = managedObject(ev, 'MdsCreateInfo.managed_object');
      return { kind: 'mds-create', invokeId, managedObject: mo, eventTime, mds, attributes: parseAttributeList(ev, 'attribute_list') };
    }
    return { kind: 'event-report', invokeId, confirmed: command === CMD.CONFIRMED_EVENT_REPORT, eventType, managedObject: mo, eventTime, data: ev.bytes(ev.remaining, 'data') };
  }
  if (command === CMD.CONFIRMED_ACTION) {
    const mo = managedObject(body, 'managed_object');
    body.u32('scope');
    const actionType = body.u16('action_type');
    const len = body.u16('length');
    const a = body.sub(len, 'PollMdibDataReq', 'length');
    if (actionType !== NOM_ACT_POLL_MDIB_DATA && actionType !== NOM_ACT_POLL_MDIB_DATA_EXT) return { kind: 'other', detail: `action 0x${actionType.toString(16)}` };
    const extended = actionType === NOM_ACT_POLL_MDIB_DATA_EXT;
    const pollNumber = a.u16('poll_number');
    const objType = { partition: a.u16('polled_obj_type.partition'), code: a.u16('polled_obj_type.code') };
    const attrGroup = a.u16('polled_attr_grp');
    const extAttributes = extended && a.remaining > 0 ? parseAttributeList(a, 'poll_ext_attr') : [];
    return { kind: 'poll-request', invokeId, extended, managedObject: mo, pollNumber, objType, attrGroup, extAttributes };
  }
  return { kind: 'other', detail: `invoke command ${command}` };
}

function parseResult(r: Reader, linked: LinkedId | null): Message {
  const { invokeId, command, body } = commandBody(r, linked ? 'ROLRSapdu' : 'RORSapdu');
  if (command === CMD.CONFIRMED_EVENT_REPORT) {
    const mo = managedObject(body, 'managed_object');
    const currentTime = body.u32('current_time');
    const eventType = body.u16('event_type');
    return { kind: 'event-result', invokeId, eventType, managedObject: mo, currentTime };
  }
  if (command !== CMD.CONFIRMED_ACTION) return { kind: 'other', detail: `result of command ${command}` };
  const mo = managedObject(body, 'ActionResult.managed_object');
  const actionType = body.u16('ActionResult.action_type');
  const len = body.u16('ActionResult.length');
  const a = body.sub(len, 'PollMdibDataReply', 'ActionResult.length');
  if (actionType !== NOM_ACT_POLL_MDIB_DATA && actionType !== NOM_ACT_POLL_MDIB_DATA_EXT) return { kind: 'other', detail: `result of action 0x${actionType.toString(16)}` };
  const extended = actionType === NOM_ACT_POLL_MDIB_DATA_EXT;
  const pollNumber = a.u16('poll_number');
  const sequenceNo = extended ? a.u16('sequence_no') : null;
  const relTime = a.u32('rel_time_stamp');
  const absAt = a.offset;
  const absBytes = a.bytes(8, 'abs_time_stamp');
  let absTime: AbsoluteTime | null = null;
  let absTimeProblem: string | undefined;
  try {
    absTime = decodeAbsoluteTime(absBytes);
  } catch (err) {
    if (!(err instanceof IntellivueParseError)) throw err;
    // A side field: the numerics, waves and alarm lists of the reply are valid without it (review rv66 L1).
    absTimeProblem = `abs_time_stamp at offset ${absAt}: ${err.message}`;
  }
  const objType = { partition: a.u16('polled_obj_type.partition'), code: a.u16('polled_obj_type.code') };
  const attrGroup = a.u16('polled_attr_grp');
  const contexts: ContextPoll[] = [];
  const count = a.u16('poll_info_list.count');
  const length = a.u16('poll_info_list.length');
  const list = a.sub(length, 'PollInfoList', 'poll_info_list.length');
  for (let i = 0; i < count; i++) {
    const contextId = list.u16(`context[${i}].context_id`);
    const n = list.u16(`context[${i}].poll_info.count`);
    const l = list.u16(`context[${i}].poll_info.length`);
    const obs = list.sub(l, 'SingleContextPoll', `context[${i}].poll_info.length`);
    const observations: ObservationPoll[] = [];
    for (let j = 0; j < n; j++) {
      const handle = obs.u16(`observation[${j}].obj_handle`);
      observations.push({ handle, attributes: parseAttributeList(obs, `observation[${j}].attributes`) });
    }
    contexts.push({ contextId, observations });
  }
  return { kind: 'poll-result', invokeId, extended, linked, managedObject: mo, reply: { pollNumber, sequenceNo, relTime, absTime, ...(absTimeProblem ? { absTimeProblem } : {}), objType, attrGroup, contexts } };
}
