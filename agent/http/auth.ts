// Who is asking: configured users (scrypt password hashes) log in for a short-lived bearer session token;
// configured API tokens (SHA-256 hashes) are used as bearer tokens directly. No cookies anywhere, so a cross-site
// form or image cannot act with a clinician's authority (CSRF): actions need the Authorization header.
import type { DisplayConfig, Role } from '../config/load.js';
import { hashToken, newToken, parsePasswordHash, sameHash, verifyPassword, type ParsedHash } from './passwords.js';

export interface Identity {
  user: string;
  role: Role;
  kind: 'session' | 'token';
}

const RANK: Record<Role, number> = { viewer: 1, clinician: 2, admin: 3 };

export function hasRole(identity: Identity | null, needed: Role): boolean {
  return identity !== null && RANK[identity.role] >= RANK[needed];
}

const MAX_SESSIONS = 1000;
const MAX_TRACKED_ADDRESSES = 10000;
/** scrypt takes ~16 MB and tens of ms per check; a flood of logins must not multiply that. */
const MAX_CONCURRENT_CHECKS = 4;
/** Compared against when the user does not exist, so that unknown and known users take the same time. */
const DUMMY = parsePasswordHash('scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');

export type LoginResult =
  | { ok: true; token: string; user: string; role: Role; expiresAt: number }
  | { ok: false; status: 401 | 429 | 503; error: string; retryAfterS?: number };

export class Authenticator {
  private readonly users = new Map<string, { role: Role; hash: ParsedHash }>();
  private readonly sessions = new Map<string, { user: string; role: Role; expiresAt: number }>();
  private readonly failures = new Map<string, { count: number; since: number }>();
  private checking = 0;

  constructor(
    private readonly config: Pick<DisplayConfig, 'users' | 'tokens' | 'sessionTtlS' | 'login'>,
    private readonly now: () => number = Date.now,
  ) {
    for (const u of config.users) {
      const hash = parsePasswordHash(u.passwordHash);
      if (!hash) throw new Error(`display.users: the password hash of ${u.name} is not a usable scrypt hash`);
      if (this.users.has(u.name)) throw new Error(`display.users: ${u.name} is listed twice`);
      this.users.set(u.name, { role: u.role, hash });
    }
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async login(user: string, password: string, from: string): Promise<LoginResult> {
    const now = this.now();
    const f = this.failures.get(from);
    if (f && now - f.since < this.config.login.windowS * 1000 && f.count >= this.config.login.maxFailures) {
      return { ok: false, status: 429, error: 'too many failed logins; try later', retryAfterS: Math.ceil((f.since + this.config.login.windowS * 1000 - now) / 1000) };
    }
    if (this.checking >= MAX_CONCURRENT_CHECKS) return { ok: false, status: 503, error: 'busy; try again', retryAfterS: 1 };
    const entry = this.users.get(user);
    this.checking++;
    let good: boolean;
    try {
      good = await verifyPassword(password, entry?.hash ?? DUMMY!);
    } finally {
      this.checking--;
    }
    if (!entry || !good) {
      this.fail(from, now);
      return { ok: false, status: 401, error: 'wrong user name or password' };
    }
    this.failures.delete(from);
    const token = newToken();
    const expiresAt = now + this.config.sessionTtlS * 1000;
    this.pruneSessions(now);
    this.sessions.set(hashToken(token), { user, role: entry.role, expiresAt });
    return { ok: true, token, user, role: entry.role, expiresAt };
  }

  logout(authorization: string | undefined): boolean {
    const token = bearer(authorization);
    return token !== null && this.sessions.delete(hashToken(token));
  }

  /**
   * The identity behind an Authorization header: null when there is none, 'invalid' when one was given but is not
   * (or no longer) valid.
   */
  identify(authorization: string | undefined): Identity | null | 'invalid' {
    if (authorization === undefined) return null;
    const token = bearer(authorization);
    if (token === null) return 'invalid';
    const h = hashToken(token);
    const s = this.sessions.get(h);
    if (s) {
      if (s.expiresAt > this.now()) return { user: s.user, role: s.role, kind: 'session' };
      this.sessions.delete(h);
      return 'invalid';
    }
    for (const t of this.config.tokens) if (sameHash(h, t.tokenHash)) return { user: t.name, role: t.role, kind: 'token' };
    return 'invalid';
  }

  private fail(from: string, now: number): void {
    const windowMs = this.config.login.windowS * 1000;
    const f = this.failures.get(from);
    if (f && now - f.since < windowMs) f.count++;
    else {
      this.failures.delete(from);
      this.failures.set(from, { count: 1, since: now });
    }
    if (this.failures.size > MAX_TRACKED_ADDRESSES) {
      for (const [k, v] of this.failures) if (now - v.since >= windowMs) this.failures.delete(k);
      // Still full (a spread-out attack): forget the oldest, in insertion order.
      for (const k of this.failures.keys()) {
        if (this.failures.size <= MAX_TRACKED_ADDRESSES) break;
        this.failures.delete(k);
      }
    }
  }

  private pruneSessions(now: number): void {
    for (const [k, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(k);
    for (const k of this.sessions.keys()) {
      if (this.sessions.size < MAX_SESSIONS) break;
      this.sessions.delete(k);
    }
  }
}

function bearer(header: string | undefined): string | null {
  const m = /^Bearer ([A-Za-z0-9._~+/=-]{16,256})$/.exec(header ?? '');
  return m ? m[1]! : null;
}
