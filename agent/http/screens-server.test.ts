// Expected screens over a real socket: the DisplayServer on port 0 with display.screens, a real alarm engine behind a
// stand-in for the agent (its screenCondition does what the Agent's does: a gateway condition), real SSE streams.
// The server's clock is injected, so the grace passes without waiting for it; the server's own once-a-second check runs.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { AlarmService } from '../alarms/service.js';
import { validateConfig } from '../config/load.js';
import { Metrics } from '../metrics.js';
import type { DriverEvent } from '../model/reading.js';
import { registry } from '../../drivers/registry.js';
import { waitFor } from '../../drivers/serial/testing.js';
import { captureLog } from '../../test/support/log.js';
import { call, openStream, startDisplayAgent, type DisplayAgent, type SseStream } from '../../test/browser/display-fixtures.js';
import { DisplayServer, type DisplayDeps } from './server.js';

const GATEWAY = 'test-gw';
const SCREEN = 'ward3-station';

/** The screen's "alive" ping from `localAddress` (any 127.x address is this machine), on a fresh connection. */
function pingFrom(url: string, localAddress: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = request(`${url}/api/screens/${SCREEN}/alive`, { method: 'POST', localAddress, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('expected screens, over a real socket', () => {
  let t = Date.now();
  const calls: { name: string; present: boolean; text: string }[] = [];
  const metrics = new Metrics();
  const alarms = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, captureLog('silent').log, metrics, () => t);
  const technical = () => alarms.engine.list().filter((a) => a.source === 'technical' && a.conditionPresent);
  const deps: DisplayDeps = {
    gatewayId: GATEWAY,
    alarms,
    metrics,
    onCommitted: (_listener: (events: readonly DriverEvent[]) => void) => undefined,
    health: () => ({
      status: technical().length ? 'degraded' : 'ok',
      gatewayId: GATEWAY,
      uptimeS: 0,
      drivers: {},
      forwarder: { state: 'off', why: 'hub.mode is off' },
      store: { path: ':memory:', pending: { telemetry: 0, alarms: 0 }, unackedMessages: { telemetry: 0, alarms: 0 } },
      metrics: metrics.snapshot(),
      model: { state: 'disabled', path: '', version: null, sha256: null, policy: 'annotate', assessed: 0, lastLatencyMs: null },
      technicalAlarms: technical().map((a) => ({ deviceId: a.deviceId, bed: a.bed, priority: a.priority, text: a.condition.text })),
      technicalAlarmCount: technical().length,
      latchedTechnicalAlarmCount: 0,
    }),
    // What the Agent does (see the report): the alarm goes through the engine like every technical condition.
    screenCondition(name, present, text) {
      calls.push({ name, present, text });
      alarms.gatewayCondition(GATEWAY, `display:${name}`, present, text, 'medium');
    },
  };
  const config = validateConfig({ display: { enabled: true, port: 0, screens: [{ name: SCREEN, graceS: 30 }] } }, registry, 'test').display;
  const captured = captureLog('warn');
  const server = new DisplayServer(config, deps, captured.log, () => t);
  let url: string;
  let other: SseStream;

  beforeAll(async () => {
    await server.start();
    url = server.address().url;
    // Another screen (not watched): where the alarm must show.
    other = await openStream(url, '/api/stream');
    await other.waitFor((e) => e.event === 'ward');
  });
  afterAll(async () => {
    other.close();
    await server.stop();
  });

  type AlarmEventData = { changes: { change: string; alarm: { bed: string; priority: string; text: string; conditionPresent?: boolean } }[] };
  const screenAlarm = (text: RegExp) => (e: { event: string; data: unknown }) =>
    e.event === 'alarm' && (e.data as AlarmEventData).changes.some((c) => c.alarm.bed === '*' && text.test(c.alarm.text));

  it('raises the alarm of a screen that has not connected once the grace has passed, shown on the other screens and in /healthz', async () => {
    t += 31_000;
    await waitFor('the screen alarm', () => calls.length > 0);
    expect(calls).toEqual([{ name: SCREEN, present: true, text: `Display ${SCREEN} not connected for 31 s: its alarms are not shown there` }]);
    const e = await other.waitFor(screenAlarm(/^Display ward3-station not connected/));
    expect((e.data as AlarmEventData).changes[0]!.alarm.priority).toBe('medium');
    const h = (await call(url, 'GET', '/healthz')).json();
    expect(h.display).toEqual({ sseClients: 1, screens: [{ name: SCREEN, connected: false, address: null, addressChanged: null }] });
    expect(h.status).toBe('degraded');
  });

  it('ends it when the screen connects with ?screen=, and raises it again once it has been gone for the grace', async () => {
    const screen = await openStream(url, `/api/stream?screen=${SCREEN}`);
    await waitFor('the end of the screen alarm', () => calls.length > 1);
    expect(calls[1]).toEqual({ name: SCREEN, present: false, text: `Display ${SCREEN} connected again` });
    expect(technical()).toEqual([]);
    expect((await call(url, 'GET', '/healthz')).json().display).toEqual({ sseClients: 2, screens: [{ name: SCREEN, connected: true, address: '127.0.0.1', addressChanged: null }] });
    expect((await call(url, 'GET', '/metrics')).text).toMatch(/^bedside_display_screen_connected\{screen="ward3-station"\} 1$/m);

    screen.close();
    await waitFor('the server to see the screen go', () => !server.screens.status()[0]!.connected);
    t += 31_000;
    await waitFor('the screen alarm again', () => calls.length > 2);
    expect(calls[2]).toMatchObject({ name: SCREEN, present: true });
    expect((await call(url, 'GET', '/metrics')).text).toMatch(/^bedside_display_screen_connected\{screen="ward3-station"\} 0$/m);
    expect((await call(url, 'GET', '/api/status')).json().display).toMatchObject({ screens: [{ name: SCREEN, connected: false, streams: 0 }] });
  });

  it('a screen whose stream stays open but whose page stops pinging is raised; its next ping (POST /api/screens/:name/alive) ends it', async () => {
    const screen = await openStream(url, `/api/stream?screen=${SCREEN}`);
    try {
      await waitFor('the end of the screen alarm', () => calls.at(-1)?.present === false);
      const before = calls.length;
      // The page pings (the route answers 204), time passes with pings: nothing.
      for (let i = 0; i < 10; i++) {
        t += 5_000;
        expect((await call(url, 'POST', `/api/screens/${SCREEN}/alive`)).status).toBe(204);
      }
      await new Promise((r) => setTimeout(r, 1100)); // one server check
      expect(calls.length).toBe(before);
      // The page stops (screen off, tab hung): the stream is still open, the pings are not coming.
      t += 31_000;
      await waitFor('the silent screen alarm', () => calls.length > before);
      expect(calls.at(-1)).toEqual({ name: SCREEN, present: true, text: `Display ${SCREEN} not heard from for 31 s (screen off, cable out or page hung?): its alarms may not be shown there` });
      expect(server.screens.status()[0]).toMatchObject({ connected: false, streams: 1 });
      expect((await call(url, 'POST', `/api/screens/${SCREEN}/alive`)).status).toBe(204);
      expect(calls.at(-1)).toEqual({ name: SCREEN, present: false, text: `Display ${SCREEN} connected again` });
    } finally {
      screen.close();
    }
  });

  it('another machine holding the screen\'s name (its pings, then a stream from another address) shows in /healthz and the log', async () => {
    const screen = await openStream(url, `/api/stream?screen=${SCREEN}`);
    // A ping from another address while the screen is connected: counted as a change, the screen keeps its address.
    expect(await pingFrom(url, '127.0.0.66')).toBe(204);
    expect(server.screens.status()[0]).toMatchObject({ address: '127.0.0.1', addressChanged: { from: '127.0.0.1', to: '127.0.0.66' } });
    await waitFor('the screen connected', () => server.screens.status()[0]!.connected);
    screen.close();
    await waitFor('the server to see the screen go', () => server.screens.status()[0]!.streams === 0);
    const spoof = await openStream(url, `/api/stream?screen=${SCREEN}`, undefined, { localAddress: '127.0.0.66' });
    try {
      await spoof.waitFor((e) => e.event === 'ward');
      const h = (await call(url, 'GET', '/healthz')).json() as { display: { screens: unknown[] } };
      expect(h.display.screens).toEqual([{ name: SCREEN, connected: true, address: '127.0.0.66', addressChanged: { from: '127.0.0.1', to: '127.0.0.66', at: expect.any(Number) } }]);
      expect(captured.lines.find((l) => /another address than the one it last connected from/.test(String(l.msg)))).toMatchObject({ screen: SCREEN, address: '127.0.0.66', lastAddress: '127.0.0.1' });
      expect(metrics.get('display_screen_address_changes_total', { screen: SCREEN })).toBe(2);
    } finally {
      spoof.close();
    }
  });

  it('pings judged against the addresses of the open streams: one machine streaming over one address and pinging over another is one change, not one a ping', async () => {
    const changes = () => metrics.get('display_screen_address_changes_total', { screen: SCREEN }) ?? 0;
    const screen = await openStream(url, `/api/stream?screen=${SCREEN}`);
    const tab = await openStream(url, `/api/stream?screen=${SCREEN}`, undefined, { localAddress: '127.0.0.68' });
    try {
      await tab.waitFor((e) => e.event === 'ward');
      const before = changes();
      // Pings from the first stream's address (the last connection came from the other tab): not a change.
      for (let i = 0; i < 5; i++) expect(await pingFrom(url, '127.0.0.1')).toBe(204);
      expect(changes()).toBe(before);
      // The same machine's other address (IPv6 beside IPv4, a rotated temporary address): counted once for all its pings.
      for (let i = 0; i < 5; i++) expect(await pingFrom(url, '127.0.0.67')).toBe(204);
      expect(changes()).toBe(before + 1);
      expect(server.screens.status()[0]).toMatchObject({ connected: true, addressChanged: { from: '127.0.0.68', to: '127.0.0.67' } });
    } finally {
      tab.close();
      screen.close();
    }
  });
});

// Real time, the whole agent, heartbeat 1 s: a screen is stale 4 s after its last sign of life, its stream is closed as
// lagging once its last `seen` report is 8 s old, and its grace (10 s) runs out after that (review rv98 M1: the close
// restarted the count, so the alarm came at close + grace and understated how long the screen had been gone).
describe('expected screens in real time: a page that goes silent with its socket open (screen off, cable out, hung)', () => {
  let d: DisplayAgent;
  beforeAll(async () => {
    d = await startDisplayAgent({ limits: { heartbeatS: 1 }, screens: [{ name: SCREEN, graceS: 10 }] });
  });
  afterAll(() => d.close());

  const screenAlarm = () => d.agent.alarms.engine.list({ bed: '*' }).find((a) => a.conditionPresent && a.condition.text.includes(SCREEN));
  const seen = (stream: string, serverTime: number) => call(d.url, 'POST', '/api/stream/seen', { body: { stream, serverTime } });
  const heartbeatAfter = async (s: SseStream, after: number) =>
    ((await s.waitFor((e) => e.event === 'heartbeat' && (e.data as { serverTime: number }).serverTime > after, 3000)).data as { serverTime: number }).serverTime;

  it('a `seen` report on the screen\'s own stream is a sign of life too (the page sends it with its ping every heartbeat)', async () => {
    const s = await openStream(d.url, `/api/stream?screen=${SCREEN}`);
    try {
      const { stream } = (await s.waitFor((e) => e.event === 'hello')).data as { stream: string };
      // Reports only, no pings, for longer than the 4 s a screen may be silent.
      let last = 0;
      for (let i = 0; i < 6; i++) {
        last = await heartbeatAfter(s, last);
        expect((await seen(stream, last)).status).toBe(200);
      }
      expect(d.agent.display!.screens.status()[0]).toMatchObject({ connected: true, streams: 1 });
    } finally {
      s.close();
    }
    await waitFor('the server to see the stream go', () => d.agent.display!.screens.status()[0]!.streams === 0);
  }, 20_000);

  it('raises "not heard from" graceS after its last sign of life, though the stream is closed as lagging meanwhile', async () => {
    // Whatever the previous test left (a closed stream) ends with this stream.
    const s = await openStream(d.url, `/api/stream?screen=${SCREEN}`);
    const { stream } = (await s.waitFor((e) => e.event === 'hello')).data as { stream: string };
    await waitFor('no screen alarm', () => screenAlarm() === undefined);
    // Like the page for three heartbeats: report what it received, say it is alive.
    let last = 0;
    let lastSign = 0;
    for (let i = 0; i < 3; i++) {
      last = await heartbeatAfter(s, last);
      expect((await seen(stream, last)).status).toBe(200);
      expect((await call(d.url, 'POST', `/api/screens/${SCREEN}/alive`)).status).toBe(204);
      lastSign = Date.now();
    }
    // Switched off: nothing more is sent, and no FIN ever comes (the socket stays open on this side).
    let closedAt = 0;
    void s.closed.then(() => (closedAt = Date.now()));
    try {
      await waitFor('the screen alarm', () => screenAlarm() !== undefined, 25_000);
      const raisedAt = Date.now();
      // The hub closed the stream first (8 s without a report), and that did not restart the count.
      expect(closedAt).toBeGreaterThan(0);
      expect(closedAt - lastSign).toBeLessThan(10_000);
      expect(raisedAt - lastSign).toBeGreaterThanOrEqual(10_000);
      expect(raisedAt - lastSign).toBeLessThan(12_500);
      expect(screenAlarm()!.condition.text).toMatch(
        new RegExp(`^Display ${SCREEN} not heard from for 1[01] s \\(screen off, cable out or page hung\\?\\): its alarms may not be shown there$`),
      );
      expect(d.captured.lines.some((l) => /too far behind/.test(String(l.msg)))).toBe(true);
    } finally {
      s.close();
    }
  }, 40_000);
});
