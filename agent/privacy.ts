// Patient identifiers leaving the gateway: replaced by a keyed pseudonym when configured.
import { createHmac } from 'node:crypto';
import { ConfigError } from './config/load.js';

/** A keyed, stable pseudonym: HMAC-SHA-256 of the id, its first 22 base64url characters (132 bits), prefixed so it cannot pass for an MRN. */
export function pseudonymizer(key: string): (patientId: string) => string {
  if (key.length < 32) {
    throw new ConfigError('privacy.pseudonymKey', [{ path: 'privacy.pseudonymKey', message: `must be at least 32 characters (it has ${key.length})` }]);
  }
  return (patientId) => `p_${createHmac('sha256', key).update(patientId, 'utf8').digest('base64url').slice(0, 22)}`;
}
