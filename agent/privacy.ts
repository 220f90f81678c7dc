// Patient identifiers leaving the gateway: replaced by a keyed pseudonym when configured.
import { createHmac } from 'node:crypto';

/** A keyed, stable pseudonym: HMAC-SHA-256 of the id, 128 bits in base64url, prefixed so it cannot pass for an MRN. */
export function pseudonymizer(key: string): (patientId: string) => string {
  if (key.length < 32) throw new Error('privacy.pseudonymKey must be at least 32 characters');
  return (patientId) => `p_${createHmac('sha256', key).update(patientId, 'utf8').digest('base64url').slice(0, 22)}`;
}
