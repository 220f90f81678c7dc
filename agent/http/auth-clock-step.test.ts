// Sessions and the login failure windows across a step of the gateway's wall clock (review rv151 F3): timed on the
// monotonic clock, so a step back does not keep a session (or a lock) past its time, nor a step forward end it early.
// The wall clock is only for the expiresAt the page is told.
import { describe, expect, it } from 'vitest';
import { Authenticator } from './auth.js';
import { hashPassword } from './passwords.js';
import { fast } from './test-support.js';

const HOUR = 3_600_000;

/** `wall` plays Date.now (a step moves it with no time passing), `mono` performance.now. sessionTtlS 60. */
async function make(login = { maxFailures: 2, maxFailuresPerUser: 100, windowS: 30 }) {
  const clock = { wall: 1_700_000_000_000, mono: 5_000 };
  const auth = new Authenticator(
    { users: [{ name: 'n', role: 'clinician', passwordHash: await hashPassword('secret-1', fast) }], tokens: [], sessionTtlS: 60, login },
    () => clock.wall,
    undefined,
    () => clock.mono,
  );
  /** Real time passes: both clocks move. */
  const pass = (ms: number) => {
    clock.wall += ms;
    clock.mono += ms;
  };
  return { auth, clock, pass };
}

async function logIn(auth: Authenticator): Promise<{ bearer: string; expiresAt: number }> {
  const r = await auth.login('n', 'secret-1', '10.0.0.9');
  if (!r.ok) throw new Error(`login refused: ${r.status} ${r.error}`);
  return { bearer: `Bearer ${r.token}`, expiresAt: r.expiresAt };
}

describe('Authenticator across a step of the wall clock (review rv151 F3)', () => {
  it('a step back of 1 h does not keep a 60 s session past 60 s', async () => {
    const { auth, clock, pass } = await make();
    const at = clock.wall;
    const s = await logIn(auth);
    expect(s.expiresAt).toBe(at + 60_000); // told to the page on the wall clock it was issued on
    clock.wall -= HOUR;
    pass(59_000);
    expect(auth.identify(s.bearer)).toEqual({ user: 'n', role: 'clinician', kind: 'session' });
    pass(1_000);
    expect(auth.identify(s.bearer)).toBe('invalid');
    expect(auth.sessionKey(s.bearer)).toBeNull();
    expect(auth.sessionCount).toBe(0);
  });

  it('a step forward of 1 h does not end a session early', async () => {
    const { auth, clock, pass } = await make();
    const s = await logIn(auth);
    clock.wall += HOUR;
    pass(30_000);
    expect(auth.identify(s.bearer)).toMatchObject({ user: 'n', kind: 'session' });
    const key = auth.sessionKey(s.bearer);
    expect(key).not.toBeNull();
    expect(auth.sessionLive(key!)).toBe(true);
    // Another login meanwhile does not sweep it away as expired.
    await logIn(auth);
    expect(auth.sessionCount).toBe(2);
    pass(30_000);
    expect(auth.sessionLive(key!)).toBe(false);
  });

  it('an address lock lasts its window however the wall clock steps', async () => {
    const { auth, clock, pass } = await make();
    const from = '10.0.0.2';
    expect((await auth.login('n', 'bad-1', from)).ok).toBe(false);
    expect((await auth.login('n', 'bad-2', from)).ok).toBe(false);
    expect(await auth.login('n', 'secret-1', from)).toMatchObject({ ok: false, status: 429, reason: 'address-locked', retryAfterS: 30 });
    clock.wall += HOUR; // forward: the lock does not end at once
    pass(10_000);
    expect(await auth.login('n', 'secret-1', from)).toMatchObject({ ok: false, status: 429, reason: 'address-locked', retryAfterS: 20 });
    clock.wall -= 2 * HOUR; // back: it does not last an hour more
    pass(20_000);
    expect((await auth.login('n', 'secret-1', from)).ok).toBe(true);
  });
});
