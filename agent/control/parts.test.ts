// Reported-properties bounds, diagnostics redaction and bounds, method dispatch, and the log ring.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { buildReported, diffPatch, twinKey, MAX_REPORTED_BYTES, type ReportInputs } from './reported.js';
import { buildDiagnostics, captureFiles, redactSecrets, REDACTED } from './diagnostics.js';
import { SECRET_FIELDS } from '../config/schema.js';
import { MethodTable, parseReplayRange } from './methods.js';
import { LogRing, createLogger, logRingOf, setLogLevel } from '../log.js';
import type { AgentConfig } from '../config/load.js';
import { Metrics } from '../metrics.js';

const silent = pino({ level: 'silent' });

function inputs(drivers: number, detail = ''): ReportInputs {
  return {
    agent: { version: '1', node: 'v20', gatewayId: 'gw', startedAt: 'x' },
    models: {},
    config: { status: 'applied', desiredVersion: 3, source: 'twin', at: 'x' },
    drivers: Object.fromEntries(Array.from({ length: drivers }, (_, i) => [`drv.${i}`, { state: 'running', detail, devices: { d1: { state: 'online' }, d2: { state: 'offline' } } }])),
    forward: { state: 'connected', lastSuccessAt: 0, lastError: null, sentMessages: 1, sentRecords: 2 },
    store: { pendingRecords: { telemetry: 1, alarms: 0 }, unackedMessages: { telemetry: 0, alarms: 0 }, oldestPendingAgeS: 4 },
    metrics: { 'forward_messages_total{stream="telemetry"}': 5, 'forward_messages_total{stream="alarms"}': 2, 'driver_frames{driver="a.b"}': 1 },
    now: 0,
  };
}

describe('reported properties', () => {
  it('uses twin-safe keys, sums counters across labels, and summarises devices', () => {
    const doc = buildReported(inputs(1));
    expect(twinKey('a.b $c')).toBe('a%2Eb%20%24c');
    expect(doc.drivers).toEqual({ 'drv%2E0': { state: 'running', detail: undefined, devices: { total: 2, byState: { online: 1, offline: 1 } } } });
    expect(doc.counters).toEqual({ forward_messages_total: 7, driver_frames: 1 });
  });

  it('keeps the counters that moved when there are more names than it reports, and counts the rest (forward_messages_total was pushed out by 43 counters declared at 0)', () => {
    const zeros = Object.fromEntries(Array.from({ length: 45 }, (_, i) => [`a_declared_${i}_total`, 0]));
    const doc = buildReported({ ...inputs(1), metrics: { ...zeros, 'forward_messages_total{stream="telemetry"}': 5, store_evicted_total: 0 } });
    const counters = doc.counters as Record<string, number>;
    expect(Object.keys(counters)).toHaveLength(40);
    expect(counters.forward_messages_total).toBe(5);
    expect(doc.countersOmitted).toBe(47 - 40);
    expect(buildReported(inputs(1)).countersOmitted).toBeUndefined();
  });

  it('gives every driver its own key: names differing only by a character twin keys cannot hold do not merge', () => {
    const base = inputs(0);
    const names = ['icu.3', 'icu_3', 'icu%2E3', 'icu$3', 'icu 3', 'icu\u00073', 'bett.ü'];
    const doc = buildReported({ ...base, drivers: Object.fromEntries(names.map((n, i) => [n, { state: i === 1 ? 'failed' : 'running', detail: n }])) });
    const drivers = doc.drivers as Record<string, { state: string; detail: string }>;
    expect(Object.keys(drivers)).toHaveLength(names.length);
    for (const [key, entry] of Object.entries(drivers)) {
      expect(key).not.toMatch(/[.$\s\u0000-\u001f\u007f-\u009f]/);
      // Reversible: the key gives back the driver's name.
      expect(decodeURIComponent(key)).toBe(entry.detail);
    }
    expect(drivers.icu_3).toEqual({ state: 'failed', detail: 'icu_3' });
    expect(drivers['icu%2E3']).toEqual({ state: 'running', detail: 'icu.3' });
  });

  it('stays within the size bound however many drivers there are, saying how many were left out', () => {
    const doc = buildReported(inputs(2000, 'x'.repeat(150)));
    expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThanOrEqual(MAX_REPORTED_BYTES);
    expect(doc.driversOmitted).toBeGreaterThan(0);
  });

  it('a refused config with long errors and many drivers stays within the bound, its lists cut with a count of what was left out, and driver states kept (review rv183 L3)', () => {
    const x = inputs(100, 'd'.repeat(500));
    const names = Object.keys(x.drivers).map((n) => `${n}.${'x'.repeat(58)}`.slice(0, 64));
    // 20 errors quoting a 400-character value of 2-byte characters: cut to 300 characters, still ~600 bytes each.
    const errors = Array.from({ length: 20 }, (_, i) => `drivers.${names[i]}.options.beds: must be <= 64 (got "${'Ü'.repeat(400)}")`);
    x.config = { status: 'rejected', desiredVersion: 9, source: 'twin', at: 'x', errors, drivers: names, pendingRestart: ['alarms'], ignored: names.map((n) => `drivers.${n}.options.port`) };
    x.metrics = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`m_${i}_total{a="b"}`, i]));
    const doc = buildReported(x) as { config: Record<string, unknown>; drivers: Record<string, unknown>; driversOmitted?: number };
    expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThanOrEqual(MAX_REPORTED_BYTES);
    // Some driver states are still there (the config section filled the budget, and every driver was dropped).
    expect(Object.keys(doc.drivers).length).toBeGreaterThanOrEqual(10);
    expect(Object.keys(doc.drivers).length + (doc.driversOmitted ?? 0)).toBe(100);
    const c = doc.config as { errors: string[]; errorsOmitted: number; drivers: string[]; driversOmitted: number; ignored: string[]; ignoredOmitted: number; pendingRestart: string[] };
    expect(c.errors.length).toBeGreaterThan(0);
    expect(c.errors.length + c.errorsOmitted).toBe(20);
    expect(c.errors[0]).toBe(`${errors[0]!.slice(0, 299)}…`);
    expect(c.drivers.length + c.driversOmitted).toBe(100);
    expect(c.drivers).toEqual(names.slice(0, c.drivers.length));
    expect(c.ignored.length + c.ignoredOmitted).toBe(100);
    expect(c.pendingRestart).toEqual(['alarms']);
    // A short config is reported whole, without counts.
    const small = buildReported({ ...inputs(1), config: { status: 'rejected', desiredVersion: 2, source: 'twin', at: 'x', errors: ['a: b'], drivers: ['a'] } });
    expect(small.config).toEqual({ status: 'rejected', desiredVersion: 2, source: 'twin', at: 'x', errors: ['a: b'], drivers: ['a'] });
  });

  it('cuts long texts from the model report and the agent (IoT Hub refuses a twin string over 4 KB)', () => {
    const x = inputs(1);
    x.models = { alarmModel: { state: 'refused', error: 'e'.repeat(10_000), approved: ['a'.repeat(64)] } };
    x.agent.gatewayId = 'g'.repeat(5000);
    const doc = buildReported(x) as { models: { alarmModel: { error: string; approved: string[] } }; agent: { gatewayId: string } };
    expect(doc.models.alarmModel.error).toHaveLength(300);
    expect(doc.models.alarmModel.error.endsWith('…')).toBe(true);
    expect(doc.models.alarmModel.approved).toEqual(['a'.repeat(64)]);
    expect(doc.agent.gatewayId.length).toBeLessThanOrEqual(200);
  });

  it('patches remove keys that are gone (null) and leave out what did not change', () => {
    expect(diffPatch({ a: 1, b: { c: 1, d: 2 }, e: [1] }, { a: 1, b: { c: 1 }, e: [2] })).toEqual({ b: { d: null }, e: [2] });
  });
});

describe('diagnostics', () => {
  const config = {
    hub: { connectionString: 'HostName=h;DeviceId=d;SharedAccessKey=c2VjcmV0', caFile: '/ca.pem' },
    display: { users: [{ name: 'n', passwordHash: 'scrypt$1' }], tokens: [{ name: 't', tokenHash: 'sha256$ab' }], tls: { certFile: 'c', keyFile: 'k' } },
    drivers: [] as unknown[],
  };

  it('removes secrets by field name and by the look of the value', () => {
    const r = JSON.stringify(redactSecrets({ ...config, note: 'SharedAccessSignature sr=x&sig=y', list: ['HostName=x;SharedAccessKey=y'] }));
    for (const secret of ['c2VjcmV0', 'scrypt$1', 'sha256$ab', 'sig=y', 'SharedAccessKey=y', '"k"']) expect(r).not.toContain(secret);
    expect(r).toContain('/ca.pem');
  });

  it('removes every field the config schema types as a secret (the pseudonym key), in config, overlay and health', () => {
    expect([...SECRET_FIELDS].sort()).toEqual(['connectionString', 'pseudonymKey']);
    const key = 'LITERAL-HMAC-PSEUDONYM-KEY-0123456789-abcdefgh';
    const b = buildDiagnostics(
      {
        agent: {},
        health: { forwarder: { lastError: 'refused: HostName=h;SharedAccessKey=c2VjcmV0' } },
        config: { ...config, privacy: { pseudonymizePatientIds: true, pseudonymKey: key } } as unknown as AgentConfig,
        configStatus: {},
        overlay: { privacy: { pseudonymKey: key } },
        logLines: [],
        now: 0,
      },
      50_000,
    );
    const text = JSON.stringify(b);
    expect(text).not.toContain(key);
    expect(text).not.toContain('c2VjcmV0');
    expect(b.overlay).toEqual({ privacy: { pseudonymKey: REDACTED } });
  });

  it('redacts secrets in a log line cut short (no longer JSON), by field name and by the look of the value', () => {
    const cut = (o: object) => `${JSON.stringify(o).slice(0, 300)}…[cut]`;
    const lines = [
      cut({ level: 40, msg: 'a', pseudonymKey: 'K-123456789', pad: 'z'.repeat(400) }),
      cut({ level: 40, msg: 'b', note: 'hash scrypt$16384$8$1$c2FsdA==$aGFzaA==', pad: 'z'.repeat(400) }),
      cut({ level: 30, msg: 'c', pad: 'z'.repeat(400) }),
    ];
    const b = buildDiagnostics({ agent: {}, health: {}, config: config as unknown as AgentConfig, configStatus: {}, overlay: null, logLines: lines, now: 0 }, 50_000);
    const text = JSON.stringify(b);
    expect(text).not.toContain('K-123456789');
    expect(text).not.toContain('scrypt$16384');
    expect(b.logs.lines[0]).toContain(`"pseudonymKey":"${REDACTED}"`);
    expect(b.logs.lines[2]).toBe(lines[2]); // nothing secret: kept as it was
    // Cut inside the secret's own value: not even its beginning is sent.
    const whole = JSON.stringify({ level: 40, msg: 'd', pad: 'z'.repeat(200), pseudonymKey: 'SECRET-PREFIX-0123456789abcdef' });
    const inside = `${whole.slice(0, whole.indexOf('SECRET-PREFIX') + 16)}…[cut]`;
    const c = buildDiagnostics({ agent: {}, health: {}, config: config as unknown as AgentConfig, configStatus: {}, overlay: null, logLines: [inside], now: 0 }, 50_000);
    expect(JSON.stringify(c)).not.toContain('SECRET-PREFIX');
    expect(c.logs.lines[0]).toContain(`"pseudonymKey":"${REDACTED}`);
  });

  it('fits the budget, newest log lines first, and says what was left out', () => {
    const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ level: 30, msg: `line ${i}`, pad: 'p'.repeat(100), token: 'secret-token' }));
    const b = buildDiagnostics({ agent: {}, health: { metrics: {} }, config: config as unknown as AgentConfig, configStatus: {}, overlay: null, logLines: lines, now: 0 }, 50_000);
    expect(Buffer.byteLength(JSON.stringify(b))).toBeLessThanOrEqual(50_000);
    expect(b.logs.included).toBeGreaterThan(100);
    expect((b.logs.lines.at(-1) as { msg: string }).msg).toBe('line 1999');
    expect(b.logs.note).toMatch(/left out/);
    expect(JSON.stringify(b)).not.toContain('secret-token');
  });

  it('fits the budget with thousands of devices in health: devices cut to the first ones with counts, log lines kept (review rv68 M3)', () => {
    const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ level: 30, msg: `line ${i}`, pad: 'p'.repeat(100) }));
    const devices = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`MINDRAY^BeneVision_N17^00A037009A${i.toString(16).padStart(6, '0')}^EUI-64`, { state: 'online', lastDataAt: 1733435000000 + i }]));
    const health = { drivers: { 'central-station': { state: 'running', devices } }, metrics: { a: 1 } };
    const b = buildDiagnostics({ agent: {}, health, config: config as unknown as AgentConfig, configStatus: {}, overlay: null, logLines: lines, now: 0 }, 100_000);
    expect(Buffer.byteLength(JSON.stringify(b))).toBeLessThanOrEqual(100_000);
    expect(b.bytes).toBeLessThanOrEqual(100_000);
    const cs = (b.health as { drivers: Record<string, { devices: object; deviceCounts: unknown; devicesOmitted: number }> }).drivers['central-station']!;
    expect(cs.deviceCounts).toEqual({ total: 1500, byState: { online: 1500 } });
    expect(cs.devicesOmitted).toBe(1500 - Object.keys(cs.devices).length);
    // The log lines, the main content, keep at least half the budget.
    expect(b.logs.included).toBeGreaterThan(300);
  });

  it('lists capture files with size, or why they cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cap-'));
    writeFileSync(join(dir, 'vent.jsonl'), 'abc\n');
    const files = captureFiles({
      drivers: [
        { name: 'v', type: 'medibus', enabled: true, options: { captureFile: join(dir, 'vent.jsonl') } },
        { name: 'w', type: 'medibus', enabled: true, options: { captureFile: join(dir, 'missing.jsonl') } },
        { name: 's', type: 'simulator', enabled: true, options: {} },
      ],
    } as unknown as AgentConfig);
    expect(files).toMatchObject([
      { driver: 'v', bytes: 4 },
      { driver: 'w', bytes: null, error: 'ENOENT' },
    ]);
  });
});

describe('direct methods', () => {
  it('answers 404 for unknown names, 500 when a handler throws, and the handler result otherwise', async () => {
    const metrics = new Metrics();
    const t = new MethodTable({ ok: () => ({ status: 200, payload: { fine: true } }), boom: () => Promise.reject(new Error('bad')) }, silent, metrics);
    expect(await t.call('ok', null)).toEqual({ status: 200, payload: { fine: true } });
    expect(await t.call('nope', null)).toMatchObject({ status: 404, payload: { error: expect.stringContaining('available: ok, boom') } });
    expect(await t.call('boom', null)).toMatchObject({ status: 500, payload: { error: 'boom failed: bad' } });
    expect(await t.call('toString', null)).toMatchObject({ status: 404 });
    expect(metrics.snapshot()).toEqual({
      'control_methods_total{method="ok",status="200"}': 1,
      'control_methods_total{method="(unknown)",status="404"}': 2,
      'control_methods_total{method="boom",status="500"}': 1,
    });
  });

  it('parses replay ranges strictly', () => {
    expect(parseReplayRange({ from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00+01:00' })).toEqual({ fromMs: Date.parse('2026-01-01T00:00:00Z'), toMs: Date.parse('2026-01-01T00:00:00Z') });
    expect(parseReplayRange({ from: '2026-01-01T00:00:00Z' }, 5e12)).toEqual({ fromMs: Date.parse('2026-01-01T00:00:00Z'), toMs: 5e12 });
    expect(parseReplayRange({ from: '2026-01-01' })).toMatchObject({ error: expect.stringContaining('time zone') });
    expect(parseReplayRange({ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' })).toMatchObject({ error: 'from: must not be after to' });
    expect(parseReplayRange(null)).toMatchObject({ error: expect.any(String) });
  });
});

describe('logger', () => {
  it('keeps a bounded ring of recent lines', () => {
    const ring = new LogRing(3, 1000, 10);
    ring.write('a\nb\n');
    ring.write('c\n');
    ring.write(`${'x'.repeat(50)}\n`);
    expect(ring.recent()).toEqual(['b', 'c', `${'x'.repeat(10)}…[cut]`]);
  });

  it('changes the level of children made earlier, and records lines in its ring', () => {
    const out: string[] = [];
    const log = createLogger({ level: 'info', pretty: 'never' }, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c.toString()), cb()) }));
    const child = log.child({ c: 1 });
    const grandchild = child.child({ g: 1 });
    grandchild.debug('hidden');
    setLogLevel(log, 'debug');
    grandchild.debug('shown');
    expect(child.level).toBe('debug');
    expect(out.join('')).toContain('shown');
    expect(out.join('')).not.toContain('hidden');
    expect(logRingOf(log)?.recent().some((l) => l.includes('shown'))).toBe(true);
  });
});
