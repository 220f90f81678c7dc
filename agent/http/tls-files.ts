// The display's certificate and key, read and tried before the server uses them: OpenSSL's own words ("PEM
// routines::bad base64 decode") name neither the field nor the file, so a biomedical engineer could not act on them.
// The leaf certificate's dates and key are checked too: browsers refuse an expired certificate or a key under 2048
// bits, and every ward screen would go dark with nothing in the agent's log saying why.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../config/load.js';

/** A certificate that expires within this many days is warned about at start (the agent reads it only then). */
export const CERT_EXPIRY_WARNING_DAYS = 30;
/** RSA keys shorter than this are refused by browsers (and by OpenSSL's default security level 2). */
const MIN_RSA_BITS = 2048;
const DAY_MS = 86_400_000;

/**
 * The certificate and key of display.tls; a ConfigError naming the field and the file when they cannot be used
 * (unreadable, not a pair), and what configWarnings says of it (--check and start: outside its dates at `now`,
 * expiring within CERT_EXPIRY_WARNING_DAYS, an RSA key under 2048 bits).
 */
export function readDisplayTls(
  tls: { certFile: string; keyFile: string },
  source = 'display.tls',
  now: number = Date.now(),
): { cert: Buffer; key: Buffer; warnings: string[] } {
  const read = (file: string, field: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(source, [{ path: `display.tls.${field}`, message: `cannot read ${file}: ${(err as Error).message}` }]);
    }
  };
  const cert = read(tls.certFile, 'certFile');
  const key = read(tls.keyFile, 'keyFile');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError(source, [
      {
        path: 'display.tls',
        message: `the certificate ${tls.certFile} and key ${tls.keyFile} cannot be used together (${(err as Error).message}): certFile must be a PEM certificate (chain) and keyFile its PEM private key, unencrypted`,
      },
    ]);
  }
  return { cert, key, warnings: checkCertificate(cert, tls.certFile, now) };
}

/** When the leaf certificate expires (ms), or null if it cannot be read. */
export function certificateExpiry(pem: Buffer): number | null {
  try {
    return new Date(new X509Certificate(pem).validTo).getTime();
  } catch {
    return null;
  }
}

/** What browsers refuse in the leaf certificate at `now`, or soon will: outside its dates, expiring soon, a short RSA key. */
function checkCertificate(pem: Buffer, file: string, now: number): string[] {
  let x509: X509Certificate;
  try {
    // The first certificate of the file: the server's own (a chain follows it).
    x509 = new X509Certificate(pem);
  } catch (err) {
    return [`display certificate ${file}: its dates and strength could not be checked (${(err as Error).message})`];
  }
  const from = new Date(x509.validFrom).getTime();
  const to = new Date(x509.validTo).getTime();
  const clock = new Date(now).toISOString();
  // Outside its dates the certificate is warned about, not refused: a refusal would stop the whole agent
  // (device reading, the store, forwarding) for what only the screens suffer, and watched screens raise their own
  // "not connected" alarms.
  if (now > to) return [`display certificate ${file} expired on ${x509.validTo} (this gateway's clock: ${clock}): browsers refuse it, so no screen can show the ward; renew it and restart the agent (or check the gateway's clock)`];
  if (now < from) return [`display certificate ${file} is valid only from ${x509.validFrom} (this gateway's clock: ${clock}): browsers refuse it until then; check the gateway's clock or the certificate's dates`];
  const warnings: string[] = [];
  const daysLeft = Math.floor((to - now) / DAY_MS);
  if (to - now < CERT_EXPIRY_WARNING_DAYS * DAY_MS) {
    warnings.push(`display certificate ${file} expires on ${x509.validTo} (in ${daysLeft} days): renew it and restart the agent (it reads the certificate only at start); browsers refuse an expired one and every screen goes dark`);
  }
  const keyType = x509.publicKey.asymmetricKeyType;
  const bits = x509.publicKey.asymmetricKeyDetails?.modulusLength;
  if ((keyType === 'rsa' || keyType === 'rsa-pss') && bits !== undefined && bits < MIN_RSA_BITS) {
    warnings.push(`display certificate ${file} has an RSA key of ${bits} bits: browsers refuse keys under ${MIN_RSA_BITS} bits; issue one with a stronger key`);
  }
  return warnings;
}
