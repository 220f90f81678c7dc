// ACK messages (original and enhanced mode) with MSA and ERR.
import { formatDtm } from './dtm.js';
import { segment, encodeSegments } from './encode.js';
import type { Hl7ErrorCode, Hl7Position } from './errors.js';
import type { AckAddress, MessageHeader } from './access.js';
import { DEFAULT_DELIMITERS, type Delimiters, type Segment } from './types.js';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

const ERROR_TEXT: Record<Hl7ErrorCode, string> = {
  100: 'Segment sequence error',
  101: 'Required field missing',
  102: 'Data type error',
  103: 'Table value not found',
  200: 'Unsupported message type',
  201: 'Unsupported event code',
  202: 'Unsupported processing id',
  203: 'Unsupported version id',
  207: 'Application internal error',
};

export interface AckError {
  code: Hl7ErrorCode;
  reason: string;
  position?: Hl7Position;
  /** Occurrence of the segment id (1 for the first OBX), for ERR-2.2. */
  segmentSequence?: number;
}

export interface AckInput {
  /** Header of the message being acknowledged; null when it could not be read. */
  original: MessageHeader | null;
  /** MSH-10 to echo when `original` is null (sniffed), else ''. */
  fallbackControlId?: string;
  /**
   * What the raw MSH line of a message that could not be read says (sniffHeader): used when `original` is null, so
   * that a refusal is addressed to its sender (MSH-5/6), names its trigger (MSH-9.2) and answers in its MSH-11/12.
   */
  fallbackHeader?: AckAddress | null;
  code: AckCode;
  text?: string;
  error?: AckError;
  /** Our identity in MSH-3/MSH-4. */
  application: string;
  facility?: string;
  controlId: string;
  now: number;
  delimiters?: Delimiters;
}

/**
 * Our texts (MSA-3, ERR-8) are kept ASCII, cut with '...' and with '?' for what a refusal quotes beyond ASCII. The
 * ACK declares no MSH-18, which HL7 reads as ASCII, and ASCII reads the same in every charset a sender may use;
 * declaring UTF-8 instead would be right only for senders that read UTF-8. MSA-2 and the MSH-5/6 we echo are the
 * sender's own, as sent: the caller encodes the ACK with the sender's charset (encodeSegments' bytesOf), which
 * writes a character beyond ASCII as an \Xhh\ escape of the sender's bytes, so the ACK stays ASCII.
 */
const clip = (s: string, n: number): string => {
  const a = s.replace(/[^\x00-\x7f]/gu, '?');
  return a.length > n ? a.slice(0, n - 3) + '...' : a;
};

export function ackSegments(a: AckInput): Segment[] {
  const d = a.delimiters ?? DEFAULT_DELIMITERS;
  const o = a.original ?? a.fallbackHeader ?? null;
  const version = o?.version || '2.6';
  const trigger = o?.triggerEvent ?? '';
  const msh = segment(
    'MSH',
    [
      a.application,
      a.facility ?? '',
      o ? o.sendingApplication : '',
      o ? o.sendingFacility : '',
      formatDtm(a.now),
      '',
      ['ACK', trigger, 'ACK'],
      a.controlId,
      o?.processingId || 'P',
      version,
    ],
    d,
  );
  const text = a.text ?? a.error?.reason ?? '';
  const msa = segment('MSA', [a.code, a.original?.controlId ?? a.fallbackControlId ?? '', clip(text, 80)], d);
  const segs = [msh, msa];
  if (a.error) {
    const p = a.error.position ?? {};
    const codeText = ERROR_TEXT[a.error.code];
    // ERL.2 is required (v2.5+); an MSH is always the first segment of its message.
    const seq = a.error.segmentSequence ?? p.segmentIndex ?? (p.segmentId === 'MSH' ? 1 : undefined);
    const numOrEmpty = (n: number | undefined): string => (n === undefined ? '' : String(n));
    segs.push(
      segment(
        'ERR',
        [
          // ERR-1 (ELD) for v2.3/2.4 receivers: segment^sequence^field^code&text&table
          [[[p.segmentId ?? ''], [numOrEmpty(seq)], [numOrEmpty(p.field)], [String(a.error.code), codeText, 'HL70357']]],
          // ERR-2 (ERL): segment^sequence^field^repetition^component^subcomponent
          p.segmentId ? [p.segmentId, numOrEmpty(seq), numOrEmpty(p.field), numOrEmpty(p.repetition), numOrEmpty(p.component), numOrEmpty(p.subcomponent)] : '',
          [String(a.error.code), codeText, 'HL70357'],
          'E',
          '',
          '',
          '',
          clip(a.error.reason, 250),
        ],
        d,
      ),
    );
  }
  return segs;
}

/**
 * MSA-1 and MSA-2 of each ACK in an ACK frame of ours (one, or a batch of them): to count and name the ACKs as they
 * are written. Our ACKs use the default delimiters and escape any in their fields, so a segment starting `MSA|` is one.
 */
export function ackSummaries(text: string): Array<{ code: string; controlId: string }> {
  const out: Array<{ code: string; controlId: string }> = [];
  for (const line of text.split('\r')) {
    if (!line.startsWith('MSA|')) continue;
    const f = line.split('|');
    out.push({ code: f[1] ?? '', controlId: f[2] ?? '' });
  }
  return out;
}

/** The ACK as HL7 text (CR-terminated segments). */
export function buildAck(a: AckInput): string {
  return encodeSegments(ackSegments(a), a.delimiters ?? DEFAULT_DELIMITERS);
}
