// Password and token hashing. Passwords: scrypt (node:crypto, memory-hard) with a random salt, parameters kept in the
// hash so they can be raised later. API tokens are long random strings, so one SHA-256 is enough (as for GitHub tokens);
// a slow hash would only make every API request slow.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { ConfigProblem } from '../config/load.js';

/**
 * For new hashes: OWASP's Password Storage Cheat Sheet asks for N >= 2^17 with r = 8, p = 1. Each check then takes
 * 128 MB (128 * N * r bytes) and ~370 ms on the 2-core x86-64 development machine (Node 20); a login is once per session.
 */
export const SCRYPT_DEFAULTS = { N: 131072, r: 8, p: 1 } as const;
/** Stored hashes below this N are accepted (existing deployments keep working) and warned about at start. */
export const WEAK_SCRYPT_N = 32768;

/** Memory one scrypt check takes (node:crypto needs maxmem above it). */
export function scryptBytes(h: { N: number; r: number }): number {
  return 128 * h.N * h.r;
}

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$salt$hash` (salt and hash in base64). */
export async function hashPassword(password: string, params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, 32, { ...params, maxmem: 2 * scryptBytes(params) });
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export function parsePasswordHash(stored: string): ParsedHash | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const key = Buffer.from(parts[5] ?? '', 'base64');
  // Bounds keep a hostile or mistyped config from making each login take minutes or gigabytes.
  const ok = Number.isInteger(N) && N >= 1024 && N <= 1048576 && (N & (N - 1)) === 0 && Number.isInteger(r) && r >= 1 && r <= 32 &&
    Number.isInteger(p) && p >= 1 && p <= 16 && salt.length >= 8 && key.length >= 16;
  return ok ? { N, r, p, salt, key } : null;
}

export async function verifyPassword(password: string, stored: ParsedHash): Promise<boolean> {
  const key = await scryptAsync(password, stored.salt, stored.key.length, {
    N: stored.N, r: stored.r, p: stored.p, maxmem: 2 * scryptBytes(stored),
  });
  return timingSafeEqual(key, stored.key);
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** `sha256$hex` of a token. */
export function hashToken(token: string): string {
  return `sha256$${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** Constant-time comparison of two token hashes of the same format. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Users whose stored hash is cheaper to guess than WEAK_SCRYPT_N (unparsable ones are refused elsewhere). */
export function weakPasswordHashes(users: readonly { name: string; passwordHash: string }[]): { name: string; N: number }[] {
  const out: { name: string; N: number }[] = [];
  for (const u of users) {
    const h = parsePasswordHash(u.passwordHash);
    if (h && h.N < WEAK_SCRYPT_N) out.push({ name: u.name, N: h.N });
  }
  return out;
}

/** The password whose hash the example configurations carry: published, so never accepted for a real user. */
export const EXAMPLE_PASSWORD = 'example-password-change-me';

/** One problem per user whose password hash is of EXAMPLE_PASSWORD (refused at start and by --check alike). */
export async function examplePasswordProblems(users: readonly { name: string; passwordHash: string }[]): Promise<ConfigProblem[]> {
  const out: ConfigProblem[] = [];
  for (const [index, u] of users.entries()) {
    const h = parsePasswordHash(u.passwordHash);
    if (h && (await verifyPassword(EXAMPLE_PASSWORD, h))) {
      out.push({
        path: `display.users[${index}] (${u.name})`,
        message: `its password hash is of the examples' published password "${EXAMPLE_PASSWORD}"; make a new one with \`npx tsx agent/http/hash-password.ts\``,
      });
    }
  }
  return out;
}
