import { describe, expect, it } from 'vitest';
import { Authenticator, hasRole } from './auth.js';
import { hashPassword, hashToken, parsePasswordHash, verifyPassword } from './passwords.js';

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
});

describe('Authenticator', () => {
  async function make(now: { t: number }) {
    return new Authenticator(
      {
        users: [{ name: 'n', role: 'clinician', passwordHash: await hashPassword('secret-1', fast) }],
        tokens: [{ name: 'prom', role: 'viewer', tokenHash: hashToken('prometheus-token-0123456789') }],
        sessionTtlS: 60,
        login: { maxFailures: 2, windowS: 30 },
      },
      () => now.t,
    );
  }

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
});
