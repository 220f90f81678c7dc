import { createHmac, timingSafeEqual } from 'node:crypto';
import { HubStandinError } from './errors.js';

/**
 * IoT Hub SAS tokens as the Node device SDK builds them (azure-iot-common 1.x):
 *   SharedAccessSignature sr=<sr>&sig=<sig>&se=<expiry>[&skn=<keyName>]
 * where sr = encodeURIComponentStrict("<host>/devices/<id>[/modules/<mid>]"),
 * sig = encodeURIComponentStrict(base64(HMAC-SHA256(base64decode(key), sr + "\n" + se))).
 * Note the string to sign uses sr exactly as it appears in the token (still url-encoded).
 * Pure: parsing throws HubStandinError; verification returns a verdict.
 */
export interface SasToken {
  /** `sr` as it appears in the token (url-encoded); this is what was signed. */
  srRaw: string;
  /** `sr` url-decoded: `<host>/devices/<id>[/modules/<mid>]`. */
  resource: string;
  /** Signature, url-decoded (base64 text). */
  signature: string;
  /** Expiry, seconds since the epoch. */
  expiry: number;
  /** Key name (hub-level policies only); undefined for device keys. */
  keyName: string | undefined;
}

const PREFIX = 'SharedAccessSignature ';
/** Tokens longer than this are refused outright (real ones are ~200 characters). */
export const MAX_SAS_LENGTH = 4096;

function decodeField(name: string, value: string, offset: number): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new HubStandinError('sas', `field ${name} is not valid url-encoding`, offset);
  }
}

export function parseSasToken(text: string): SasToken {
  if (text.length > MAX_SAS_LENGTH) throw new HubStandinError('sas', `token longer than ${MAX_SAS_LENGTH} characters`);
  if (!text.startsWith(PREFIX)) throw new HubStandinError('sas', 'does not start with "SharedAccessSignature "', 0);
  const fields = new Map<string, { value: string; offset: number }>();
  let offset = PREFIX.length;
  for (const part of text.slice(PREFIX.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new HubStandinError('sas', `field ${JSON.stringify(part.slice(0, 20))} has no name=value form`, offset);
    const name = part.slice(0, eq);
    if (fields.has(name)) throw new HubStandinError('sas', `field ${name} repeated`, offset);
    fields.set(name, { value: part.slice(eq + 1), offset: offset + eq + 1 });
    offset += part.length + 1;
  }
  const need = (name: string): { value: string; offset: number } => {
    const f = fields.get(name);
    if (f === undefined || f.value === '') throw new HubStandinError('sas', `missing field ${name}`);
    return f;
  };
  const sr = need('sr');
  const sig = need('sig');
  const se = need('se');
  if (!/^\d{1,12}$/.test(se.value)) throw new HubStandinError('sas', `se ${JSON.stringify(se.value.slice(0, 20))} is not an integer`, se.offset);
  const skn = fields.get('skn');
  return {
    srRaw: sr.value,
    resource: decodeField('sr', sr.value, sr.offset),
    signature: decodeField('sig', sig.value, sig.offset),
    expiry: Number(se.value),
    keyName: skn === undefined ? undefined : decodeField('skn', skn.value, skn.offset),
  };
}

/** The SDK's stricter encodeURIComponent (also escapes !'()*). */
export function encodeUriComponentStrict(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export function sign(srRaw: string, expiry: number, keyBase64: string): string {
  return createHmac('sha256', Buffer.from(keyBase64, 'base64')).update(`${srRaw}\n${expiry}`).digest('base64');
}

/** Builds a token like the SDK does; tests use it for expired or foreign tokens. */
export function makeSasToken(resource: string, keyBase64: string, expiry: number): string {
  const sr = encodeUriComponentStrict(resource);
  return `${PREFIX}sr=${sr}&sig=${encodeUriComponentStrict(sign(sr, expiry, keyBase64))}&se=${expiry}`;
}

export type SasVerdict = 'ok' | 'bad-signature' | 'expired' | 'wrong-resource';

/**
 * Checks signature, expiry and that the token names the expected resource
 * (host compared case-insensitively, ids exactly).
 */
export function verifySasToken(token: SasToken, expectedResource: string, keyBase64: string, nowSeconds: number): SasVerdict {
  const expected = Buffer.from(sign(token.srRaw, token.expiry, keyBase64), 'utf8');
  const given = Buffer.from(token.signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'bad-signature';
  if (!sameResource(token.resource, expectedResource)) return 'wrong-resource';
  if (token.expiry <= nowSeconds) return 'expired';
  return 'ok';
}

function sameResource(a: string, b: string): boolean {
  const [hostA, ...restA] = a.split('/');
  const [hostB, ...restB] = b.split('/');
  return (hostA ?? '').toLowerCase() === (hostB ?? '').toLowerCase() && restA.join('/') === restB.join('/');
}

/** `<host>/devices/<id>[/modules/<mid>]` */
export function resourceFor(hostName: string, deviceId: string, moduleId?: string): string {
  return moduleId === undefined ? `${hostName}/devices/${deviceId}` : `${hostName}/devices/${deviceId}/modules/${moduleId}`;
}
