// The display's certificate and key, read and tried before the server uses them: OpenSSL's own words ("PEM
// routines::bad base64 decode") name neither the field nor the file, so a biomedical engineer could not act on them.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../config/load.js';

/** The certificate and key of display.tls; a ConfigError naming the field and the file when they cannot be used. */
export function readDisplayTls(tls: { certFile: string; keyFile: string }, source = 'display.tls'): { cert: Buffer; key: Buffer } {
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
  return { cert, key };
}
