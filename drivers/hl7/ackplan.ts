// Which acknowledgements to send (HL7 v2 chapter 2, original and enhanced mode). Pure.
import type { AckCode } from './protocol/ack.js';

/** MSH-15 / MSH-16 as sent (upper case); a MessageHeader is one. */
export interface AckMode {
  acceptAckType: string;
  applicationAckType: string;
}

/**
 * How processing ended. 'content' = the message is wrong; 'unsupported' = type/version we do not take; 'store' = we
 * could not commit; 'unanswered' = an acknowledgement received, which is never acknowledged.
 */
export type OutcomeKind = 'accepted' | 'content' | 'unsupported' | 'store' | 'unanswered';

/**
 * Original mode (MSH-15 and MSH-16 empty): one application ACK: AA / AE (content) / AR (unsupported)
 * / store failure (`storeFailureAck`, AR or AE: HL7 leaves resending after AR to the sender, and senders differ; the
 * handler's default, 'close', sends none and closes the connection, so it never comes here for a store failure).
 * Enhanced mode: a commit ACK (CA / CE / CR) per MSH-15 and an application ACK per MSH-16, each
 * sent when the type says AL (always), ER (errors only) or SU (success only); NE means never.
 * `h` null = ack mode unknown (nothing readable): original mode.
 */
export function ackCodesFor(h: AckMode | null, outcome: OutcomeKind, storeFailureAck: 'AR' | 'AE'): AckCode[] {
  // HL7 v2 chapter 2: acknowledgements are not acknowledged (answering one can loop between two peers).
  if (outcome === 'unanswered') return [];
  const enhanced = h !== null && (h.acceptAckType !== '' || h.applicationAckType !== '');
  if (!enhanced) {
    switch (outcome) {
      case 'accepted':
        return ['AA'];
      case 'content':
        return ['AE'];
      case 'unsupported':
        return ['AR'];
      case 'store':
        return [storeFailureAck];
    }
  }
  const ok = outcome === 'accepted';
  const wants = (type: string): boolean => {
    switch (type) {
      case 'NE':
        return false;
      case 'ER':
        return !ok;
      case 'SU':
        return ok;
      default: // AL, or empty in enhanced mode
        return true;
    }
  };
  const out: AckCode[] = [];
  if (wants(h.acceptAckType)) out.push(ok ? 'CA' : outcome === 'unsupported' ? 'CR' : 'CE');
  if (wants(h.applicationAckType)) out.push(ok ? 'AA' : outcome === 'content' ? 'AE' : outcome === 'unsupported' ? 'AR' : storeFailureAck);
  return out;
}
