// Who is asking: configured users (scrypt password hashes) log in for a short-lived bearer session token;
// configured API tokens (SHA-256 hashes) are used as bearer tokens directly. No cookies anywhere, so a cross-site
// form or image cannot act with a clinician's authority (CSRF): actions need the Authorization header.
import type { DisplayConfig, Role } from '../config/load.js';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SCRYPT_DEFAULTS, hashToken, newToken, parsePasswordHash, sameHash, scryptBytes, verifyPassword, type ParsedHash } from './passwords.js';
import { addressKey } from './connections.js';
import { monotonicBeside } from '../model/measured.js';

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
/** When every slot is taken: logins from addresses without failures that may wait for one, and for how long. */
const MAX_WAITING = 4;
const WAIT_MS = 2000;
/** Addresses remembered per user (logged in from), and the failures at the name that such an address may have past the cap. */
const KNOWN_PER_USER = 16;
const OWNER_TRIES = 3;
/**
 * Device tokens (OWASP "device cookies", review rv135 M1): a successful login answers one for that user and browser,
 * signed with a key made at start (so, like the known addresses, none made before a restart counts). A login that
 * presents a valid one for the name it gives is judged only by that token's failures: OWNER_TRIES in the window lock
 * the token, and its holder falls back to the normal rules. The same bound as an owner at her address, because a token
 * can be read by whoever uses that browser (a shared ward station).
 */
export const DEVICE_TOKEN_TTL_MS = 30 * 24 * 3600 * 1000;
/**
 * A browser keeps one id (review rv139 M1): a login presenting a valid token of its user is answered with a new token of
 * the same id, so the failures of every copy of its tokens count in one bucket. Per user the ids of the last
 * DEVICES_PER_USER browsers are remembered (in memory, as the known addresses); any other counts as none. So whoever
 * copies her tokens gets OWNER_TRIES checks per window per browser she has logged in from, for at most this many.
 */
const DEVICES_PER_USER = 16;
const DEVICE_TOKEN = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/**
 * Compared against when the user does not exist, so that unknown and known users take the same time: the parameters
 * (N, r, p) of one configured user, picked by a keyed hash of the name (so a name always gets the same ones and
 * unknown names fall into the same timing groups as real ones; never a combination no user has), the defaults when
 * there are no users. `key` is random per process: which group a name falls in cannot be computed from outside.
 */
export function dummyHash(users: readonly ParsedHash[], name: string, key: Buffer): ParsedHash {
  const pick = users.length ? users[createHmac('sha256', key).update(name).digest().readUInt32BE(0) % users.length]! : SCRYPT_DEFAULTS;
  return { N: pick.N, r: pick.r, p: pick.p, salt: randomBytes(16), key: randomBytes(32) };
}

/** Why a login was refused, for the log and the counters (the answer itself says less). */
export type LoginRefusal = 'wrong-password' | 'address-locked' | 'user-locked' | 'address-busy' | 'device-busy' | 'busy' | 'sessions-full';

export type LoginResult =
  // ttlS: the session's time to live from this answer; the page times its login on its own clock from it, since its
  // wall clock may not be the gateway's (review rv151 F2). expiresAt is on the gateway's wall clock, for display.
  | { ok: true; token: string; user: string; role: Role; expiresAt: number; ttlS: number; deviceToken: string }
  | { ok: false; status: 401 | 429 | 503; reason: LoginRefusal; error: string; retryAfterS?: number };

/** Failed password checks within a window that starts at the first one (monotonic, as a session's end). */
interface Failures {
  count: number;
  since: number;
}
/** An address's failures also by the name tried: the owner exemption is bounded per name (ownerAt). */
interface AddressFailures extends Failures {
  byUser: Map<string, number>;
}

interface Session {
  user: string;
  role: Role;
  /** Wall clock: what the login answers (for display). */
  expiresAt: number;
  /** Monotonic: when it ends. A step of the wall clock must neither keep it nor end it early (review rv151 F3). */
  endsAt: number;
}

export class Authenticator {
  private readonly users = new Map<string, { role: Role; hash: ParsedHash }>();
  /** By token hash; insertion order is age, oldest first. */
  private readonly sessions = new Map<string, Session>();
  private readonly byAddress = new Map<string, AddressFailures>();
  private readonly byUser = new Map<string, Failures>();
  /** Failures with each valid device token, by its random id (only tokens this process signed get an entry). */
  private readonly byDevice = new Map<string, Failures>();
  /** Device token ids each user was last answered with, the most recent last (DEVICES_PER_USER). */
  private readonly deviceIds = new Map<string, string[]>();
  /** Addresses each user has logged in from, the most recent last (see admit). */
  private readonly known = new Map<string, string[]>();
  /** Addresses with a login being checked or waiting for a slot (one at a time each). */
  private readonly inFlight = new Set<string>();
  /** Logins waiting for a check slot, oldest first. */
  private readonly waiting: { bytes: number; give: () => void }[] = [];
  private checking = 0;
  private checkingBytes = 0;
  private readonly hashes: ParsedHash[];
  private readonly dummyKey = randomBytes(32);
  private readonly deviceKey = randomBytes(32);

  constructor(
    // The session bound per user comes in `bounds` (display.login.maxSessionsPerUser).
    private readonly config: Pick<DisplayConfig, 'users' | 'tokens' | 'sessionTtlS'> & { login: Omit<DisplayConfig['login'], 'maxSessionsPerUser'> },
    private readonly now: () => number = Date.now,
    // maxTracked: entries per failure table (MAX_TRACKED); smaller only in tests, to fill one.
    private readonly bounds: { maxSessions: number; maxSessionsPerUser: number; maxCheckBytes?: number; maxTracked?: number } = SESSION_BOUNDS,
    /**
     * Times sessions, the failure windows and the device tokens: a clock no step of the wall clock (`now`) moves; `now`
     * stays for the expiresAt answered. The default when `now` is given without it is `now` itself (tests; monotonicBeside).
     */
    private readonly mono: () => number = monotonicBeside(now),
  ) {
    for (const u of config.users) {
      const hash = parsePasswordHash(u.passwordHash);
      if (!hash) throw new Error(`display.users: the password hash of ${u.name} is not a usable scrypt hash`);
      if (this.users.has(u.name)) throw new Error(`display.users: ${u.name} is listed twice`);
      this.users.set(u.name, { role: u.role, hash });
    }
    this.hashes = [...this.users.values()].map((u) => u.hash);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async login(user: string, password: string, remote: string, deviceToken?: string): Promise<LoginResult> {
    // The limits count an IPv6 /64 as one address, as the connection caps do: one host may use any address in its /64,
    // so keyed by the full address it got a fresh budget per address (review rv135 H1). Like a proxy, the /64 is then
    // one shared address, owner exemption included.
    const from = addressKey(remote);
    // A valid device token of this user not locked by its own failures: judged by those alone, one check at a time
    // per token, and one token login at a time per user name (review rv139 H1: else one account's own tokens took
    // every slot and waiting place, and clinicians elsewhere got "busy"). Per name, not per address (review rv140 M2):
    // per address, a colleague behind the same proxy looping logins with his own token kept hers out for good; only
    // holders of her tokens can hold her name's slot, and a copy's wrong passwords lock it. Anything else: no token.
    // The id is kept even when locked (check).
    const now = this.mono();
    const id = this.deviceId(user, deviceToken, now);
    const device = id !== null && (this.live(this.byDevice, id, now)?.count ?? 0) < OWNER_TRIES ? id : null;
    if (device !== null) {
      const key = `device ${device}`; // never an address key (those have no space)
      const at = `device-user ${user}`;
      if (this.inFlight.has(key)) return { ok: false, status: 429, reason: 'device-busy', error: 'another login from this browser is being checked at the same moment; try again in a second', retryAfterS: 1 };
      if (this.inFlight.has(at)) return { ok: false, status: 429, reason: 'device-busy', error: 'another login of this user is being checked at the same moment; try again in a second', retryAfterS: 1 };
      this.inFlight.add(key);
      this.inFlight.add(at);
      try {
        return await this.check(user, password, from, device, id);
      } finally {
        this.inFlight.delete(key);
        this.inFlight.delete(at);
      }
    }
    // One check in flight per address: sending in parallel from one address cannot take more than one check slot.
    // Said as it is: behind a proxy or NAT this is a colleague pressing Log in at the same moment, not a failure.
    if (this.inFlight.has(from)) return { ok: false, status: 429, reason: 'address-busy', error: 'another login from this address is being checked at the same moment (clients behind one proxy or NAT share an address); try again in a second', retryAfterS: 1 };
    const address = this.live(this.byAddress, from, this.mono());
    if (address && address.count >= this.config.login.maxFailures && !this.ownerAt(user, from, address)) return this.locked('address-locked', address, this.mono());
    this.inFlight.add(from);
    try {
      return await this.check(user, password, from, null, id);
    } finally {
      this.inFlight.delete(from);
    }
  }

  /**
   * `device`: the id of a valid, unlocked device token of this user (login), judged instead of the address and name.
   * `keep`: the id of a valid token of this user, locked or not, which a success answers again (one id per browser).
   */
  private async check(user: string, password: string, from: string, device: string | null = null, keep: string | null = null): Promise<LoginResult> {
    const entry = this.users.get(user);
    const hash = entry?.hash ?? dummyHash(this.hashes, user, this.dummyKey);
    const bytes = scryptBytes(hash);
    if (!this.take(bytes)) {
      // Every slot taken: an address without failures in the window (a clinician, not a guesser) waits briefly in a
      // short queue, so that a flood from other addresses cannot keep her out; the others are told "busy" at once.
      // With a device token, its own failures say which it is (behind a proxy the address's may be anyone's).
      const clean = (device !== null ? this.live(this.byDevice, device, this.mono())?.count ?? 0 : this.live(this.byAddress, from, this.mono())?.count ?? 0) === 0;
      if (!clean || this.waiting.length >= MAX_WAITING || !(await this.wait(bytes))) return { ok: false, status: 503, reason: 'busy', error: 'busy; try again', retryAfterS: 1 };
    }
    // A slot is held from here. The limits are judged now, not before the wait: guesses may have landed meanwhile.
    const now = this.mono();
    let a: AddressFailures | undefined;
    let u: Failures | undefined;
    let d: Failures | undefined;
    let good: boolean;
    try {
      // One check at a time per token (login), and login judged it unlocked: no failure can have landed since.
      // Counted as failed from the start: guesses sent in parallel cannot run more checks than the limit allows.
      // With a device token only there: its failures are no one else's, and the others' do not touch it. No room for
      // its entry (openDevice): judged as without a token, admit included.
      if (device !== null) d = this.openDevice(device, now);
      if (d) {
        d.count++;
      } else {
        const refused = this.admit(user, from, now);
        if (refused) return refused;
        a = this.open(this.byAddress, from, now, () => ({ count: 0, since: now, byUser: new Map<string, number>() }));
        a.count++;
        a.byUser.set(user, (a.byUser.get(user) ?? 0) + 1);
        u = this.open(this.byUser, user, now, () => ({ count: 0, since: now }));
        u.count++;
      }
      good = await verifyPassword(password, hash);
    } finally {
      this.release(bytes);
    }
    if (!entry || !good) return { ok: false, status: 401, reason: 'wrong-password', error: 'wrong user name or password' };
    // Only this check, counted as failed from its start, is taken back. A success forgives no earlier failure: behind a
    // shared address they may be a guesser's at her name, and forgiving them gave him a new budget at every login of
    // hers (review rv135 M2); a copy of her device token is no fresh budget either. A window holding no failure is
    // dropped, so that one starts at the first failure.
    if (a) this.uncount(this.byAddress, from, a, user);
    if (u) this.uncount(this.byUser, user, u);
    if (d && device !== null) this.uncount(this.byDevice, device, d);
    this.remember(user, from);
    const token = newToken();
    const wall = this.now();
    const expiresAt = wall + this.config.sessionTtlS * 1000;
    if (!this.addSession(hashToken(token), { user, role: entry.role, expiresAt, endsAt: now + this.config.sessionTtlS * 1000 }, now)) {
      return { ok: false, status: 503, reason: 'sessions-full', error: `the gateway holds the most sessions it can (${this.bounds.maxSessions}); log out unused screens or try again later`, retryAfterS: 60 };
    }
    return { ok: true, token, user, role: entry.role, expiresAt, ttlS: this.config.sessionTtlS, deviceToken: this.deviceToken(user, this.mono(), keep) };
  }

  /**
   * A device token for this user: `issued.id.mac` (base36 ms, 16 random bytes, HMAC-SHA256 of user, issued, id); of id
   * `keep` while it is still remembered for the user (the same browser), else of a new one. Either way the id becomes
   * the user's most recent; past DEVICES_PER_USER the oldest is forgotten, its failures with it (its tokens count as none).
   * `issued` is whole ms of the monotonic clock (`now`): the key lives only as long as the process, so no token outlives
   * it, and a step of the wall clock neither voids a token nor stretches its 30 days (review rv155 F2).
   */
  private deviceToken(user: string, now: number, keep: string | null): string {
    const ids = this.deviceIds.get(user) ?? [];
    const id = keep !== null && ids.includes(keep) ? keep : randomBytes(16).toString('base64url');
    const list = ids.filter((x) => x !== id);
    list.push(id);
    while (list.length > DEVICES_PER_USER) this.byDevice.delete(list.shift()!);
    this.deviceIds.set(user, list);
    const issued = Math.floor(now).toString(36); // performance.now() has a fraction; '.' separates the fields
    return `${issued}.${id}.${this.deviceMac(user, issued, id).toString('base64url')}`;
  }

  private deviceMac(user: string, issued: string, id: string): Buffer {
    // JSON keeps the fields apart whatever a user name holds.
    return createHmac('sha256', this.deviceKey).update(JSON.stringify([user, issued, id])).digest();
  }

  /**
   * The id of `token` when this process signed it for `user` less than DEVICE_TOKEN_TTL_MS ago (`now` monotonic, as
   * `issued`) and the id is one of the user's remembered ones (deviceToken); else null, as for no token. Whether its
   * failures lock it is the caller's. Nothing is recorded here: a flood of forged tokens takes no memory.
   */
  private deviceId(user: string, token: string | undefined, now: number): string | null {
    const m = token === undefined ? null : DEVICE_TOKEN.exec(token);
    if (!m) return null;
    const issued = m[1]!;
    const id = m[2]!;
    const at = parseInt(issued, 36);
    if (!(at <= now && now - at < DEVICE_TOKEN_TTL_MS)) return null;
    // One spelling per MAC: the 43rd base64url character carries 2 unused bits, so four spellings decode to the same
    // bytes; only the one this process wrote counts (a CI run saw an "altered" token accepted so).
    const sent = Buffer.from(m[3]!, 'base64url');
    if (!timingSafeEqual(sent, this.deviceMac(user, issued, id)) || sent.toString('base64url') !== m[3]) return null;
    return this.deviceIds.get(user)?.includes(id) === true ? id : null;
  }

  /**
   * Whether this address may have a check at this name now (null) or why not. Per address: `maxFailures` in the window,
   * past which only the owners of the address (ownerAt) keep their own check: behind a proxy or NAT every client shares
   * one address, and guesses at other names from it must not keep the ward's clinicians out.
   * Per name, once `maxFailuresPerUser` checks have failed at it in the window (from anywhere):
   * - an address that has logged in as this user before (the last KNOWN_PER_USER such addresses since the start) still
   *   gets its check while it has failed at the name fewer than OWNER_TRIES times in the window: the nurse at her own
   *   station, who mistyped once while guessers hold her name, logs in with the right password;
   * - any other address gets one check at the name per window, its first (a new station of hers; a guesser gets one
   *   guess per address he holds). A budget shared by those addresses bounded guessing better, but one attacker polling
   *   it kept the nurse out for as long as the attack ran (review rv45 §1): being able to answer alarms comes first.
   */
  private admit(user: string, from: string, now: number): LoginResult | null {
    const { maxFailures, maxFailuresPerUser, windowS } = this.config.login;
    const address = this.live(this.byAddress, from, now);
    const owner = this.ownerAt(user, from, address);
    if (address && address.count >= maxFailures && !owner) return this.locked('address-locked', address, now);
    const named = this.live(this.byUser, user, now);
    if (!named || named.count < maxFailuresPerUser) return null;
    const tried = address?.byUser.get(user) ?? 0;
    if (this.known.get(user)?.includes(from) ? owner : tried === 0) return null;
    return { ok: false, status: 429, reason: 'user-locked', error: 'too many failed logins; try later', retryAfterS: Math.max(1, Math.ceil((named.since + windowS * 1000 - now) / 1000)) };
  }

  /**
   * Whether `from` is one this user has logged in from (remember) and has failed at this name from fewer than OWNER_TRIES
   * times in the window: such an owner keeps their check past the address's cap and past the name's. The bounds stay:
   * a guesser there gets OWNER_TRIES checks per name that has logged in from it (failures before the cap count too),
   * none at any other name, and her logins forgive none of them (check). The cost, which no password check can avoid
   * (one that ran past the bound would be a guess): his OWNER_TRIES wrong passwords at her name there keep her out
   * there, as the address, until its window ends (review rv135 M1); not at other addresses, nor her sessions, nor in a
   * browser that holds her device token (login).
   */
  private ownerAt(user: string, from: string, address: AddressFailures | undefined): boolean {
    return this.known.get(user)?.includes(from) === true && (address?.byUser.get(user) ?? 0) < OWNER_TRIES;
  }

  /** Takes back one failure counted in `f` (still the entry of `key`), and at `name` for an address. */
  private uncount<T extends Failures & { byUser?: Map<string, number> }>(map: Map<string, T>, key: string, f: T, name?: string): void {
    if (map.get(key) !== f) return; // its window ended meanwhile: a new one holds none of this check
    f.count--;
    if (f.byUser && name !== undefined) {
      const n = (f.byUser.get(name) ?? 1) - 1;
      if (n > 0) f.byUser.set(name, n);
      else f.byUser.delete(name);
    }
    if (f.count <= 0) map.delete(key);
  }

  /** An address this user logged in from: kept (the most recent KNOWN_PER_USER per user) to let its owner past the name's cap. */
  private remember(user: string, from: string): void {
    const list = (this.known.get(user) ?? []).filter((x) => x !== from);
    list.push(from);
    if (list.length > KNOWN_PER_USER) list.shift();
    this.known.set(user, list);
  }

  /** Takes a check slot if one is free (a count and a memory bound; one check always runs, however large its hash). */
  private take(bytes: number): boolean {
    const max = this.bounds.maxCheckBytes ?? SESSION_BOUNDS.maxCheckBytes;
    if (this.checking >= MAX_CONCURRENT_CHECKS || (this.checking > 0 && this.checkingBytes + bytes > max)) return false;
    this.checking++;
    this.checkingBytes += bytes;
    return true;
  }

  /** Waits up to WAIT_MS for a slot; true when release() handed one over (already taken for the waiter). */
  private wait(bytes: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter = { bytes, give: () => {} };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        resolve(false);
      }, WAIT_MS);
      waiter.give = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiting.push(waiter);
    });
  }

  /** Frees a slot and hands free slots to the waiters, first come first served. */
  private release(bytes: number): void {
    this.checking--;
    this.checkingBytes -= bytes;
    while (this.waiting.length > 0 && this.take(this.waiting[0]!.bytes)) this.waiting.shift()!.give();
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
    if (s.endsAt > this.mono()) return true;
    this.sessions.delete(key);
    return false;
  }

  private locked(reason: 'address-locked' | 'user-locked', f: Failures, now: number): LoginResult {
    const retryAfterS = Math.ceil((f.since + this.config.login.windowS * 1000 - now) / 1000);
    // The address lock names the address: behind a proxy or NAT it is others' failures, not this user's.
    return { ok: false, status: 429, reason, error: reason === 'address-locked' ? 'too many failed logins from this address; try later' : 'too many failed logins; try later', retryAfterS };
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
    this.bound(map, now);
    return f;
  }

  /**
   * Keeps a failure table within its bound (maxTracked): windows that ended go first; still full (a spread-out attack),
   * the oldest in insertion order that `kept` does not hold on to, the newest entry too if nothing else may go.
   */
  private bound<T extends Failures>(map: Map<string, T>, now: number, kept: (f: T) => boolean = () => false): void {
    const max = this.bounds.maxTracked ?? MAX_TRACKED;
    if (map.size <= max) return;
    for (const [k, v] of map) if (now - v.since >= this.config.login.windowS * 1000) map.delete(k);
    for (const [k, v] of map) {
      if (map.size <= max) break;
      if (!kept(v)) map.delete(k);
    }
  }

  /**
   * As open, for byDevice, but an entry still locked in its window (OWNER_TRIES failures) is never forgotten: that gave
   * whoever holds the token OWNER_TRIES more checks (review rv139 L1). With the table full of such, undefined: that
   * login gets no entry and is judged as without a token (the address's and the name's rules), never unbounded.
   */
  private openDevice(id: string, now: number): Failures | undefined {
    const running = this.live(this.byDevice, id, now);
    if (running) return running;
    this.byDevice.delete(id);
    const f = { count: 0, since: now };
    this.byDevice.set(id, f);
    // Only a window that ended or one not locked goes; the new entry itself when every other is locked.
    this.bound(this.byDevice, now, (v) => v.count >= OWNER_TRIES);
    return this.byDevice.has(id) ? f : undefined;
  }

  /**
   * Past the user's own cap, their oldest session ends; a full table ends the user's oldest too, never another user's.
   * False when the table is full and the user has none to give up.
   */
  private addSession(key: string, session: Session, now: number): boolean {
    for (const [k, s] of this.sessions) if (s.endsAt <= now) this.sessions.delete(k);
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
