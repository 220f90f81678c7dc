// Who is asking: configured users (scrypt password hashes) log in for a short-lived bearer session token;
// configured API tokens (SHA-256 hashes) are used as bearer tokens directly. No cookies anywhere, so a cross-site
// form or image cannot act with a clinician's authority (CSRF): actions need the Authorization header.
import type { DisplayConfig, Role } from '../config/load.js';
import { randomBytes } from 'node:crypto';
import { SCRYPT_DEFAULTS, hashToken, newToken, parsePasswordHash, sameHash, scryptBytes, verifyPassword, type ParsedHash } from './passwords.js';

export interface Identity {
  user: string;
  role: Role;
  kind: 'session' | 'token';
}

const RANK: Record<Role, number> = { viewer: 1, clinician: 2, admin: 3 };

export function hasRole(identity: Identity | null, needed: Role): boolean {
  return identity !== null && RANK[identity.role] >= RANK[needed];
}

/**
 * Sessions held at once, in all and per user (tabs, screens): one account cannot fill the table for everyone. Password
 * checks at once: their memory in all (scrypt takes 128 * N * r bytes: 16 MB at the defaults, 128 MB at N = 2^17), so that a
 * flood of logins cannot take the gateway's memory. (A config field would be display.login.maxCheckMemoryMB.)
 */
export const SESSION_BOUNDS = { maxSessions: 1000, maxSessionsPerUser: 10, maxCheckBytes: 256 * 1024 * 1024 } as const; // per user: display.login.maxSessionsPerUser
const MAX_TRACKED = 10000;
/** Checks at once however cheap their hashes (scrypt runs on libuv's threads, 4 by default). */
const MAX_CONCURRENT_CHECKS = 4;

/**
 * Compared against when the user does not exist, so that unknown and known users take the same time: the costliest
 * parameters of the configured users (each of N, r, p), the defaults when there are none.
 */
export function dummyHash(users: readonly ParsedHash[]): ParsedHash {
  const most = (k: 'N' | 'r' | 'p') => (users.length ? Math.max(...users.map((u) => u[k])) : SCRYPT_DEFAULTS[k]);
  return { N: most('N'), r: most('r'), p: most('p'), salt: randomBytes(16), key: randomBytes(32) };
}

/** Why a login was refused, for the log and the counters (the answer itself says less). */
export type LoginRefusal = 'wrong-password' | 'address-locked' | 'user-locked' | 'busy' | 'sessions-full';

export type LoginResult =
  | { ok: true; token: string; user: string; role: Role; expiresAt: number }
  | { ok: false; status: 401 | 429 | 503; reason: LoginRefusal; error: string; retryAfterS?: number };

/** Failed password checks within a window that starts at the first one. */
interface Failures {
  count: number;
  since: number;
}
/** An address's failures also by the name tried, so that a user's success forgives only that user's own typos. */
interface AddressFailures extends Failures {
  byUser: Map<string, number>;
}

interface Session {
  user: string;
  role: Role;
  expiresAt: number;
}

export class Authenticator {
  private readonly users = new Map<string, { role: Role; hash: ParsedHash }>();
  /** By token hash; insertion order is age, oldest first. */
  private readonly sessions = new Map<string, Session>();
  private readonly byAddress = new Map<string, AddressFailures>();
  private readonly byUser = new Map<string, Failures>();
  private checking = 0;
  private checkingBytes = 0;
  private readonly dummy: ParsedHash;

  constructor(
    // The session bound per user comes in `bounds` (display.login.maxSessionsPerUser).
    private readonly config: Pick<DisplayConfig, 'users' | 'tokens' | 'sessionTtlS'> & { login: Omit<DisplayConfig['login'], 'maxSessionsPerUser'> },
    private readonly now: () => number = Date.now,
    private readonly bounds: { maxSessions: number; maxSessionsPerUser: number; maxCheckBytes?: number } = SESSION_BOUNDS,
  ) {
    for (const u of config.users) {
      const hash = parsePasswordHash(u.passwordHash);
      if (!hash) throw new Error(`display.users: the password hash of ${u.name} is not a usable scrypt hash`);
      if (this.users.has(u.name)) throw new Error(`display.users: ${u.name} is listed twice`);
      this.users.set(u.name, { role: u.role, hash });
    }
    this.dummy = dummyHash([...this.users.values()].map((u) => u.hash));
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async login(user: string, password: string, from: string): Promise<LoginResult> {
    const now = this.now();
    const { maxFailures, maxFailuresPerUser } = this.config.login;
    const address = this.live(this.byAddress, from, now);
    if (address && address.count >= maxFailures) return this.locked('address-locked', address, now);
    // Per user too, so that guesses spread over many addresses stop: past the cap, the name is refused to every address
    // that has failed at it in the window. Not to one that has not (the nurse at her own station, with the right
    // password): anyone who saw the name could otherwise lock it out. Each new address gets one check at it.
    const named = this.live(this.byUser, user, now);
    if (named && named.count >= maxFailuresPerUser && (address?.byUser.get(user) ?? 0) > 0) return this.locked('user-locked', named, now);
    const entry = this.users.get(user);
    const hash = entry?.hash ?? this.dummy;
    const bytes = scryptBytes(hash);
    // One check always runs, however large its hash.
    const busy = this.checking >= MAX_CONCURRENT_CHECKS || (this.checking > 0 && this.checkingBytes + bytes > (this.bounds.maxCheckBytes ?? SESSION_BOUNDS.maxCheckBytes));
    if (busy) return { ok: false, status: 503, reason: 'busy', error: 'busy; try again', retryAfterS: 1 };
    // Counted as failed from the start: guesses sent in parallel cannot run more checks than the limit allows.
    const a = this.open(this.byAddress, from, now, () => ({ count: 0, since: now, byUser: new Map<string, number>() }));
    a.count++;
    a.byUser.set(user, (a.byUser.get(user) ?? 0) + 1);
    const u = this.open(this.byUser, user, now, () => ({ count: 0, since: now }));
    u.count++;
    this.checking++;
    this.checkingBytes += bytes;
    let good: boolean;
    try {
      good = await verifyPassword(password, hash);
    } finally {
      this.checking--;
      this.checkingBytes -= bytes;
    }
    if (!entry || !good) return { ok: false, status: 401, reason: 'wrong-password', error: 'wrong user name or password' };
    // The right password forgives this user's own failures from this address (a typo, then success), never those of
    // other names tried from it (a viewer's own login must not reset the count of guesses at a clinician's password),
    // nor those at this name from other addresses (the guessers stay refused after the nurse has logged in).
    const own = a.byUser.get(user) ?? 0;
    a.count -= own;
    a.byUser.delete(user);
    if (this.byUser.get(user) === u) {
      u.count -= own;
      if (u.count <= 0) this.byUser.delete(user);
    }
    const token = newToken();
    const expiresAt = now + this.config.sessionTtlS * 1000;
    if (!this.addSession(hashToken(token), { user, role: entry.role, expiresAt }, now)) {
      return { ok: false, status: 503, reason: 'sessions-full', error: `the gateway holds the most sessions it can (${this.bounds.maxSessions}); log out unused screens or try again later`, retryAfterS: 60 };
    }
    return { ok: true, token, user, role: entry.role, expiresAt };
  }

  /** Ends the session of this Authorization header; true when there was one. */
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
    if (this.sessionLive(h)) {
      const s = this.sessions.get(h)!;
      return { user: s.user, role: s.role, kind: 'session' };
    }
    for (const t of this.config.tokens) if (sameHash(h, t.tokenHash)) return { user: t.name, role: t.role, kind: 'token' };
    return 'invalid';
  }

  /** The key of the live session behind an Authorization header (null for none, or an API token): see sessionLive. */
  sessionKey(authorization: string | undefined): string | null {
    const token = bearer(authorization);
    if (token === null) return null;
    const h = hashToken(token);
    return this.sessionLive(h) ? h : null;
  }

  /** Whether the session of this key is still on (not logged out, evicted or expired). */
  sessionLive(key: string): boolean {
    const s = this.sessions.get(key);
    if (!s) return false;
    if (s.expiresAt > this.now()) return true;
    this.sessions.delete(key);
    return false;
  }

  private locked(reason: 'address-locked' | 'user-locked', f: Failures, now: number): LoginResult {
    const retryAfterS = Math.ceil((f.since + this.config.login.windowS * 1000 - now) / 1000);
    return { ok: false, status: 429, reason, error: 'too many failed logins; try later', retryAfterS };
  }

  /** The entry of `key` while its window runs. */
  private live<T extends Failures>(map: Map<string, T>, key: string, now: number): T | undefined {
    const f = map.get(key);
    return f && now - f.since < this.config.login.windowS * 1000 ? f : undefined;
  }

  /** The entry of `key`, a new window if there is none running; the table stays bounded. */
  private open<T extends Failures>(map: Map<string, T>, key: string, now: number, fresh: () => T): T {
    const running = this.live(map, key, now);
    if (running) return running;
    map.delete(key);
    const f = fresh();
    map.set(key, f);
    if (map.size > MAX_TRACKED) {
      for (const [k, v] of map) if (now - v.since >= this.config.login.windowS * 1000) map.delete(k);
      // Still full (a spread-out attack): forget the oldest, in insertion order.
      for (const k of map.keys()) {
        if (map.size <= MAX_TRACKED) break;
        map.delete(k);
      }
    }
    return f;
  }

  /**
   * Past the user's own cap, their oldest session ends; a full table ends the user's oldest too, never another user's.
   * False when the table is full and the user has none to give up.
   */
  private addSession(key: string, session: Session, now: number): boolean {
    for (const [k, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(k);
    const own = [...this.sessions].filter(([, s]) => s.user === session.user).map(([k]) => k);
    if (own.length > 0 && (own.length >= this.bounds.maxSessionsPerUser || this.sessions.size >= this.bounds.maxSessions)) this.sessions.delete(own[0]!);
    if (this.sessions.size >= this.bounds.maxSessions) return false;
    this.sessions.set(key, session);
    return true;
  }
}

function bearer(header: string | undefined): string | null {
  const m = /^Bearer ([A-Za-z0-9._~+/=-]{16,256})$/.exec(header ?? '');
  return m ? m[1]! : null;
}
