// Device tokens over real HTTP (review rv135 M1): every client of the test comes from 127.0.0.1, one address as behind
// a ward's proxy or NAT. A guesser there must not keep a nurse out of the browser she has logged in from.
import { afterEach, describe, expect, it } from 'vitest';
import { PASSWORDS, call, startDisplayAgent, type DisplayAgent } from '../../test/browser/display-fixtures.js';

const LIMITS = { login: { maxFailures: 5, maxFailuresPerUser: 3, windowS: 300 } };
const agents: DisplayAgent[] = [];
afterEach(async () => {
  for (const d of agents.splice(0)) await d.close();
});
async function start(): Promise<DisplayAgent> {
  const d = await startDisplayAgent(LIMITS);
  agents.push(d);
  return d;
}
const logIn = (d: DisplayAgent, user: string, password: string, deviceToken?: string) =>
  call(d.url, 'POST', '/api/login', { body: { user, password, ...(deviceToken !== undefined && { deviceToken }) } });

/** The guesser: 3 wrong passwords at the nurse's name, 10 at others; the address and her name are then locked. */
async function guess(d: DisplayAgent): Promise<void> {
  for (let i = 0; i < 3; i++) expect((await logIn(d, 'nurse.jones', `guess-${i}`)).status).toBe(401);
  for (let i = 0; i < 10; i++) await logIn(d, `ghost-${i}`, 'g');
  expect((await logIn(d, 'nurse.jones', PASSWORDS.clinician)).status).toBe(429);
  expect((await logIn(d, 'vera', PASSWORDS.viewer)).status).toBe(429); // never logged in here: no owner
}

describe('POST /api/login with a device token', () => {
  it('answers a device token with each login; with hers the nurse logs in at once behind the guesser\'s address; others stay locked', async () => {
    const d = await start();
    const first = await logIn(d, 'nurse.jones', PASSWORDS.clinician);
    expect(first.status).toBe(200);
    const mine = first.json().deviceToken as string;
    expect(typeof mine).toBe('string');
    const roots = (await logIn(d, 'root', PASSWORDS.admin)).json().deviceToken as string;
    await guess(d);
    const again = await logIn(d, 'nurse.jones', PASSWORDS.clinician, mine);
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ user: 'nurse.jones', role: 'clinician' });
    expect(again.json().deviceToken).not.toBe(mine);
    // A forged or another user's token, garbage, or none: refused as without a token.
    const forged = mine.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    for (const t of [roots, forged, 'garbage', undefined]) expect((await logIn(d, 'nurse.jones', PASSWORDS.clinician, t)).status).toBe(429);
    // Her own wrong passwords with it: 3, then the token is locked and the normal rules (locked here) apply.
    const token = again.json().deviceToken as string;
    for (let i = 0; i < 3; i++) expect((await logIn(d, 'nurse.jones', `typo-${i}`, token)).status).toBe(401);
    const locked = await logIn(d, 'nurse.jones', PASSWORDS.clinician, token);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    // A device token is not a secret for the log.
    const logged = JSON.stringify(d.captured.lines);
    for (const t of [mine, roots, token]) expect(logged).not.toContain(t);
  });

  it('a token from before an agent restart (a new key) is treated as none', async () => {
    const before = await start();
    const mine = (await logIn(before, 'nurse.jones', PASSWORDS.clinician)).json().deviceToken as string;
    await before.close();
    agents.splice(agents.indexOf(before), 1);
    const after = await start();
    const fresh = (await logIn(after, 'nurse.jones', PASSWORDS.clinician)).json().deviceToken as string;
    await guess(after);
    expect((await logIn(after, 'nurse.jones', PASSWORDS.clinician, mine)).status).toBe(429);
    expect((await logIn(after, 'nurse.jones', PASSWORDS.clinician, fresh)).status).toBe(200);
  });

  it('refuses a deviceToken that is not a string (400), as for the other fields', async () => {
    const d = await start();
    expect((await call(d.url, 'POST', '/api/login', { body: { user: 'nurse.jones', password: PASSWORDS.clinician, deviceToken: 42 } })).status).toBe(400);
    expect((await logIn(d, 'nurse.jones', PASSWORDS.clinician, 'x'.repeat(300))).status).toBe(400);
  });
});
