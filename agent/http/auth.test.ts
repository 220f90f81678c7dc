import { describe, expect, it } from 'vitest';
import { Authenticator, dummyHash, hasRole } from './auth.js';
import { SCRYPT_DEFAULTS, hashPassword, hashToken, parsePasswordHash, verifyPassword, weakPasswordHashes } from './passwords.js';

const fast = { N: 1024, r: 8, p: 1 };

describe('passwords and tokens', () => {
  it('verifies the right password only; the hash carries its parameters and a random salt', async () => {
    const h = await hashPassword('correct horse', fast);
    expect(h).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(h).not.toBe(await hashPassword('correct horse', fast));
    const parsed = parsePasswordHash(h)!;
    expect(await verifyPassword('correct horse', parsed)).toBe(true);
    expect(await verifyPassword('correct horsf', parsed)).toBe(false);
    expect(parsePasswordHash('scrypt$3$8$1$AAAA$AAAA')).toBeNull();
    expect(parsePasswordHash('plain')).toBeNull();
  });

  it('makes new hashes with N = 2^14, r = 8, p = 5 (OWASP, 16 MB a check); names stored hashes of lower cost', async () => {
    expect(SCRYPT_DEFAULTS).toEqual({ N: 16384, r: 8, p: 5 });
    const weak = await hashPassword('x-password', fast);
    const ok = await hashPassword('y-password', { N: 65536, r: 8, p: 1 });
    expect(weakPasswordHashes([{ name: 'a', passwordHash: weak }, { name: 'b', passwordHash: ok }, { name: 'c', passwordHash: 'plain' }])).toEqual([{ name: 'a', N: 1024, r: 8, p: 1 }]);
  });

  it('the hash checked for an unknown user has the costliest parameters of the configured users (same time as a known one)', async () => {
    const users = [await hashPassword('a-password', fast), await hashPassword('b-password', { N: 2048, r: 4, p: 2 })].map((h) => parsePasswordHash(h)!);
    expect(dummyHash(users)).toMatchObject({ N: 2048, r: 8, p: 2 });
    expect(dummyHash([])).toMatchObject(SCRYPT_DEFAULTS);
    expect(dummyHash(users).key).toHaveLength(32);
  });
});

describe('Authenticator', () => {
  async function make(now: { t: number }, login = { maxFailures: 2, maxFailuresPerUser: 3, windowS: 30 }, bounds?: { maxSessions: number; maxSessionsPerUser: number; maxCheckBytes?: number }) {
    return new Authenticator(
      {
        users: [
          { name: 'n', role: 'clinician', passwordHash: await hashPassword('secret-1', fast) },
          { name: 'v', role: 'viewer', passwordHash: await hashPassword('viewer-1', fast) },
          { name: 'w', role: 'viewer', passwordHash: await hashPassword('viewer-2', fast) },
        ],
        tokens: [{ name: 'prom', role: 'viewer', tokenHash: hashToken('prometheus-token-0123456789') }],
        sessionTtlS: 60,
        login,
      },
      () => now.t,
      bounds,
    );
  }
  const status = (r: Awaited<ReturnType<Authenticator['login']>>): number => (r.ok ? 200 : r.status);
  const token = (r: Awaited<ReturnType<Authenticator['login']>>): string => {
    if (!r.ok) throw new Error(`login refused: ${r.status} ${r.error}`);
    return r.token;
  };

  it('issues sessions that expire, and accepts configured API tokens', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const r = await a.login('n', 'secret-1', '10.0.0.1');
    if (!r.ok) throw new Error('login failed');
    expect(a.identify(`Bearer ${r.token}`)).toEqual({ user: 'n', role: 'clinician', kind: 'session' });
    expect(a.identify('Bearer prometheus-token-0123456789')).toEqual({ user: 'prom', role: 'viewer', kind: 'token' });
    expect(a.identify(undefined)).toBeNull();
    expect(a.identify('Basic abc')).toBe('invalid');
    now.t += 61_000;
    expect(a.identify(`Bearer ${r.token}`)).toBe('invalid');
    expect(hasRole({ user: 'x', role: 'admin', kind: 'token' }, 'clinician')).toBe(true);
    expect(hasRole({ user: 'x', role: 'viewer', kind: 'token' }, 'clinician')).toBe(false);
  });

  it('locks an address out after maxFailures within the window, then lets it try again', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    expect((await a.login('n', 'bad', '10.0.0.2')).ok).toBe(false);
    expect((await a.login('ghost', 'bad', '10.0.0.2')).ok).toBe(false);
    const locked = await a.login('n', 'secret-1', '10.0.0.2');
    expect(locked).toMatchObject({ ok: false, status: 429, retryAfterS: 30 });
    // Other addresses are not affected.
    expect((await a.login('n', 'secret-1', '10.0.0.3')).ok).toBe(true);
    now.t += 31_000;
    expect((await a.login('n', 'secret-1', '10.0.0.2')).ok).toBe(true);
  });

  it('a login as another user does not reset the failures counted for the address (a viewer cannot guess on without limit)', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now, { maxFailures: 3, maxFailuresPerUser: 100, windowS: 30 });
    expect((await a.login('n', 'guess-1', '10.0.0.4')).ok).toBe(false);
    expect((await a.login('n', 'guess-2', '10.0.0.4')).ok).toBe(false);
    expect((await a.login('v', 'viewer-1', '10.0.0.4')).ok).toBe(true); // the guesser's own account
    expect(status(await a.login('n', 'guess-3', '10.0.0.4'))).toBe(401);
    expect(await a.login('n', 'secret-1', '10.0.0.4')).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    expect(await a.login('v', 'viewer-1', '10.0.0.4')).toMatchObject({ ok: false, status: 429 });
  });

  it('a user\'s own success forgives only that user\'s typos from the address', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now, { maxFailures: 3, maxFailuresPerUser: 100, windowS: 30 });
    expect((await a.login('n', 'typo-1', '10.0.0.5')).ok).toBe(false);
    expect((await a.login('v', 'typo-2', '10.0.0.5')).ok).toBe(false);
    expect((await a.login('n', 'secret-1', '10.0.0.5')).ok).toBe(true);
    // n's typo is forgiven, v's failure still counts: two more failures lock the address, not one.
    expect(status(await a.login('w', 'typo-3', '10.0.0.5'))).toBe(401);
    expect(status(await a.login('w', 'typo-4', '10.0.0.5'))).toBe(401);
    expect(status(await a.login('n', 'secret-1', '10.0.0.5'))).toBe(429);
  });

  it('counts a password check from when it starts: guesses in parallel get no more checks than maxFailures', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now, { maxFailures: 2, maxFailuresPerUser: 100, windowS: 30 });
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => a.login('n', `parallel-${i}`, '10.0.0.6')));
    expect(results.map((r) => (r.ok ? 200 : r.status)).sort()).toEqual([401, 401, 429, 429]);
  });

  it('past maxFailuresPerUser refuses the name to the addresses that guessed at it, not to an address that has not failed (lock the guesses, not the account)', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now, { maxFailures: 100, maxFailuresPerUser: 3, windowS: 30 });
    for (const from of ['10.0.1.1', '10.0.1.2', '10.0.1.3']) expect(status(await a.login('n', 'guess', from))).toBe(401);
    // The guessers: refused even with the right password, until the window passes.
    expect(await a.login('n', 'secret-1', '10.0.1.1')).toMatchObject({ ok: false, status: 429, reason: 'user-locked', retryAfterS: 30 });
    // The nurse at her own station, which has not failed: the right password logs her in.
    expect((await a.login('n', 'secret-1', '10.0.1.4')).ok).toBe(true);
    // Her success forgives only her own address's failures: the guessers stay refused.
    expect(await a.login('n', 'secret-1', '10.0.1.2')).toMatchObject({ ok: false, status: 429, reason: 'user-locked' });
    // A new address gets one check at the locked name: a wrong one makes it a guesser too (guesses in parallel: one check).
    const parallel = await Promise.all(['g-1', 'g-2', 'g-3'].map((p) => a.login('n', p, '10.0.1.5')));
    expect(parallel.map(status).sort()).toEqual([401, 429, 429]);
    expect(await a.login('n', 'secret-1', '10.0.1.5')).toMatchObject({ ok: false, status: 429, reason: 'user-locked' });
    // Other users from the guessing addresses are not affected.
    expect((await a.login('v', 'viewer-1', '10.0.1.1')).ok).toBe(true);
    now.t += 31_000;
    expect((await a.login('n', 'secret-1', '10.0.1.1')).ok).toBe(true);
  });

  it('runs no more password checks at once than their memory allows (scrypt takes 128 * N * r bytes each)', async () => {
    const now = { t: 1_000_000 };
    const oneCheck = 128 * fast.N * fast.r;
    const a = await make(now, { maxFailures: 100, maxFailuresPerUser: 100, windowS: 30 }, { maxSessions: 100, maxSessionsPerUser: 10, maxCheckBytes: 2 * oneCheck });
    const results = await Promise.all(['10.0.3.1', '10.0.3.2', '10.0.3.3'].map((from) => a.login('n', 'secret-1', from)));
    expect(results.map(status).sort()).toEqual([200, 200, 503]);
    expect(results.find((r) => !r.ok)).toMatchObject({ reason: 'busy', retryAfterS: 1 });
    // One check always runs, however large.
    const b = await make(now, { maxFailures: 100, maxFailuresPerUser: 100, windowS: 30 }, { maxSessions: 100, maxSessionsPerUser: 10, maxCheckBytes: 1 });
    expect((await b.login('n', 'secret-1', '10.0.3.4')).ok).toBe(true);
  });

  it('caps sessions per user (the user\'s own oldest ends), and refuses a login when the table is full rather than end another user\'s', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now, { maxFailures: 100, maxFailuresPerUser: 100, windowS: 30 }, { maxSessions: 5, maxSessionsPerUser: 3 });
    const nurse = token(await a.login('n', 'secret-1', '10.0.2.1'));
    const viewer = [];
    for (let i = 0; i < 4; i++) viewer.push(token(await a.login('v', 'viewer-1', '10.0.2.2')));
    // v holds at most 3: its first session ended, the nurse's did not.
    expect(a.identify(`Bearer ${viewer[0]}`)).toBe('invalid');
    expect(viewer.slice(1).map((t) => a.identify(`Bearer ${t}`))).toEqual(Array(3).fill({ user: 'v', role: 'viewer', kind: 'session' }));
    expect(a.identify(`Bearer ${nurse}`)).toMatchObject({ user: 'n' });
    // 1 + 3 sessions; w takes the fifth place, then the table is full for w (it has one to give up: its own ends).
    const w1 = token(await a.login('w', 'viewer-2', '10.0.2.3'));
    expect(a.sessionCount).toBe(5);
    const w2 = token(await a.login('w', 'viewer-2', '10.0.2.3'));
    expect(a.identify(`Bearer ${w1}`)).toBe('invalid');
    expect(a.identify(`Bearer ${w2}`)).toMatchObject({ user: 'w' });
    // n's session ended by logout: its place is n's again.
    expect(a.logout(`Bearer ${nurse}`)).toBe(true);
    const n2 = token(await a.login('n', 'secret-1', '10.0.2.1'));
    expect(a.sessionCount).toBe(5);
    // A user with no session at all gets no one else's place.
    const b = await make(now, { maxFailures: 100, maxFailuresPerUser: 100, windowS: 30 }, { maxSessions: 2, maxSessionsPerUser: 3 });
    const bn = token(await b.login('n', 'secret-1', '10.0.2.1'));
    const bv = token(await b.login('v', 'viewer-1', '10.0.2.2'));
    expect(await b.login('w', 'viewer-2', '10.0.2.3')).toMatchObject({ ok: false, status: 503, reason: 'sessions-full' });
    expect([b.identify(`Bearer ${bn}`), b.identify(`Bearer ${bv}`)]).toMatchObject([{ user: 'n' }, { user: 'v' }]);
    expect(a.identify(`Bearer ${n2}`)).toMatchObject({ user: 'n' });
    // Expired sessions make room.
    now.t += 61_000;
    expect((await b.login('w', 'viewer-2', '10.0.2.3')).ok).toBe(true);
  });
});
