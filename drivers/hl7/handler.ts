// One MLLP frame in → events emitted (awaited) → ACK payloads out. No sockets here.
import { createHash, randomUUID } from 'node:crypto';
import { FS_END_WAIT_MS } from './protocol/mllp.js';
import { LogGate } from '../../agent/log-gate.js';
import { RepeatLog } from '../../agent/repeat-log.js';
import type { DriverEvent } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';
import { ackCodesFor, type AckMode, type OutcomeKind } from './ackplan.js';
import { DedupWindow } from './dedup.js';
import { mapMessage, mshNamesSender, unreadTextField, type Notice } from './pcd01.js';
import { components, readHeader, sniffHeader, str, type AckAddress, type MessageHeader } from './protocol/access.js';
import { ackSegments, type AckError } from './protocol/ack.js';
import { encoderFor } from './protocol/charset.js';
import { formatDtm } from './protocol/dtm.js';
import { encodeSegments, segment } from './protocol/encode.js';
import { Hl7ParseError, formatPosition } from './protocol/errors.js';
import { parseFrame, positionAt, segmentIds, segmentSequence } from './protocol/parse.js';
import type { Field, Hl7Batch, Hl7Message, Segment } from './protocol/types.js';

export interface HandlerOptions {
  application: string;
  facility: string;
  /**
   * A message the store refuses: 'close' = no ACK, the connection is closed so that the sender resends it (as it
   * must for a message whose ACK it never got); 'AR' / 'AE' = that application ACK with ERR 207 (index.ts storeFailureAck).
   */
  storeFailureAck: 'close' | 'AR' | 'AE';
  /** MSH-11 values stored (drivers/hl7/index.ts acceptProcessingIds); others are refused with error 202. */
  acceptProcessingIds: readonly string[];
  defaultUtcOffsetMinutes: number;
  /** IANA zone for times without an offset (index.ts defaultTimeZone); wins over defaultUtcOffsetMinutes. */
  defaultTimeZone?: string;
  duplicateWindow: { maxEntries: number; ttlMs: number };
  /** The sender re-sends active alarms at least this often (index.ts alarmRepeatS): set on their start and continue. */
  alarmRepeatMs?: number;
}

interface Processed {
  header: MessageHeader | null;
  fallbackControlId: string;
  /** MSH-15/16 read without a header (message unreadable): the sender's ack mode still decides CE vs AE. */
  fallbackAckMode?: AckMode;
  /** MSH-3/4, MSH-9.2, MSH-11/12 read without a header: the refusal still goes to its sender, in its version. */
  fallbackHeader?: AckAddress;
  outcome: OutcomeKind;
  error?: AckError;
  events: DriverEvent[];
  /** What the mapping left out or assumed: counted and logged once the message is accepted. */
  notices?: Notice[];
  dedupKey?: string;
  hash?: string;
  /**
   * Only PCD-04 watchdogs (device-status events, stamped with our receipt time): stored whatever the duplicate window
   * says, under a key of their own, so that a sender reusing MSH-10 (HL7 forbids it, some do) keeps its feed alive
   * (review rv178 L2). A watchdog stored twice is harmless.
   */
  liveness?: true;
  /** The store refused its events (not a fault of ours or of the message). */
  unstored?: true;
  /** The charset its text was read in: what we echo of it goes back as \Xhh\ escapes of those bytes (ACKs stay ASCII). */
  charset: string;
}

/** What is known of a message whose header could not be read: for MSA-2, the ack mode and ERR-2.2. */
interface Fallback {
  controlId: string;
  ackMode?: AckMode;
  /** Whom the ACK goes to, as far as the MSH can be read. */
  address?: AckAddress;
  /** Segment ids of the message or frame, numbered as the error position numbers them. */
  segmentIds: string[];
  /** How its text was read: a frame that did not parse is read as Latin-1, so its text is its bytes. */
  charset: string;
}

/** The raw bytes of a frame that could not be parsed are read as Latin-1 (one character per byte). */
const RAW_CHARSET = '8859/1';


/** Where the device ids last seen come from, for health(). */
export type SeenHook = (deviceId: string, at: number) => void;

/**
 * What one frame gets: the ACK payloads to send (possibly none), or `close`: no ACK, the connection is to be closed
 * (storeFailureAck 'close' and the store refused a message of the frame).
 */
export interface FrameResult {
  acks: string[];
  close?: true;
}

/** A sender repeats its trouble at every message: the same refusal from one address is logged once a minute. */
const TROUBLE_LOG_EVERY_MS = 60_000;

/** Senders named in one store-failure summary line: a line stays short however many send. */
const STORE_FAILURE_SENDERS_MAX = 20;

/** A sender as its messages name it (MSH-3 | MSH-4): one gateway may speak for many addresses, and one address for many. */
function senderOf(h: MessageHeader): string {
  return `${h.sendingApplication.join('^')}|${h.sendingFacility.join('^')}`;
}

/**
 * Messages from one host refused in a row before the listener is degraded for it (review rv126 M2): a host whose
 * every message is refused creates no device, so no device "no data" alarm can tell the bedside. Fewer may be a one-off.
 */
export const REFUSED_IN_A_ROW = 3;
/**
 * A refused host counts until a message of it is stored or it is not refused for this long, then it is forgotten
 * (review rv134 M2): a spot-check or charting feed sends every 15 or 60 min, and a shorter window would end its alarm
 * between messages and raise a new one at the next. 2 h covers an hourly feed with its jitter. At most
 * REFUSED_HOSTS_MAX are kept (least recently refused go first).
 */
export const REFUSED_FORGET_MS = 2 * 3_600_000;
const REFUSED_HOSTS_MAX = 1000;
/** Why a message sent without MLLP framing is refused (health and alarm texts). */
export const UNFRAMED_REASON = 'sent without MLLP framing (no VT 0x0B start block)';
/** Why a message begun in a frame that never ended (dropped at the next VT or by the read timeout) is refused. */
export const UNENDED_REASON = 'MLLP frame not ended (no FS 0x1C end block)';
/** A refusal's reason is cut to this many characters in health and alarm texts (the warn log has it whole). */
const REFUSED_REASON_MAX = 120;

/** Messages from one sender host refused in a row since its last stored message. */
export interface RefusedRun {
  host: string;
  inARow: number;
  /** When the first of them came, and why it was refused ("<reason>, HL7 error <code>"). */
  since: number;
  firstReason: string;
  /** When the last of them came, and why. */
  lastAt: number;
  lastReason: string;
}

/** The address of an `address:port` peer: a sender that reconnects keeps it. */
export function hostOf(peer: string): string {
  const i = peer.lastIndexOf(':');
  return i > 0 ? peer.slice(0, i) : peer;
}

export class MessageHandler {
  readonly dedup: DedupWindow;
  private readonly troubleLog = new LogGate(TROUBLE_LOG_EVERY_MS, 1000);
  /** A sender's habit (e.g. no OBR-3) is said once per sender (up to 1000 senders, then again). */
  private readonly onceLog = new LogGate(Number.POSITIVE_INFINITY, 1000);
  /**
   * A store that refuses (a full disk) refuses every message of every sender, and the log goes to that disk: the first
   * refusal is logged, then a summary once a minute naming the senders, and one line when the store takes data again.
   */
  private readonly storeFailureLog = new RepeatLog(TROUBLE_LOG_EVERY_MS);
  private readonly storeFailureSenders = new Set<string>();
  /** Refusals in a row by sender host, least recently refused first; a stored message of the host removes it. */
  private readonly refusedRuns = new Map<string, RefusedRun>();

  constructor(
    private readonly ctx: DriverContext,
    private readonly opts: HandlerOptions,
    private readonly seen: SeenHook = () => {},
  ) {
    this.dedup = new DedupWindow(opts.duplicateWindow);
  }

  /**
   * Handles one frame; resolves with the ACK payloads to send (possibly none). Never rejects. The caller counts them
   * (acks_<code>) as it writes them: an ACK is counted as sent only if it was.
   */
  async handle(payload: Buffer, peer: string): Promise<string[]> {
    return (await this.handleFrame(payload, peer)).acks;
  }

  /**
   * handle(), telling also when the connection is to be closed without an ACK (FrameResult). Never rejects. `innerFs`:
   * the offset of an FS inside the frame that data followed (MllpFramer): the message was cut there, and is refused.
   * `unterminated`: taken with no byte after its FS and no terminator after its last segment (MllpFramer.flush): it
   * may be the cut head of a message whose tail is late, and is refused (AE; review rv181 M1, M3, L1).
   */
  async handleFrame(payload: Buffer, peer: string, opts: { innerFs?: number; unterminated?: true } = {}): Promise<FrameResult> {
    const receivedAt = Date.now();
    this.ctx.count('frames_received');
    if (opts.innerFs !== undefined) return { acks: this.acks([this.fsInside(payload, opts.innerFs, peer)], receivedAt) };
    if (opts.unterminated) return { acks: this.acks([this.unterminatedFrame(payload, peer)], receivedAt) };
    let frame;
    try {
      // A bad message in a batch is answered on its own (AE); the others are taken.
      frame = parseFrame(payload, { collectMessageErrors: true, replaceUndecodableIn: unreadTextField });
    } catch (e) {
      // An empty or blank frame (a keep-alive) is no message: answered as one that cannot be read, but not a refusal
      // that would degrade the listener for its sender (review rv161 F4).
      if (isBlank(payload)) return { acks: this.acks([this.blankFrame(e, peer, receivedAt)], receivedAt) };
      // A frame that cannot be read is one message as far as anyone can tell.
      this.ctx.count('messages_received');
      const text = payload.toString('latin1');
      const fb = sniffedFallback(text);
      const p = this.rejected(e, null, fb, peer);
      return { acks: this.acks([p], receivedAt) };
    }
    const messages = frame.kind === 'message' ? [frame.message] : frame.batch.batches.flatMap((b) => b.messages);
    // Per message, as messages_accepted and the ACK counters are: a batch of 3 is 3 (frames_received counts frames).
    if (messages.length > 0) this.ctx.count('messages_received', messages.length);
    if (frame.kind === 'batch' && messages.length === 0) return { acks: [this.emptyBatch(frame.batch, peer, receivedAt)] };
    const failed = frame.kind === 'batch' ? frame.batch.failed : undefined;
    // Error positions of a batch message count segments in the frame, as the parser does: the header and mapping
    // checks, which count them in the message, are moved by where its MSH is in the frame (review rv178 L5).
    const frameIds = frame.kind === 'batch' ? segmentIds(payload.toString('latin1')) : [];
    const mshAt = frameIds.flatMap((id, i) => (id === 'MSH' ? [i] : []));
    const inFrame = mshAt.length === messages.length ? (j: number) => ({ ids: frameIds, before: mshAt[j] as number }) : () => undefined;
    const processed = messages.map((m, j) => {
      const err = failed?.get(m);
      if (err) return this.rejected(err, null, { ...this.fallbackOf(m), segmentIds: frameIds }, peer);
      return this.prepare(m, receivedAt, peer, inFrame(j));
    });
    await this.commit(processed, peer);
    // The whole frame goes unanswered (a batch too): its resend is stored where it was not, a duplicate where it was.
    if (this.opts.storeFailureAck === 'close' && processed.some((p) => p.unstored)) return { acks: [], close: true };
    const acks = this.acks(processed, receivedAt);
    if (frame.kind === 'batch' && acks.length > 0) return { acks: [this.batchReply(frame.batch, acks, receivedAt)] };
    return { acks };
  }

  /**
   * One frame in, one frame out: the ACKs of a batch go back as a batch, addressed to its sender, and naming the
   * batch it answers (BHS-12 = its BHS-11) so that a sender can match the reply to what it sent.
   */
  private batchReply(batch: Hl7Batch, acks: string[], now: number): string {
    const received = batch.batches[0]?.header;
    const from = (n: number) => (received ? str(received, n) : '');
    const bhs = segment('BHS', [
      this.opts.application,
      this.opts.facility,
      from(3),
      from(4),
      formatDtm(now),
      '',
      '',
      '',
      randomUUID().replaceAll('-', '').slice(0, 20),
      from(11),
    ]);
    // BHS-5/6/12 are the sender's: ASCII as the ACKs are.
    const bytesOf = encoderFor(batch.charset);
    return encodeSegments([bhs], undefined, bytesOf) + acks.join('') + encodeSegments([segment('BTS', [String(acks.length)])]);
  }

  /**
   * A batch with no message (BHS, BTS|0): nothing to store, but a sender waiting for the batch's acknowledgement
   * would wait for ever and resend. Answered with an empty batch naming it; counted and logged (once a minute per address).
   */
  private emptyBatch(batch: Hl7Batch, peer: string, now: number): string {
    this.ctx.count('batches_empty');
    const received = batch.batches[0]?.header;
    if (this.troubleLog.open(`empty-batch|${hostOf(peer)}`, now)) {
      this.ctx.log.info(
        { peer, batchControlId: received ? str(received, 11) : '', counter: 'batches_empty' },
        'HL7 batch with no message (BTS 0) answered with an empty batch (said once a minute per address; each is counted)',
      );
    }
    return this.batchReply(batch, [], now);
  }

  /**
   * An empty or blank frame: answered AE as a frame that cannot be read is (no segments), counted on its own
   * (frames_empty), logged once a minute per address, and not a refused message of its sender (noteRefused).
   */
  private blankFrame(e: unknown, peer: string, now: number): Processed {
    this.ctx.count('frames_empty');
    if (this.troubleLog.open(`empty-frame|${hostOf(peer)}`, now)) {
      this.ctx.log.info({ peer, counter: 'frames_empty' }, 'HL7 empty MLLP frame answered AE (no segments); not a refused message (said once a minute per address; each is counted)');
    }
    const err = e instanceof Hl7ParseError ? e : new Hl7ParseError('no segments', {}, 100);
    return {
      header: null,
      fallbackControlId: '',
      charset: RAW_CHARSET,
      events: [],
      outcome: 'content',
      error: { code: err.code, reason: err.message, position: err.position },
    };
  }

  /**
   * A frame with an MLLP end block byte (FS, 0x1C) inside, followed by data rather than CR (review rv178 M1): its sender
   * (or something on the way) cut the message there. What came before the FS would parse as a whole message with
   * values cut short (97 read as 9, a row lost), so none of it is taken: AE (CE) naming where, as for a message that
   * cannot be read (it is one), counted (frames_fs_inside, messages_malformed) and logged once a minute per address.
   */
  private fsInside(payload: Buffer, at: number, peer: string): Processed {
    this.ctx.count('messages_received');
    this.ctx.count('frames_fs_inside');
    const text = payload.toString('latin1');
    const fb = sniffedFallback(text);
    const next = payload[at + 1];
    const nextByte = next === undefined ? 'nothing' : `0x${next.toString(16).padStart(2, '0').toUpperCase()}`;
    const position = { ...positionAt(text, at), offset: at };
    if (this.troubleLog.open(`fs-inside|${hostOf(peer)}`, Date.now())) {
      this.ctx.log.warn(
        { peer, controlId: fb.controlId, at: formatPosition(position), next: nextByte, bytes: payload.length, counter: 'frames_fs_inside' },
        'HL7 message refused (AE): an MLLP end block byte FS (0x1C) inside it, followed by data, not CR; its sender cut it there (nothing of it is stored; the sender must resend it whole) (said once a minute per address; each is counted)',
      );
    }
    const e = new Hl7ParseError(`MLLP end block byte FS (0x1C) inside the message, followed by ${nextByte}, not CR (MLLP ends a block with FS CR): the message was cut there; nothing of it is stored`, position, 102);
    return this.rejected(e, null, fb, peer);
  }

  /**
   * A frame whose last segment has no terminator and after whose FS no byte came within the wait (MllpFramer.flush):
   * a sender that leaves out the last CR, or the cut head of a message whose tail is late (an FS inside it). Cut values
   * (SpO2 97 read as 9) must not be stored as sent: refused (AE), the sender resends it whole (review rv181).
   */
  private unterminatedFrame(payload: Buffer, peer: string): Processed {
    this.ctx.count('messages_received');
    this.ctx.count('frames_unterminated');
    const text = payload.toString('latin1');
    const fb = sniffedFallback(text);
    const at = Math.max(0, payload.length - 1);
    if (this.troubleLog.open(`unterminated|${hostOf(peer)}`, Date.now())) {
      this.ctx.log.warn(
        { peer, controlId: fb.controlId, bytes: payload.length, waitMs: FS_END_WAIT_MS, counter: 'frames_unterminated' },
        'HL7 message refused (AE): its last segment has no terminator (CR) and no byte followed its FS: it may have been cut by an FS inside it, its tail late; nothing of it is stored (a sender must end each segment with CR and each block with FS CR) (said once a minute per address; each is counted)',
      );
    }
    const e = new Hl7ParseError(`the message ends without a segment terminator (CR) and no byte followed its FS within ${FS_END_WAIT_MS} ms: it may have been cut (an FS inside it); nothing of it is stored; end each segment with CR and each block with FS CR`, { ...positionAt(text, at), offset: at }, 102);
    return this.rejected(e, null, fb, peer);
  }

  /** What the MSH of a message says without readHeader's checks: to answer it when it cannot be taken. */
  private fallbackOf(msg: Hl7Message): Fallback {
    const msh = msg.segments[0] as Segment;
    return {
      controlId: str(msh, 10), // echoed in MSA-2 as sent
      ackMode: { acceptAckType: str(msh, 15).trim().toUpperCase(), applicationAckType: str(msh, 16).trim().toUpperCase() },
      address: {
        sendingApplication: components(msh, 3),
        sendingFacility: components(msh, 4),
        triggerEvent: str(msh, 9, 2).trim(),
        processingId: str(msh, 11).trim(),
        version: str(msh, 12).trim(),
      },
      segmentIds: msg.segments.map((s) => s.id),
      charset: msg.charset,
    };
  }

  /** `inFrame`: a batch's message: the frame's segment ids, and how many segments come before its MSH. */
  private prepare(msg: Hl7Message, receivedAt: number, peer: string, inFrame?: { ids: string[]; before: number }): Processed {
    let header: MessageHeader | null = null;
    const fb = this.fallbackOf(msg);
    try {
      header = readHeader(msg);
      const sender = senderOf(header);
      if (header.messageCode === 'ACK') return this.ackReceived(header, sender, peer, receivedAt);
      for (const w of msg.warnings) {
        const counter = `parser_${w.kind.replaceAll('-', '_')}`;
        this.ctx.count(counter);
        // A sender's habit repeats at every message: counted each time, said once a minute per sender and kind.
        if (this.troubleLog.open(`parser|${sender}|${w.kind}`, receivedAt)) {
          this.ctx.log.info({ peer, sender, controlId: header.controlId, warning: w.kind, counter }, `HL7 parser: ${w.detail} (said once a minute per sender; each is counted)`);
        }
      }
      if (!header.version.startsWith('2.')) {
        throw new Hl7ParseError(`version ${header.version} is not HL7 v2`, { segmentIndex: 1, segmentId: 'MSH', field: 12 }, 203);
      }
      // By default only P (production): D (debugging) and T (training) data must not become patient data.
      if (!this.opts.acceptProcessingIds.includes(header.processingId.toUpperCase())) {
        throw new Hl7ParseError(
          `processing id '${header.processingId}' is not accepted (drivers.options.acceptProcessingIds: ${this.opts.acceptProcessingIds.join(', ')})`,
          { segmentIndex: 1, segmentId: 'MSH', field: 11 },
          202,
        );
      }
      const mapped = mapMessage(msg, header, {
        source: this.ctx.name,
        receivedAt,
        defaultOffsetMinutes: this.opts.defaultUtcOffsetMinutes,
        ...(this.opts.defaultTimeZone !== undefined && { defaultTimeZone: this.opts.defaultTimeZone }),
        // The device id of a message that names none (no OBX-18, MSH-3 nor MSH-4); '?' when the socket had no address.
        ...(hostOf(peer) !== '?' && { senderAddress: hostOf(peer) }),
      });
      for (const w of mapped.warnings) {
        const counter = `mapping_${w.kind.replaceAll('-', '_')}`;
        this.ctx.count(counter);
        if (this.troubleLog.open(`mapping|${sender}|${w.kind}`, receivedAt)) {
          this.ctx.log.info({ peer, sender, controlId: header.controlId, warning: w.kind, counter }, `PCD mapping: ${w.text} (said once a minute per sender; each is counted)`);
        }
      }
      // Trimmed here: a resend that differs only in padding around MSH-10 is the same message. A sender that names
      // itself nowhere (MSH-3, MSH-4) is its address, as in its device id: two such monitors are two senders (rv178 L1).
      const key = [header.sendingApplication.join('^'), header.sendingFacility.join('^'), header.controlId.trim()];
      if (!mshNamesSender(msg.segments[0] as Segment)) key.push(hostOf(peer));
      const liveness = mapped.events.length > 0 && mapped.events.every((e) => e.kind === 'device-status');
      return {
        header,
        fallbackControlId: header.controlId,
        charset: msg.charset,
        outcome: 'accepted',
        events: this.withRepeat(mapped.events),
        ...(mapped.notices.length > 0 && { notices: mapped.notices }),
        dedupKey: key.join('|'),
        hash: contentHash(msg, mapped.mshTimeUsed),
        ...(liveness && { liveness: true as const }),
      };
    } catch (e) {
      if (!inFrame || !(e instanceof Hl7ParseError) || e.position.segmentIndex === undefined) return this.rejected(e, header, fb, peer);
      const at = new Hl7ParseError(e.reason, { ...e.position, segmentIndex: e.position.segmentIndex + inFrame.before }, e.code);
      return this.rejected(at, header, { ...fb, segmentIds: inFrame.ids }, peer);
    }
  }

  /**
   * An ACK sent to us (a peer answering our ACK, or one pointed back at this listener): not answered, since answering
   * an acknowledgement can loop, nor stored. Counted, and said once a minute per sender.
   */
  /**
   * The sender's declared repeat (alarmRepeatS) on its alarms' start and continue, for the engine to end one it stops
   * re-sending (review rv185 M3). Set here, not in the parser: it is the site's word about the sender, not the message's.
   */
  private withRepeat(events: DriverEvent[]): DriverEvent[] {
    const repeatMs = this.opts.alarmRepeatMs;
    if (repeatMs === undefined) return events;
    return events.map((e) => (e.kind === 'alarm' && e.phase !== 'end' ? { ...e, repeatMs } : e));
  }

  private ackReceived(header: MessageHeader, sender: string, peer: string, now: number): Processed {
    this.ctx.count('acks_received');
    if (this.troubleLog.open(`ack-received|${sender}`, now)) {
      this.ctx.log.info(
        { peer, sender, controlId: header.controlId, counter: 'acks_received' },
        'HL7 ACK received; not answered (acknowledgements are not acknowledged) nor stored (said once a minute per sender; each is counted)',
      );
    }
    return { header, fallbackControlId: header.controlId, charset: RAW_CHARSET, outcome: 'unanswered', events: [] };
  }

  private rejected(e: unknown, header: MessageHeader | null, fb: Fallback, peer: string): Processed {
    const controlId = header?.controlId ?? fb.controlId;
    const base = {
      header,
      fallbackControlId: controlId,
      charset: fb.charset,
      ...(fb.ackMode ? { fallbackAckMode: fb.ackMode } : {}),
      ...(fb.address ? { fallbackHeader: fb.address } : {}),
      events: [],
    };
    if (e instanceof Hl7ParseError) {
      const unsupported = e.code >= 200 && e.code < 207;
      this.ctx.count(unsupported ? 'messages_unsupported' : 'messages_malformed');
      if (this.troubleLog.open(`rejected|${hostOf(peer)}|${e.code}|${e.reason}`, Date.now())) {
        this.ctx.log.warn(
          { peer, controlId, reason: e.reason, at: formatPosition(e.position), hl7Error: e.code },
          'HL7 message rejected (the same refusal from this address is logged once a minute; each one is counted)',
        );
      }
      this.noteRefused(peer, e.reason, e.code);
      const error: AckError = { code: e.code, reason: e.message, position: e.position };
      const seq = e.position.segmentIndex === undefined ? undefined : segmentSequence(fb.segmentIds, e.position.segmentIndex);
      if (seq !== undefined) error.segmentSequence = seq;
      return { ...base, outcome: unsupported ? 'unsupported' : 'content', error };
    }
    // A bug of ours, not the sender's: say so, and let the sender retry.
    this.ctx.count('internal_errors');
    this.ctx.log.error({ peer, controlId, err: e }, 'HL7 handler internal error');
    return { ...base, outcome: 'store', error: { code: 207, reason: 'internal error' } };
  }

  /**
   * A frame over maxFrameBytes (dropped by the framer): answered with AE / CE from what its first bytes say,
   * so the sender learns why instead of waiting for an ACK. Without a readable MSH-10 there is nothing to answer.
   */
  oversize(head: Buffer, limit: number, peer: string): string[] {
    const sniffed = sniffHeader(head.toString('latin1'));
    const log = this.troubleLog.open(`oversize|${hostOf(peer)}|${Boolean(sniffed?.controlId)}`, Date.now());
    // Refused as much as a malformed one: a sender whose every message is too large is as unseen (review rv126 M2).
    this.noteRefused(peer, `message larger than ${limit} bytes (maxFrameBytes)`, 207);
    if (!sniffed?.controlId) {
      this.ctx.count('frames_oversize_unanswered');
      if (log) this.ctx.log.warn({ peer, limit }, 'HL7 message larger than maxFrameBytes has no readable MSH-10; no ACK possible');
      return [];
    }
    if (log) this.ctx.log.warn({ peer, controlId: sniffed.controlId, limit }, 'HL7 message larger than maxFrameBytes rejected (counted in frames_oversize)');
    const p: Processed = {
      header: null,
      fallbackControlId: sniffed.controlId,
      charset: RAW_CHARSET,
      fallbackAckMode: sniffed,
      fallbackHeader: sniffed,
      outcome: 'content',
      // 207: table 0357 (v2.6) has no "too large" code; the text says what happened, AE/CE says "do not resend as is".
      error: { code: 207, reason: `message larger than ${limit} bytes (maxFrameBytes); not processed` },
      events: [],
    };
    return this.acks([p], Date.now());
  }

  /** Emits accepted messages' events (awaiting the commit) and settles duplicates. */
  private async commit(list: Processed[], peer: string): Promise<void> {
    const now = Date.now();
    const fresh: Processed[] = [];
    /** The message of each control id taken in this call: a batch may hold one twice. */
    const taken = new Map<string, Processed>();
    /** Messages the same as one earlier in this batch: answered as that one is, once its commit is known. */
    const repeats: Array<{ p: Processed; of: Processed }> = [];
    for (const p of list) {
      if (p.outcome !== 'accepted' || !p.dedupKey || !p.hash) continue;
      if (p.liveness) {
        fresh.push(p);
        continue;
      }
      // Another connection committing this control id: waited for, then checked like any other. The same content is
      // a resend; other content is another message that reuses the id, and is stored (a message is never dropped
      // on its control id alone).
      for (const committing of this.dedup.inFlight(p.dedupKey)) await committing;
      const inBatch = taken.get(p.dedupKey);
      if (inBatch?.hash === p.hash) {
        repeats.push({ p, of: inBatch });
        continue;
      }
      const seen = inBatch === undefined ? this.dedup.check(p.dedupKey, p.hash, now) : 'reused';
      taken.set(p.dedupKey, p);
      if (seen === 'duplicate') {
        this.duplicate(p, peer);
        continue;
      }
      if (seen === 'reused') {
        this.ctx.count('control_id_reused');
        const sender = p.header ? senderOf(p.header) : '';
        if (this.troubleLog.open(`reused|${sender}`, now)) {
          this.ctx.log.warn(
            { peer, sender, controlId: p.header?.controlId, counter: 'control_id_reused' },
            'HL7 control id reused with different content; stored as a new message (said once a minute per sender; each is counted)',
          );
        }
      }
      fresh.push(p);
    }
    // One emit per message, each with a key the store remembers across restarts: a resend after an ACK that was
    // lost (agent killed after the commit, before the ACK went out) is then not stored twice. Concurrent emits
    // still share one group commit in the pipeline.
    const commits = fresh.map(async (p): Promise<boolean> => {
      if (p.events.length === 0) return true;
      try {
        // A watchdog's key holds its receipt: one under a reused MSH-10 is not taken by the store for an earlier one.
        await this.ctx.emit(p.events, { idempotencyKey: `hl7:${p.dedupKey as string}|${p.hash as string}${p.liveness ? `|${now}` : ''}` });
        this.storeRecovered();
        return true;
      } catch (err) {
        this.ctx.count('emit_failures');
        this.storeFailed(p, peer, err);
        return false;
      }
    });
    fresh.forEach((p, i) => this.dedup.track(p.dedupKey as string, p.hash as string, commits[i]!));
    const results = await Promise.all(commits);
    const at = Date.now();
    fresh.forEach((p, i) => {
      if (results[i]) {
        this.ctx.count('messages_accepted');
        this.refusedRuns.delete(hostOf(peer));
        for (const n of p.notices ?? []) this.notice(n, p.header as MessageHeader, peer, at);
        for (const e of p.events) {
          this.ctx.count(e.kind === 'alarm' ? 'alarms' : e.kind === 'device-status' ? 'device_status' : 'readings');
          this.seen(e.deviceId, at);
        }
      } else {
        p.outcome = 'store';
        p.unstored = true;
        p.error = { code: 207, reason: 'could not store the data; please resend' };
      }
    });
    for (const { p, of } of repeats) {
      if (of.outcome === 'accepted') this.duplicate(p, peer);
      else {
        // Its first copy was not stored: neither was this one, and the sender must resend it too.
        p.outcome = of.outcome;
        if (of.error) p.error = of.error;
        p.events = [];
      }
    }
  }

  /**
   * Messages begun without MLLP framing (raw HL7 over TCP, review rv134 M4): none can be read nor answered, so each is
   * a refusal of its host as much as a malformed one.
   */
  unframed(peer: string, messages: number): void {
    for (let i = 0; i < messages; i++) this.noteRefused(peer, UNFRAMED_REASON);
  }

  /**
   * A message begun in a frame that never ended (a wrong end block, review rv137 M1), dropped at the next VT or by the
   * read timeout: lost unread and unanswered, so a refusal of its host like an unframed one.
   */
  unended(peer: string): void {
    this.noteRefused(peer, UNENDED_REASON);
  }

  /** Counts a refusal of a message from the host of `peer`, for refusedSenders(). No `code`: no ACK was possible. */
  private noteRefused(peer: string, reason: string, code?: number): void {
    const host = hostOf(peer);
    const now = Date.now();
    const short = reason.length > REFUSED_REASON_MAX ? `${reason.slice(0, REFUSED_REASON_MAX - 3)}...` : reason;
    const why = code === undefined ? short : `${short}, HL7 error ${code}`;
    const run = this.refusedRuns.get(host);
    // Deleted and set again: the map stays in order of last refusal, so the cap drops the least recently refused.
    this.refusedRuns.delete(host);
    if (!run && this.refusedRuns.size >= REFUSED_HOSTS_MAX) this.refusedRuns.delete(this.refusedRuns.keys().next().value as string);
    this.refusedRuns.set(host, run ? { ...run, inARow: run.inARow + 1, lastAt: now, lastReason: why } : { host, inARow: 1, since: now, firstReason: why, lastAt: now, lastReason: why });
  }

  /**
   * Hosts with REFUSED_IN_A_ROW or more messages refused in a row, whose readings reach neither the display nor the
   * alarms; oldest run first. Forgets hosts not refused for REFUSED_FORGET_MS.
   */
  refusedSenders(now: number): RefusedRun[] {
    const out: RefusedRun[] = [];
    for (const [host, run] of this.refusedRuns) {
      if (now - run.lastAt > REFUSED_FORGET_MS) this.refusedRuns.delete(host);
      else if (run.inARow >= REFUSED_IN_A_ROW) out.push(run);
    }
    return out.sort((a, b) => a.since - b.since);
  }

  /** Logs a message the store refused: the first in a row, then a summary once a minute (each one is counted). */
  private storeFailed(p: Processed, peer: string, err: unknown): void {
    const sender = p.header ? senderOf(p.header) : '';
    if (this.storeFailureSenders.size < STORE_FAILURE_SENDERS_MAX) this.storeFailureSenders.add(`${sender} from ${hostOf(peer)}`);
    const line = this.storeFailureLog.hit(Date.now());
    if (!line) return;
    const fields = { peer, sender, controlId: p.header?.controlId, err: String(err), counter: 'emit_failures' };
    const senders = [...this.storeFailureSenders];
    this.storeFailureSenders.clear();
    const told =
      this.opts.storeFailureAck === 'close'
        ? 'no ACK: the connection is closed so that the sender resends'
        : `the sender is answered ${this.opts.storeFailureAck} (ERR 207, "please resend"; whether it resends is up to the sender)`;
    if (line.first) {
      this.ctx.log.error(fields, `HL7 events not committed; ${told} (further refusals are counted and summarised once a minute)`);
      return;
    }
    const since = new Date(line.since).toISOString();
    this.ctx.log.error(
      { ...fields, failures: line.repeats, inARow: line.inARow, since, senders },
      `HL7 events still not committed: ${line.repeats} messages refused since the last line, ${line.inARow} since ${since}; ${told} (details of the last)`,
    );
  }

  /** The store took a message again: says how many it refused before, if any, and the senders not named yet. */
  private storeRecovered(): void {
    const refused = this.storeFailureLog.clear();
    const senders = [...this.storeFailureSenders];
    this.storeFailureSenders.clear();
    if (refused > 0) this.ctx.log.info({ failures: refused, senders, counter: 'emit_failures' }, `HL7 events are committed again after ${refused} messages refused`);
  }

  /** Counts what the mapping left out or assumed, and says so per sender (once a minute, or once). */
  private notice(n: Notice, h: MessageHeader, peer: string, now: number): void {
    this.ctx.count(n.counter, n.by);
    const sender = senderOf(h);
    const gate = n.oncePerSender ? this.onceLog : this.troubleLog;
    // A sender whose MSH names it nowhere (MSH-3 and MSH-4 empty) is known by its address only.
    if (!gate.open(`${n.counter}|${sender}${sender === '|' ? `|${hostOf(peer)}` : ''}`, now)) return;
    this.ctx.log.warn({ peer, sender, controlId: h.controlId, counter: n.counter }, n.text);
  }

  private duplicate(p: Processed, peer: string): void {
    this.ctx.count('duplicates');
    // A sender that resends everything (lost ACKs, a replay) would write a line per message.
    const sender = p.header ? senderOf(p.header) : '';
    if (this.troubleLog.open(`duplicate|${sender}`, Date.now())) {
      this.ctx.log.info(
        { peer, sender, controlId: p.header?.controlId, counter: 'duplicates' },
        'HL7 duplicate (already committed); ACKed again, not stored twice (said once a minute per sender; each is counted)',
      );
    }
    p.events = [];
  }

  private acks(list: Processed[], now: number): string[] {
    const out: string[] = [];
    for (const p of list) {
      // With 'close', a 'store' outcome left here is an internal error of ours: AR, as HL7 v2 2.9.2.2 c) has it.
      const storeCode = this.opts.storeFailureAck === 'close' ? 'AR' : this.opts.storeFailureAck;
      for (const code of ackCodesFor(p.header ?? p.fallbackAckMode ?? null, p.outcome, storeCode)) {
        const segs = ackSegments({
          original: p.header,
          fallbackControlId: p.fallbackControlId,
          fallbackHeader: p.fallbackHeader ?? null,
          code,
          ...(p.error && code !== 'AA' && code !== 'CA' ? { error: p.error } : {}),
          application: this.opts.application,
          facility: this.opts.facility,
          controlId: randomUUID().replaceAll('-', '').slice(0, 20),
          now,
        });
        // acks_<code> is counted by the listener when the ACK is written (or acks_undelivered when it cannot be).
        // What is echoed of the message (MSA-2, MSH-5/6, MSH-9.2) goes back in the sender's own bytes, as \Xhh\
        // escapes: the ACK declares no MSH-18 (ASCII), and its bytes are the same whatever charset the sender reads in.
        out.push(encodeSegments(segs, undefined, encoderFor(p.charset)));
      }
    }
    return out;
  }
}

/**
 * Hash of the message without MSH-7 (a resend may carry a new send time) and with MSH-10 trimmed, as in the dedup
 * key: a resend that differs only in padding around MSH-10 is the same message. `withMsh7` when MSH-7 is the time of
 * some of its readings: then a new MSH-7 is a new reading (a sender that restarted its control ids sends the same
 * value under an old id), not a resend, and is stored.
 */
function contentHash(msg: Hl7Message, withMsh7: boolean): string {
  const h = createHash('sha256');
  msg.segments.forEach((s, i) => {
    // [[[id]]] is how a plain MSH-10 parses, so an unpadded id hashes as before.
    const fields = i === 0 ? s.fields.map((f, n): Field => (n === 10 ? [[[str(s, 10).trim()]]] : f)).filter((_, n) => withMsh7 || n !== 7) : s.fields;
    h.update(JSON.stringify(fields));
    h.update('\r');
  });
  return h.digest('hex');
}

/** A frame of nothing but spaces, tabs, CR and LF (or none at all): no message in it. Stops at the first other byte. */
function isBlank(payload: Buffer): boolean {
  for (const b of payload) if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a) return false;
  return true;
}

/** How to answer a frame that cannot be read as a message: what a sniff of its header gives (control id, ACK mode, address). */
function sniffedFallback(text: string): Fallback {
  const sniffed = sniffHeader(text);
  const fb: Fallback = { controlId: sniffed?.controlId ?? '', segmentIds: segmentIds(text), charset: RAW_CHARSET };
  if (sniffed) {
    fb.ackMode = sniffed;
    fb.address = sniffed;
  }
  return fb;
}
