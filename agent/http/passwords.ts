// Password and token hashing. Passwords: scrypt (node:crypto, memory-hard) with a random salt, parameters kept in the
// hash so they can be raised later. API tokens are long random strings, so one SHA-256 is enough (as for GitHub tokens);
// a slow hash would only make every API request slow.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { ConfigProblem } from '../config/load.js';

/**
 * For new hashes: OWASP's Password Storage Cheat Sheet gives N = 2^17, r = 8, p = 1 (128 MB a check) or, equally
 * strong, N = 2^14, r = 8, p = 5: 16 MB a check (128 * N * r bytes), which a small gateway whose agent runs in ~170 MB
 * can afford; ~0.3 s a check on the 2-core development machine. A login is once per session.
 */
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 5 } as const;
/**
 * Stored hashes cheaper than this (N * r * p: OWASP's weakest equal setting, N = 2^13, r = 8, p = 10, is 2^20) are
 * accepted (existing deployments keep working) and warned about at start: the first default (N = 2^14, p = 1) was 2^17.
 */
export const WEAK_SCRYPT_COST = 2 ** 19;

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

/** Users whose stored hash is cheaper to guess than WEAK_SCRYPT_COST (unparsable ones are refused elsewhere). */
export function weakPasswordHashes(users: readonly { name: string; passwordHash: string }[]): { name: string; N: number; r: number; p: number }[] {
  const out: { name: string; N: number; r: number; p: number }[] = [];
  for (const u of users) {
    const h = parsePasswordHash(u.passwordHash);
    if (h && h.N * h.r * h.p < WEAK_SCRYPT_COST) out.push({ name: u.name, N: h.N, r: h.r, p: h.p });
  }
  return out;
}

/** What to tell about a weak hash (weakPasswordHashes), the same at the display's start and in --check. */
export function weakHashMessage(h: { N: number; r: number; p: number }): string {
  return `the password hash of this user is cheap to guess if the config leaks (scrypt N=${h.N}, r=${h.r}, p=${h.p}: cost below OWASP's); make a new one with \`npx tsx agent/http/hash-password.ts\``;
}

/** The password whose hash the example configurations carry: published, so never accepted for a real user. */
export const EXAMPLE_PASSWORD = 'example-password-change-me';

/**
 * Whether each stored hash is of EXAMPLE_PASSWORD, by hash: the start checks before the agent is built and the display
 * again when it starts, and each check is a full scrypt (~0.4 s at N = 2^17; review rv43 §8).
 */
const exampleHashes = new Map<string, boolean>();

async function isExampleHash(passwordHash: string): Promise<boolean> {
  let known = exampleHashes.get(passwordHash);
  if (known === undefined) {
    const h = parsePasswordHash(passwordHash);
    known = h !== null && (await verifyPassword(EXAMPLE_PASSWORD, h));
    if (exampleHashes.size >= 1000) exampleHashes.clear();
    exampleHashes.set(passwordHash, known);
  }
  return known;
}

/** One problem per user whose password hash is of EXAMPLE_PASSWORD (refused at start and by --check alike). */
export async function examplePasswordProblems(users: readonly { name: string; passwordHash: string }[]): Promise<ConfigProblem[]> {
  const out: ConfigProblem[] = [];
  // One after the other: checked all at once, eight hashes at N = 2^17 took 500 MB (review rv45 §3).
  for (const [index, u] of users.entries()) {
    if (await isExampleHash(u.passwordHash)) {
      out.push({
        path: `display.users[${index}] (${u.name})`,
        message: `its password hash is of the examples' published password "${EXAMPLE_PASSWORD}"; make a new one with \`npx tsx agent/http/hash-password.ts\``,
      });
    }
  }
  return out;
}
