// The display's HTTP surface over real sockets on port 0: auth matrix, live alarm delivery, staleness, bounds, metrics.
import { connect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import type { AlarmStateChange } from '../alarms/types.js';
import { PACKAGE_ROOT } from '../paths.js';
import { EXAMPLE_PASSWORD, hashPassword } from './passwords.js';
import {
  PASSWORDS, TOKENS, call, ecg, login, openStream, reading, startDisplayAgent, tachycardia, type DisplayAgent,
} from '../../test/browser/display-fixtures.js';

/** Raises an HR alarm on a bed and returns its id. */
async function raiseHrAlarm(d: DisplayAgent, bed: string): Promise<string> {
  await d.agent.ingest.accept('test-source', tachycardia(bed));
  const alarm = d.agent.alarms.engine.list({ bed }).find((a) => a.source === 'limit');
  if (!alarm) throw new Error('no limit alarm raised');
  return alarm.id;
}

describe('display HTTP API, viewing open (the default)', () => {
  let d: DisplayAgent;
  const audited: AlarmStateChange[] = [];
  beforeAll(async () => {
    d = await startDisplayAgent();
    d.agent.alarms.subscribe((c) => audited.push(...c));
  });
  afterAll(() => d.close());

  it('lets anyone view, but refuses actions without a token (401), with a viewer (403), with a bad token (401)', async () => {
    const id = await raiseHrAlarm(d, 'bed-m1');
    expect((await call(d.url, 'GET', '/api/ward')).status).toBe(200);
    const anon = await call(d.url, 'POST', `/api/alarms/${id}/ack`);
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/^Bearer/);
    const viewer = await login(d.url, 'vera', PASSWORDS.viewer);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token: viewer })).status).toBe(403);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/audio-pause`, { token: viewer })).status).toBe(403);
    expect((await call(d.url, 'POST', `/api/beds/bed-m1/audio-pause`, { token: viewer })).status).toBe(403);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token: TOKENS.viewer })).status).toBe(403);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token: 'not-a-real-token-at-all-xxxxxxxx' })).status).toBe(401);
    expect(d.agent.alarms.engine.get(id)!.state).toBe('active');
  });

  it('lets a clinician acknowledge and audits who, with which role, from where', async () => {
    const id = await raiseHrAlarm(d, 'bed-m2');
    const token = await login(d.url, 'nurse.jones', PASSWORDS.clinician);
    const me = await call(d.url, 'GET', '/api/me', { token });
    expect(me.json()).toEqual({ user: 'nurse.jones', role: 'clinician' });
    // The page sends the priority it showed: an alarm that is worse than that is refused (409), and stays active.
    expect((await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'urgent' } })).status).toBe(400);
    const stale = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'low' } });
    expect(stale.status).toBe(409);
    expect(stale.json()).toEqual({ error: `alarm ${id} is now medium priority (it was shown as low): look at it again` });
    // A row shown as INFO (a device's information signal) sends 'none'.
    const info = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'none' } });
    expect(info.status).toBe(409);
    expect(info.json()).toEqual({ error: `alarm ${id} is now medium priority (it was shown as information): look at it again` });
    expect(d.agent.alarms.engine.get(id)!.state).toBe('active');
    const r = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'medium' } });
    expect(r.status).toBe(200);
    expect(d.agent.alarms.engine.get(id)!.state).toBe('acknowledged');
    const ack = audited.find((c) => c.alarmId === id && c.change === 'acknowledged')!;
    expect(ack.actor).toEqual({ user: 'nurse.jones', role: 'clinician', from: '127.0.0.1' });
    // A second acknowledgement is refused, and changes nothing. It says who acknowledged it and when, so that a screen
    // that pressed at the same moment as another tells "already acknowledged", not "NOT acknowledged" (review rv177 L1).
    const again = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token });
    expect(again.status).toBe(409);
    const ackedAt = d.agent.alarms.engine.get(id)!.acknowledgedAt!;
    expect(again.json()).toEqual({ error: 'alarm is already acknowledged', already: { state: 'acknowledged', acknowledgedAt: ackedAt, acknowledgedBy: 'nurse.jones' } });
    // Its audio is off already: a pause says so the same way.
    const pause = await call(d.url, 'POST', `/api/alarms/${id}/audio-pause`, { token });
    expect(pause.status).toBe(409);
    expect(pause.json()).toMatchObject({ already: { state: 'acknowledged', acknowledgedBy: 'nurse.jones' } });
    expect((await call(d.url, 'POST', '/api/alarms/no-such-alarm/ack', { token })).status).toBe(404);
  });

  it('a second acknowledgement of a latched alarm (resolved by the first) says so, with when (review rv177 L1)', async () => {
    const alarm = (phase: 'start' | 'end') => ({ kind: 'alarm' as const, deviceId: 'mon-l1', bed: 'bed-l1', source: 'test-source', alarmId: 'asys', condition: null,
      text: 'ASYSTOLE', priority: 'high' as const, category: 'physiological' as const, phase, deviceTime: null, receivedAt: Date.now() });
    await d.agent.ingest.accept('test-source', [alarm('start')]);
    await d.agent.ingest.accept('test-source', [alarm('end')]);
    const id = d.agent.alarms.engine.list({ bed: 'bed-l1' })[0]!.id;
    expect(d.agent.alarms.engine.get(id)!.state).toBe('latched');
    const token = await login(d.url, 'nurse.jones', PASSWORDS.clinician);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'high', conditionPresent: false } })).status).toBe(200);
    const again = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'high', conditionPresent: false } });
    expect(again.status).toBe(409);
    const ackedAt = d.agent.alarms.engine.get(id)!.acknowledgedAt!;
    expect(again.json()).toEqual({ error: `alarm ${id} is already resolved`, already: { state: 'resolved', acknowledgedAt: ackedAt, acknowledgedBy: null } });
  });

  it('lets an admin and a clinician API token pause audio; bad durations are refused', async () => {
    const id = await raiseHrAlarm(d, 'bed-m3');
    const admin = await login(d.url, 'root', PASSWORDS.admin);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/audio-pause`, { token: admin, body: { durationS: 100000 } })).status).toBe(400);
    const r = await call(d.url, 'POST', `/api/alarms/${id}/audio-pause`, { token: admin, body: { durationS: 60 } });
    expect(r.status).toBe(200);
    const a = d.agent.alarms.engine.get(id)!;
    expect(a.state).toBe('audio-paused');
    expect(a.audioPausedUntil! - Date.now()).toBeGreaterThan(50_000);
    const id2 = await raiseHrAlarm(d, 'bed-m4');
    // A bed's pause covers the alarms the page listed as shown.
    const pauseBed = (alarms: unknown) => call(d.url, 'POST', '/api/beds/bed-m4/audio-pause', { token: TOKENS.clinician, body: { alarms } });
    expect((await pauseBed('all')).status).toBe(400);
    expect((await pauseBed([{ id: id2, priority: 'urgent' }])).status).toBe(400);
    expect((await pauseBed([{ id: 'another', priority: 'medium' }])).status).toBe(409);
    expect((await pauseBed([{ id: id2, priority: 'low' }])).status).toBe(409); // it is medium now
    expect(d.agent.alarms.engine.get(id2)!.state).toBe('active');
    expect((await pauseBed([{ id: id2, priority: 'medium' }])).status).toBe(200);
    expect(d.agent.alarms.engine.get(id2)!.state).toBe('audio-paused');
    const pause = audited.find((c) => c.alarmId === id2 && c.change === 'audio-paused')!;
    expect(pause.actor).toEqual({ user: 'ward-app', role: 'clinician', from: '127.0.0.1' });
  });

  it('lets a clinician record NEWS2 consciousness and oxygen for a known bed; the score uses them', async () => {
    await raiseHrAlarm(d, 'bed-m5');
    const path = '/api/beds/bed-m5/observations';
    expect((await call(d.url, 'POST', path, { body: { oxygen: 'oxygen' } })).status).toBe(401);
    expect((await call(d.url, 'POST', path, { token: TOKENS.viewer, body: { oxygen: 'oxygen' } })).status).toBe(403);
    const token = TOKENS.clinician;
    expect((await call(d.url, 'POST', path, { token, body: { oxygen: 'O2' } })).status).toBe(400);
    expect((await call(d.url, 'POST', path, { token, body: { consciousness: 'confused' } })).status).toBe(400);
    expect((await call(d.url, 'POST', path, { token, body: {} })).status).toBe(400);
    expect((await call(d.url, 'POST', '/api/beds/no-such-bed/observations', { token, body: { oxygen: 'oxygen' } })).status).toBe(404);
    // Devices without a bed are not one patient.
    await d.agent.ingest.accept('test-source', [reading(MDC.RESP_RATE, 16, { bed: 'unassigned' })]);
    expect((await call(d.url, 'POST', '/api/beds/unassigned/observations', { token, body: { oxygen: 'oxygen' } })).status).toBe(409);
    const before = (await call(d.url, 'GET', '/api/beds/bed-m5')).json().news2 as { total: number };
    expect(before).toMatchObject({ oxygen: 'air', consciousness: 'A', assumed: ['oxygen', 'consciousness'] });
    const auditedBefore = audited.length;
    const r = await call(d.url, 'POST', path, { token, body: { oxygen: 'oxygen', consciousness: 'C' } });
    expect(r.status).toBe(200);
    // The NEWS2 alarm changes the observation caused are audited as the clinician's, not the system's.
    const caused = audited.slice(auditedBefore).filter((c) => c.alarm.source === 'news2' && c.alarm.bed === 'bed-m5');
    expect(caused.length).toBeGreaterThan(0);
    expect(caused.map((c) => c.actor)).toEqual(caused.map(() => ({ user: 'ward-app', role: 'clinician', from: '127.0.0.1' })));
    // On oxygen scores 2, new confusion 3: both recorded now, so neither is assumed.
    expect(r.json().news2).toMatchObject({ oxygen: 'oxygen', consciousness: 'C', assumed: [], total: before.total + 5 });
    const score = d.agent.alarms.engine.news2('bed-m5', Date.now())!;
    expect(score.params.find((p) => p.param === 'oxygen')).toMatchObject({ status: 'measured', value: 'oxygen', score: 2 });
  });

  it('refuses wrong passwords and unknown users, then rate-limits the address (429), even for the right password', async () => {
    expect((await call(d.url, 'POST', '/api/login', { body: { user: 'nurse.jones', password: 'wrong' } })).status).toBe(401);
    expect((await call(d.url, 'POST', '/api/login', { body: { user: 'nobody', password: 'x' } })).status).toBe(401);
    for (let i = 0; i < 3; i++) await call(d.url, 'POST', '/api/login', { body: { user: 'nurse.jones', password: `wrong${i}` } });
    const limited = await call(d.url, 'POST', '/api/login', { body: { user: 'nurse.jones', password: PASSWORDS.clinician } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Nothing of the attempts (names or passwords) reaches the log.
    const logged = JSON.stringify(d.captured.lines);
    expect(logged).not.toContain('wrong1');
    expect(logged).not.toContain(PASSWORDS.clinician);
  });

  it('refuses cross-origin actions (CSRF) and answers no CORS headers to strangers', async () => {
    const id = await raiseHrAlarm(d, 'bed-m5');
    const evil = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token: TOKENS.clinician, headers: { Origin: 'https://evil.example' } });
    expect(evil.status).toBe(403);
    const get = await call(d.url, 'GET', '/api/ward', { headers: { Origin: 'https://evil.example' } });
    expect(get.status).toBe(403);
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
    const same = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token: TOKENS.clinician, headers: { Origin: d.url } });
    expect(same.status).toBe(200);
    // A form post (no JSON content type) with a body is refused too.
    const id2 = await raiseHrAlarm(d, 'bed-m6');
    const form = await call(d.url, 'POST', `/api/alarms/${id2}/audio-pause`, {
      token: TOKENS.clinician, rawBody: 'durationS=60', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
  });

  it('pushes the alarm change over SSE after a reading crosses a limit', async () => {
    const stream = await openStream(d.url, '/api/stream?bed=bed-s1');
    try {
      expect(stream.status).toBe(200);
      await stream.waitFor((e) => e.event === 'ward');
      await d.agent.ingest.accept('test-source', tachycardia('bed-s1'));
      type Changes = { changes: { change: string; alarm: { bed: string; source: string; priority: string; text: string; state: string } }[] };
      const isHrLimit = (c: Changes['changes'][number]) => c.alarm.bed === 'bed-s1' && c.alarm.source === 'limit';
      const e = await stream.waitFor((e) => e.event === 'alarm' && (e.data as Changes).changes.some(isHrLimit));
      const change = (e.data as Changes).changes.find(isHrLimit)!;
      expect(change.change).toBe('raised');
      expect(change.alarm).toMatchObject({ bed: 'bed-s1', priority: 'medium', state: 'active' });
      expect(change.alarm.text).toMatch(/^HR HIGH 135 > 120/);
      const vitals = await stream.waitFor((e) => e.event === 'vitals');
      expect(JSON.stringify(vitals.data)).toContain('"label":"HR"');
      // Waveforms reach the client that watches this bed.
      await d.agent.ingest.accept('test-source', [ecg([0, 0.5, 1, 0.5, 0], { bed: 'bed-s1' })]);
      const w = await stream.waitFor((e) => e.event === 'wave');
      expect(w.data).toMatchObject({ bed: 'bed-s1', label: 'ECG II', rateHz: 250, samples: [0, 0.5, 1, 0.5, 0] });
    } finally {
      stream.close();
    }
  });

  it('flags stale values with their age and never shows invalid values as numbers', async () => {
    const now = Date.now();
    await d.agent.ingest.accept('test-source', [
      reading(MDC.PULS_OXIM_SAT_O2, 97, { bed: 'bed-q1', at: now - 30_000 }),
      reading(MDC.RESP_RATE, 14, { bed: 'bed-q1', at: now }),
      reading(MDC.ECG_HEART_RATE, 250, { bed: 'bed-q1', at: now, quality: { state: 'invalid', reasons: ['artifact'] } }),
      reading(MDC.PRESS_BLD_NONINV_SYS, 120, { bed: 'bed-q1', at: now - 600_000 }),
    ]);
    const bed = (await call(d.url, 'GET', '/api/beds/bed-q1')).json() as { vitals: { label: string; value: unknown; stale: boolean; ageS: number; quality: string; reasons: string[] }[]; trends: unknown[] };
    const v = Object.fromEntries(bed.vitals.map((x) => [x.label, x]));
    expect(v.SpO2).toMatchObject({ value: 97, stale: true });
    expect(v.SpO2!.ageS).toBeGreaterThanOrEqual(30);
    expect(v.RR).toMatchObject({ value: 14, stale: false });
    expect(v.HR).toMatchObject({ value: null, quality: 'invalid', reasons: ['artifact'] });
    // NIBP is intermittent: a 10-minute-old determination is the latest one, not a stale feed.
    expect(v['NIBP sys']).toMatchObject({ value: 120, stale: false });
    expect(bed.trends.length).toBeGreaterThan(0);
    expect((await call(d.url, 'GET', '/api/beds/no-such-bed')).status).toBe(404);
  });

  it('serves health and Prometheus metrics', async () => {
    const h = await call(d.url, 'GET', '/healthz');
    expect(h.status).toBe(200);
    expect(h.json()).toMatchObject({ status: 'ok', gatewayId: 'test-gw', forwarder: { state: 'off' }, store: { pending: { alarms: expect.any(Number) } } });
    const m = await call(d.url, 'GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(m.text).toContain('# TYPE bedside_ingest_events_total counter');
    expect(m.text).toMatch(/^bedside_ingest_events_total\{source="test-source"\} \d+$/m);
    expect(m.text).toMatch(/^bedside_display_http_requests_total\{route="ack",status="200"\} \d+$/m);
    expect(m.text).toMatch(/^bedside_store_pending_records\{stream="alarms"\} \d+$/m);
    for (const line of m.text.trimEnd().split('\n')) {
      expect(line).toMatch(/^(# TYPE [a-z_:][a-z0-9_:]* (counter|gauge)|[a-z_:][a-z0-9_:]*(\{([a-z_]+="(?:[^"\\\n]|\\.)*",?)+\})? (-?[0-9.e+]+|NaN))$/i);
    }
    expect((await call(d.url, 'GET', '/api/status')).json()).toMatchObject({ status: 'ok', display: { sseClients: expect.any(Number) } });
  });

  it('sends security headers and serves the page', async () => {
    const r = await call(d.url, 'GET', '/');
    expect(r.status).toBe(200);
    expect(r.text).toContain('Secondary alarm display — not a medical device. Always rely on the bedside device\'s own alarms.');
    expect(r.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect((await call(d.url, 'GET', '/../package.json')).status).toBe(404);
    const wrong = await call(d.url, 'DELETE', '/api/ward');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET, HEAD'); // RFC 9110 §15.5.6: a 405 says what the resource takes
    // HEAD is a GET without a body (a load balancer's or an orchestrator's probe), but not on the live stream.
    const head = await call(d.url, 'HEAD', '/healthz');
    expect([head.status, head.text, head.headers['content-type']]).toEqual([200, '', 'application/json; charset=utf-8']);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    const headStream = await call(d.url, 'HEAD', '/api/stream');
    expect([headStream.status, headStream.headers.allow]).toEqual([405, 'GET']);
  });
});

describe('NEWS2 observations on a bed with NEWS2 switched off', () => {
  it('are refused (409), saying so', async () => {
    const d = await startDisplayAgent({}, { alarms: { news2: { beds: { 'bed-peds': { enabled: false } } } } });
    try {
      await d.agent.ingest.accept('test-source', [reading(MDC.RESP_RATE, 30, { bed: 'bed-peds' })]);
      const r = await call(d.url, 'POST', '/api/beds/bed-peds/observations', { token: TOKENS.clinician, body: { oxygen: 'oxygen' } });
      expect(r.status).toBe(409);
      expect(r.json()).toEqual({ error: 'NEWS2 is switched off for bed-peds (alarms.news2.beds)' });
    } finally {
      await d.close();
    }
  });
});

describe('display HTTP API, viewing authenticated', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ viewing: 'authenticated' })));
  afterAll(() => d.close());

  it('refuses to show the ward, metrics or stream without a token; health stays open for probes', async () => {
    for (const path of ['/api/ward', '/metrics', '/api/status', '/api/stream', '/api/beds/bed-1']) {
      expect((await call(d.url, 'GET', path)).status, path).toBe(401);
    }
    expect((await call(d.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(d.url, 'GET', '/metrics', { token: TOKENS.viewer })).status).toBe(200);
    const viewer = await login(d.url, 'vera', PASSWORDS.viewer);
    expect((await call(d.url, 'GET', '/api/ward', { token: viewer })).status).toBe(200);
    const s = await openStream(d.url, '/api/stream', viewer);
    expect(s.status).toBe(200);
    expect((await s.waitFor((e) => e.event === 'hello')).data).toMatchObject({ user: 'vera', role: 'viewer' });
    s.close();
    // After logout the session token is dead.
    expect((await call(d.url, 'POST', '/api/logout', { token: viewer })).status).toBe(200);
    expect((await call(d.url, 'GET', '/api/ward', { token: viewer })).status).toBe(401);
  });
});

describe('display HTTP API, bounds', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ limits: { maxSseClients: 2, maxBodyBytes: 256, sseMaxBufferedBytes: 4096, maxHeaderBytes: 1024 } })));
  afterAll(() => d.close());

  it('refuses bodies over the limit (413) and oversized headers (431)', async () => {
    const big = await call(d.url, 'POST', '/api/login', { body: { user: 'x', password: 'y'.repeat(1000) } });
    expect(big.status).toBe(413);
    const huge = await call(d.url, 'GET', '/healthz', { headers: { 'X-Junk': 'z'.repeat(4000) } });
    expect(huge.status).toBe(431);
  });

  it('caps live clients (503 beyond the cap)', async () => {
    const page = '/api/stream?reports=1'; // as the page opens it (streams that do not report have a smaller cap)
    const a = await openStream(d.url, page);
    const b = await openStream(d.url, page);
    const c = await openStream(d.url, page);
    expect([a.status, b.status, c.status]).toEqual([200, 200, 503]);
    a.close();
    b.close();
    c.close();
  });

  it('disconnects a live client that stops reading, and counts it', async () => {
    // A raw socket that asks for the stream of one bed and then never reads.
    const sock = connect(Number(new URL(d.url).port), '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('GET /api/stream?bed=bed-slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    sock.pause();
    await new Promise((r) => setTimeout(r, 100));
    const samples = Array.from({ length: 2000 }, (_, i) => Math.sin(i / 10));
    const dropped = () => d.agent.metrics.get('display_sse_dropped_total', { reason: 'slow-client' });
    // Kernel socket buffers absorb a few MB on loopback before the server sees back-pressure.
    for (let i = 0; i < 4000 && dropped() === 0; i++) {
      await d.agent.ingest.accept('test-source', [ecg(samples, { bed: 'bed-slow', rateHz: 2000 })]);
    }
    expect(dropped()).toBe(1);
    sock.destroy();
  });
});

describe('display streams that fall behind (heartbeat 1 s: a page whose last report is 8 s old is closed)', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ limits: { heartbeatS: 1 } })));
  afterAll(() => d.close());

  const seen = (stream: string, serverTime: number) => call(d.url, 'POST', '/api/stream/seen', { body: { stream, serverTime } });
  const helloOf = async (s: Awaited<ReturnType<typeof openStream>>) => (await s.waitFor((e) => e.event === 'hello')).data as { stream: string; serverTime: number };

  it('sends its time in heartbeat events; names the stream in hello; refuses reports of unknown streams (404) and bad ones (400)', async () => {
    const s = await openStream(d.url);
    const hello = await helloOf(s);
    expect(hello.stream).toMatch(/^[0-9a-f]{32}$/);
    const beat = (await s.waitFor((e) => e.event === 'heartbeat', 5000)).data as { serverTime: number };
    expect(beat.serverTime).toBeGreaterThanOrEqual(hello.serverTime);
    const answer = await seen(hello.stream, beat.serverTime);
    expect(answer.status).toBe(200);
    // How late that heartbeat is, by the server's clock: here, a moment.
    expect((answer.json() as { behindMs: number }).behindMs).toBeGreaterThanOrEqual(0);
    expect((await seen(hello.stream, Date.now() - 8000)).json()).toMatchObject({ behindMs: expect.any(Number) });
    expect(((await seen(hello.stream, Date.now() - 8000)).json() as { behindMs: number }).behindMs).toBeGreaterThanOrEqual(8000);
    expect((await seen('0'.repeat(32), beat.serverTime)).status).toBe(404);
    expect((await call(d.url, 'POST', '/api/stream/seen', { body: { stream: hello.stream, serverTime: 'now' } })).status).toBe(400);
    s.close();
  });

  it('closes a stream whose page is far behind, stopped reporting or never reported (review rv121 M1); keeps one that keeps up and a script that never reports', async () => {
    const dropped = () => d.agent.metrics.get('display_sse_dropped_total', { reason: 'lagging' });
    const before = dropped();
    const page = '/api/stream?reports=1'; // as the page opens it: it will report what it receives
    const keeping = await openStream(d.url, page);
    const stopped = await openStream(d.url, page);
    const behind = await openStream(d.url, page);
    const silent = await openStream(d.url, page);
    const script = await openStream(d.url);
    const [k, st, b] = await Promise.all([helloOf(keeping), helloOf(stopped), helloOf(behind)]);
    await helloOf(silent);
    await helloOf(script);
    let keepingClosed = false;
    let scriptClosed = false;
    void keeping.closed.then(() => (keepingClosed = true));
    void script.closed.then(() => (scriptClosed = true));
    // The page reports the newest server time it has received; this one keeps up.
    const reporter = setInterval(() => {
      const last = keeping.events.filter((e) => e.event === 'heartbeat').at(-1)?.data as { serverTime: number } | undefined;
      void seen(k.stream, last?.serverTime ?? k.serverTime);
    }, 300);
    try {
      expect((await seen(st.stream, st.serverTime)).status).toBe(200); // once, then nothing
      expect((await seen(b.stream, b.serverTime - 60_000)).status).toBe(200); // a minute behind
      await behind.closed; // at the next heartbeat
      await stopped.closed; // once its report is 8 s old (the byte limit would have waited for megabytes)
      // 8 s after it opened: a page whose reports never get out (a browser's connections all held by other tabs'
      // streams) would otherwise keep its connection for good.
      await silent.closed;
      expect(dropped() - before).toBe(3);
      expect(keepingClosed).toBe(false);
      expect(scriptClosed).toBe(false);
      expect(d.captured.lines.some((l) => /has not reported/.test(String(l.msg)))).toBe(true);
    } finally {
      clearInterval(reporter);
      keeping.close();
      silent.close();
      script.close();
    }
  }, 30_000);
});

describe('display over TLS', () => {
  let d: DisplayAgent;
  const certs = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');
  beforeAll(async () => (d = await startDisplayAgent({ tls: { certFile: join(certs, 'server.pem'), keyFile: join(certs, 'server-key.pem') } })));
  afterAll(() => d.close());

  it('serves HTTPS with the configured certificate', async () => {
    expect(d.url).toMatch(/^https:\/\//);
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(`${d.url}/healthz`, { ca: readFileSync(join(certs, 'ca.pem')) }, (res) => {
        let t = '';
        res.on('data', (c: Buffer) => (t += c.toString()));
        res.on('end', () => resolve(t));
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body)).toMatchObject({ status: 'ok' });
  });
});

describe('display users', () => {
  it('refuses to start with a user whose password is the examples\' published one, naming the user', async () => {
    const passwordHash = await hashPassword(EXAMPLE_PASSWORD, { N: 1024, r: 8, p: 1 }); // any cost: it is the password that is refused
    await expect(startDisplayAgent({ users: [{ name: 'charge-nurse', role: 'clinician', passwordHash }] })).rejects.toThrow(
      /display\.users\[0\] \(charge-nurse\): its password hash is of the examples' published password/,
    );
  });
});


/** One request written on a raw TCP socket, as sent; resolves with everything the server wrote before closing. */
function rawRequest(url: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(Number(new URL(url).port), '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (b) => (out += b.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 3000);
  });
}

describe('display: a request target new URL() cannot parse (review rv98 L1)', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent()));
  afterAll(() => d.close());

  it('GET // is a bad request (400, counted, logged once a minute per address with the target), not a server fault; the Host guard comes first', async () => {
    const before = d.captured.lines.length;
    for (let i = 0; i < 20; i++) {
      const r = await rawRequest(d.url, 'GET // HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      expect(r.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      expect(r.split('\r\n\r\n')[1]).toBe('{"error":"bad request target"}');
    }
    expect(d.agent.metrics.get('display_client_errors_total', { code: 'bad-target' })).toBe(20);
    expect(d.agent.metrics.get('display_http_requests_total', { route: 'unmatched', status: '500' }) ?? 0).toBe(0);
    expect(d.agent.metrics.get('display_http_requests_total', { route: 'unmatched', status: '400' })).toBe(20);
    const lines = d.captured.lines.slice(before);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    const logged = lines.filter((l) => /request target/.test(String(l.msg)));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 40, from: '127.0.0.1', method: 'GET', target: '//' });
    // A Host the display does not answer to is refused before the target is looked at.
    const misdirected = await rawRequest(d.url, 'GET // HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
    expect(misdirected.split('\r\n')[0]).toBe('HTTP/1.1 421 Misdirected Request');
    expect(d.agent.metrics.get('display_client_errors_total', { code: 'bad-target' })).toBe(20);
  });
});
