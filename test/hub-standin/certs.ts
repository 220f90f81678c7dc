import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * TEST ONLY certificates committed in ./certs (see certs/make-certs.sh). Read at run time so
 * tests never need openssl. Never use these outside tests: the CA key is public.
 */
const dir = new URL('./certs/', import.meta.url);

/** The stand-in's TEST ONLY CA as a file, for an agent's hub.caFile. */
export const STANDIN_CA_FILE = fileURLToPath(new URL('ca.pem', dir));

export interface TestCerts {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
}

let cached: TestCerts | undefined;

export function loadTestCerts(): TestCerts {
  cached ??= {
    caPem: readFileSync(new URL('ca.pem', dir), 'utf8'),
    serverCertPem: readFileSync(new URL('server.pem', dir), 'utf8'),
    serverKeyPem: readFileSync(new URL('server-key.pem', dir), 'utf8'),
  };
  return cached;
}
