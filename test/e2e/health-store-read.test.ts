// A store that cannot be read while the agent runs (a failing disk: SQLITE_IOERR_READ on a page not cached; a store
// damaged while running: SQLITE_CORRUPT) must not take the health answers with it: /healthz, /api/status, the twin's
// reported state and the getStatus / captureDiagnostics methods are how an engineer finds out what is wrong (review
// rv133 M2). The read is made to fail the way the store's disk tests inject SQLite errors: the store's call throws.
import Database from 'better-sqlite3';
import { afterEach, expect, it, vi } from 'vitest';
import { Harness, logSink, sim } from './control-harness.js';

let h: Harness | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.stop();
  h = null;
});

it('while the store cannot be read, /healthz answers 200 degraded, and /api/status, getStatus, captureDiagnostics and the twin report answer with the store error', async () => {
  h = new Harness('device');
  await h.startHub();
  const sink = logSink('info');
  const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(1) }], { display: { enabled: true, port: 0 } }), sink);
  await h.untilConnected(agent);
  const url = agent.display!.address().url;
  expect((await fetch(`${url}/healthz`)).status).toBe(200);

  const fail = () => {
    throw new Database.SqliteError('disk I/O error', 'SQLITE_IOERR_READ');
  };
  vi.spyOn(agent.outbox, 'unackedMessages').mockImplementation(fail);
  vi.spyOn(agent.outbox, 'nextMessage').mockImplementation(fail);
  vi.spyOn(agent.outbox, 'oldestPendingAt').mockImplementation(fail);

  expect(() => agent.health()).not.toThrow();
  expect(agent.health()).toMatchObject({ status: 'degraded', store: { error: 'SQLITE_IOERR_READ' } });

  const healthz = await fetch(`${url}/healthz`);
  expect(healthz.status).toBe(200);
  expect(await healthz.json()).toMatchObject({ status: 'degraded', store: { error: 'SQLITE_IOERR_READ' } });

  const status = await fetch(`${url}/api/status`);
  expect(status.status).toBe(200);
  expect(await status.json()).toMatchObject({ status: 'degraded', store: { error: 'SQLITE_IOERR_READ', pending: { telemetry: expect.any(Number) } } });

  const method = await h.invoke('getStatus');
  expect(method.status).toBe(200);
  expect(method.payload).toMatchObject({ status: 'degraded', store: { error: 'SQLITE_IOERR_READ' }, drivers: { 'ward-a': { state: 'running' } } });

  const diag = await h.invoke('captureDiagnostics');
  expect(diag.status).toBe(200);
  expect(diag.payload).toMatchObject({ health: { status: 'degraded', store: { error: 'SQLITE_IOERR_READ' } } });

  // The twin report goes on (every reportIntervalS, 1 s here): the unread counts are no longer reported as numbers.
  await h.hub.waitUntil(
    () => typeof (h!.reported().store as { unackedMessages?: { telemetry?: unknown } } | undefined)?.unackedMessages?.telemetry !== 'number',
    10_000,
    'twin report without the unread counts',
  );
  // ...said, not deleted (a null deletes a twin property): the store's error, its counts and the backlog's age unknown,
  // the records pending still counted, and the status degraded (review rv136 M2).
  const reported = h.reported();
  expect(reported.status).toBe('degraded');
  expect(reported.store).toMatchObject({
    error: 'SQLITE_IOERR_READ',
    pendingRecords: { telemetry: expect.any(Number), alarms: expect.any(Number) },
    unackedMessages: { telemetry: 'unknown', alarms: 'unknown' },
    oldestPendingAgeS: 'unknown',
  });
  expect(sink.find('control job failed')).toHaveLength(0);
});
