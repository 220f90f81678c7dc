// Device tokens (OWASP "device cookies", review rv135 M1): behind one address a guesser's wrong passwords at a user's
// name must not keep her out of the browser she has logged in from, and a token must never mean unlimited guessing.
import { describe, expect, it } from 'vitest';
import { Authenticator, DEVICE_TOKEN_TTL_MS } from './auth.js';
import { hashPassword } from './passwords.js';
import { authenticator, fast, PROXY, status } from './test-support.js';

const make = (now: { t: number }, login = { maxFailures: 5, maxFailuresPerUser: 3, windowS: 300 }) => authenticator(now, login);
type Result = Awaited<ReturnType<Authenticator['login']>>;
const device = (r: Result): string => {
  if (!r.ok) throw new Error(`login refused: ${r.status} ${r.error}`);
  return r.deviceToken;
};

/** A guesser behind the proxy: 3 wrong passwords at n's name, 10 at other names (the address and the name are locked). */
async function guess(a: Authenticator): Promise<void> {
  for (let i = 0; i < 3; i++) expect(status(await a.login('n', `guess-n-${i}`, PROXY))).toBe(401);
  for (let i = 0; i < 10; i++) await a.login(`ghost-${i}`, 'g', PROXY);
  expect(await a.login('n', 'secret-1', PROXY)).toMatchObject({ ok: false, status: 429 });
  expect(await a.login('root', 'admin-1', PROXY)).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
}

describe('Authenticator device tokens (rv135 M1)', () => {
  it('a successful login carries an opaque device token for that user, new at each login, ', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const t1 = device(await a.login('n', 'secret-1', PROXY));
    const t2 = device(await a.login('n', 'secret-1', PROXY));
    expect(t1).toMatch(/^[A-Za-z0-9._-]{40,200}$/);
    expect(t2).not.toBe(t1);
  });

  it('behind one address, a guesser\'s 3 wrong passwords at her name and 10 at others do not keep her out of the browser holding her token', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const mine = device(await a.login('n', 'secret-1', PROXY));
    now.t += 10_000;
    await guess(a);
    expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: true, user: 'n' });
    // The token is no way around the locks for anyone else: the address and her name stay locked without it.
    expect(await a.login('n', 'secret-1', PROXY)).toMatchObject({ ok: false, status: 429 });
    expect(await a.login('root', 'admin-1', PROXY)).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
  });

  it('a forged, altered, expired or another user\'s token, or garbage, is treated as no token: refused as today', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const mine = device(await a.login('n', 'secret-1', PROXY));
    const roots = device(await a.login('root', 'admin-1', '10.9.8.8')); // elsewhere: root is no owner at the proxy
    const other = await make(now); // another key: as a token forged without the agent's key
    const forged = device(await other.login('n', 'secret-1', PROXY));
    const altered = mine.slice(0, -2) + (mine.endsWith('AA') ? 'BB' : 'AA');
    now.t += 10_000;
    await guess(a);
    for (const t of [roots, forged, altered, 'garbage', '', 'a.b.c', 'x'.repeat(5000)]) {
      expect(await a.login('n', 'secret-1', PROXY, t)).toMatchObject({ ok: false, status: 429 });
    }
    expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: true });
    // Expired: 30 days after it was made (the clock is injected; the address's window is over by then, so lock it again).
    const b = await make(now);
    const old = device(await b.login('n', 'secret-1', PROXY));
    now.t += DEVICE_TOKEN_TTL_MS - 1000;
    await guess(b);
    expect(await b.login('n', 'secret-1', PROXY, old)).toMatchObject({ ok: true });
    now.t += 301_000;
    await guess(b);
    expect(DEVICE_TOKEN_TTL_MS).toBe(30 * 24 * 3600 * 1000);
    expect(await b.login('n', 'secret-1', PROXY, old)).toMatchObject({ ok: false, status: 429 });
  });

  it('a token whose MAC is spelt otherwise (the last character differs only in base64url\'s unused bits) is no token', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const mine = device(await a.login('n', 'secret-1', PROXY));
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const mac = mine.split('.')[2]!;
    // 32 bytes are 256 bits in 43 characters (258 bits): the lowest bit of the last one is not part of the MAC.
    const respelt = mine.slice(0, -1) + ALPHABET[ALPHABET.indexOf(mine.at(-1)!) ^ 1]!;
    expect(Buffer.from(respelt.split('.')[2]!, 'base64url')).toEqual(Buffer.from(mac, 'base64url'));
    now.t += 10_000;
    await guess(a);
    expect(await a.login('n', 'secret-1', PROXY, respelt)).toMatchObject({ ok: false, status: 429 });
    expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: true });
  });

  it('the token holder\'s own wrong passwords lock the token after OWNER_TRIES (3) in the window; she then falls back to the normal rules', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const mine = device(await a.login('n', 'secret-1', PROXY));
    await guess(a);
    // With the token: 3 checks, each a plain "wrong password" (no more said than without a token).
    for (let i = 0; i < 3; i++) expect(await a.login('n', `typo-${i}`, PROXY, mine)).toMatchObject({ ok: false, status: 401, error: 'wrong user name or password' });
    // Locked: the address and her name are locked, so the normal rules refuse even the right password.
    expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: false, status: 429 });
    expect(await a.login('n', 'typo-4', PROXY, mine)).toMatchObject({ ok: false, status: 429 });
    // Until the window that began with the token's first failure ends.
    now.t += 300_000;
    expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: true });
    // A token's failures count nowhere else: with the address clean, they leave the address and the name as they were.
    const b = await make(now);
    const t = device(await b.login('n', 'secret-1', PROXY));
    for (let i = 0; i < 2; i++) expect(status(await b.login('n', `typo-${i}`, PROXY, t))).toBe(401);
    for (let i = 0; i < 4; i++) expect(status(await b.login(`ghost-${i}`, 'g', PROXY))).toBe(401);
    expect(status(await b.login('root', 'admin-1', PROXY))).toBe(200);
  });

  it('at most OWNER_TRIES checks per window with a token, however the holder interleaves right and wrong passwords', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    let t = device(await a.login('n', 'secret-1', PROXY));
    await guess(a);
    let checks = 0;
    let in_ = 0;
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 2; k++) if (status(await a.login('n', `g-${round}-${k}`, PROXY, t)) === 401) checks++;
      const ok = await a.login('n', 'secret-1', PROXY, t);
      // A thief holding a copy of the token gets no fresh budget from her successes with it.
      if (ok.ok) {
        in_++;
        // The same browser keeps its id (review rv139 M1): the answer counts in the same bucket as every copy.
        expect(ok.deviceToken.split('.')[1]).toBe(t.split('.')[1]);
      }
      now.t += 10_000;
    }
    expect(checks).toBeLessThanOrEqual(3);
    expect(in_).toBeGreaterThan(0);
    // After the window her token (the same id) counts anew.
    now.t += 300_000;
    t = device(await a.login('n', 'secret-1', PROXY, t));
    expect(status(await a.login('n', 'typo', PROXY, t))).toBe(401);
  });

  it('a token made before a restart (a new Authenticator: a new key) no longer counts', async () => {
    const now = { t: 1_000_000 };
    const before = await make(now);
    const mine = device(await before.login('n', 'secret-1', PROXY));
    const after = await make(now);
    const fresh = device(await after.login('n', 'secret-1', '10.9.7.7'));
    await guess(after);
    expect(await after.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: false, status: 429 });
    // While one made since is good (the token is refused for its key, not for where it was made).
    expect(await after.login('n', 'secret-1', PROXY, fresh)).toMatchObject({ ok: true });
  });

  it('a login with a token is checked one at a time per token, not per address: a colleague\'s login at the same moment does not refuse it', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const mine = device(await a.login('n', 'secret-1', PROXY));
    const [first, second] = await Promise.all([a.login('root', 'admin-1', PROXY), a.login('n', 'secret-1', PROXY, mine)]);
    expect(first.ok).toBe(true);
    expect(second.ok).toBe(true);
    const [x, y] = await Promise.all([a.login('n', 'secret-1', PROXY, mine), a.login('n', 'secret-1', PROXY, mine)]);
    expect([x.ok, y.ok].sort()).toEqual([false, true]);
    expect(x.ok ? y : x).toMatchObject({ status: 429, retryAfterS: 1 });
  });
});

describe('Authenticator device tokens: bounds (review rv139)', () => {
  const checking = (a: Authenticator): number => (a as unknown as { checking: number }).checking; // private: the checks running

  it('H1: token logins are one at a time per user name too: one account\'s 8 own tokens sent at once take one check, and a clinician elsewhere logs in', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const toks: string[] = [];
    for (let i = 0; i < 8; i++) toks.push(device(await a.login('root', 'admin-1', PROXY)));
    // Its own right password: no failure is ever counted, so no limit of failures can stop this.
    const flood = toks.map((t) => a.login('root', 'admin-1', PROXY, t));
    const nurse = a.login('n', 'secret-1', '10.9.0.2');
    // Slots are taken synchronously: one for the name's token logins, one for the nurse.
    expect(checking(a)).toBe(2);
    const rs = await Promise.all(flood);
    expect(rs.filter((r) => r.ok)).toHaveLength(1);
    for (const r of rs.filter((r) => !r.ok)) expect(r).toMatchObject({ status: 429, reason: 'device-busy', retryAfterS: 1 });
    expect(await nurse).toMatchObject({ ok: true, user: 'n' });
    // A colleague without a token is not refused by a token login at the address, and the per-token bound stays (the
    // same token at another address at once is refused).
    const mine = device(await a.login('n', 'secret-1', PROXY));
    const [x, y, z] = await Promise.all([
      a.login('n', 'secret-1', PROXY, mine),
      a.login('root', 'admin-1', PROXY),
      a.login('n', 'secret-1', '10.9.0.3', mine),
    ]);
    expect(x.ok).toBe(true);
    expect(y.ok).toBe(true);
    expect(z).toMatchObject({ ok: false, status: 429, reason: 'device-busy' });
  });

  it('rv140 M2: a colleague behind the same proxy looping logins with his own token does not keep her token logins out', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const his = device(await a.login('root', 'admin-1', PROXY));
    const hers = device(await a.login('n', 'secret-1', PROXY));
    // His login with his token is being checked when she presses Log in with hers, at the same address, each time.
    for (let i = 0; i < 5; i++) {
      const him = a.login('root', 'admin-1', PROXY, his);
      const her = await a.login('n', 'secret-1', PROXY, hers);
      expect(her).toMatchObject({ ok: true, user: 'n' });
      expect((await him).ok).toBe(true);
    }
  });

  it('M1: a browser keeps one id: copies of every token of her 6 logins there give a thief 3 checks in a window, not 3 per login', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const STATION = '10.0.0.5';
    const harvested: string[] = [];
    let mine: string | undefined;
    for (let i = 0; i < 6; i++) {
      mine = device(await a.login('n', 'secret-1', STATION, mine));
      harvested.push(mine); // read from the shared station's localStorage after each of her logins
      now.t += 1000;
    }
    const G = '192.0.2.66';
    for (let i = 0; i < 3; i++) expect(status(await a.login('n', `g-${i}`, G))).toBe(401);
    expect(await a.login('n', 'g-3', G)).toMatchObject({ ok: false, status: 429 });
    let checks = 0;
    for (const t of harvested) for (let i = 0; i < 4; i++) if (status(await a.login('n', `t-${checks}-${i}`, G, t)) === 401) checks++;
    expect(checks).toBe(3);
    // Her newest token is still hers after the window: the same id, counted anew.
    now.t += 300_000;
    expect(await a.login('n', 'secret-1', STATION, mine)).toMatchObject({ ok: true });
  });

  it('M1: the last 16 browsers (ids) per user are remembered: a 17th pushes out the oldest, whose token then counts as none', async () => {
    const now = { t: 1_000_000 };
    const a = await make(now);
    const toks: string[] = [];
    for (let i = 0; i < 17; i++) toks.push(device(await a.login('n', 'secret-1', PROXY)));
    now.t += 10_000;
    await guess(a);
    expect(await a.login('n', 'secret-1', PROXY, toks[0])).toMatchObject({ ok: false, status: 429 });
    expect(await a.login('n', 'secret-1', PROXY, toks[1])).toMatchObject({ ok: true });
    expect(await a.login('n', 'secret-1', PROXY, toks[16])).toMatchObject({ ok: true });
  });

  it('L1: a token locked in its window is never forgotten when the failure table is full; a new token then gets no bucket (judged as none)', async () => {
    const now = { t: 1_000_000 };
    const login = { maxFailures: 3, maxFailuresPerUser: 3, windowS: 3600 };
    const names = Array.from({ length: 5 }, (_, i) => `v${i}`);
    const a = new Authenticator(
      {
        users: [
          { name: 'n', role: 'clinician', passwordHash: await hashPassword('secret-1', fast) },
          ...(await Promise.all(names.map(async (name) => ({ name, role: 'viewer' as const, passwordHash: await hashPassword('viewer-1', fast) })))),
        ],
        tokens: [],
        sessionTtlS: 60,
        login,
      },
      () => now.t,
      { maxSessions: 100, maxSessionsPerUser: 10, maxTracked: 4 },
    );
    const stolen = device(await a.login('n', 'secret-1', '10.0.0.5'));
    const G = '192.0.2.1';
    // The thief's 3 wrong passwords with her token lock it; 3 without lock his address and her name.
    for (let i = 0; i < 3; i++) expect(await a.login('n', `g${i}`, G, stolen)).toMatchObject({ status: 401, reason: 'wrong-password' });
    for (let i = 0; i < 3; i++) expect(status(await a.login('n', `h${i}`, G))).toBe(401);
    // Accounts of his, each at its own address, lock their own tokens until the table (4) is full and past: each a
    // live, locked entry.
    const V = (i: number) => `10.1.0.${i}`;
    const last: string[] = [];
    for (const [k, name] of names.entries()) {
      const t = device(await a.login(name, 'viewer-1', V(k)));
      last.push(t);
      for (let i = 0; i < 3; i++) await a.login(name, `w${i}`, V(k), t);
    }
    // Her stolen token is still judged locked: the normal rules, which refuse at his address.
    expect(await a.login('n', 'h9', G, stolen)).toMatchObject({ ok: false, status: 429 });
    // The accounts past the bound got no bucket: their wrong passwords were counted as without a token (at V and
    // the name), so v4's owner exemption at its address is spent and its token gives no more checks there.
    expect(await a.login('v4', 'w9', V(4), last[4])).toMatchObject({ ok: false, status: 429 });
    expect((a as unknown as { byDevice: Map<string, unknown> }).byDevice.size).toBeLessThanOrEqual(4);
    // Until its window ends.
    now.t += 3600_000;
    expect(await a.login('n', 'secret-1', G, stolen)).toMatchObject({ ok: true });
  });
});
