// Behind a reverse proxy or a NAT every client has one address (review rv132 M3): failures at other names from it must
// not lock out a user who has logged in from it before, without opening a way around the bounds on guessing.
import { describe, expect, it } from 'vitest';
import { hashPassword, hashToken } from './passwords.js';
import { authenticator, fast, PROXY, status } from './test-support.js';

/** n and root (test-support), a viewer v and a Prometheus token. */
const make = async (now: { t: number }, login = { maxFailures: 5, maxFailuresPerUser: 5, windowS: 300 }) =>
  authenticator(now, login, [{ name: 'v', role: 'viewer', passwordHash: await hashPassword('viewer-1', fast) }], [
    { name: 'prom', role: 'viewer', tokenHash: hashToken('prometheus-token-0123456789') },
  ]);

describe('Authenticator behind a shared address (proxy, NAT)', () => {
  it('failures at other names from the address do not lock out users who logged in from it before and give the right password', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    // Earlier in the shift: the nurse and the admin logged in through the proxy.
    expect(status(await a.login('n', 'secret-1', PROXY))).toBe(200);
    expect(status(await a.login('root', 'admin-1', PROXY))).toBe(200);
    // Anyone behind the proxy: five wrong passwords at a name that does not exist.
    for (let i = 0; i < 5; i++) expect(status(await a.login('someone', `guess-${i}`, PROXY))).toBe(401);
    expect(await a.login('n', 'secret-1', PROXY)).toMatchObject({ ok: true, user: 'n' });
    expect(await a.login('root', 'admin-1', PROXY)).toMatchObject({ ok: true, user: 'root' });
    // The nurse's own typo first, then the right password: still in (her own bound, OWNER_TRIES, is not reached).
    expect(status(await a.login('n', 'secret-l', PROXY))).toBe(401);
    expect(status(await a.login('n', 'secret-1', PROXY))).toBe(200);
    // Her logins forgave only her own failures: the address is still locked for everyone else.
    expect(await a.login('v', 'viewer-1', PROXY)).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
  });

  it('an attacker guessing many names from the address still hits the address cap (no check is run past it)', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    expect(status(await a.login('n', 'secret-1', PROXY))).toBe(200);
    for (let i = 0; i < 5; i++) expect(status(await a.login(`ghost-${i}`, 'guess', PROXY))).toBe(401);
    // Names never logged in from here, existing or not, are refused: the exemption is per (user, address) only.
    for (const name of ['ghost-9', 'v', 'root', 'someone-else']) {
      expect(await a.login(name, 'guess', PROXY)).toMatchObject({ ok: false, status: 429, reason: 'address-locked', retryAfterS: 300 });
    }
    // Including the right password of a user who has not logged in from here (v, a viewer): the lock stays sound.
    expect(await a.login('v', 'viewer-1', PROXY)).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    // The window ends: everyone may try again.
    now.t += 300_000;
    expect(status(await a.login('v', 'viewer-1', PROXY))).toBe(200);
  });

  it('an attacker guessing a known user\'s password from the address gets OWNER_TRIES (3) checks at that name in the window, then is refused even with the right password', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    expect(status(await a.login('n', 'secret-1', PROXY))).toBe(200);
    for (let i = 0; i < 5; i++) expect(status(await a.login('someone', `guess-${i}`, PROXY))).toBe(401);
    for (let i = 0; i < 3; i++) expect(status(await a.login('n', `guess-n-${i}`, PROXY))).toBe(401);
    expect(await a.login('n', 'guess-n-3', PROXY)).toMatchObject({ ok: false, status: 429, reason: 'address-locked', retryAfterS: 300 });
    expect(await a.login('n', 'secret-1', PROXY)).toMatchObject({ ok: false, status: 429 });
    // Failures at the name before the address cap count towards that bound too: no fresh OWNER_TRIES after the cap.
    const b = await make(now);
    expect(status(await b.login('n', 'secret-1', PROXY))).toBe(200);
    expect(status(await b.login('root', 'admin-1', PROXY))).toBe(200);
    for (let i = 0; i < 3; i++) expect(status(await b.login('n', `guess-n-${i}`, PROXY))).toBe(401);
    for (let i = 0; i < 2; i++) expect(status(await b.login('someone', `guess-${i}`, PROXY))).toBe(401);
    expect(await b.login('n', 'secret-1', PROXY)).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    // Another known user keeps their own check (their own bound, not the one spent at n).
    expect(status(await b.login('root', 'admin-1', PROXY))).toBe(200);
    // The name's own cap from anywhere still applies alongside (admit): past maxFailuresPerUser, the known address gets
    // its check only while it has failed at the name fewer than OWNER_TRIES times.
    const c = await make(now, { maxFailures: 5, maxFailuresPerUser: 3, windowS: 300 });
    expect(status(await c.login('n', 'secret-1', PROXY))).toBe(200);
    for (const from of ['10.9.1.1', '10.9.1.2', '10.9.1.3']) expect(status(await c.login('n', 'guess', from))).toBe(401);
    for (let i = 0; i < 5; i++) expect(status(await c.login(`ghost-${i}`, 'guess', PROXY))).toBe(401);
    expect(status(await c.login('n', 'secret-1', PROXY))).toBe(200);
  });

  it('the owner\'s logins do not restore a guesser\'s budget: at most maxFailures + OWNER_TRIES checks at her name from the address per window (rv135 M2)', async () => {
    for (const lockFirst of [true, false]) {
      const now = { t: 1_000_000 };
      const a = await make(now);
      expect(status(await a.login('n', 'secret-1', PROXY))).toBe(200);
      let checks = 0;
      // Guesses at other names first (the address is then locked), or straight at hers (below the lock).
      if (lockFirst) for (let i = 0; i < 5; i++) if (status(await a.login(`ghost-${i}`, 'g', PROXY)) === 401) checks++;
      for (let round = 0; round < 10; round++) {
        for (let k = 0; k < 4; k++) if (status(await a.login('n', `guess-${round}-${k}`, PROXY)) === 401) checks++;
        now.t += 10_000;
        await a.login('n', 'secret-1', PROXY); // she logs in again meanwhile (another screen, a re-login)
      }
      expect(checks).toBeLessThanOrEqual(5 + 3);
    }
  });

  it('what a guesser behind the address can do to an owner: OWNER_TRIES wrong passwords at her name past the lock keep her out there until the window ends, not elsewhere', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    expect(status(await a.login('n', 'secret-1', PROXY))).toBe(200);
    now.t += 60_000;
    for (let i = 0; i < 5; i++) expect(status(await a.login(`ghost-${i}`, 'g', PROXY))).toBe(401);
    for (let i = 0; i < 3; i++) expect(status(await a.login('n', `g${i}`, PROXY))).toBe(401);
    // Said as it is (docs/security.md): refused at the proxy until the window that began with the first failure ends.
    expect(await a.login('n', 'secret-1', PROXY)).toMatchObject({ ok: false, status: 429, reason: 'address-locked', retryAfterS: 300 });
    expect(status(await a.login('n', 'secret-1', '10.9.5.5'))).toBe(200);
    now.t += 300_000;
    expect(status(await a.login('n', 'secret-1', PROXY))).toBe(200);
  });

  it('the refusals say what happened: two logins at once from one address is not told as failed logins', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const [first, second] = await Promise.all([a.login('n', 'secret-1', PROXY), a.login('root', 'admin-1', PROXY)]);
    expect(first.ok).toBe(true);
    expect(second).toMatchObject({ ok: false, status: 429, reason: 'address-busy', retryAfterS: 1 });
    if (second.ok) throw new Error('unreachable');
    expect(second.error).not.toMatch(/failed/i);
    expect(second.error).toMatch(/another login/i);
    expect(second.error).toMatch(/same moment|at once/i);
    expect(second.error).toMatch(/proxy|NAT/);
    // The address lock names the address, not the user, as the cause.
    for (let i = 0; i < 5; i++) await a.login('someone', `guess-${i}`, PROXY);
    const locked = await a.login('v', 'viewer-1', PROXY);
    if (locked.ok) throw new Error('not locked');
    expect(locked.error).toMatch(/from this address/);
  });
});
