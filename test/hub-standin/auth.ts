import { HubStandinError } from './errors.js';
import { parseSasToken, resourceFor, verifySasToken } from './sas.js';

/**
 * CONNECT authentication as IoT Hub does it for symmetric-key identities:
 *   clientId = deviceId | deviceId/moduleId
 *   username = <hostName>/<clientId>/?api-version=...[&DeviceClientType=...]
 *   password = SAS token for <hostName>/devices/<id>[/modules/<mid>] signed with the identity key.
 * Pure: returns the CONNACK return code to send (MQTT 3.1.1 §3.2.2.3).
 */
export interface Identity {
  deviceId: string;
  moduleId?: string;
  /** Base64 symmetric key (the connection string's SharedAccessKey). */
  key: string;
}

export function clientIdOf(deviceId: string, moduleId?: string): string {
  return moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
}

export const CONNACK = {
  accepted: 0,
  unacceptableProtocol: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUsernameOrPassword: 4,
  notAuthorized: 5,
} as const;

export type AuthResult =
  | { ok: true; identity: Identity; /** SAS token expiry, seconds since the epoch. */ expiresAt: number }
  | { ok: false; returnCode: 2 | 4 | 5; reason: string };

export interface ConnectCredentials {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
}

export function authenticateConnect(
  creds: ConnectCredentials,
  hostName: string,
  identities: ReadonlyMap<string, Identity>,
  nowSeconds: number,
): AuthResult {
  if (creds.clientId === '') return { ok: false, returnCode: 2, reason: 'empty client id' };
  const identity = identities.get(creds.clientId);
  if (identity === undefined) return { ok: false, returnCode: 5, reason: `unknown identity ${creds.clientId}` };

  const username = creds.username ?? '';
  const expectedPrefix = `${hostName}/${creds.clientId}/`.toLowerCase();
  if (!username.toLowerCase().startsWith(expectedPrefix) || !username.includes('api-version=')) {
    return { ok: false, returnCode: 4, reason: `username does not look like "${hostName}/${creds.clientId}/?api-version=..."` };
  }
  if (creds.password === undefined || creds.password.length === 0) {
    return { ok: false, returnCode: 4, reason: 'no password (SAS token) given' };
  }
  let verdict: string;
  let expiresAt = 0;
  try {
    const token = parseSasToken(creds.password.toString('utf8'));
    expiresAt = token.expiry;
    verdict = verifySasToken(token, resourceFor(hostName, identity.deviceId, identity.moduleId), identity.key, nowSeconds);
  } catch (err) {
    if (err instanceof HubStandinError) return { ok: false, returnCode: 4, reason: err.message };
    throw err;
  }
  if (verdict !== 'ok') return { ok: false, returnCode: 5, reason: `SAS token rejected: ${verdict}` };
  return { ok: true, identity, expiresAt };
}
