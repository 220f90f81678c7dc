// Shared set-up for the Authenticator tests of logins behind one address (auth-device, auth-shared-address): users
// with fast scrypt hashes, an injected clock, and the proxy every client comes through.
// Not a *.test.ts file, so vitest does not collect it; tsconfig.build.json leaves test-support.ts out of dist.
import { Authenticator } from './auth.js';
import { hashPassword } from './passwords.js';

type AuthConfig = ConstructorParameters<typeof Authenticator>[0];

/** scrypt cost small enough for tests (the product's default, SCRYPT_DEFAULTS, is slow on purpose). */
export const fast = { N: 1024, r: 8, p: 1 };
/** The one address every client behind the reverse proxy or NAT has. */
export const PROXY = '10.9.0.1';

/**
 * An Authenticator on the clock `now` with users n (clinician, password secret-1) and root (admin, admin-1), then
 * `more` users and `tokens` in that order (the user list is kept as given: the dummy hash for unknown names is picked
 * from it).
 */
export async function authenticator(
  now: { t: number },
  login: AuthConfig['login'],
  more: AuthConfig['users'] = [],
  tokens: AuthConfig['tokens'] = [],
): Promise<Authenticator> {
  return new Authenticator(
    {
      users: [
        { name: 'n', role: 'clinician', passwordHash: await hashPassword('secret-1', fast) },
        { name: 'root', role: 'admin', passwordHash: await hashPassword('admin-1', fast) },
        ...more,
      ],
      tokens,
      sessionTtlS: 60,
      login,
    },
    () => now.t,
  );
}

/** A login's HTTP status: 200 when it succeeded. */
export const status = (r: Awaited<ReturnType<Authenticator['login']>>): number => (r.ok ? 200 : r.status);
