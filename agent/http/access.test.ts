// The display's access rules over real sockets on port 0 (review rv20): a dead token on routes that need no identity,
// login rate limits that a success does not reset, bounded sessions, streams that end with their session, live
// streams per address, and the Host names the display answers to (DNS rebinding).
import { request, type IncomingHttpHeaders } from 'node:http';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { AlarmService } from '../alarms/service.js';
import { validateConfig } from '../config/load.js';
import { Metrics } from '../metrics.js';
import type { DriverEvent } from '../model/reading.js';
import { registry } from '../../drivers/registry.js';
import { waitFor } from '../../drivers/serial/testing.js';
import { captureLog } from '../../test/support/log.js';
import { hashPassword } from './passwords.js';
import {
  PASSWORDS, TOKENS, call, login, openStream, startDisplayAgent, tachycardia, testUsers, type DisplayAgent,
} from '../../test/browser/display-fixtures.js';
import { DisplayServer, HostNames, type DisplayDeps } from './server.js';

interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** A request over node:http, where fetch cannot: any Host header, another local (client) address. */
function raw(base: string, method: string, path: string, opts: { host?: string; localAddress?: string; body?: unknown; token?: string } = {}): Promise<RawReply> {
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = {};
  if (opts.host !== undefined) headers.Host = opts.host;
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
  return new Promise((resolve, reject) => {
    const req = request(base + path, { method, headers, agent: false, ...(opts.localAddress && { localAddress: opts.localAddress }) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const deadToken = async (d: DisplayAgent, user: string, password: string): Promise<string> => {
  const token = await login(d.url, user, password);
  expect((await call(d.url, 'POST', '/api/logout', { token })).status).toBe(200);
  return token;
};

describe('a dead token (expired, logged out, the agent restarted), viewing open', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ screens: [{ name: 'ward-a', graceS: 30 }] })));
  afterAll(() => d.close());

  it('counts as no token where no identity is needed: the ward, its stream, a screen\'s ping, health, login', async () => {
    const token = await deadToken(d, 'nurse.jones', PASSWORDS.clinician);
    expect((await call(d.url, 'GET', '/api/ward', { token })).status).toBe(200);
    expect((await call(d.url, 'GET', '/healthz', { token })).status).toBe(200);
    expect((await call(d.url, 'POST', '/api/screens/ward-a/alive', { token })).status).toBe(204);
    const s = await openStream(d.url, '/api/stream', token);
    try {
      expect(s.status).toBe(200);
      // The page learns from this that its login is gone.
      expect((await s.waitFor((e) => e.event === 'hello')).data).toMatchObject({ user: null, role: null });
    } finally {
      s.close();
    }
    // A dead token in the header does not stop a new login.
    expect((await call(d.url, 'POST', '/api/login', { token, body: { user: 'nurse.jones', password: PASSWORDS.clinician } })).status).toBe(200);
  });

  it('is still refused (401) where an identity is needed', async () => {
    const token = await deadToken(d, 'nurse.jones', PASSWORDS.clinician);
    expect((await call(d.url, 'GET', '/api/me', { token })).status).toBe(401);
    const ack = await call(d.url, 'POST', '/api/alarms/x/ack', { token });
    expect(ack.status).toBe(401);
    expect(ack.json()).toEqual({ error: 'invalid or expired token' });
    expect((await call(d.url, 'POST', '/api/logout', { token })).status).toBe(401);
  });
});

describe('a dead token, viewing authenticated', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ viewing: 'authenticated', screens: [{ name: 'ward-a', graceS: 30 }] })));
  afterAll(() => d.close());

  it('is refused (401) on viewing routes; health and login stay open', async () => {
    const token = await deadToken(d, 'vera', PASSWORDS.viewer);
    for (const [method, path] of [['GET', '/api/ward'], ['GET', '/api/stream'], ['POST', '/api/screens/ward-a/alive'], ['GET', '/metrics']] as const) {
      expect((await call(d.url, method, path, { token })).status, path).toBe(401);
    }
    expect((await call(d.url, 'GET', '/healthz', { token })).status).toBe(200);
    expect((await call(d.url, 'POST', '/api/login', { token, body: { user: 'vera', password: PASSWORDS.viewer } })).status).toBe(200);
  });

  it('/healthz tells a caller who is not a viewer the status and counts only: no device, bed or alarm text', async () => {
    d.agent.alarms.gatewayCondition(d.agent.gatewayId, 'test-healthz', true, 'No data from mon-SN-4711-ICU7 for 5 s', 'medium');
    try {
      for (const token of [undefined, await deadToken(d, 'vera', PASSWORDS.viewer)]) {
        const h = await call(d.url, 'GET', '/healthz', { ...(token && { token }) });
        expect(h.status).toBe(200);
        expect(h.text).not.toMatch(/mon-SN-4711|ICU7|No data|test-gw|ward-a/);
        expect(h.json()).toEqual({
          status: 'degraded',
          uptimeS: expect.any(Number),
          drivers: expect.any(Object),
          forwarder: { state: 'off', why: expect.any(String) },
          technicalAlarmCount: 1,
          latchedTechnicalAlarmCount: 0,
          display: { sseClients: expect.any(Number), screens: 1, screensConnected: 0 },
          detail: 'log in as a viewer (or send a viewer token) for the details',
        });
        for (const driver of Object.values(h.json().drivers as Record<string, unknown>)) expect(Object.keys(driver as object)).toEqual(['state']);
      }
      // A viewer gets the details.
      const full = (await call(d.url, 'GET', '/healthz', { token: TOKENS.viewer })).json();
      expect(full.technicalAlarms).toContainEqual(expect.objectContaining({ text: 'No data from mon-SN-4711-ICU7 for 5 s' }));
      expect(full).toMatchObject({ gatewayId: 'test-gw', display: { screens: [{ name: 'ward-a', connected: false }] } });
    } finally {
      d.agent.alarms.gatewayCondition(d.agent.gatewayId, 'test-healthz', false, 'ended', 'medium');
    }
  });
});

describe('who acted, on the live streams (viewing open)', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent()));
  afterAll(() => d.close());

  it('an anonymous stream is told the actor\'s role, not the login name; a stream with a login or token gets the name', async () => {
    const anon = await openStream(d.url, '/api/stream', undefined, { localAddress: '127.0.0.66' });
    const viewer = await openStream(d.url, '/api/stream', TOKENS.viewer);
    try {
      await Promise.all([anon, viewer].map((s) => s.waitFor((e) => e.event === 'ward')));
      await d.agent.ingest.accept('test-source', tachycardia('bed-1'));
      const id = d.agent.alarms.engine.list({ bed: 'bed-1' }).find((a) => a.source === 'limit')!.id;
      const nurse = await login(d.url, 'nurse.jones', PASSWORDS.clinician);
      const ack = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token: nurse, body: { priority: 'medium' } });
      expect(ack.status).toBe(200);
      // The clinician's own answer names her.
      expect((ack.json().changes as { by: string }[])[0]!.by).toBe('nurse.jones');
      type Changes = { changes: { change: string; by: string }[] };
      const acked = (e: { event: string; data: unknown }) => e.event === 'alarm' && (e.data as Changes).changes.some((c) => c.change === 'acknowledged');
      const by = async (s: typeof anon) => (((await s.waitFor(acked)).data as Changes).changes.find((c) => c.change === 'acknowledged')!.by);
      expect(await by(anon)).toBe('clinician');
      expect(await by(viewer)).toBe('nurse.jones');
      expect(JSON.stringify(anon.events)).not.toContain('nurse.jones');
    } finally {
      anon.close();
      viewer.close();
    }
  });
});

describe('login rate limit over sockets', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ login: { maxFailures: 3, windowS: 300 } })));
  afterAll(() => d.close());

  it('a viewer logging in as themselves does not reset the guesses counted at a clinician\'s password', async () => {
    const from = { localAddress: '127.0.0.2' };
    const guess = (password: string) => raw(d.url, 'POST', '/api/login', { ...from, body: { user: 'nurse.jones', password } });
    expect((await guess('guess-1')).status).toBe(401);
    expect((await guess('guess-2')).status).toBe(401);
    expect((await raw(d.url, 'POST', '/api/login', { ...from, body: { user: 'vera', password: PASSWORDS.viewer } })).status).toBe(200);
    expect((await guess('guess-3')).status).toBe(401);
    const locked = await guess(PASSWORDS.clinician);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('checks one login at a time per address: parallel guesses from one address get one check, the rest 429 at once', async () => {
    // A user whose hash costs what a new one does (~0.2 s a check): the four guesses arrive while the first is checked.
    // With the test users' cheap hashes a check took ~2 ms, and on a loaded runner a later guess came after it (CI).
    const slow = { name: 'slow.user', role: 'viewer', passwordHash: await hashPassword('slow-pass-1') };
    const e = await startDisplayAgent({ users: [...((await testUsers()).users as unknown[]), slow] });
    try {
      const parallel = await Promise.all(Array.from({ length: 4 }, (_, i) => raw(e.url, 'POST', '/api/login', { localAddress: '127.0.0.3', body: { user: 'slow.user', password: `p-${i}` } })));
      expect(parallel.map((r) => r.status).sort()).toEqual([401, 429, 429, 429]);
      expect(parallel.filter((r) => r.status === 429).map((r) => r.headers['retry-after'])).toEqual(['1', '1', '1']);
      // Logged once a minute per address and reason, not per refusal (a client polling a lock wrote 20 lines a second).
      expect(e.captured.lines.filter((l) => l.msg === 'display login refused' && l.reason === 'address-busy')).toMatchObject([{ from: '127.0.0.3', logEveryMinutes: 1 }]);
    } finally {
      await e.close();
    }
  });

  it('past a name\'s cap, each guessing address gets one check and is refused after; the nurse gets in at her station past a typo, and at a new one however much the guessers poll', async () => {
    const e = await startDisplayAgent({ login: { maxFailures: 5, maxFailuresPerUser: 10, windowS: 300 } });
    try {
      const guess = (localAddress: string, password = 'x') => raw(e.url, 'POST', '/api/login', { localAddress, body: { user: 'nurse.jones', password } });
      // Her station: she logged in from it at the start of the shift.
      expect((await guess('127.0.0.1', PASSWORDS.clinician)).status).toBe(200);
      const statuses: number[] = [];
      for (const from of ['127.0.0.77', '127.0.0.78']) for (let i = 0; i < 5; i++) statuses.push((await guess(from)).status);
      expect(statuses).toEqual(Array(10).fill(401));
      // The name is past maxFailuresPerUser: each further guessing address gets its first check, then 429.
      const spread: number[] = [];
      for (let i = 1; i <= 5; i++) for (let k = 0; k < 3; k++) spread.push((await guess(`127.0.2.${i}`)).status);
      expect(spread).toEqual(Array(5).fill([401, 429, 429]).flat());
      // She mistypes once at her station, then types it right.
      expect((await guess('127.0.0.1', 'clinician-pass-l')).status).toBe(401);
      expect((await guess('127.0.0.1', PASSWORDS.clinician)).status).toBe(200);
      // At a station she has not logged in from, however much the guessers poll meanwhile (review rv45 §1).
      for (let i = 0; i < 20; i++) await guess('127.0.2.1');
      expect((await guess('127.0.0.80', PASSWORDS.clinician)).status).toBe(200);
      expect(new Set(e.captured.lines.filter((l) => l.msg === 'display login refused' && l.status === 429).map((l) => l.reason))).toEqual(new Set(['user-locked']));
    } finally {
      await e.close();
    }
  });
});

describe('password hashes at start', () => {
  it('warns once per user whose stored hash costs less than OWASP asks (N·r·p below 2^19), and starts', async () => {
    const strong = { name: 'strong', role: 'viewer', passwordHash: await hashPassword('strong-pass-1', { N: 65536, r: 8, p: 1 }) };
    const d = await startDisplayAgent({ users: [...((await testUsers()).users as unknown[]), strong] });
    try {
      const warned = d.captured.lines.filter((l) => l.level === 40 && /password hash of this user is cheap to guess/.test(String(l.msg)));
      expect(warned.map((l) => [l.user, (l.scrypt as { N: number }).N])).toEqual([['vera', 1024], ['nurse.jones', 1024], ['root', 1024]]);
      expect((await call(d.url, 'POST', '/api/login', { body: { user: 'vera', password: PASSWORDS.viewer } })).status).toBe(200);
    } finally {
      await d.close();
    }
  });
});

describe('sessions over sockets', () => {
  it('display.login.maxSessionsPerUser sets how many sessions one user holds (ward screens sharing a login)', async () => {
    const d = await startDisplayAgent({ login: { maxSessionsPerUser: 12 } });
    try {
      const screens: string[] = [];
      for (let i = 0; i < 13; i++) screens.push(await login(d.url, 'vera', PASSWORDS.viewer));
      expect((await call(d.url, 'GET', '/api/me', { token: screens[0] })).status).toBe(401); // the 13th ended the oldest
      for (const t of screens.slice(1)) expect((await call(d.url, 'GET', '/api/me', { token: t })).status).toBe(200);
    } finally {
      await d.close();
    }
  });

  it('one user holds at most 10 (their own oldest ends); a full table refuses a new user (503, logged, counted) instead of ending someone else\'s', async () => {
    const fillers = await Promise.all(Array.from({ length: 98 }, async (_, i) => ({ name: `u${i}`, role: 'viewer', passwordHash: await hashPassword(`filler-pass-${i}`, { N: 1024, r: 8, p: 1 }) })));
    const late = { name: 'late', role: 'viewer', passwordHash: await hashPassword('late-pass-1', { N: 1024, r: 8, p: 1 }) };
    const base = (await testUsers()).users as unknown[];
    const d = await startDisplayAgent({ users: [...base, ...fillers, late] });
    try {
      const nurse = await login(d.url, 'nurse.jones', PASSWORDS.clinician);
      const vera: string[] = [];
      for (let i = 0; i < 11; i++) vera.push(await login(d.url, 'vera', PASSWORDS.viewer));
      expect((await call(d.url, 'GET', '/api/me', { token: vera[0] })).status).toBe(401); // vera's own oldest
      expect((await call(d.url, 'GET', '/api/me', { token: vera[1] })).status).toBe(200);
      for (let i = 0; i < 9; i++) await login(d.url, 'root', PASSWORDS.admin);
      for (let i = 0; i < fillers.length; i += 2) {
        await Promise.all([i, i + 1].map(async (k) => {
          // From two addresses: one login at a time is checked per address.
          for (let n = 0; n < 10; n++) expect((await raw(d.url, 'POST', '/api/login', { localAddress: `127.0.1.${(k % 2) + 1}`, body: { user: `u${k}`, password: `filler-pass-${k}` } })).status).toBe(200);
        }));
      }
      expect(d.agent.display!.auth.sessionCount).toBe(1000);
      const refused = await call(d.url, 'POST', '/api/login', { body: { user: 'late', password: 'late-pass-1' } });
      expect(refused.status).toBe(503);
      expect(refused.json().error).toMatch(/most sessions it can \(1000\)/);
      expect(d.agent.metrics.get('display_sessions_refused_total')).toBe(1);
      expect(d.captured.lines.some((l) => /session table is full/.test(String(l.msg)))).toBe(true);
      // Nobody else lost a session; a user with sessions of their own can still log in (their oldest ends).
      expect((await call(d.url, 'GET', '/api/me', { token: nurse })).status).toBe(200);
      expect((await call(d.url, 'POST', '/api/login', { body: { user: 'root', password: PASSWORDS.admin } })).status).toBe(200);
      expect((await call(d.url, 'GET', '/api/me', { token: nurse })).status).toBe(200);
    } finally {
      await d.close();
    }
  }, 60_000);
});

describe('live streams end with their session (viewing authenticated)', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ viewing: 'authenticated' })));
  afterAll(() => d.close());

  it('a logout closes the streams opened with that session, after telling them; others stay', async () => {
    const token = await login(d.url, 'vera', PASSWORDS.viewer);
    const other = await login(d.url, 'vera', PASSWORDS.viewer);
    const s = await openStream(d.url, '/api/stream', token);
    const keep = await openStream(d.url, '/api/stream', other);
    const api = await openStream(d.url, '/api/stream', TOKENS.viewer);
    try {
      await Promise.all([s, keep, api].map((x) => x.waitFor((e) => e.event === 'ward')));
      expect((await call(d.url, 'POST', '/api/logout', { token })).status).toBe(200);
      await s.waitFor((e) => e.event === 'session-ended');
      await s.closed;
      expect(d.agent.metrics.get('display_sse_dropped_total', { reason: 'session-ended' })).toBe(1);
      let open = true;
      void keep.closed.then(() => (open = false));
      void api.closed.then(() => (open = false));
      // Still delivered to the others after the logout.
      d.agent.alarms.gatewayCondition(d.agent.gatewayId, 'test-after-logout', true, 'after logout', 'low');
      await Promise.all([keep, api].map((x) => x.waitFor((e) => e.event === 'alarm')));
      expect(open).toBe(true);
    } finally {
      for (const x of [s, keep, api]) x.close();
    }
  });
});

describe('live streams end with their session: expiry, on an injected clock', () => {
  let t = Date.now();
  const metrics = new Metrics();
  const alarms = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, captureLog('silent').log, metrics, () => t);
  const deps: DisplayDeps = {
    gatewayId: 'test-gw',
    alarms,
    metrics,
    onCommitted: (_listener: (events: readonly DriverEvent[]) => void) => undefined,
    health: () => {
      throw new Error('not used');
    },
    screenCondition: () => undefined,
  };
  let server: DisplayServer;
  let url: string;
  beforeAll(async () => {
    const display = { enabled: true, port: 0, viewing: 'authenticated', sessionTtlS: 60, limits: { heartbeatS: 1 }, ...(await testUsers()) };
    server = new DisplayServer(validateConfig({ display }, registry, 'test').display, deps, captureLog('silent').log, () => t);
    await server.start();
    url = server.address().url;
  });
  afterAll(() => server.stop());

  it('closes a stream at the first heartbeat after its session expired; a stream with an API token stays', async () => {
    const token = await login(url, 'vera', PASSWORDS.viewer);
    const s = await openStream(url, '/api/stream', token);
    const api = await openStream(url, '/api/stream', TOKENS.viewer);
    try {
      await Promise.all([s, api].map((x) => x.waitFor((e) => e.event === 'ward')));
      let apiOpen = true;
      void api.closed.then(() => (apiOpen = false));
      t += 61_000;
      await s.waitFor((e) => e.event === 'session-ended', 5000);
      await s.closed;
      expect(apiOpen).toBe(true);
      expect((await call(url, 'GET', '/api/ward', { token })).status).toBe(401);
    } finally {
      s.close();
      api.close();
    }
  });
});

describe('live streams per client address', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ limits: { maxSseClients: 10, maxSseClientsPerAddress: 2 } })));
  afterAll(() => d.close());

  it('refuses a stream beyond maxSseClientsPerAddress from one address (503, counted, logged); other addresses are served; a closed one frees its slot', async () => {
    const page = '/api/stream?reports=1'; // as the page opens it (streams that do not report have a smaller cap)
    const a = await openStream(d.url, page, undefined, { localAddress: '127.0.0.2' });
    const b = await openStream(d.url, page, undefined, { localAddress: '127.0.0.2' });
    const c = await openStream(d.url, page, undefined, { localAddress: '127.0.0.2' });
    const other = await openStream(d.url, page, undefined, { localAddress: '127.0.0.3' });
    try {
      expect([a.status, b.status, c.status, other.status]).toEqual([200, 200, 503, 200]);
      await c.closed;
      expect(JSON.parse(c.text())).toEqual({ error: 'too many live clients from this address (display.limits.maxSseClientsPerAddress)' });
      expect(d.agent.metrics.get('display_sse_refused_total', { reason: 'per-address' })).toBe(1);
      expect(d.captured.lines.find((l) => l.reason === 'per-address')).toMatchObject({ from: '127.0.0.2', maxSseClientsPerAddress: 2 });
      a.close();
      let again = await openStream(d.url, page, undefined, { localAddress: '127.0.0.2' });
      // The server sees the close a moment later.
      for (let i = 0; i < 50 && again.status !== 200; i++) {
        again.close();
        await new Promise((r) => setTimeout(r, 50));
        again = await openStream(d.url, page, undefined, { localAddress: '127.0.0.2' });
      }
      expect(again.status).toBe(200);
      again.close();
    } finally {
      for (const x of [a, b, c, other]) x.close();
    }
  });
});

describe('live streams when every slot is taken (review rv132 M2: four addresses held all 32, the ward screen got 503)', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ screens: [{ name: 'ward3-station', graceS: 30 }] })));
  afterAll(() => d.close());

  it('an expected screen and a logged-in user still get a stream: each closes the oldest one that is neither (counted, logged)', async () => {
    const held = [];
    try {
      // Pages as the browser opens them (they report): 8 from each of 4 addresses, every slot (32).
      for (const a of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
        for (let i = 0; i < 8; i++) held.push(await openStream(d.url, '/api/stream?reports=1', undefined, { localAddress: a }));
      }
      expect(held.map((s) => s.status)).toEqual(held.map(() => 200));
      const anonymous = await openStream(d.url, '/api/stream?reports=1', undefined, { localAddress: '127.0.0.6' });
      expect(anonymous.status).toBe(503);
      anonymous.close();

      const screen = await openStream(d.url, '/api/stream?screen=ward3-station&reports=1', undefined, { localAddress: '127.0.0.10' });
      expect(screen.status).toBe(200);
      await screen.waitFor((e) => e.event === 'ward');
      await held[0]!.closed; // the oldest
      expect(d.agent.metrics.get('display_sse_dropped_total', { reason: 'evicted' })).toBe(1);
      expect(d.captured.lines.find((l) => /to make room/.test(String(l.msg)))).toMatchObject({ from: '127.0.0.2', for: 'screen ward3-station' });

      const token = await login(d.url, 'nurse.jones', PASSWORDS.clinician);
      const nurse = await openStream(d.url, '/api/stream?reports=1', token, { localAddress: '127.0.0.11' });
      expect(nurse.status).toBe(200);
      await held[1]!.closed;
      expect(d.agent.metrics.get('display_sse_dropped_total', { reason: 'evicted' })).toBe(2);
      // Neither is taken for another: a second screen name that is not listed gets 503.
      const unlisted = await openStream(d.url, '/api/stream?screen=not-listed&reports=1', undefined, { localAddress: '127.0.0.12' });
      expect(unlisted.status).toBe(503);
      unlisted.close();
      held.push(screen, nurse);
    } finally {
      for (const s of held) s.close();
    }
  });

  it('streams that do not say they report (scripts) hold at most a quarter of the slots: the ward screens are not refused for them', async () => {
    const held = [];
    // The server sees the last test's streams close a moment later.
    const open = async () => ((await call(d.url, 'GET', '/api/status')).json().display as { sseClients: number }).sseClients;
    for (let i = 0; i < 100 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    try {
      for (const a of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
        for (let i = 0; i < 8; i++) held.push(await openStream(d.url, '/api/stream', undefined, { localAddress: a }));
      }
      const statuses = held.map((s) => s.status);
      expect(statuses.filter((x) => x === 200)).toHaveLength(8);
      expect(statuses.filter((x) => x === 503)).toHaveLength(24);
      const refused = held.find((s) => s.status === 503)!;
      await refused.closed;
      expect(JSON.parse(refused.text())).toEqual({ error: expect.stringMatching(/do not report what they receive/) });
      expect(d.agent.metrics.get('display_sse_refused_total', { reason: 'not-reporting' })).toBe(24);
      const page = await openStream(d.url, '/api/stream?reports=1', undefined, { localAddress: '127.0.0.6' });
      expect(page.status).toBe(200);
      held.push(page);
    } finally {
      for (const s of held) s.close();
    }
  });
});

describe('Host names the display answers to (DNS rebinding)', () => {
  let d: DisplayAgent;
  let port: number;
  beforeAll(async () => {
    d = await startDisplayAgent({ allowedHosts: ['gw-ward3.hospital.example', '.icu.hospital.example'] });
    port = Number(new URL(d.url).port);
  });
  afterAll(() => d.close());

  it('refuses another name with 421 naming display.allowedHosts, logs it once per name, counts every refusal', async () => {
    const evil = `evil.example:${port}`;
    const ward = await raw(d.url, 'GET', '/api/ward', { host: evil });
    expect(ward.status).toBe(421);
    expect(ward.headers.connection).toBe('close');
    expect(JSON.parse(ward.text).error).toBe('this gateway does not answer to the name "evil.example": if it is reached by this name, add it to display.allowedHosts');
    expect((await raw(d.url, 'GET', '/', { host: evil })).status).toBe(421);
    expect((await raw(d.url, 'POST', '/api/login', { host: evil, body: { user: 'nurse.jones', password: PASSWORDS.clinician } })).status).toBe(421);
    expect(d.agent.metrics.get('display_host_refused_total')).toBe(3);
    const logged = d.captured.lines.filter((l) => /does not answer to/.test(String(l.msg)));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ host: 'evil.example', from: '127.0.0.1', method: 'GET', path: '/api/ward' });
  });

  it('serves IP addresses, localhost, the machine\'s own name and the listed names and domains', async () => {
    const ok = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `10.1.2.3:${port}`, hostname(), `gw-ward3.hospital.example:${port}`, 'GW-Ward3.Hospital.Example.', `bed-12.icu.hospital.example:${port}`, 'icu.hospital.example'];
    for (const host of ok) expect((await raw(d.url, 'GET', '/api/ward', { host })).status, host).toBe(200);
    const refused = [`${hostname()}.evil.example`, 'hospital.example', 'evilicu.hospital.example', 'gw-ward3.hospital.example.evil.example', '2130706433'];
    for (const host of refused) expect((await raw(d.url, 'GET', '/api/ward', { host })).status, host).toBe(421);
  });

  it('also accepts display.host when it is a name; the listed names are validated', () => {
    const names = new HostNames({ host: 'gw.ward.lan', allowedHosts: [] }, 'box-17');
    expect(names.accepts('gw.ward.lan:8443')).toBe(true);
    expect(names.accepts('box-17')).toBe(true);
    expect(names.accepts('box-17.ward.lan')).toBe(false);
    expect(names.accepts(undefined)).toBe(true); // HTTP/1.0 without Host: no browser
    expect(new HostNames({ host: '0.0.0.0', allowedHosts: [] }, 'box-17').list()).toEqual(['localhost', 'box-17']);
    expect(() => validateConfig({ display: { enabled: true, allowedHosts: ['http://gw.example', '*.example'] } }, registry, 'test')).toThrow(
      /display\.allowedHosts\/0[\s\S]*display\.allowedHosts\/1|display\.allowedHosts\[0\][\s\S]*display\.allowedHosts\[1\]/,
    );
  });
});
