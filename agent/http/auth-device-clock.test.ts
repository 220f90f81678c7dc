// Device tokens across a step of the gateway's wall clock (review rv155 F2): the key that signs them lives only as long
// as the process, so they are timed on the monotonic clock as sessions and lock windows are. A step back (NTP fixing a
// fast RTC) made her token "from the future", a step forward of over 30 days made it expired: either way the nurse
// behind a shared proxy under a guessing attack was locked out of the browser she had logged in from.
import { describe, expect, it } from 'vitest';
import { Authenticator, DEVICE_TOKEN_TTL_MS } from './auth.js';
import { hashPassword } from './passwords.js';
import { fast, PROXY, status } from './test-support.js';

const DAY = 24 * 3_600_000;

/** `wall` plays Date.now (a step moves it with no time passing), `mono` performance.now (fractional, as it is). */
async function make(clock = { wall: 1_700_000_000_000, mono: 5_000.25 }) {
  const a = new Authenticator(
    { users: [{ name: 'n', role: 'clinician', passwordHash: await hashPassword('secret-1', fast) }], tokens: [], sessionTtlS: 60, login: { maxFailures: 5, maxFailuresPerUser: 3, windowS: 300 } },
    () => clock.wall,
    undefined,
    () => clock.mono,
  );
  return { a, clock };
}

async function token(a: Authenticator): Promise<string> {
  const r = await a.login('n', 'secret-1', PROXY);
  if (!r.ok) throw new Error(`login refused: ${r.status} ${r.error}`);
  return r.deviceToken;
}

/** A guesser behind the proxy: 3 wrong passwords at n's name, 10 at other names (the address and the name are locked). */
async function guess(a: Authenticator): Promise<void> {
  for (let i = 0; i < 3; i++) expect(status(await a.login('n', `guess-${i}`, PROXY))).toBe(401);
  for (let i = 0; i < 10; i++) await a.login(`ghost-${i}`, 'g', PROXY);
  expect(await a.login('n', 'secret-1', PROXY)).toMatchObject({ ok: false, status: 429 });
}

describe('device tokens on the monotonic clock (review rv155 F2)', () => {
  it('a step back of the wall clock by 60 s keeps her token good: she logs in behind the locked proxy', async () => {
    const { a, clock } = await make();
    const mine = await token(a);
    expect(mine).toMatch(/^[0-9a-z]{1,12}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/); // same format and size as before
    clock.wall += 10_000 - 60_000;
    clock.mono += 10_000;
    await guess(a);
    expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: true, user: 'n' });
  });

  it('a step forward of the wall clock by 31 days with 10 s passed does not expire it', async () => {
    const { a, clock } = await make();
    const mine = await token(a);
    clock.wall += 31 * DAY;
    clock.mono += 10_000;
    await guess(a);
    expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: true, user: 'n' });
  });

  it('30 days of monotonic time expire it, whatever the wall clock says', async () => {
    const { a, clock } = await make();
    const mine = await token(a);
    // Just under: still good (the wall clock stepped back meanwhile, so by it hardly any time has passed).
    clock.mono += DEVICE_TOKEN_TTL_MS - 1000;
    clock.wall -= 3_600_000;
    await guess(a);
    const again = await a.login('n', 'secret-1', PROXY, mine);
    expect(again).toMatchObject({ ok: true });
    // The first token past its 30 days (on the monotonic clock; the wall clock has not moved): no token.
    clock.mono += 31 * DAY - DEVICE_TOKEN_TTL_MS + 1000;
    await guess(a);
    expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    // The one answered at the second login is 1 day old: good.
    expect(again.ok && (await a.login('n', 'secret-1', PROXY, again.deviceToken))).toMatchObject({ ok: true });
  });

  it('a token from before a restart is refused (a new key), whatever the clocks say', async () => {
    const clock = { wall: 1_700_000_000_000, mono: 5_000.25 };
    const before = (await make(clock)).a;
    const mine = await token(before);
    clock.wall += 10_000;
    clock.mono += 10_000;
    // The restarted process on the same clocks (its monotonic time past the token's), and one whose clock starts again.
    for (const mono of [clock.mono, 100]) {
      const { a } = await make({ wall: clock.wall, mono });
      await guess(a);
      expect(await a.login('n', 'secret-1', PROXY, mine)).toMatchObject({ ok: false, status: 429, reason: 'address-locked' });
    }
  });
});
