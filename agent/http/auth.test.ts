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

  it('an unknown name is checked with the parameters of one configured user, the same for the same name, never a mix no user has', async () => {
    const users = [await hashPassword('a-password', fast), await hashPassword('b-password', { N: 2048, r: 4, p: 2 })].map((h) => parsePasswordHash(h)!);
    const key = Buffer.alloc(32, 7);
    const params = (name: string) => {
      const { N, r, p } = dummyHash(users, name, key);
      return { N, r, p };
    };
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const got = params(`ghost-${i}`);
      expect([{ N: 1024, r: 8, p: 1 }, { N: 2048, r: 4, p: 2 }]).toContainEqual(got);
      expect(params(`ghost-${i}`)).toEqual(got);
      seen.add(JSON.stringify(got));
    }
    // Unknown names fall into both users' groups.
    expect(seen.size).toBe(2);
    expect(dummyHash([], 'ghost', key)).toMatchObject(SCRYPT_DEFAULTS);
    expect(dummyHash(users, 'ghost', key).key).toHaveLength(32);
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
    // The guesser's own account still logs in (it has logged in from here: rv132 M3), and that resets nothing either.
    expect((await a.login('v', 'viewer-1', '10.0.0.4')).ok).toBe(true);
    expect(await a.login('n', 'guess-4', '10.0.0.4')).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    expect(await a.login('w', 'viewer-2', '10.0.0.4')).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
  });

  it('a success forgives no failure, not even the user\'s own typo (behind a shared address it may be a guesser\'s: rv135 M2), and is not counted as one', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now, { maxFailures: 3, maxFailuresPerUser: 100, windowS: 30 });
    expect((await a.login('n', 'typo-1', '10.0.0.5')).ok).toBe(false);
    expect((await a.login('v', 'typo-2', '10.0.0.5')).ok).toBe(false);
    expect((await a.login('n', 'secret-1', '10.0.0.5')).ok).toBe(true);
    // Both failures still count, the success does not: one more failure locks the address.
    expect(status(await a.login('w', 'typo-3', '10.0.0.5'))).toBe(401);
    expect(await a.login('v', 'viewer-1', '10.0.0.5')).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    // n has logged in from here: n keeps a check past the address cap (rv132 M3, auth-shared-address.test.ts).
    expect(status(await a.login('n', 'secret-1', '10.0.0.5'))).toBe(200);
    // A window holding only successes is none: the window starts at the first failure.
    const b = await make(now, { maxFailures: 1, maxFailuresPerUser: 100, windowS: 30 });
    expect(status(await b.login('n', 'secret-1', '10.0.0.5'))).toBe(200);
    now.t += 20_000;
    expect(status(await b.login('v', 'typo', '10.0.0.5'))).toBe(401);
    expect(await b.login('v', 'viewer-1', '10.0.0.5')).toMatchObject({ ok: false, status: 429, reason: 'address-locked', retryAfterS: 30 });
  });

  it('counts a password check from when it starts, and runs one at a time per address: parallel guesses get one check, the rest 429', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now, { maxFailures: 2, maxFailuresPerUser: 100, windowS: 30 });
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => a.login('n', `parallel-${i}`, '10.0.0.6')));
    expect(results.map(status).sort()).toEqual([401, 429, 429, 429]);
    expect(results.filter((r) => !r.ok && r.status === 429)).toMatchObject(Array(3).fill({ reason: 'address-busy', retryAfterS: 1 }));
    // The refusals in flight were not counted: one more failure locks the address.
    expect(status(await a.login('n', 'again', '10.0.0.6'))).toBe(401);
    expect(await a.login('n', 'secret-1', '10.0.0.6')).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
  });

  it('past maxFailuresPerUser, addresses the user has logged in from keep their check (a typo, then the right password); any other address gets its first check only', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now, { maxFailures: 100, maxFailuresPerUser: 3, windowS: 300 });
    // The nurse's own station: she logged in from it earlier.
    expect(status(await a.login('n', 'secret-1', '10.0.1.9'))).toBe(200);
    for (const from of ['10.0.1.1', '10.0.1.2', '10.0.1.3']) expect(status(await a.login('n', 'guess', from))).toBe(401);
    // The name is past its cap: an address that already failed at it is refused for the window, even with the right
    // password; each other address gets one check (a guesser gets one guess per address he holds).
    const refused = await a.login('n', 'secret-1', '10.0.1.1');
    expect(refused).toMatchObject({ ok: false, status: 429, reason: 'user-locked', retryAfterS: 300 });
    expect(status(await a.login('n', 'guess', '10.0.1.10'))).toBe(401);
    expect(status(await a.login('n', 'guess', '10.0.1.10'))).toBe(429);
    // No shared budget to starve: an attacker polling from his addresses does not keep her out (review rv45 §1).
    for (let i = 0; i < 50; i++) await a.login('n', 'guess', '10.0.1.10');
    expect(status(await a.login('n', 'secret-1', '10.0.1.50'))).toBe(200); // the nurse at a colleague's station
    // The nurse at her station mistypes once, then types it right: logged in.
    expect(status(await a.login('n', 'secret-l', '10.0.1.9'))).toBe(401);
    expect(status(await a.login('n', 'secret-1', '10.0.1.9'))).toBe(200);
    // But her station is not a way around the bound: OWNER_TRIES (3) failures there in the window, her typo included
    // (her success did not forgive it), and it is refused too.
    for (let i = 0; i < 2; i++) expect(status(await a.login('n', `g-${i}`, '10.0.1.9'))).toBe(401);
    expect(await a.login('n', 'secret-1', '10.0.1.9')).toMatchObject({ ok: false, status: 429, reason: 'user-locked' });
    // Other users from the guessing addresses are not affected.
    expect((await a.login('v', 'viewer-1', '10.0.1.1')).ok).toBe(true);
    now.t += 300_000;
    expect((await a.login('n', 'secret-1', '10.0.1.1')).ok).toBe(true);
  });

  it('counts an IPv6 /64 as one address for the login limits: a host rotating its addresses in its /64 gains no checks (rv135 H1)', async () => {
    const now = { t: 1_000_000 };
    // Per address: two failures from two addresses of one /64 lock the whole /64; another /64 is not affected.
    const a = await make(now, { maxFailures: 2, maxFailuresPerUser: 100, windowS: 300 });
    expect(status(await a.login('n', 'guess', '2001:db8:ab:10::1'))).toBe(401);
    expect(status(await a.login('n', 'guess', '2001:db8:ab:10::2'))).toBe(401);
    expect(await a.login('n', 'guess', '2001:db8:ab:10:ffff::3')).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    expect(status(await a.login('n', 'guess', '2001:db8:ab:11::1'))).toBe(401);
    // An IPv4-mapped address (dual-stack socket) is its IPv4 address.
    expect(status(await a.login('v', 'guess', '10.0.7.1'))).toBe(401);
    expect(status(await a.login('v', 'guess', '::ffff:10.0.7.1'))).toBe(401);
    expect(await a.login('v', 'viewer-1', '10.0.7.1')).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    // Per name: past maxFailuresPerUser, a /64 gets one check at the name, whichever of its addresses it comes from.
    const b = await make(now, { maxFailures: 100, maxFailuresPerUser: 3, windowS: 300 });
    for (const from of ['2001:db8:1::1', '2001:db8:2::1', '2001:db8:3::1']) expect(status(await b.login('n', 'guess', from))).toBe(401);
    expect(status(await b.login('n', 'guess', '2001:db8:ab:10::1'))).toBe(401);
    let checks = 0;
    for (let i = 2; i < 40; i++) if (status(await b.login('n', `guess-${i}`, `2001:db8:ab:10::${i.toString(16)}`)) === 401) checks++;
    expect(checks).toBe(0);
    expect(await b.login('n', 'guess', '2001:db8:ab:10::99')).toMatchObject({ ok: false, status: 429, reason: 'user-locked' });
    expect(status(await b.login('n', 'guess', '2001:db8:ab:11::1'))).toBe(401);
    // One check at a time per /64 too: parallel logins from two of its addresses get one check.
    const c = await make(now, { maxFailures: 100, maxFailuresPerUser: 100, windowS: 300 });
    const both = await Promise.all([c.login('n', 'guess', '2001:db8:cd::1'), c.login('n', 'guess', '2001:db8:cd::2')]);
    expect(both.map(status).sort()).toEqual([401, 429]);
  });

  it('when every check slot is taken, a login from an address without failures waits for one; an address with failures is told busy at once', async () => {
    const now = { t: 1_000_000 };
    // One slot: its memory bound lets only one check run at a time.
    const a = await make(now, { maxFailures: 100, maxFailuresPerUser: 100, windowS: 30 }, { maxSessions: 100, maxSessionsPerUser: 10, maxCheckBytes: 1 });
    expect(status(await a.login('v', 'typo', '10.0.4.2'))).toBe(401);
    const flood = a.login('w', 'flood', '10.0.4.1');
    const guesser = a.login('v', 'viewer-1', '10.0.4.2');
    const nurse = a.login('n', 'secret-1', '10.0.4.3');
    expect(await guesser).toMatchObject({ ok: false, status: 503, reason: 'busy', retryAfterS: 1 });
    expect(status(await nurse)).toBe(200);
    expect(status(await flood)).toBe(401);
  });

  it('runs no more password checks at once than their memory allows (scrypt takes 128 * N * r bytes each)', async () => {
    const now = { t: 1_000_000 };
    const oneCheck = 128 * fast.N * fast.r;
    const a = await make(now, { maxFailures: 100, maxFailuresPerUser: 100, windowS: 30 }, { maxSessions: 100, maxSessionsPerUser: 10, maxCheckBytes: 2 * oneCheck });
    // 10.0.3.3 has failed before, so it does not wait for a slot.
    expect(status(await a.login('n', 'typo', '10.0.3.3'))).toBe(401);
    const results = await Promise.all(['10.0.3.1', '10.0.3.2', '10.0.3.3'].map((from) => a.login('n', 'secret-1', from)));
    expect(results.map(status)).toEqual([200, 200, 503]);
    expect(results[2]).toMatchObject({ reason: 'busy', retryAfterS: 1 });
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
