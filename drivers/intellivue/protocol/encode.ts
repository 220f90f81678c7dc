// Message builders: the host's requests (association, MDS Create result, polls, release, abort)
// and, for the simulator and tests, the monitor's side (accept/refuse, MDS Create event, poll
// results and linked results). Returns user data; wrap with encodeMessageFrame() for the wire.
import {
  CMD, NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT, NOM_NOTI_MDS_CREAT, NOM_POLL_PROFILE_SUPPORT, P_CONTEXT_ID,
  POLL_PROFILE_REV_0, RO, SESSION_ID, SPDU,
} from './constants.js';
import type { Ava, LinkedId, ManagedObjectId, ObjType, PollReply } from './messages.js';
import { encodeAbsoluteTime } from './time.js';
import { Writer } from './writer.js';

/** Session data after the CN/AC session header (fixed in the programming guide's template). */
const SESSION_DATA = [0x05, 0x08, 0x13, 0x01, 0x00, 0x16, 0x01, 0x02, 0x80, 0x00, 0x14, 0x02, 0x00, 0x02];

/**
 * Presentation data of the association request up to the user-information length: fixed BER
 * wrappers (ACSE/presentation contexts; the guide gives them as a template). Indefinite lengths
 * (0x80) are closed by the 16 zero bytes after the user information.
 */
const AARQ_PRESENTATION = Buffer.from(
  '3180a0808001010000a280a003000001a4803080020101060452010001308006025101000000003080020102060c2a8648ce14020100000001013080060c2a8648ce140201000000020100000000000061803080020101a0806080a180060c2a8648ce14020100000003010000be802880060c2a8648ce140201000000010102010281',
  'hex',
);
const END_OF_CONTENTS = Buffer.alloc(16);

/** LI of a session header: one byte up to 254, else 0xFF and two bytes. */
function li(n: number): number[] {
  return n <= 254 ? [n] : [0xff, (n >>> 8) & 0xff, n & 0xff];
}

function berLength(n: number): number[] {
  return n < 0x80 ? [n] : n <= 0xff ? [0x81, n] : [0x82, (n >>> 8) & 0xff, n & 0xff];
}

export interface AssociationParams {
  /** Minimum poll period we ask for, in 1/8 ms ticks. */
  minPollPeriodTicks: number;
  /** Largest command we can receive / send (the MIB interface negotiates at most 1000). */
  maxMtuRx: number;
  maxMtuTx: number;
  /** Poll Profile Extension options (POLL_EXT_*); 0 leaves the extension out. */
  extOptions: number;
  systemType: number;
  startupMode: number;
}

/** MDSEUserInfoStd with one Poll Profile Support entry (and the extension package if asked for). */
export function encodeUserInfo(p: AssociationParams): Buffer {
  const w = new Writer();
  w.u32(0x80000000).u32(0x40000000).u32(0).u32(p.systemType).u32(p.startupMode);
  w.u16(0).u16(0); // option_list: empty
  w.u16(1);
  const profilesLen = w.lengthU16();
  w.u16(NOM_POLL_PROFILE_SUPPORT);
  const avaLen = w.lengthU16();
  w.u32(POLL_PROFILE_REV_0).u32(p.minPollPeriodTicks).u32(p.maxMtuRx).u32(p.maxMtuTx).u32(0xffffffff).u32(0x60000000);
  if (p.extOptions) {
    w.u16(1).u16(12).u16(0xf001).u16(8).u32(p.extOptions).u16(0).u16(0);
  } else {
    w.u16(0).u16(0);
  }
  avaLen();
  profilesLen();
  return w.toBuffer();
}

function associationMessage(spdu: number, presentationPrefix: Buffer, userInfo: Buffer): Buffer {
  const presentation = Buffer.concat([presentationPrefix, Buffer.from(berLength(userInfo.length)), userInfo, END_OF_CONTENTS]);
  const afterHeader = Buffer.concat([Buffer.from(SESSION_DATA), Buffer.from([0xc1, ...li(presentation.length)]), presentation]);
  return Buffer.concat([Buffer.from([spdu, ...li(afterHeader.length)]), afterHeader]);
}

export function encodeAssociationRequest(p: AssociationParams): Buffer {
  return associationMessage(SPDU.CONNECT, AARQ_PRESENTATION, encodeUserInfo(p));
}

/** Simulator: an accept carrying the negotiated user information (the BER wrapper is ours, not a monitor's). */
export function encodeAssociationAccept(p: AssociationParams): Buffer {
  const prefix = Buffer.from('3180a0808001010000a280a00300000161803080020101a0806180a180060c2a8648ce14020100000003010000be80288002010281', 'hex');
  return associationMessage(SPDU.ACCEPT, prefix, encodeUserInfo(p));
}

export function encodeAssociationRefuse(): Buffer {
  return Buffer.from([SPDU.REFUSE, 0x03, 0xc1, 0x01, 0x00]);
}

/** Release request (FN SPDU), as in the programming guide. */
export function encodeReleaseRequest(): Buffer {
  return Buffer.from('0918c11661803080020101a08062808001000000000000000000', 'hex');
}

export function encodeReleaseResponse(): Buffer {
  return Buffer.from('0a18c11661803080020101a08063808001000000000000000000', 'hex');
}

export function encodeAbort(): Buffer {
  const body = Buffer.concat([Buffer.from('a080a0803080020101060251010000000061803080020101a0806480800100', 'hex'), Buffer.alloc(10)]);
  return Buffer.concat([Buffer.from([SPDU.ABORT, body.length + 5, 0x11, 0x01, 0x03, 0xc1, body.length]), body]);
}

// ---- Data Export commands ----

function dataExport(build: (w: Writer) => void): Buffer {
  const w = new Writer();
  w.u16(SESSION_ID).u16(P_CONTEXT_ID);
  build(w);
  return w.toBuffer();
}

function managedObject(w: Writer, m: ManagedObjectId): void {
  w.u16(m.objClass).u16(m.contextId).u16(m.handle);
}

export function encodeAttributeList(w: Writer, list: Array<{ id: number; value: Uint8Array }>): void {
  w.u16(list.length);
  const len = w.lengthU16();
  for (const a of list) w.u16(a.id).u16(a.value.length).raw(a.value);
  len();
}

export const MDS_OBJECT: ManagedObjectId = { objClass: 33, contextId: 0, handle: 0 };

export interface PollRequestParams {
  invokeId: number;
  pollNumber: number;
  objType: ObjType;
  attrGroup: number;
  extended: boolean;
  extAttributes?: Array<{ id: number; value: Uint8Array }>;
}

export function encodePollRequest(p: PollRequestParams): Buffer {
  return dataExport((w) => {
    w.u16(RO.INVOKE);
    const roLen = w.lengthU16();
    w.u16(p.invokeId).u16(CMD.CONFIRMED_ACTION);
    const cmdLen = w.lengthU16();
    managedObject(w, MDS_OBJECT);
    w.u32(0).u16(p.extended ? NOM_ACT_POLL_MDIB_DATA_EXT : NOM_ACT_POLL_MDIB_DATA);
    const argLen = w.lengthU16();
    w.u16(p.pollNumber).u16(p.objType.partition).u16(p.objType.code).u16(p.attrGroup);
    if (p.extended) encodeAttributeList(w, p.extAttributes ?? []);
    argLen();
    cmdLen();
    roLen();
  });
}

export function encodeMdsCreateResult(invokeId: number, mds: ManagedObjectId, currentTime: number): Buffer {
  return dataExport((w) => {
    w.u16(RO.RESULT);
    const roLen = w.lengthU16();
    w.u16(invokeId).u16(CMD.CONFIRMED_EVENT_REPORT);
    const cmdLen = w.lengthU16();
    managedObject(w, mds);
    w.u32(currentTime).u16(NOM_NOTI_MDS_CREAT).u16(0);
    cmdLen();
    roLen();
  });
}

export function encodeMdsCreateEvent(invokeId: number, eventTime: number, mds: ManagedObjectId, attributes: Array<{ id: number; value: Uint8Array }>): Buffer {
  return dataExport((w) => {
    w.u16(RO.INVOKE);
    const roLen = w.lengthU16();
    w.u16(invokeId).u16(CMD.CONFIRMED_EVENT_REPORT);
    const cmdLen = w.lengthU16();
    managedObject(w, MDS_OBJECT);
    w.u32(eventTime).u16(NOM_NOTI_MDS_CREAT);
    const evLen = w.lengthU16();
    managedObject(w, mds);
    encodeAttributeList(w, attributes);
    evLen();
    cmdLen();
    roLen();
  });
}

export interface PollResultParams {
  invokeId: number;
  extended: boolean;
  linked: LinkedId | null;
  reply: Omit<PollReply, 'contexts'> & { contexts: Array<{ contextId: number; observations: Array<{ handle: number; attributes: Array<{ id: number; value: Uint8Array }> }> }> };
}

export function encodePollResult(p: PollResultParams): Buffer {
  return dataExport((w) => {
    w.u16(p.linked ? RO.LINKED_RESULT : RO.RESULT);
    const roLen = w.lengthU16();
    if (p.linked) w.u8(p.linked.state).u8(p.linked.count);
    w.u16(p.invokeId).u16(CMD.CONFIRMED_ACTION);
    const cmdLen = w.lengthU16();
    managedObject(w, MDS_OBJECT);
    w.u16(p.extended ? NOM_ACT_POLL_MDIB_DATA_EXT : NOM_ACT_POLL_MDIB_DATA);
    const resLen = w.lengthU16();
    const r = p.reply;
    w.u16(r.pollNumber);
    if (p.extended) w.u16(r.sequenceNo ?? 0);
    w.u32(r.relTime);
    w.raw(r.absTime ? encodeAbsoluteTime(r.absTime) : Buffer.alloc(8, 0xff));
    w.u16(r.objType.partition).u16(r.objType.code).u16(r.attrGroup);
    w.u16(r.contexts.length);
    const listLen = w.lengthU16();
    for (const c of r.contexts) {
      w.u16(c.contextId).u16(c.observations.length);
      const obsLen = w.lengthU16();
      for (const o of c.observations) {
        w.u16(o.handle);
        encodeAttributeList(w, o.attributes);
      }
      obsLen();
    }
    listLen();
    resLen();
    cmdLen();
    roLen();
  });
}

export function encodeRemoteError(invokeId: number, errorValue: number): Buffer {
  return dataExport((w) => {
    w.u16(RO.ERROR);
    const roLen = w.lengthU16();
    w.u16(invokeId).u16(errorValue).u16(0);
    roLen();
  });
}
